"""Tests for the `sklearn` dataset: scikit-learn's bundled tables as Arrays."""

from __future__ import annotations

import numpy as np
import pytest

from framework.data.sklearn_tables import sklearn
from framework.errors import DataError


def test_classification_tables_are_stratified_with_class_names():
    """Features float32, labels int32 with scikit-learn's class names, each class in both splits in proportion."""
    data = sklearn("iris", test_fraction=0.2, seed=1)
    assert data.x_train.shape == (120, 4) and data.x_test.shape == (30, 4) and data.x_train.dtype == np.float32
    assert data.y_train.dtype == np.int32 and data.class_names == ["setosa", "versicolor", "virginica"]
    assert np.bincount(data.y_test).tolist() == [10, 10, 10]
    assert data.source == "sklearn iris"
    again = sklearn("iris", test_fraction=0.2, seed=1)
    np.testing.assert_array_equal(again.x_test, data.x_test)
    assert not np.array_equal(sklearn("iris", test_fraction=0.2, seed=2).x_test, data.x_test)
    digits = sklearn("digits")
    assert digits.class_names == [str(d) for d in range(10)] and digits.x_train.shape[1] == 64


def test_regression_tables_have_float_targets():
    """diabetes has one float32 target; linnerud three, as columns or, split, by name."""
    diabetes = sklearn("diabetes")
    assert diabetes.y_train.dtype == np.float32 and diabetes.y_train.ndim == 1 and diabetes.class_names is None
    assert len(diabetes.x_train) + len(diabetes.x_test) == 442
    linnerud = sklearn("linnerud")
    assert linnerud.y_train.shape == (16, 3) and linnerud.y_test.shape == (4, 3)
    split = sklearn("linnerud", split_targets=True)
    assert sorted(split.y_train) == ["Pulse", "Waist", "Weight"]
    np.testing.assert_array_equal(split.y_test["Waist"], linnerud.y_test[:, 1])
    assert split.y_test["Pulse"].dtype == np.float32


def test_bad_arguments():
    """Bad fractions and split_targets on one-target tables are explained."""
    with pytest.raises(ValueError, match=r"`test_fraction` must be between 0 and 1 \(got 1.0\)"):
        sklearn("wine", test_fraction=1.0)
    with pytest.raises(
        ValueError,
        match=r"`split_targets` must be false for 'diabetes', which has one target \(only linnerud has several\)",
    ):
        sklearn("diabetes", split_targets=True)


def test_feature_patterns_make_named_inputs():
    """`inputs` groups features by pattern into named inputs; a pattern matching nothing is a DataError listing the
    features."""
    arrays = sklearn("breast_cancer", inputs={"mean": ["mean *"], "worst": ["worst *"]})
    assert (
        set(arrays.x_train) == {"mean", "worst"}
        and arrays.x_train["mean"].shape[1] == 10
        and arrays.x_test["worst"].shape[1] == 10
    )
    with pytest.raises(
        DataError,
        match=r"sklearn iris: the patterns of inputs \['petals'\] match no feature; the features are: sepal length "
        r"\(cm\)",
    ):
        sklearn("iris", inputs={"petals": ["petals *"], "other": ["*"]})
