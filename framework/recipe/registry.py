"""Registries: names in recipes -> models, datasets, plugins and Keras optimizers, losses, metrics.

A name is looked up among the built-ins, then among the entry points of the registry's group
(installed third-party packages), and a ``package.module:attribute`` path or a
``file.py:attribute`` path is imported directly, so a user's own model needs no registration at all.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from framework.errors import RegistryError
from framework.recipe.schema import suggest


@dataclass(frozen=True)
class Entry:
    """A registered object and where it comes from (``built-in``, ``entry point <dist>``, ``path``)."""

    name: str
    target: Any
    source: str

    @property
    def summary(self) -> str:
        """The first line of the target's docstring."""
        return (inspect.getdoc(self.target) or "").split("\n", 1)[0]


def import_path(path: str) -> Any:
    """The object named by ``package.module:attribute`` or ``/path/to/file.py:attribute``.

    A file is imported as the module named by its stem, with its folder put first on
    ``sys.path`` so that it can import the files beside it.

    Raises:
        RegistryError: the module or file cannot be imported, or has no such attribute.
    """
    module_name, _, attribute = path.rpartition(":") if ".py:" in path else path.partition(":")
    try:
        module = import_file(Path(module_name)) if module_name.endswith(".py") else importlib.import_module(module_name)
    except (ImportError, ValueError, TypeError) as error:  # ValueError/TypeError: empty or relative module names
        raise RegistryError(f"cannot import module '{module_name}' for '{path}': {error}") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise RegistryError(f"module '{module_name}' has no attribute '{attribute}' (from '{path}')") from None


def import_file(file: Path) -> ModuleType:
    """The Python `file` imported as the module named by its stem (once: a second call returns it).

    Raises:
        ImportError: there is no such file, or another module of that name is already imported.
    """
    if not file.is_file():
        raise ImportError(f"there is no file '{file}'")
    loaded = sys.modules.get(file.stem)
    if loaded is not None:
        if Path(getattr(loaded, "__file__", "") or "").resolve() == file.resolve():
            return loaded
        raise ImportError(f"a module named '{file.stem}' is already imported from {loaded.__file__}; rename the file")
    if str(file.parent) not in sys.path:
        sys.path.insert(0, str(file.parent))
    return importlib.import_module(file.stem)


class Registry:
    """Named objects of one kind: built-ins, entry points of `group`, then import paths."""

    def __init__(self, kind: str, group: str | None, builtins: str) -> None:
        self.kind = kind
        self.group = group
        self._builtins_path = builtins
        self._entries: dict[str, Entry] | None = None

    def _load(self) -> dict[str, Entry]:
        if self._entries is None:
            builtins: dict[str, Any] = import_path(self._builtins_path)()
            self._entries = {name: Entry(name, target, "built-in") for name, target in builtins.items()}
            for point in entry_points(group=self.group) if self.group else ():
                dist = point.dist.name if point.dist else "?"
                self._entries.setdefault(point.name, Entry(point.name, point, f"entry point ({dist})"))
        return self._entries

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator adding an object under `name` (for code that builds runs itself)."""

        def add(target: Any) -> Any:
            self._load()[name] = Entry(name, target, f"registered by {target.__module__}")
            return target

        return add

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._load())

    def __iter__(self) -> Iterator[Entry]:
        return (self.get(name) for name in self.names())

    def get(self, name: str) -> Entry:
        """The entry for `name` (a registered name or an import path), loading entry points on use."""
        if ":" in name:
            return Entry(name, import_path(name), "path")
        entry = self._load().get(name)
        if entry is None:
            raise RegistryError(self.unknown_message(name))
        if not callable(entry.target) and hasattr(
            entry.target, "load"
        ):  # an entry point not loaded yet (any importlib_metadata's)
            entry = Entry(name, import_path(entry.target.value), entry.source)
            self._load()[name] = entry
        return entry

    def unknown_message(self, name: str) -> str:
        """``unknown model 'x'; registered: a, b; did you mean 'a'?`` (also allows import paths)."""
        names = self.names()
        return (
            f"unknown {self.kind} {name!r}; registered: {', '.join(names)}"
            f" (or a 'package.module:attribute' or 'file.py:attribute' path){suggest(name, names)}"
        )


def _keras_catalog(module: Any, base: type, name_of: Callable[[type], str | None]) -> dict[str, type]:
    classes = (c for c in vars(module).values() if isinstance(c, type) and issubclass(c, base) and c is not base)
    catalog = {name_of(c): c for c in classes}
    catalog.pop(None, None)
    return dict(sorted(catalog.items()))


def _default_name(cls: type) -> str | None:
    """Keras losses and metrics name themselves in their ``name`` parameter's default.

    Classes whose default is None (``AUC``, ``Precision``, ``Recall`` ...) take Keras's
    snake-case form of the class name (the rule of ``keras.src.utils.naming.to_snake_case``):
    ``auc``, ``precision``, ``recall``.
    """
    param = inspect.signature(cls).parameters.get("name")
    default = getattr(param, "default", None)
    if param is not None and default is None:
        return re.sub(r"([a-z])([A-Z])", r"\1_\2", re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", cls.__name__)).lower()
    return default if isinstance(default, str) and default.islower() else None


def keras_optimizers() -> dict[str, type]:
    """Keras optimizers by their lower-case class names (``adam``, ``sgd``, ``rmsprop`` ...)."""
    import keras  # here, not at the top: only recipes naming Keras objects need it

    catalog = _keras_catalog(keras.optimizers, keras.optimizers.Optimizer, lambda c: c.__name__.lower())
    catalog.pop("lossscaleoptimizer", None)
    return catalog


def keras_losses() -> dict[str, type]:
    """Keras losses by their own names (``sparse_categorical_crossentropy`` ...)."""
    import keras

    return _keras_catalog(keras.losses, keras.losses.Loss, _default_name)


def keras_metrics() -> dict[str, type]:
    """Keras metrics by their own names (``accuracy``, ``sparse_categorical_accuracy`` ...)."""
    import keras

    return _keras_catalog(keras.metrics, keras.metrics.Metric, _default_name)


def keras_preprocessing_layers() -> dict[str, type]:
    """Keras's preprocessing layers by class name (``Rescaling``, ``Normalization``, ``RandomFlip`` ...)."""
    import keras

    from framework.runtime.compat import is_preprocessing_layer

    layers = {
        name: cls for name, cls in vars(keras.layers).items() if isinstance(cls, type) and is_preprocessing_layer(cls)
    }
    layers.pop("Pipeline", None)  # a recipe's list is already a pipeline
    return dict(sorted(layers.items()))


MODELS = Registry("model", "tapeline.models", "framework.model.catalog:builtins")
DATASETS = Registry("dataset", "tapeline.datasets", "framework.data.catalog:builtins")
PLUGINS = Registry("plugin", "tapeline.plugins", "plugins:builtins")
OPTIMIZERS = Registry("optimizer", None, "framework.recipe.registry:keras_optimizers")
LOSSES = Registry("loss", None, "framework.recipe.registry:keras_losses")
METRICS = Registry("metric", None, "framework.recipe.registry:keras_metrics")
PREPROCESSING = Registry("preprocessing layer", None, "framework.recipe.registry:keras_preprocessing_layers")
TRAINERS = Registry("trainer", "tapeline.trainers", "framework.model.trainer:trainers")
register_model = MODELS.register
register_dataset = DATASETS.register
