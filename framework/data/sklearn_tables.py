"""`sklearn`: the real tables bundled with scikit-learn, for quick tabular runs without downloads."""

from __future__ import annotations

from typing import Literal

import numpy as np

from framework.data.arrays import Arrays
from framework.errors import DataError
from framework.recipe.schema import require

REGRESSION = ("diabetes", "linnerud")  # the others are classification tables


def sklearn(
    name: Literal["iris", "wine", "breast_cancer", "digits", "diabetes", "linnerud"],
    test_fraction: float = 0.2,
    seed: int = 0,
    split_targets: bool = False,
    inputs: dict[str, list[str]] | None = None,
) -> Arrays:
    """A table bundled with scikit-learn (``sklearn.datasets.load_<name>``), split into train and test.

    Args:
        name: ``iris`` (150 samples, 4 features, 3 classes), ``wine`` (178, 13, 3),
            ``breast_cancer`` (569, 30, 2), ``digits`` (1,797 8x8 images as 64 features,
            values 0..16, 10 classes), ``diabetes`` (442, 10, one regression target) or
            ``linnerud`` (20, 3, three regression targets).
        test_fraction: share of the samples held out for testing; classification tables are
            split stratified (each class keeps its share in both splits).
        seed: picks the test samples.
        split_targets: ``linnerud`` only: one target per name (``Weight``, ``Waist``,
            ``Pulse``) instead of one array of 3 columns, for a model with three outputs.
        inputs: named inputs instead of one feature array: input name -> feature-name patterns
            (``fnmatch``: ``{mean: ["mean *"], worst: ["worst *"]}``); each feature goes to the
            first input whose pattern matches it; features no pattern matches are left out.

    Returns:
        `Arrays` with float32 features ``(samples, features)`` (as scikit-learn gives them:
        unscaled) and int32 class ids with scikit-learn's class names, or float32 targets
        ``(samples,)`` (``diabetes``), ``(samples, 3)`` or a dict of three ``(samples,)``
        arrays (``linnerud``).

    Raises:
        DataError: an input's patterns match no feature.
        ValueError: `test_fraction` is not between 0 and 1, or `split_targets` is set for a
            table with one target.
    """
    require(
        test_fraction=(test_fraction, 0 < test_fraction < 1, "between 0 and 1"),
        split_targets=(
            split_targets,
            not split_targets or name == "linnerud",
            f"false for {name!r}, which has one target (only linnerud has several)",
        ),
    )
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    table = getattr(datasets, f"load_{name}")()
    x = np.asarray(table.data, np.float32)
    classification = name not in REGRESSION
    y = np.asarray(table.target, np.int32 if classification else np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y if classification else None
    )
    if split_targets:
        y_train, y_test = ({target: y[:, i] for i, target in enumerate(table.target_names)} for y in (y_train, y_test))
    if inputs:
        columns = feature_groups([str(f) for f in table.feature_names], inputs, name)
        x_train, x_test = ({group: x[:, index] for group, index in columns.items()} for x in (x_train, x_test))
    return Arrays(
        x_train,
        y_train,
        x_test,
        y_test,
        source=f"sklearn {name}",
        class_names=[str(c) for c in table.target_names] if classification else None,
    )


def feature_groups(features: list[str], inputs: dict[str, list[str]], table: str) -> dict[str, list[int]]:
    """The feature columns of each named input: a feature goes to the first input with a matching pattern."""
    from fnmatch import fnmatchcase

    columns: dict[str, list[int]] = {group: [] for group in inputs}
    for index, feature in enumerate(features):
        group = next((g for g, patterns in inputs.items() if any(fnmatchcase(feature, p) for p in patterns)), None)
        if group is not None:
            columns[group].append(index)
    empty = [g for g, index in columns.items() if not index]
    if empty:
        raise DataError(
            f"sklearn {table}: the patterns of inputs {empty} match no feature; the features are: {', '.join(features)}"
        )
    return columns
