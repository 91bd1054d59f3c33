"""Tests for the workers' agreement on the step at which all save and stop after a SIGTERM."""

from __future__ import annotations

import threading

import pytest
import tensorflow as tf

from framework.runtime import step_agreement
from framework.runtime.step_agreement import StepAgreement
from framework.training.preemption import PreemptionWatch


class Store:
    """An in-memory stand-in for the coordination service's key-value store: set once, get waits."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.changed = threading.Condition()

    def set(self, key: str, value: str) -> None:
        with self.changed:
            if key in self.values:
                raise tf.errors.AlreadyExistsError(None, None, f"{key} exists")
            self.values[key] = value
            self.changed.notify_all()

    def get(self, key: str, timeout_ms: int = 0) -> str:
        with self.changed:
            if not self.changed.wait_for(lambda: key in self.values, timeout=timeout_ms / 1000 or None):
                raise tf.errors.DeadlineExceededError(None, None, key)
            return self.values[key]


@pytest.fixture
def store(monkeypatch) -> Store:
    store = Store()
    monkeypatch.setattr(step_agreement, "set_cluster_value", store.set)
    monkeypatch.setattr(step_agreement, "cluster_value", store.get)
    return store


def test_the_first_worker_with_sigterm_sets_the_step_for_all(store):
    """Worker 1 got SIGTERM after 5 calls: both workers learn to stop after 6, acknowledged before propose returns;
    worker 0's own later SIGTERM changes nothing."""
    first, second = StepAgreement(0, 2), StepAgreement(1, 2)
    second.keys = first.keys  # the same agreement on two workers
    with first, second:
        second.propose(5)
        assert first.save_at == second.save_at == 6
        first.propose(6)  # another worker leads: no new step
        assert first.save_at == 6
    assert store.values[f"{first.keys}/leader"] == "1"


def test_training_that_ends_unpreempted_stops_the_watchers(store):
    """Leaving the block without a SIGTERM ends every watcher thread; no step is agreed on."""
    agreement = StepAgreement(0, 1)
    with agreement:
        pass
    assert not agreement.watcher.is_alive() and agreement.save_at is None


def test_the_watch_stops_all_workers_at_the_agreed_call(store, monkeypatch):
    """SIGTERM on one worker after its 2nd call: it and the other worker say `stop_here` at the start of call 4, not
    before."""
    monkeypatch.setattr("framework.training.preemption.threading.current_thread", threading.main_thread)
    first, second = StepAgreement(0, 2), StepAgreement(1, 2)
    second.keys = first.keys
    with PreemptionWatch(agreement=first) as signalled, PreemptionWatch(agreement=second) as other:
        assert [signalled.stop_here(), other.stop_here(), signalled.stop_here(), other.stop_here()] == [False] * 4
        signalled.requested = True
        assert not signalled.stop_here()  # proposes: stop after 3 calls
        assert not other.stop_here()
        assert signalled.stop_here() and other.stop_here()
