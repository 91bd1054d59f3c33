"""Tests for the `image_folder` dataset: one sub-folder per class, decoded by tf.data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from framework.data.image_folder import image_folder
from framework.data.module import Shard
from framework.errors import DataError, RecipeError
from framework.recipe.loader import load_recipe


def write_image(path: Path, value: int, size: tuple[int, int] = (6, 5), mode: str = "RGB") -> None:
    """A constant image of `value` (grey levels) in the format of `path`'s suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"L": (), "RGB": (3,), "RGBA": (4,)}[mode]
    Image.fromarray(np.full((*size, *channels), value, np.uint8)).save(path)


def write_split(folder: Path, counts: dict[str, int], suffix: str = ".png") -> None:
    """`counts[name]` images per class folder; image i of class c holds the value 100 * c + 10 * i."""
    for c, (name, count) in enumerate(counts.items()):
        for i in range(count):
            write_image(folder / name / f"{i}{suffix}", 100 * c + 10 * i)


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """train/ with 3 cats and 2 dogs, test/ with 1 of each."""
    write_split(tmp_path / "train", {"cat": 3, "dog": 2})
    write_split(tmp_path / "test", {"cat": 1, "dog": 1})
    return tmp_path


def elements(dataset) -> list[tuple[np.ndarray, int]]:
    return [(image, int(label)) for image, label in dataset.as_numpy_iterator()]


def test_images_labels_class_names_sizes_and_defaults(photos):
    """Decoded values, int32 labels, sorted class names, sizes and the Rescaling default."""
    data = image_folder(str(photos / "train"), str(photos / "test"), image_size=(6, 5), color_mode="grayscale")
    assert data.class_names == ["cat", "dog"]
    assert data.sizes == {"train": 5, "test": 2}
    assert data.validation is None
    assert data.preprocess == [{"name": "Rescaling", "args": {"scale": 1 / 255}}]
    assert data.source == f"image_folder ({photos / 'train'})"
    assert data.train.element_spec[0].shape == (6, 5, 1) and data.train.element_spec[0].dtype.name == "float32"
    assert data.train.element_spec[1].dtype.name == "int32"
    for (image, label), file in zip(elements(data.train), data.files):
        class_id, index = ["cat", "dog"].index(Path(file).parent.name), int(Path(file).stem)
        assert label == class_id
        np.testing.assert_array_equal(image, np.full((6, 5, 1), 100 * class_id + 10 * index, np.float32))
    assert [(int(image[0, 0, 0]), label) for image, label in elements(data.test)] == [(0, 0), (100, 1)]


def test_training_files_follow_a_seeded_permutation(photos):
    """The training order is a permutation of the sorted files that depends only on the seed."""
    train, test = str(photos / "train"), str(photos / "test")
    first, again, other = (image_folder(train, test, (6, 5), seed=s, verify=False).files for s in (3, 3, 4))
    listed = sorted(str(p) for p in (photos / "train").rglob("*.png"))
    assert first == again and sorted(first) == listed
    assert [listed[i] for i in np.random.default_rng(3).permutation(5)] == first
    assert other != first


@pytest.mark.parametrize(
    ("suffix", "mode", "channels"),
    [(".jpg", "rgb", 3), (".jpeg", "grayscale", 1), (".bmp", "rgba", 4), (".gif", "rgb", 3), (".PNG", "rgba", 4)],
)
def test_formats_resize_and_color_modes(tmp_path, suffix, mode, channels):
    """JPEG, BMP, GIF and upper-case suffixes decode; images are resized; color modes give 1, 3 or 4 channels."""
    write_split(tmp_path / "train", {"a": 1, "b": 1}, suffix)
    write_split(tmp_path / "test", {"a": 1, "b": 1}, suffix)
    data = image_folder(str(tmp_path / "train"), str(tmp_path / "test"), image_size=(3, 4), color_mode=mode)
    (black, label), (grey, _) = elements(data.test)
    assert black.shape == (3, 4, channels) and label == 0
    assert abs(float(black[..., :3].mean())) < 3 and abs(float(grey[..., :3].mean()) - 100) < 3  # JPEG is lossy


def test_gif_reads_in_any_color_mode(tmp_path):
    """GIF files (TensorFlow's decoder refuses them but as rgb) are converted to grayscale like any other image."""
    write_split(tmp_path / "train", {"a": 1, "b": 1}, ".gif")
    data = image_folder(str(tmp_path / "train"), str(tmp_path / "train"), image_size=(3, 4), color_mode="grayscale")
    assert next(iter(data.train))[0].shape == (3, 4, 1)


def test_validation_folder_and_other_files(photos):
    """A validation folder is read in sorted order; non-image files and hidden folders are skipped."""
    write_split(photos / "validation", {"cat": 2, "dog": 1})
    (photos / "validation" / "cat" / "notes.txt").write_text("not an image")
    (photos / "train" / ".cache").mkdir()
    data = image_folder(str(photos / "train"), str(photos / "test"), (6, 5), validation=str(photos / "validation"))
    assert data.sizes == {"train": 5, "validation": 3, "test": 2}
    assert [(int(image[0, 0, 0]), label) for image, label in elements(data.validation)] == [(0, 0), (10, 0), (100, 1)]


