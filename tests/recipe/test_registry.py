"""Tests for registries: names, import paths, registration, Keras catalogs."""

from __future__ import annotations

import pytest

from framework import register_model
from framework.errors import RegistryError
from framework.recipe.registry import LOSSES, METRICS, MODELS, OPTIMIZERS, import_path


def test_unknown_name_lists_registered_names_and_suggests():
    """An unknown name is a LookupError listing the registered names with a suggestion."""
    with pytest.raises(
        LookupError,
        match=r"unknown model 'seed_cn'; registered: backbone, fast_cnn, mlp, seed_cnn \(or a "
        r"'package.module:attribute' or 'file.py:attribute' path\); did you mean 'seed_cnn'\?",
    ):
        MODELS.get("seed_cn")


@pytest.mark.parametrize(
    "path, message",
    [
        ("framework.nowhere:x", "cannot import module 'framework.nowhere' for 'framework.nowhere:x'"),
        ("framework.model.networks:nothing", "module 'framework.model.networks' has no attribute 'nothing'"),
        (":x", "cannot import module '' for ':x'"),
        (".models:x", "cannot import module '.models' for '.models:x'"),
    ],
)
def test_bad_import_paths_are_registry_errors(path, message):
    """Import paths that cannot be imported give a RegistryError naming the path."""
    with pytest.raises(RegistryError, match=message):
        import_path(path)


def test_a_python_file_is_imported_with_its_folder_on_the_path(tmp_path):
    """A ``file.py:attribute`` path imports the file, which can import the files beside it; twice gives one module."""
    (tmp_path / "helpers_for_nets.py").write_text("WIDTH = 7\n")
    (tmp_path / "my_nets_file.py").write_text("from helpers_for_nets import WIDTH\n\ndef build():\n    return WIDTH\n")
    build = import_path(f"{tmp_path / 'my_nets_file.py'}:build")
    assert build() == 7 and import_path(f"{tmp_path / 'my_nets_file.py'}:build") is build


def test_a_python_file_named_like_an_imported_module_is_refused(tmp_path):
    """A file whose stem names a module already imported from elsewhere is a RegistryError asking to rename it."""
    (tmp_path / "pytest.py").write_text("x = 1\n")
    with pytest.raises(RegistryError, match=r"a module named 'pytest' is already imported from .*; rename the file"):
        import_path(f"{tmp_path / 'pytest.py'}:x")
    with pytest.raises(RegistryError, match=r"there is no file '.*nowhere.py'"):
        import_path(f"{tmp_path / 'nowhere.py'}:x")


def test_register_model_adds_a_name(monkeypatch):
    """register_model makes a builder available by name, with its source."""
    monkeypatch.setattr(MODELS, "_entries", dict(MODELS._load()))

    @register_model("tiny_net")
    def tiny_net(input_shape: tuple[int, ...], num_classes: int) -> None:
        """A tiny network."""

    entry = MODELS.get("tiny_net")
    assert (
        entry.target is tiny_net
        and entry.source == "registered by test_registry"
        and entry.summary == "A tiny network."
    )


def test_keras_catalogs_use_keras_names():
    """Optimizers, losses and metrics are listed under the names Keras uses."""
    assert {"adam", "sgd", "rmsprop", "adamw"} <= set(OPTIMIZERS.names())
    assert "sparse_categorical_crossentropy" in LOSSES.names()
    assert {"accuracy", "sparse_categorical_accuracy"} <= set(METRICS.names())
