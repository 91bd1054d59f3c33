"""The storage of `tapeline tune`'s Optuna studies: opening a study for a recipe and its search, and waiting out a
database another process holds locked.

SQLite lets one process write at a time; another waits up to `SQLITE_TIMEOUT_S` for its lock,
and Optuna then reports the lock as "invalid data in the commit". `patiently` retries such a
write with growing pauses (1, 2, 4 ... s, `LOCK_PATIENCE_S` in all), then stops with a message
naming the storage.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from framework.errors import TapelineError, error_summary
from framework.recipe.loader import recipe_params
from framework.recipe.search_space import Search
from framework.recipe.sections import Recipe

if TYPE_CHECKING:
    import optuna

STUDY_DB = "study.db"
SQLITE_TIMEOUT_S = 60  # how long a write waits for another process's
OPEN_ATTEMPTS = 4
LOCK_PATIENCE_S = 300  # how long `patiently` waits out a locked database, on top of SQLite's own wait
FIRST_PAUSE_S = 1.0
T = TypeVar("T")


def is_locked(error: BaseException) -> bool:
    """Whether `error` (or what it was raised from) is a database's "locked" or "busy" error."""
    while error is not None:
        text = str(error).lower()
        if "database is locked" in text or "database table is locked" in text or "busy" in text:
            return True
        error = error.__cause__ or error.__context__
    return False


def patiently(action: Callable[[], T], url: str, before_retry: Callable[[], None] = lambda: None) -> T:
    """`action()`, retried while the database at `url` is locked: after pauses of 1, 2, 4 ... seconds, at most
    `LOCK_PATIENCE_S` in all; `before_retry` runs before each retry (to clean up what the failed try left).

    Raises:
        TapelineError: the database stayed locked; the message names the storage and how long it waited.
    """
    pause, waited = FIRST_PAUSE_S, 0.0
    while True:
        try:
            return action()
        except Exception as error:  # Optuna's StorageInternalError, SQLAlchemy's OperationalError
            if not is_locked(error):
                raise
            if waited + pause > LOCK_PATIENCE_S:
                raise TapelineError(
                    f"the study's storage {url!r} stayed locked for {waited + SQLITE_TIMEOUT_S:.0f} s: another process "
                    "holds a write lock on it (a sweep, or a program with the database open in a transaction); stop "
                    "it, or give this sweep another --storage"
                ) from None
            time.sleep(pause)
            waited += pause
            pause *= 2
            before_retry()


def storage_url(directory: Path, storage: str | None) -> str:
    """`storage`, or the SQLite database in the tune directory."""
    return storage or f"sqlite:///{directory.resolve() / STUDY_DB}"


def open_study(url: str, name: str, search: Search, recipe: Recipe) -> tuple[optuna.Study, optuna.storages.BaseStorage]:
    """The study `name` in the storage at `url`, created or loaded, for `recipe` and its `search`.

    Raises:
        TapelineError: the storage cannot be opened, or the study was made for another search
            or another recipe (the message names the differences).
    """
    import optuna
    import sqlalchemy.exc

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # Tapeline prints each trial itself

    def connect() -> tuple[optuna.Study, optuna.storages.BaseStorage]:
        storage = optuna.storages.RDBStorage(
            url, engine_kwargs={"connect_args": {"timeout": SQLITE_TIMEOUT_S}} if url.startswith("sqlite") else {}
        )
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            direction=search.direction,
            load_if_exists=True,
            pruner=optuna.pruners.MedianPruner(),
        )
        return study, storage

    for attempt in range(OPEN_ATTEMPTS):
        try:
            study, storage = patiently(connect, url)
            break
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, ValueError) as error:
            if isinstance(error, sqlalchemy.exc.IntegrityError) and attempt + 1 < OPEN_ATTEMPTS:
                # processes creating one database at once collide on its tables: the next try finds them made
                time.sleep(0.5)
                continue
            raise TapelineError(
                f"cannot open study {name!r} in storage {url!r}: {error_summary(error)}; --storage takes a SQLAlchemy "
                "database URL such as sqlite:///path/study.db or postgresql://user:password@host/database"
            ) from None
    patiently(lambda: check_identity(study, url, "search", search_identity(search)), url)
    patiently(lambda: check_identity(study, url, "recipe", recipe_identity(recipe, search)), url)
    return study, storage


def search_identity(search: Search) -> dict[str, Any]:
    """What makes two searches the same: the space, the metric and its direction (JSON data)."""
    space = [asdict(p) for p in search.parameters]
    return json.loads(json.dumps({"space": space, "metric": search.metric, "direction": search.direction}))


def recipe_identity(recipe: Recipe, search: Search) -> dict[str, Any]:
    """What makes two sweeps train the same thing: the recipe's values as flat parameters, without the searched
    values (each trial sets them), its name and `training.output_dir` (where runs go changes no result)."""
    searched = tuple(p.key for p in search.parameters)
    ignored = ("name", "training.output_dir")
    return {
        key: value
        for key, value in recipe_params(recipe).items()
        if key not in ignored and key not in searched and not key.startswith(tuple(f"{k}." for k in searched))
    }


def check_identity(study: optuna.Study, url: str, what: str, identity: dict[str, Any]) -> None:
    """Records `identity` (``"search"`` or ``"recipe"``, per `what`) with a new study; `TapelineError` naming every
    difference when the study holds another one."""
    known = study.user_attrs.get(what)
    if known is None:
        study.set_user_attr(what, identity)
        return
    if known == identity:
        return
    keys = sorted(set(known) | set(identity))
    prefix = "search." if what == "search" else ""
    differ = "; ".join(
        f"`{prefix}{key}` is {json.dumps(identity.get(key))} here, {json.dumps(known.get(key))} in the study"
        for key in keys
        if known.get(key) != identity.get(key)
    )
    raise TapelineError(
        f"study {study.study_name!r} in {url!r} was made for another {what}: {differ}; its trials would not be "
        "comparable, so name another study with --study NAME (or another --storage)"
    )
