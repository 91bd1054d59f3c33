"""Tests for framework.tools.tune_storage: a study database locked by another process is waited out, then named."""

from __future__ import annotations

import sqlite3
import threading
import time

import optuna
import pytest
import sqlalchemy.exc

from framework.errors import TapelineError
from framework.recipe.loader import load_recipe
from framework.recipe.search_space import Parameter, Search
from framework.tools import tune_storage
from framework.tools.tune_storage import is_locked, open_study, patiently


def locked_error() -> optuna.exceptions.StorageInternalError:
    """What Optuna raises for a write SQLite refused because another connection holds the lock."""
    try:
        try:
            raise sqlalchemy.exc.OperationalError("COMMIT", {}, sqlite3.OperationalError("database is locked"))
        except sqlalchemy.exc.OperationalError as cause:
            raise optuna.exceptions.StorageInternalError(
                "An exception is raised during the commit ... invalid data"
            ) from cause
    except optuna.exceptions.StorageInternalError as error:
        return error


def test_a_locked_write_is_retried_with_growing_pauses_then_named(monkeypatch):
    """Locked twice then free: the action runs a third time after pauses of 1 and 2 (scaled down here); locked for
    good: a TapelineError naming the storage, not Optuna's "invalid data"."""
    monkeypatch.setattr(tune_storage, "FIRST_PAUSE_S", 0.01)
    monkeypatch.setattr(tune_storage, "LOCK_PATIENCE_S", 0.05)
    pauses, calls, cleaned = [], [], []
    monkeypatch.setattr(tune_storage.time, "sleep", pauses.append)

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise locked_error()
        return "done"

    assert patiently(flaky, "sqlite:///s.db", lambda: cleaned.append(1)) == "done"
    assert pauses == [0.01, 0.02] and len(cleaned) == 2
    with pytest.raises(
        TapelineError,
        match=r"the study's storage 'sqlite:///s.db' stayed locked for \d+ s: another "
        r"process holds a write lock on it",
    ):
        patiently(lambda: (_ for _ in ()).throw(locked_error()), "sqlite:///s.db")
    with pytest.raises(ValueError, match="not a lock"):
        patiently(lambda: (_ for _ in ()).throw(ValueError("not a lock")), "sqlite:///s.db")
    assert is_locked(locked_error()) and not is_locked(ValueError("x"))


def test_a_study_opens_once_another_connection_releases_its_lock(tmp_path, monkeypatch, tiny_recipe):
    """Another connection holds an exclusive lock on the study database for 1.5 s: opening the study waits it out
    (SQLite's own wait shortened to 0.2 s) instead of failing."""
    monkeypatch.setattr(tune_storage, "SQLITE_TIMEOUT_S", 0.2)
    monkeypatch.setattr(tune_storage, "FIRST_PAUSE_S", 0.1)
    monkeypatch.setattr(tune_storage, "LOCK_PATIENCE_S", 10)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    search = Search(
        (Parameter("optimizer.args.learning_rate", "log_uniform", 1e-3, 1e-1),), "loss", "minimize", 1, None
    )
    recipe = load_recipe(tiny_recipe())
    open_study(url, "tiny", search, recipe)
    holder = sqlite3.connect(tmp_path / "study.db", isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN EXCLUSIVE")
    threading.Thread(target=lambda: (time.sleep(1.5), holder.execute("COMMIT")), daemon=True).start()
    started = time.monotonic()
    study, _ = open_study(url, "tiny", search, recipe)
    assert study.study_name == "tiny" and time.monotonic() - started >= 1.0
