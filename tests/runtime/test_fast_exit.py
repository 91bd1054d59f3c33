"""Tests for framework.runtime.fast_exit: the process ends without the interpreter's teardown, losing nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = """\
import atexit, concurrent.futures, sys, threading, time
from framework.runtime.fast_exit import exit_process

log = open(sys.argv[1] + "/unclosed.txt", "w")  # never closed: its buffer is flushed at the end
log.write("line\\n" * 1000)
def late(name):
    time.sleep(0.3)
    open(sys.argv[1] + "/" + name, "w").write("done")
threading.Thread(target=late, args=("thread.txt",)).start()  # not a daemon: waited for
pool = concurrent.futures.ThreadPoolExecutor(1)  # never shut down: its queued work still runs
pool.submit(late, "pool.txt")
atexit.register(print, "atexit handler ran")
print("printed, not flushed", end="")
exit_process(3)
"""


def test_exit_process_keeps_the_code_threads_handlers_and_unflushed_files(tmp_path: Path):
    """`exit_process` returns its code after the threads, the executor's work, the atexit handlers and open files."""
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    done = subprocess.run([sys.executable, str(script), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3, done.stderr
    assert done.stdout == "printed, not flushedatexit handler ran\n"
    assert (tmp_path / "unclosed.txt").read_text() == "line\n" * 1000
    assert (tmp_path / "thread.txt").read_text() == (tmp_path / "pool.txt").read_text() == "done"
