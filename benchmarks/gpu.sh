#!/usr/bin/env bash
# Tapeline on an NVIDIA GPU, in one command: installs what it needs, prints the GPU, runs the
# throughput table (seed CNN in float32 and mixed_float16, XLA off and on, PyTorch's rows when
# PyTorch is there) and the time of recipes/fashion_mnist_fast.yaml to 0.93 test accuracy.
#
#   bash benchmarks/gpu.sh             # on the GPU machine (see docs/benchmarks.md)
#   bash benchmarks/gpu.sh --dry-run   # every step on the CPU, tiny sizes: checks the script
#
# Python: $PYTHON, else the active virtual environment, else the repository's .venv, else
# .venv-gpu, else python3. What is missing is installed with pip into it (into a new .venv-gpu,
# which sees the system's packages, when that Python is no virtual environment); the
# Fashion-MNIST files come from the Debian package dataset-fashion-mnist. Nothing else is
# downloaded. pip's own settings (PIP_INDEX_URL, PIP_FIND_LINKS, PIP_NO_INDEX) are honoured.
set -euo pipefail

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
DRY=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu.sh: unknown argument '$arg' (allowed: --dry-run, --help)" >&2; exit 2 ;;
  esac
done

cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 TF_CPP_MIN_LOG_LEVEL=1
FASHION_MNIST=/usr/share/datasets/fashion-mnist
REQUIRED="tensorflow keras numpy pluggy yaml rich sklearn matplotlib"  # setup.cfg's requirements and the plots extra
STARTED=$SECONDS

die() { echo "gpu.sh: $*" >&2; exit 1; }
step() { echo; echo "=== $* ($((SECONDS - STARTED)) s so far)$([[ $DRY == 1 ]] && echo '  [DRY RUN]')"; }
has_modules() { "$PY" -c "import importlib.util, sys; sys.exit(any(importlib.util.find_spec(m) is None for m in sys.argv[1:]))" "$@" 2>/dev/null; }
tf_sees_gpu() { "$PY" -c "import sys, tensorflow as tf; sys.exit(not tf.config.list_physical_devices('GPU'))" 2>/dev/null; }
pip_install() { echo "+ pip install $*"; "$PY" -m pip install --quiet "$@"; }

pick_python() {
  if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"
  elif [[ -n "${VIRTUAL_ENV:-}" ]]; then echo "$VIRTUAL_ENV/bin/python"
  elif [[ -x .venv/bin/python ]]; then echo .venv/bin/python
  elif [[ -x .venv-gpu/bin/python ]]; then echo .venv-gpu/bin/python
  else command -v python3 || die "no python3 on the PATH (set PYTHON=/path/to/python)"
  fi
}

install_python() {
  PY=$(pick_python)
  echo "Python: $PY ($("$PY" --version 2>&1))"
  if has_modules $REQUIRED; then echo "the project's requirements are installed"; return; fi
  if ! "$PY" -c "import sys; sys.exit(sys.prefix == sys.base_prefix)"; then
    echo "$PY is no virtual environment: making .venv-gpu beside the repository (it sees the system's packages)"
    "$PY" -m venv --system-site-packages .venv-gpu
    PY=.venv-gpu/bin/python
  fi
  has_modules $REQUIRED || pip_install -e ".[plots]" || die "pip could not install the project's requirements into $PY (no package registry here? set PIP_FIND_LINKS to a folder of wheels)"
}

install_torch() {
  if has_modules torch; then echo "PyTorch $("$PY" -c 'import torch; print(torch.__version__)'): its rows run too"
  elif [[ $DRY == 1 ]]; then echo "PyTorch is not installed: its rows are left out (the GPU run installs it: pip install -e '.[torch]')"
  else pip_install -e ".[torch]" || echo "gpu.sh: PyTorch could not be installed; the table goes without its rows" >&2
  fi
}

