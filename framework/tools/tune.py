"""`tapeline tune`: an Optuna study over a recipe's ``search:`` section, each trial a run directory.

A tune directory (``<training.output_dir>/<name>/tune_<N>``, or ``--output``) holds
``recipe.yaml`` (the resolved recipe with its search section), ``tune.json`` (the study's
storage and name), ``study.db`` (the study, unless ``--storage`` names another database),
``trial_<number>/`` (a normal run directory per trial), and at the end ``best_recipe.yaml``
and the study's plots.

The study is kept in SQLite: a transaction is all-or-nothing, and SQLite's locks are POSIX
locks that the kernel releases when their process dies, so a sweep killed with SIGKILL
leaves neither a half-written record nor a stale lock, and processes sharing the database
wait for each other's writes (up to `SQLITE_TIMEOUT_S`). Optuna's journal file would leave its
lock file behind on SIGKILL (the other processes wait for its grace period) and can keep a torn
last line.

Each ``tapeline tune`` adds its ``--trials`` to the study's plan; every process sharing the study
runs trials until the study holds as many as planned, so ``--resume`` runs exactly the rest.
A trial that did not finish (its process was killed, interrupted, or stopped by an error other
than a failed run) is marked FAIL, as Optuna marks it, and its values are queued once more as a
new trial; trials left RUNNING by a dead process of this machine (host and PID are recorded) are
marked FAIL first.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from framework.errors import NothingToDo, TapelineError, TrainingFailed
from framework.extras import needs_extra
from framework.files import UMASK
from framework.recipe.loader import apply_overrides, load_document, recipe_to_dict
from framework.recipe.search_space import SEARCH, Search, check_search, split_search
from framework.recipe.sections import Recipe
from framework.recipe.yaml_reader import Document
from framework.tools.tune_report import report
from framework.tools.tune_storage import open_study, patiently, storage_url
from framework.tools.tune_trial import HOST, Sweep, announce, objective

if TYPE_CHECKING:
    import optuna


TUNE_FILE = "tune.json"
RECIPE_FILE = "recipe.yaml"
PLANNED = "planned:"  # study user attributes: trials each `tapeline tune` asked for


@dataclass(frozen=True)
class TuneRequest:
    """What ``tapeline tune`` is asked to do (its command line).

    Attributes:
        recipe: the recipe file with a ``search:`` section (not with `resume`).
        overrides: ``key=value`` settings applied to the recipe, as ``--set`` gives them.
        trials: trials to add to the study's plan; None: ``search.trials``.
        timeout: seconds after which no trial starts; None: ``search.timeout``.
        storage: the study's SQLAlchemy database URL; None: ``study.db`` in the tune directory.
        study: the study's name; None: the recipe's name.
        output: the tune directory; None: ``<training.output_dir>/<name>/tune_<N>``.
        resume: a tune directory to continue with what it saved.
    """

    recipe: Path | None = None
    overrides: tuple[str, ...] = ()
    trials: int | None = None
    timeout: float | None = None
    storage: str | None = None
    study: str | None = None
    output: Path | None = None
    resume: Path | None = None


def load_sweep(file: Path, overrides: list[str]) -> tuple[Document, Recipe, Search, Any]:
    """The base recipe document (search section removed), the checked recipe and search, and the search section's
    data."""
    document = load_document(file)
    problems = document.problems + apply_overrides(document, overrides)
    data = split_search(document)
    recipe, search = check_search(document, data, problems)
    return document, recipe, search, data


def claim_directory(directory: Path, files: dict[str, str]) -> bool:
    """Creates `directory` holding `files` in one step (a rename); False when it exists and is not empty.

    Processes starting together never see a half-made tune directory: each either creates it
    or finds it complete.
    """
    try:
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
    except OSError as error:
        raise TapelineError(f"cannot create tune directory '{directory}': {error.strerror or error}") from None
    try:
        os.chmod(staging, 0o777 & ~UMASK)
        for name, text in files.items():
            (staging / name).write_text(text)
        os.rename(staging, directory)
        return True
    except OSError as error:
        if directory.is_dir() and any(directory.iterdir()):
            return False
        raise TapelineError(f"cannot create tune directory '{directory}': {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def place_sweep(recipe: Recipe, files: dict[str, str], output: Path | None) -> Path:
    """The tune directory: a new ``<output_dir>/<name>/tune_<N>``, or `output` (created, or joined when it holds this
    sweep)."""
    if output is None:
        parent = Path(recipe.training.output_dir) / recipe.name
        return next(d for d in (parent / f"tune_{n}" for n in range(10**6)) if claim_directory(d, files))
    if claim_directory(output, files):
        return output
    if not (output / TUNE_FILE).is_file():
        raise TapelineError(
            f"output directory '{output}' is not empty and holds no tune; choose another --output, or --resume a tune "
            "directory"
        )
    if (output / RECIPE_FILE).read_text() != files[RECIPE_FILE] or json.loads(
        (output / TUNE_FILE).read_text()
    ) != json.loads(files[TUNE_FILE]):
        raise TapelineError(
            f"'{output}' holds a tune of another recipe, search, --storage or --study; choose another --output, or "
            "--resume it as it is"
        )
    print(f"joining the tune in {output}")
    return output


def sweep_settings(directory: Path) -> dict[str, Any]:
    """The ``tune.json`` of a tune directory: the study's storage URL (null: its ``study.db``) and name."""
    try:
        return json.loads((directory / TUNE_FILE).read_text())
    except (OSError, ValueError) as error:
        raise TapelineError(f"'{directory}' is not a tune directory (cannot read {TUNE_FILE}: {error})") from None


