"""MLflow: a run's recipe, epoch metrics, files and network in an MLflow tracking store (needs mlflow)."""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from framework import TapelineError, hookimpl, needs_extra, recipe_params

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from framework import RunContext, Trainer

STORE_FILE = "mlflow.db"
ARTIFACTS_DIR = "mlartifacts"
MODEL_FILE = "model.keras"
SQLITE = "sqlite:///"


@contextlib.contextmanager
def quiet_logger(name: str, level: int = logging.WARNING) -> Iterator[None]:
    """Raises logger `name` to `level` for the block (MLflow logs each database migration at INFO)."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(max(level, saved))
    try:
        yield
    finally:
        logger.setLevel(saved)


def sqlite_file(uri: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URI (relative to the working directory unless absolute); None for other
    stores."""
    return Path(uri[len(SQLITE) :]).resolve() if uri.startswith(SQLITE) else None


class MLflowTracking:
    """Logs the run to MLflow: the flattened recipe as params, the epoch logs as metrics, files at the end.

    Params are the recipe's values by dotted key (``training.epochs``, ``plugins.0.name`` ...).
    Metrics are every entry of the epoch logs with step = epoch (from 1, as in ``history.json``),
    plus the final test metrics (``test_loss`` ...) of the evaluation plugin at the last step.
    When training ends, the run directory's PNG, JSON and CSV files are logged as artifacts (not
    ``recipe.yaml``: the params hold it, and ``tapeline runs`` would take a folder holding it
    for a run), the network as ``model/model.keras``, and the MLflow run is marked FINISHED.
    A resumed run (``--resume``) continues the same MLflow run.

    `tracking_uri`: any MLflow tracking URI; default ``sqlite:///<training.output_dir>/mlflow.db``
    (a local SQLite store). Experiments this plugin creates in a SQLite store keep their
    artifacts in ``mlartifacts/`` beside the database file; other stores decide themselves.
    `experiment`: the MLflow experiment, created when missing; default the recipe's name.

    Needs mlflow: ``pip install 'tapeline[mlflow]'``.
    """

    name = "mlflow"
    after = ("evaluation", "plots")  # their files are logged as artifacts

    def __init__(self, tracking_uri: str | None = None, experiment: str | None = None) -> None:
        if importlib.util.find_spec("mlflow") is None:
            raise TapelineError(needs_extra("the mlflow plugin", "mlflow", "mlflow"))
        self.tracking_uri, self.experiment = tracking_uri, experiment
        self.client: MlflowClient | None = None  # None on workers other than the chief: only the chief logs
        self.run_id: str | None = None
        self.logged: set[str] = set()  # keys of the last epoch's metrics
        self.test: dict[str, float] = {}

    def state_dict(self) -> dict[str, Any]:
        """The MLflow run's id, so that ``--resume`` continues it."""
        return {"run_id": self.run_id}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Takes the MLflow run to continue from a resumed run's state."""
        self.run_id = state.get("run_id")

    def open_store(self, run: RunContext) -> tuple[MlflowClient, str]:
        """A client of the tracking store and the experiment's id (created when missing).

        `TapelineError` when the store cannot be opened or the experiment is deleted there.
        """
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        uri = self.tracking_uri or f"{SQLITE}{Path(run.recipe.training.output_dir).resolve() / STORE_FILE}"
        database = sqlite_file(uri)
        name = self.experiment or run.recipe.name
        try:
            with quiet_logger("mlflow"), quiet_logger("alembic"):
                if database is not None:
                    database.parent.mkdir(parents=True, exist_ok=True)
                client = MlflowClient(uri)
                experiment = client.get_experiment_by_name(name)
                if experiment is None:
                    artifacts = (database.parent / ARTIFACTS_DIR).as_uri() if database is not None else None
                    return client, client.create_experiment(name, artifact_location=artifacts)
        except (MlflowException, OSError) as error:
            raise TapelineError(
                f"cannot open the MLflow tracking store {uri!r}: {str(error).splitlines()[0]}"
            ) from None
        if experiment.lifecycle_stage != "active":
            raise TapelineError(
                f"MLflow experiment {name!r} is deleted in {uri!r}; restore it (mlflow experiments restore) or set "
                "the plugin's `experiment`"
            )
        return client, experiment.experiment_id

    @hookimpl
    def on_train_begin(self, run: RunContext) -> None:
        if not run.is_chief:
            return
        from mlflow.entities import Param
        from mlflow.exceptions import MlflowException

        self.client, experiment_id = self.open_store(run)
        if self.run_id is not None:  # resuming
            try:
                self.client.update_run(self.run_id, status="RUNNING")
                return
            except MlflowException:  # no longer in the store: start a new MLflow run
                pass
        name = f"{run.recipe.name}/{run.directory.name}"
        mlflow_run = self.client.create_run(
            experiment_id, run_name=name, tags={"tapeline.run_directory": str(run.directory)}
        )
        self.run_id = mlflow_run.info.run_id
        self.client.log_batch(
            self.run_id, params=[Param(key, str(value)) for key, value in recipe_params(run.recipe).items()]
        )

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        """`values` as metrics at `step`, in one request."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id, metrics=[Metric(key, float(value), now, step) for key, value in values.items()]
        )

    @hookimpl
    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.client is not None:
            self.log_metrics(logs, epoch + 1)
            self.logged = set(logs)

    @hookimpl
    def on_evaluate_end(self, split: str, logs: dict[str, float]) -> None:
        if split == "test":
            self.test = dict(logs)

    @hookimpl
    def on_train_end(self, trainer: Trainer, run: RunContext) -> None:
        if self.client is None:
            return
        final_test = {f"test_{key}": value for key, value in self.test.items() if f"test_{key}" not in self.logged}
        self.log_metrics(final_test, len(run.history))
        for path in sorted([*run.directory.glob("*.png"), *run.directory.glob("*.json"), *run.directory.glob("*.csv")]):
            self.client.log_artifact(self.run_id, str(path))
        with tempfile.TemporaryDirectory() as folder:
            model = Path(folder) / MODEL_FILE
            trainer.network.save(model)
            self.client.log_artifact(self.run_id, str(model), artifact_path="model")
        self.client.set_terminated(self.run_id, "FINISHED")

    @hookimpl
    def on_exception(self) -> None:
        if self.client is not None:
            self.client.set_terminated(self.run_id, "FAILED")