install_data() {
  [[ -f $FASHION_MNIST/train-images-idx3-ubyte.gz && -f $FASHION_MNIST/t10k-labels-idx1-ubyte.gz ]] && { echo "Fashion-MNIST: $FASHION_MNIST"; return; }
  echo "Fashion-MNIST is missing from $FASHION_MNIST: apt-get install -y dataset-fashion-mnist"
  local sudo=""; [[ $(id -u) == 0 ]] || sudo="sudo -n"
  { $sudo apt-get install -y dataset-fashion-mnist || { $sudo apt-get update && $sudo apt-get install -y dataset-fashion-mnist; }; } \
    || die "could not install the Debian package dataset-fashion-mnist (no apt repository reachable, or not root). Copy {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from a machine that has it into $FASHION_MNIST and run again"
}

show_gpu() {
  if command -v nvidia-smi >/dev/null; then nvidia-smi
  elif [[ $DRY == 1 ]]; then echo "nvidia-smi: not found (a dry run needs no GPU)"
  else die "nvidia-smi not found: this is no NVIDIA GPU machine (bash benchmarks/gpu.sh --dry-run checks the script on a CPU)"
  fi
  if [[ $DRY == 0 ]] && ! tf_sees_gpu; then
    local version; version=$("$PY" -c "import tensorflow as tf; print(tf.__version__)")
    echo "TensorFlow $version sees no GPU: installing its CUDA libraries"
    pip_install "tensorflow[and-cuda]==$version" || true
    tf_sees_gpu || die "TensorFlow $version still sees no GPU after pip install 'tensorflow[and-cuda]==$version' (driver too old for its CUDA? see nvidia-smi above)"
  fi
  "$PY" - <<'EOF'
import tensorflow as tf
print(f"TensorFlow {tf.__version__}, devices: {[device.name for device in tf.config.list_physical_devices()]}")
for gpu in tf.config.list_physical_devices("GPU"):
    print(f"  {gpu.name}: {tf.config.experimental.get_device_details(gpu)}")
EOF
}

throughput() {
  local sizes=(--device gpu --repeats 2 --samples 12800 --epochs 2)
  [[ $DRY == 1 ]] && sizes=(--device cpu --repeats 1 --samples 128 --epochs 1 --matmul-size 256)
  local table=(benchmarks/throughput.py "${sizes[@]}" --precision float32,mixed_float16 --xla off,on)
  echo "+ python ${table[*]}"
  "$PY" "${table[@]}" && return
  has_modules torch || die "benchmarks/throughput.py failed"
  echo "gpu.sh: the table failed with PyTorch's rows; again without them" >&2
  "$PY" "${table[@]}" --no-pytorch
}

fast_recipe() {
  local sizes=()
  [[ $DRY == 1 ]] && sizes=(--set dataset.limit=128 --set training.epochs=1)
  local run=(benchmarks/accuracy.py recipes/fashion_mnist_fast.yaml "${sizes[@]}" --target 0.93)
  echo "+ python ${run[*]}"
  "$PY" "${run[@]}"
}

if [[ $DRY == 1 ]]; then
  echo "DRY RUN: every step on the CPU with tiny sizes; its figures are no measurements"
  if command -v nvidia-smi >/dev/null; then export CUDA_VISIBLE_DEVICES=""; fi  # TensorFlow and PyTorch see no GPU
fi
step "1/5 Python and the project"; install_python; install_torch
step "2/5 Fashion-MNIST"; install_data
step "3/5 the GPU"; show_gpu
step "4/5 throughput table (benchmarks/throughput.py)"; throughput
step "5/5 time to 0.93 test accuracy (recipes/fashion_mnist_fast.yaml)"; fast_recipe
echo
if [[ $DRY == 1 ]]; then echo "DRY RUN passed in $((SECONDS - STARTED)) s: every step ran on the CPU with tiny sizes; the figures above are no measurements."
else echo "gpu.sh finished in $((SECONDS - STARTED)) s."
fi
