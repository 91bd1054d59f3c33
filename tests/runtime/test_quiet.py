"""Tests for quiet start-up: TensorFlow's log lines hidden, warnings as one line, real errors kept."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import warnings

import pytest

from framework.runtime.quiet import cpp_log_filtered, show_warnings_briefly

TF_LOG_LINE = re.compile(r"^[IWE]\d{4} |absl::InitializeLog|WARNING:tensorflow", re.MULTILINE)


def tapeline(*argv: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "framework", *argv], capture_output=True, text=True, timeout=300, env=env
    )


def test_cpp_log_lines_are_dropped_and_other_lines_kept(capfd):
    """Lines in absl's C++ log format are dropped from fd 2; anything else is written back."""
    with cpp_log_filtered():
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"I0000 00:00:1796009643.609555    3590 cudart_stub.cc:31] Could not find cuda drivers\n")
        os.write(2, b"E0000 00:00:1796009665.127723    3667 cuda_platform.cc:52] failed call to cuInit\n")
        os.write(2, b"ImportError: a real problem\n")
    assert capfd.readouterr().err == "ImportError: a real problem\n"


def test_warnings_are_one_tapeline_line(capsys, monkeypatch):
    """A Python warning is printed as `tapeline: warning: <message>`, whitespace folded, no source line."""
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)
    show_warnings_briefly()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("Early stopping conditioned on metric `val_loss`\n  which is not available.", UserWarning)
    assert (
        capsys.readouterr().err
        == "tapeline: warning: Early stopping conditioned on metric `val_loss` which is not available.\n"
    )


def test_train_prints_no_tensorflow_log_line(tiny_recipe, tmp_path):
    """A whole `tapeline train` process writes no TensorFlow log line to stderr (XLA included)."""
    recipe = str(tiny_recipe("plugins: [console]\n"))
    done = tapeline("train", recipe, "--set", "training.jit_compile=optimizer", "--output", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    assert not TF_LOG_LINE.search(done.stderr), done.stderr
    assert "epoch 2/2  accuracy" in done.stdout


@pytest.mark.parametrize("flags, level", [([], "3"), (["--verbose"], "None")])
def test_verbose_leaves_tensorflow_logging_alone(flags, level):
    """Without --verbose the CLI sets TF_CPP_MIN_LOG_LEVEL=3 before TensorFlow starts; with it, nothing."""
    script = (
        "import os\nfrom framework.cli import "
        f"main\nmain({[*flags, 'list', 'plugins']!r})\nprint(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == level


def test_ray_forwarded_tensorflow_lines_are_dropped(capsys):
    """Inside `ray_logs_filtered`, TensorFlow start-up lines that Ray forwards (behind its coloured process prefix)
    and Ray's state-API noise are dropped, a line written in two parts is kept whole, anything else passes."""
    from framework.runtime.quiet import ray_logs_filtered

    with ray_logs_filtered():
        print(
            "\x1b[36m(RayTrainWorker pid=445)\x1b[0m I0000 00:00:1796.5   30972 port.cc:153] oneDNN custom ops",
            file=sys.stderr,
        )
        print(
            "(TrainController pid=2220) WARNING: All log messages before absl::InitializeLog() is called "
            "are written to STDERR",
            file=sys.stderr,
        )
        print(
            "(PlacementGroupCleaner pid=9) Failed to query. State API may be temporarily unavailable.", file=sys.stderr
        )
        sys.stdout.write("\x1b[36m(RayTrainWorker pid=445)\x1b[0m epoch 1/3  ")
        sys.stdout.write("accuracy 0.5265\n")
        print("(TrainController pid=2220) Started training worker group of size 2", file=sys.stderr)
    out, err = capsys.readouterr()
    assert out == "\x1b[36m(RayTrainWorker pid=445)\x1b[0m epoch 1/3  accuracy 0.5265\n"
    assert err == "(TrainController pid=2220) Started training worker group of size 2\n"
