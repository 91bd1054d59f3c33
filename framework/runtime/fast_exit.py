"""Ending the ``tapeline`` process without the interpreter's teardown, which takes over a second once TensorFlow is
loaded.

Measured with TensorFlow 2.21 and Keras 3.15 on a 2-core CPU: a process that had imported them and
fitted a one-layer model took 1.19-1.35 s from its last statement to its end, and 0.05-0.07 s when it
ran its exit handlers and then called ``os._exit``. What Python's own exit does that matters is kept,
in its order (CPython's ``Py_FinalizeEx``): wait for the threads that are not daemons (after telling
``concurrent.futures`` executors to finish their queued work), run the ``atexit`` handlers, flush
the standard streams. Then every file object still open is flushed (the teardown would flush them
when it freed them), so that a plugin that never closed its log file loses nothing. What is
skipped is freeing every module and object, which nothing the process wrote depends on.
"""

from __future__ import annotations

import atexit
import gc
import io
import os
import sys
import threading
from typing import NoReturn


def exit_process(code: int) -> NoReturn:
    """Ends the process with exit status `code` (0-255) after what Python's exit does that can matter: the
    threads' end, the ``atexit`` handlers, flushing every open file. Falls back to ``sys.exit(code)`` on a Python
    without CPython's ``threading._shutdown`` or ``atexit._run_exitfuncs``."""
    shutdown = getattr(threading, "_shutdown", None)
    run_handlers = getattr(atexit, "_run_exitfuncs", None)
    if shutdown is None or run_handlers is None:
        sys.exit(code)
    shutdown()  # concurrent.futures' exit hooks, then joins the non-daemon threads
    run_handlers()
    flush_open_files()
    os._exit(code)


def flush_open_files() -> None:
    """Flushes every file object that is open for writing, the standard streams last; a flush that fails (a closed
    pipe, a full disk) is skipped."""
    streams = [stream for stream in (sys.stdout, sys.stderr) if stream is not None]
    files = [f for f in gc.get_objects() if isinstance(f, io.IOBase) and all(f is not s for s in streams)]
    for file in [*files, *streams]:
        try:
            if not file.closed and file.writable():
                file.flush()
        except (OSError, ValueError):
            pass
