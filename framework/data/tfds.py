"""`tfds`: a TensorFlow Datasets dataset prepared in a local folder (never downloaded at run time)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from framework.data.module import DataModule
from framework.errors import DataError
from framework.extras import needs_extra, pip_install
from framework.recipe.paths import DataPath
from framework.recipe.schema import suggest

if TYPE_CHECKING:
    from types import ModuleType

    import tensorflow as tf
    from tensorflow_datasets.core import DatasetBuilder

RESCALE_TO_UNIT = [{"name": "Rescaling", "args": {"scale": 1 / 255}}]


def tfds(
    name: str, data_dir: DataPath.folder, train: str = "train", test: str = "test", validation: str | None = None
) -> DataModule:
    """A TensorFlow Datasets dataset by name (``mnist``, ``cifar10``, ``mnist:3.0.1``), read from `data_dir`.

    Args:
        name: the dataset's TFDS name, optionally with a config and version (``name/config:1.0.0``).
        data_dir: the folder it was prepared into (``tfds build NAME --data_dir DIR``).
        train, test, validation: TFDS split names, slices allowed (``train[:90%]``,
            ``train[90%:]``).

    Returns:
        A `DataModule` of the dataset's supervised ``(input, label)`` pairs as TFDS gives
        them (images: uint8 ``(height, width, channels)``; the default preprocessing,
        ``Rescaling(1/255)``, applies to datasets whose input is an image), with the class
        names of a class label and the split sizes.

    Raises:
        DataError: TensorFlow Datasets is not installed, the name is unknown, the dataset is
            not prepared in `data_dir` (the message says how to prepare it), a split does not
            exist, or the dataset has no supervised (input, label) pairs.
    """
    try:
        import tensorflow_datasets
    except ImportError:
        raise DataError(needs_extra("the `tfds` dataset", "tfds", "tensorflow-datasets")) from None
    folder = str(Path(data_dir).expanduser())
    builder = _builder(tensorflow_datasets, name, folder)
    splits = {"train": train, "validation": validation, "test": test}
    datasets, sizes = {}, {}
    for split, split_name in splits.items():
        if split_name is not None:
            datasets[split], sizes[split] = _split(builder, split_name, name)
    label = builder.info.features[builder.info.supervised_keys[1]] if builder.info.supervised_keys else None
    image = builder.info.features[builder.info.supervised_keys[0]] if builder.info.supervised_keys else None
    return DataModule(
        train=datasets["train"],
        test=datasets["test"],
        validation=datasets.get("validation"),
        source=f"tfds {name} ({folder})",
        class_names=list(label.names) if isinstance(label, tensorflow_datasets.features.ClassLabel) else None,
        sizes=sizes,
        preprocess=RESCALE_TO_UNIT if isinstance(image, tensorflow_datasets.features.Image) else [],
    )


def _builder(tensorflow_datasets: ModuleType, name: str, data_dir: str) -> DatasetBuilder:
    """The prepared dataset's builder; `DataError` for an unknown or unprepared dataset."""
    try:
        builder = tensorflow_datasets.builder(name, data_dir=data_dir)
    except tensorflow_datasets.core.registered.DatasetNotFoundError:
        known = tensorflow_datasets.list_builders()
        raise DataError(
            f"tfds: unknown dataset {name!r} (not a TFDS dataset, nor prepared in "
            f"'{data_dir}'){suggest(name.split('/')[0].split(':')[0], known)}"
        ) from None
    if not builder.is_prepared():
        raise DataError(
            f"tfds: dataset {name!r} is not prepared in '{data_dir}' (nothing is downloaded at run time). "
            f"On a machine with internet access run `{pip_install('tfds')} && tfds build {name} --data_dir "
            "DIR`, "
            f"then copy DIR/{builder.name} to '{data_dir}/{builder.name}'"
        )
    if not builder.info.supervised_keys:
        raise DataError(
            f"tfds: dataset {name!r} has no supervised (input, label) pairs (its features: "
            f"{', '.join(builder.info.features)})"
        )
    return builder


def _split(builder: DatasetBuilder, split: str, name: str) -> tuple[tf.data.Dataset, int]:
    """The split's ``(input, label)`` dataset, in stored order, and its size."""
    try:
        size = builder.info.splits[split].num_examples
        dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    except (KeyError, ValueError) as error:
        raise DataError(
            f"tfds: dataset {name!r} has no split {split!r}: {error} (its splits: {', '.join(builder.info.splits)})"
        ) from None
    return dataset, size