def test_nested_class_folders_are_searched(photos):
    """Images in sub-folders of a class folder belong to that class."""
    write_image(photos / "train" / "dog" / "more" / "x.png", 7)
    data = image_folder(str(photos / "train"), str(photos / "test"), (6, 5), verify=False)
    assert data.sizes["train"] == 6
    assert data.files.index(str(photos / "train" / "dog" / "more" / "x.png")) >= 0


def test_missing_and_empty_folders(tmp_path, photos):
    """A missing folder, one without class folders and a class folder without images are named."""
    with pytest.raises(DataError, match=r"image_folder: '.*nowhere' is not a folder"):
        image_folder(str(tmp_path / "nowhere"), str(photos / "test"), (6, 5))
    (tmp_path / "flat").mkdir()
    write_image(tmp_path / "flat" / "a.png", 1)
    with pytest.raises(DataError, match=r"'.*flat' has no class sub-folders \(expected one folder per class"):
        image_folder(str(tmp_path / "flat"), str(photos / "test"), (6, 5))
    (photos / "train" / "emu").mkdir()
    (photos / "train" / "emu" / "readme.txt").write_text("")
    with pytest.raises(
        DataError,
        match=r"class folder '.*train/emu' has no images \(looked for .jpg, .jpeg, .png, .bmp, .gif, .webp, .tif, "
        r".tiff files\)",
    ):
        image_folder(str(photos / "train"), str(photos / "test"), (6, 5))


def test_splits_must_have_the_same_classes(photos):
    """A test or validation folder with other classes is refused, naming both folders and the difference."""
    write_split(photos / "validation", {"cat": 1, "emu": 1})
    with pytest.raises(
        DataError,
        match=r"class folders of validation folder '.*validation' differ from those of train folder '.*train' "
        r"\(missing dog; extra emu\)",
    ):
        image_folder(str(photos / "train"), str(photos / "test"), (6, 5), validation=str(photos / "validation"))
    write_split(photos / "test", {"bird": 1})
    with pytest.raises(DataError, match=r"test folder '.*test' differ.*\(extra bird\)"):
        image_folder(str(photos / "train"), str(photos / "test"), (6, 5))


def test_corrupt_images_are_named_with_the_reason(photos):
    """`verify` decodes every file first and names each bad one with the reason."""
    (photos / "train" / "dog" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (photos / "test" / "cat" / "empty.jpg").write_bytes(b"")
    with pytest.raises(
        DataError,
        match=r"2 unreadable image files: '.*train/dog/broken.png' \(a damaged image file: .*\); "
        r"'.*test/cat/empty.jpg' \(not an image file Pillow can read .*\) \(remove or replace them, or set "
        r"`dataset.args.on_bad_file: skip`\)",
    ):
        image_folder(str(photos / "train"), str(photos / "test"), (6, 5))
    assert image_folder(str(photos / "train"), str(photos / "test"), (6, 5), verify=False).sizes["train"] == 6


def test_recipe_checks_the_arguments(photos, write_recipe):
    """Bad argument types and values are recipe errors at the dataset's line."""
    recipe = write_recipe(f"""\
        name: photos
        dataset: {{name: image_folder, args: {{train: {photos / "train"}, test: {photos / "test"}, image_size: [6, 5],
        color_mode: rgbb}}}}
        model: mlp
        """)
    with pytest.raises(
        RecipeError, match=r"`dataset.args.color_mode` must be one of 'rgb', 'grayscale', 'rgba' \(got 'rgbb'\)"
    ):
        load_recipe(recipe)
    with pytest.raises(
        ValueError, match=r"`image_size` must be \[height, width\], two positive sizes \(got \(6, 5, 1\)\)"
    ):
        image_folder(str(photos / "train"), str(photos / "test"), (6, 5, 1))


def test_a_shard_verifies_and_reads_only_its_own_images(photos):
    """Shard(1, 2) keeps every second image of the seeded order, labels with them; the other worker's corrupt image is
    never opened."""
    train, test = str(photos / "train"), str(photos / "test")
    everything = image_folder(train, test, image_size=(6, 5), seed=3)
    Path(everything.files[0]).write_bytes(b"not an image")
    mine = image_folder(train, test, image_size=(6, 5), seed=3, shard=Shard(1, 2))
    assert mine.files == everything.files[1::2] and mine.sizes["train"] == 2 and mine.shard == Shard(1, 2)
    assert [label for _, label in elements(mine.train)] == [int("dog" in file) for file in mine.files]
    with pytest.raises(DataError, match=r"image_folder: 1 unreadable image file"):
        image_folder(train, test, image_size=(6, 5), seed=3, shard=Shard(0, 2))