def remaining(study: optuna.Study) -> tuple[int, int]:
    """Trials still to start, and trials planned (the sum of every ``tapeline tune``'s --trials)."""
    from optuna.trial import TrialState

    planned = sum(v for k, v in study.user_attrs.items() if k.startswith(PLANNED))
    counted = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
    taken = sum(
        t.state in counted or (t.state == TrialState.FAIL and "error" in t.user_attrs)
        for t in study.get_trials(deepcopy=False)
    )
    return planned - taken, planned


def is_dead(process: Any) -> bool:
    """Whether the process recorded with a trial (``{"host", "pid", ...}``) ran on this machine and is gone."""
    if not isinstance(process, dict) or process.get("host") != HOST or not isinstance(process.get("pid"), int):
        return False
    try:
        os.kill(process["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def recover(study: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Marks trials left RUNNING by dead processes of this machine FAIL, and queues the values of unfinished trials once
    more."""
    import optuna
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if is_dead(trial.user_attrs.get("run")):
            try:
                storage.set_trial_state_values(
                    storage.get_trial_id_from_study_id_trial_number(study_id, trial.number), TrialState.FAIL
                )
            except optuna.exceptions.UpdateFinishedTrialError:
                pass  # another process marked it
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get("retry_of") for t in trials}
    for trial in trials:
        if trial.state == TrialState.FAIL and "error" not in trial.user_attrs and trial.number not in retried:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
            print(f"trial {trial.number} did not finish; its values are queued again")


def fail_own_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Marks this process's trials still RUNNING as FAIL (a write that hit a locked database cut them short), so that
    `recover` queues their values again."""
    from optuna.trial import TrialState

    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("run", {}).get("pid") == os.getpid():
            storage.set_trial_state_values(
                storage.get_trial_id_from_study_id_trial_number(study_id, trial.number), TrialState.FAIL
            )


def run_trials(sweep: Sweep, study: optuna.Study, storage: optuna.storages.BaseStorage, timeout: float | None) -> None:
    """Runs trials until the study holds as many as planned, or `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout if timeout else math.inf
    while time.monotonic() < deadline:
        recover(study, storage)
        if remaining(study)[0] <= 0:
            return
        patiently(
            lambda: study.optimize(objective(sweep), n_trials=1, catch=(TrainingFailed,), callbacks=[announce]),
            sweep.storage,
            lambda: fail_own_trials(study, storage),
        )
    print(f"timeout: no new trial after {timeout:g} s")


def resumed_sweep(directory: Path) -> tuple[Sweep, optuna.Study, optuna.storages.BaseStorage]:
    """The sweep saved in the tune directory `directory`, and its study."""
    settings = sweep_settings(directory)
    document, recipe, search, _ = load_sweep(directory / RECIPE_FILE, [])
    sweep = Sweep(directory, document, search, storage_url(directory, settings["storage"]), settings["study"])
    return sweep, *open_study(sweep.storage, sweep.study_name, search, recipe)


def new_sweep(request: TuneRequest) -> tuple[Sweep, optuna.Study, optuna.storages.BaseStorage]:
    """The sweep of ``request.recipe`` in a new (or joined) tune directory, and its study.

    A ``--storage`` is opened before the directory is made, so that a URL that cannot be
    opened leaves nothing behind.
    """
    document, recipe, search, data = load_sweep(request.recipe, request.overrides)
    name = request.study or recipe.name
    opened = open_study(request.storage, name, search, recipe) if request.storage else None
    files = {
        RECIPE_FILE: yaml.safe_dump({**recipe_to_dict(recipe), SEARCH: data}, sort_keys=False),
        TUNE_FILE: json.dumps({"storage": request.storage, "study": name}, indent=1) + "\n",
    }
    directory = place_sweep(recipe, files, request.output)
    sweep = Sweep(directory, document, search, storage_url(directory, request.storage), name)
    return sweep, *(opened or open_study(sweep.storage, name, search, recipe))


def tune_command(request: TuneRequest) -> int:
    """`tapeline tune RECIPE ...` or `tapeline tune --resume DIR`: runs the trials, then reports the study."""
    if importlib.util.find_spec("optuna") is None:
        raise TapelineError(needs_extra("tapeline tune", "tune", "optuna"))
    if (request.trials is not None and request.trials <= 0) or (request.timeout is not None and request.timeout <= 0):
        raise TapelineError(
            f"--trials and --timeout must be positive (got --trials {request.trials}, --timeout {request.timeout})"
        )
    if request.resume and (request.recipe or request.overrides or request.storage or request.study or request.output):
        raise TapelineError(
            "--resume DIR takes the recipe, --set values, storage and study saved in DIR; only --trials and --timeout "
            "may be given"
        )
    if not request.resume and not request.recipe:
        raise TapelineError("tune needs a RECIPE with a `search:` section, or --resume TUNE_DIR")
    sweep, study, storage = resumed_sweep(request.resume) if request.resume else new_sweep(request)
    if not request.resume or request.trials:
        study.set_user_attr(f"{PLANNED}{uuid.uuid4().hex}", request.trials or sweep.search.trials)
    recover(study, storage)
    left, planned = remaining(study)
    if request.resume and left <= 0:
        raise NothingToDo(
            f"nothing to do: study {sweep.study_name!r} has run its {planned} planned trials; --resume "
            f"{sweep.directory} --trials N runs N more"
        )
    print(
        f"study {sweep.study_name!r} in {sweep.storage}: {left} of {planned} planned trials to run; trials go to "
        f"{sweep.directory}",
        flush=True,
    )
    run_trials(sweep, study, storage, request.timeout or sweep.search.timeout)
    return report(study, sweep.document, sweep.search, sweep.directory)
