"""Tests for the mlflow plugin, against a local SQLite store."""

from __future__ import annotations

import importlib.util
import json
import re
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from mlflow import MlflowClient

from framework.errors import TapelineError
from framework.extras import pip_install
from framework.recipe.loader import load_recipe
from framework.training.lifecycle import train
from framework.training.run import Run
from plugins.mlflow_tracking import MLflowTracking


@pytest.fixture(scope="module")
def tracked(module_tiny_recipe) -> tuple[Run, MlflowClient]:
    """A run of 1 epoch resumed for a 2nd, logged to the default store, and a client of that store."""
    recipe = module_tiny_recipe("plugins: [evaluation, plots, mlflow]\n")
    first = train(load_recipe(recipe, ["dataset.validation_split=0.25", "training.epochs=1"]))
    run = train(load_recipe(recipe, ["dataset.validation_split=0.25"]), first.directory, resume=True)
    return run, MlflowClient(f"sqlite:///{run.directory.parents[1] / 'mlflow.db'}")


def the_run(client: MlflowClient, experiment: str):
    """The only MLflow run of `experiment`."""
    [mlflow_run] = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return mlflow_run


def test_logs_params_metrics_and_status_through_a_resume(tracked):
    """Params are the flattened recipe, metrics each epoch's logs at step = epoch and the final test metrics; a resume
    continues the MLflow run."""
    run, client = tracked
    mlflow_run = the_run(client, "tiny")
    params = mlflow_run.data.params
    assert (
        params["model.name"] == "seed_cnn"
        and params["dataset.args.shape.0"] == "8"
        and params["dataset.validation_split"] == "0.25"
    )
    assert params["plugins.2.name"] == "mlflow" and params["training.epochs"] == "1"  # as when the run began
    history = client.get_metric_history(mlflow_run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [
        (row["epoch"], pytest.approx(row["val_loss"])) for row in run.history
    ]
    evaluation = json.loads((run.directory / "evaluation.json").read_text())
    test = client.get_metric_history(mlflow_run.info.run_id, "test_accuracy")  # one per session
    assert [m.step for m in test] == [1, 2] and test[-1].value == pytest.approx(evaluation["accuracy"])
    assert mlflow_run.info.status == "FINISHED" and mlflow_run.info.run_name == f"tiny/{run.directory.name}"
    assert mlflow_run.data.tags["tapeline.run_directory"] == str(run.directory)


def test_logs_files_and_the_network_as_artifacts(tracked, tmp_path):
    """PNG, JSON and CSV files and the network (a .keras file that loads in Keras) are artifacts beside the store."""
    run, client = tracked
    mlflow_run = the_run(client, "tiny")
    names = {info.path for info in client.list_artifacts(mlflow_run.info.run_id)}
    assert names == {
        "audit.json",
        "errors.csv",
        "errors.png",
        "history.csv",
        "confusion_matrix.png",
        "learning_curves.png",
        "evaluation.json",
        "history.json",
        "run.json",
        "model",
    }
    assert mlflow_run.info.artifact_uri.startswith((run.directory.parents[1] / "mlartifacts").as_uri())
    [model] = client.list_artifacts(mlflow_run.info.run_id, "model")
    network = keras.saving.load_model(client.download_artifacts(mlflow_run.info.run_id, model.path, str(tmp_path)))
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(network.predict(x, verbose=0), run.trainer.network.predict(x, verbose=0), rtol=1e-6)


def test_tracking_uri_and_experiment_args(tracked, tiny_recipe):
    """An explicit SQLite URI and experiment: the experiment is created there, its artifacts beside the database
    file."""
    run, client = tracked
    database = run.directory.parents[1] / "mlflow.db"
    plugin = MLflowTracking(tracking_uri=f"sqlite:///{database}", experiment="other")
    opened, experiment_id = plugin.open_store(SimpleNamespace(recipe=load_recipe(tiny_recipe())))
    assert opened.tracking_uri == client.tracking_uri
    assert client.get_experiment(experiment_id).artifact_location == (database.parent / "mlartifacts").as_uri()
    assert (
        plugin.open_store(SimpleNamespace(recipe=load_recipe(tiny_recipe())))[1] == experiment_id
    )  # found, not created again


def test_a_store_that_cannot_be_opened_is_reported(tiny_recipe):
    """A tracking URI MLflow has no store for is a TapelineError naming the URI."""
    plugin = MLflowTracking(tracking_uri="nosuchstore://x")
    with pytest.raises(TapelineError, match=r"cannot open the MLflow tracking store 'nosuchstore://x': "):
        plugin.open_store(SimpleNamespace(recipe=load_recipe(tiny_recipe())))


def test_without_mlflow_says_what_to_install(monkeypatch):
    """Without mlflow installed the plugin refuses to be built and names the extra."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    with pytest.raises(TapelineError, match=re.escape(f"the mlflow plugin needs mlflow: {pip_install('mlflow')}")):
        MLflowTracking()
