"""Tests for the `tfds` dataset: a TensorFlow Datasets dataset prepared in a local folder."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from framework.data.tfds import tfds
from framework.errors import DataError
from framework.extras import pip_install


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny image dataset, ``tapeline_tiny``, prepared with TFDS's own builder machinery (no download)."""
    tensorflow_datasets = pytest.importorskip("tensorflow_datasets")

    class TapelineTiny(tensorflow_datasets.core.GeneratorBasedBuilder):
        """4x4 grey images whose value is their index; label = index % 2."""

        VERSION = tensorflow_datasets.core.Version("1.0.0")

        def _info(self) -> tensorflow_datasets.core.DatasetInfo:
            features = {
                "image": tensorflow_datasets.features.Image(shape=(4, 4, 1)),
                "label": tensorflow_datasets.features.ClassLabel(names=["even", "odd"]),
            }
            return tensorflow_datasets.core.DatasetInfo(
                builder=self,
                features=tensorflow_datasets.features.FeaturesDict(features),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager: object) -> dict:
            return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

        def _generate_examples(self, count: int):  # noqa: ANN202 (a generator of TFDS examples)
            for i in range(count):
                yield i, {"image": np.full((4, 4, 1), i, np.uint8), "label": i % 2}

    data_dir = tmp_path_factory.mktemp("tfds")
    TapelineTiny(data_dir=str(data_dir)).download_and_prepare()
    return data_dir


def pairs(dataset) -> list[tuple[int, int]]:
    return [(int(image[0, 0, 0]), int(label)) for image, label in dataset.as_numpy_iterator()]


def test_prepared_dataset_with_splits_class_names_and_sizes(prepared):
    """Supervised pairs, class names from the ClassLabel, split slices and their sizes, Rescaling for images."""
    data = tfds("tapeline_tiny", str(prepared), train="train[:4]", validation="train[4:]")
    assert data.class_names == ["even", "odd"]
    assert data.sizes == {"train": 4, "validation": 2, "test": 2}
    assert data.preprocess == [{"name": "Rescaling", "args": {"scale": 1 / 255}}]
    assert data.source == f"tfds tapeline_tiny ({prepared})"
    train, validation = pairs(data.train), pairs(data.validation)
    assert sorted(train + validation) == [(i, i % 2) for i in range(6)]
    assert pairs(data.train) == train  # a fixed order
    assert data.train.element_spec[0].shape == (4, 4, 1) and data.train.element_spec[0].dtype.name == "uint8"


def test_unprepared_unknown_and_bad_splits_say_what_to_do(prepared, tmp_path):
    """An unprepared dataset says how to prepare it; unknown names and splits are named."""
    with pytest.raises(
        DataError,
        match=r"dataset 'mnist' is not prepared in '.*' \(nothing is downloaded at run time\). On a machine with "
        r"internet access run `" + re.escape(pip_install("tfds")) + r" && tfds build mnist --data_dir DIR`, then copy "
        r"DIR/mnist to '.*/mnist'",
    ):
        tfds("mnist", str(tmp_path))
    with pytest.raises(
        DataError,
        match=r"tfds: unknown dataset 'mnits' \(not a TFDS dataset, nor prepared in '.*'\); did you mean 'mnist'\?",
    ):
        tfds("mnits", str(tmp_path))
    with pytest.raises(
        DataError, match=r"tfds: dataset 'tapeline_tiny' has no split 'tran': .* \(its splits: train, test\)"
    ):
        tfds("tapeline_tiny", str(prepared), train="tran")


def test_missing_tensorflow_datasets(monkeypatch):
    """Without the extra installed, the message says how to install it."""
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(
        DataError, match=r"the `tfds` dataset needs tensorflow-datasets: " + re.escape(pip_install("tfds"))
    ):
        tfds("mnist", "/data")
