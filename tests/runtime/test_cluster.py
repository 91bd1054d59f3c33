"""Tests for joining a cluster: the awaited workers named, Ctrl-C honoured, a timeout with a message."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from framework.runtime import cluster
from framework.runtime.cluster import join_cluster, peer_tasks

HERE = Path(__file__).parents[1]
RECIPE = """\
name: alone
dataset: {name: synthetic, args: {num_train: 64, num_test: 32, shape: [8, 8], num_classes: 2}}
model: mlp
training: {epochs: 1, output_dir: runs}
distribute: {strategy: multi_worker, worker_timeout: %s}
"""


@pytest.fixture
def two_workers(monkeypatch: pytest.MonkeyPatch) -> tuple[socket.socket, int]:
    """TF_CONFIG for worker 0 of two: worker 1's port answers (a listening socket), then another port that does not."""
    listening = socket.create_server(("localhost", 0))
    closed = socket.create_server(("localhost", 0))
    silent = closed.getsockname()[1]
    closed.close()
    cluster_spec = {"worker": ["localhost:1", f"localhost:{listening.getsockname()[1]}", f"localhost:{silent}"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster_spec, "task": {"type": "worker", "index": 0}}))
    monkeypatch.setattr(cluster, "FIRST_REPORT", 0.2)
    monkeypatch.setattr(cluster, "REPORT_EVERY", 0.4)
    monkeypatch.setattr(cluster, "POLL", 0.05)
    yield listening, silent
    listening.close()


def test_peers_are_the_other_tasks_of_tf_config(two_workers):
    """This task is left out of the peers; each keeps its job, index and address."""
    listening, silent = two_workers
    assert [str(t) for t in peer_tasks()] == [
        f"worker 1 (localhost:{listening.getsockname()[1]})",
        f"worker 2 (localhost:{silent})",
    ]


def test_a_missing_worker_is_named_while_waiting_and_when_the_time_is_up(two_workers):
    """Only the task whose port does not answer is reported, every REPORT_EVERY seconds, then the timeout message."""
    _, silent = two_workers
    lines: list[str] = []
    started = time.time()
    cluster.watch(started, 1.2, lambda: True, lines.append)
    assert 1.2 <= time.time() - started < 5
    *waiting, last = lines
    assert len(waiting) >= 2 and all(
        line.startswith(f"tapeline: waiting for worker 2 (localhost:{silent}) to start (") for line in waiting
    )
    assert last.startswith(
        "tapeline: error: the cluster did not start within 1.2 s (`distribute.worker_timeout`): no answer from "
        f"worker 2 (localhost:{silent}); "
    )


def test_the_watch_ends_with_the_wait_and_says_nothing_when_it_is_quick(two_workers):
    """Once the process stops waiting the watch returns, silent before FIRST_REPORT."""
    lines: list[str] = []
    checks = iter([True, True, False])
    cluster.watch(time.time(), 10, lambda: next(checks), lines.append)
    assert lines == []


def test_join_cluster_returns_the_strategy_or_raises_its_error(two_workers):
    """What `make` returns is returned, what it raises is raised, and Ctrl-C's handler is put back."""
    handler = signal.getsignal(signal.SIGINT)
    assert join_cluster(lambda: "strategy", 10) == "strategy"

    def fails() -> None:
        raise ValueError("bad cluster")

    with pytest.raises(ValueError, match="bad cluster"):
        join_cluster(fails, 10)
    assert signal.getsignal(signal.SIGINT) is handler


def start_alone(tmp_path: Path, timeout: float) -> subprocess.Popen:
    """`tapeline train` as worker 0 of two localhost workers, worker 1 never started."""
    ports = []
    for _ in range(2):
        with socket.create_server(("localhost", 0)) as free:
            ports.append(free.getsockname()[1])
    (tmp_path / "alone.yaml").write_text(RECIPE % timeout)
    workers = ",".join(f"localhost:{p}" for p in ports)
    return subprocess.Popen(
        [sys.executable, "-m", "framework", "train", "alone.yaml", "--workers", workers, "--worker-index", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**__import__("os").environ, "PYTHONPATH": str(HERE.parent)},
    )


def test_a_worker_alone_times_out_naming_the_missing_one(tmp_path):
    """A multi-worker run whose other worker never starts says it waits for it, then exits 1 after worker_timeout."""
    process = start_alone(tmp_path, 8)  # the first "waiting for" line comes after 5 s (FIRST_REPORT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr[-2000:]
    assert "waiting for worker 1 (localhost:" in stderr
    assert (
        "tapeline: error: the cluster did not start within 8 s (`distribute.worker_timeout`): no answer from worker 1"
        in stderr
    )
    assert not (tmp_path / "runs").exists()


def test_ctrl_c_stops_a_worker_waiting_for_the_cluster(tmp_path):
    """Ctrl-C while the run waits for a worker ends it at once with the interrupted exit code."""
    process = start_alone(tmp_path, 600)
    while "waiting for worker 1" not in (line := process.stderr.readline()):
        assert line, "the worker ended before it said it waits"
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == -signal.SIGINT, stderr[-2000:]
    assert time.monotonic() - sent < 15
