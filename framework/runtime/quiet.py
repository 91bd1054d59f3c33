"""Quiet start-up: no TensorFlow log lines, and Python warnings as one ``tapeline: warning:`` line.

Measured with TensorFlow 2.21 on a CPU-only machine: ``TF_CPP_MIN_LOG_LEVEL=3`` removes the
C++ lines logged once absl logging is set up (``cpu_feature_guard``, ``failed call to cuInit``,
``XLA service ... initialized``), but not the ones printed while TensorFlow's shared
libraries load, before that set-up (``WARNING: All log messages before absl::InitializeLog()
is called are written to STDERR`` and ``I0000 ... cudart_stub.cc:31] Could not find cuda
drivers``); no environment variable silences those. So `quiet_tensorflow` also runs the first
``import tensorflow`` with file descriptor 2 sent to a temporary file, then writes back every
line that is not C++ log output, so real errors stay visible. The Python loggers
``tensorflow`` and ``absl`` are set to ERROR (no ``WARNING:tensorflow:`` lines such as retracing
notices). ``tapeline --verbose`` skips all of this; so does a ``TF_CPP_MIN_LOG_LEVEL`` the user set.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import io
import logging
import os
import re
import sys
import tempfile
import threading
import types
import warnings
from collections.abc import Iterator
from typing import TextIO

LEVEL_VARIABLE = "TF_CPP_MIN_LOG_LEVEL"
ONLY_FATAL = "3"
CPP_LOG_LINE = re.compile(
    r"(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ [\w.\-/]+:\d+\] )"
)


def quiet_tensorflow() -> None:
    """Keeps TensorFlow's start-up logging off stderr; call before TensorFlow is imported.

    Does nothing when the user set ``TF_CPP_MIN_LOG_LEVEL`` (they chose what to see) or when
    TensorFlow is already imported (too late). The filtered import happens whenever TensorFlow
    is first imported, so commands that never need it never import it.
    """
    if LEVEL_VARIABLE in os.environ or "tensorflow" in sys.modules:
        return
    os.environ[LEVEL_VARIABLE] = ONLY_FATAL
    for name in ("tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.meta_path.insert(0, _FilteredImport())


@contextlib.contextmanager
def cpp_log_filtered() -> Iterator[None]:
    """Sends file descriptor 2 to a temporary file; afterwards writes back the lines that are not C++ logs."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not CPP_LOG_LINE.match(line)))
            sys.stderr.flush()


class _FilteredLoader(importlib.abc.Loader):
    """Runs the wrapped loader's ``exec_module`` inside `cpp_log_filtered`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = module.__spec__.loader = self.loader  # the module looks normally imported
        with cpp_log_filtered():
            self.loader.exec_module(module)


class _FilteredImport(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` once, with a loader that filters its start-up lines; then leaves `sys.meta_path`."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _FilteredLoader(spec.loader)
        return spec


# the prefix Ray puts before the lines it forwards from its processes, "(RayTrainWorker pid=123, ip=10.0.0.2) "
RAY_PREFIX = re.compile(r"^(?:\x1b\[\d+m)?\(\w+ pid=\d+[^)]*\)(?:\x1b\[0m)? ")
# Ray's own noise on a cluster without its dashboard (the state API it polls lives there)
RAY_NOISE = ("State API may be temporarily unavailable",)


class RayLogFilter(io.TextIOBase):
    """A text stream that writes to `stream` every line except the TensorFlow start-up lines that Ray forwards from
    its worker processes (there no import could filter them: `quiet_tensorflow`) and Ray's `RAY_NOISE`."""

    def __init__(self, stream: TextIO) -> None:
        self.stream, self.pending = stream, ""
        self.lock = threading.Lock()  # Ray's log thread and the main thread both write

    def write(self, text: str) -> int:
        with self.lock:
            *lines, self.pending = (self.pending + text).split("\n")
            for line in lines:
                if not (CPP_LOG_LINE.match(RAY_PREFIX.sub("", line)) or any(noise in line for noise in RAY_NOISE)):
                    self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.stream.encoding


@contextlib.contextmanager
def ray_logs_filtered() -> Iterator[None]:
    """Inside the block, standard output and error drop what `RayLogFilter` drops."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RayLogFilter(sys.stdout), RayLogFilter(sys.stderr)
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.write("\n" if stream.pending else "")
        sys.stdout, sys.stderr = saved


def show_warnings_briefly() -> None:
    """Shows each Python warning as one line, ``tapeline: warning: <message>``, without the source line.

    Python's default filters already hide the deprecation noise of library internals; what is
    left (a Keras callback monitoring a missing metric, a layer given arguments it ignores, ...)
    concerns the user's recipe or code.
    """
    warnings.showwarning = _show_warning


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    text = " ".join(str(message).split())
    print(f"tapeline: warning: {text}", file=file or sys.stderr)
