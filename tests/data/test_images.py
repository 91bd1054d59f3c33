"""Tests for framework.data.images: images decoded upright in the recipe's mode, whatever the format; hidden files."""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from framework.cli import main
from framework.data.image_folder import image_folder
from framework.data.images import PIL_MODES, image_files, to_pixels

ORIENTATION = 0x0112  # the EXIF tag


def stripes(width: int = 12, height: int = 8) -> Image.Image:
    """An RGB image with a bright top row and a dark rest: upright and sideways differ."""
    pixels = np.full((height, width, 3), 40, np.uint8)
    pixels[0] = 230
    pixels[:, 0, 1] = 120  # a marked left column, so that flips differ too
    return Image.fromarray(pixels)


def encoded(image: Image.Image, fmt: str, orientation: int | None = None, **options: object) -> bytes:
    """`image` saved as `fmt`; with `orientation`, stored as a camera would: pixels turned, the EXIF tag saying how."""
    if orientation is not None:
        turn = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}[orientation]
        image = image.transpose(turn)
        exif = Image.Exif()
        exif[ORIENTATION] = orientation
        options["exif"] = exif.tobytes()
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def reference(data: bytes, channels: int) -> np.ndarray:
    """What a person sees: Pillow's exif_transpose, then Pillow's conversion to the mode (16-bit scaled to 8 bits)."""
    with Image.open(io.BytesIO(data)) as opened:
        image = ImageOps.exif_transpose(opened)
        if image.mode == "I;16":
            image = Image.fromarray(np.round(np.asarray(image, np.float64) * 255 / 65535).astype(np.uint8), "L")
        elif image.mode == "P" and "transparency" in image.info:
            image = image.convert("RGBA")
        return np.asarray(image.convert(PIL_MODES[channels])).reshape(image.height, image.width, channels)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    """A phone JPEG stored sideways with an orientation tag decodes upright, as viewers show it."""
    data = encoded(stripes(), "JPEG", orientation, quality=95)
    pixels = to_pixels(data, 3)
    assert pixels.shape == (8, 12, 3)
    assert pixels[0].mean() > 180 > 90 > pixels[1:].mean()  # the bright row is on top again
    np.testing.assert_array_equal(pixels, reference(data, 3))


def odd_images() -> dict[str, bytes]:
    """One file of each kind users have: CMYK and progressive JPEG, palette (with transparency), grayscale, RGBA and
    16-bit PNG, 1-bit and 8-bit BMP, GIF, WebP, TIFF."""
    base = stripes()
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    sixteen = Image.fromarray((np.arange(96, dtype=np.uint16).reshape(8, 12) * 680).astype(np.uint16))
    return {
        "cmyk.jpg": encoded(base.convert("CMYK"), "JPEG", quality=95),
        "progressive.jpg": encoded(base, "JPEG", progressive=True, quality=95),
        "palette.png": encoded(palette, "PNG", transparency=0),
        "gray.png": encoded(base.convert("L"), "PNG"),
        "rgba.png": encoded(base.convert("RGBA"), "PNG"),
        "sixteen.png": encoded(sixteen, "PNG"),
        "bilevel.bmp": encoded(base.convert("1"), "BMP"),
        "gray.bmp": encoded(base.convert("L"), "BMP"),
        "anim.gif": encoded(palette, "GIF"),
        "lossless.webp": encoded(base, "WEBP", lossless=True),
        "image.tiff": encoded(base, "TIFF"),
    }


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_every_format_and_mode_converts_to_the_recipe_mode(channels):
    """Each odd file decodes to the recipe's channels with Pillow's own conversion (16-bit values scaled)."""
    for name, data in odd_images().items():
        pixels = to_pixels(data, channels)
        assert pixels.shape == (8, 12, channels) and pixels.dtype == np.uint8, name
        np.testing.assert_array_equal(pixels, reference(data, channels), err_msg=name)
    assert to_pixels(odd_images()["sixteen.png"], 1).max() == round(95 * 680 * 255 / 65535)


def test_not_an_image_and_a_truncated_one_say_so():
    """Bytes of no image format and a cut-off PNG raise ValueError saying which."""
    with pytest.raises(ValueError, match="not an image file Pillow can read"):
        to_pixels(b"\x00\x05\x16\x07Mac OS X", 3)
    with pytest.raises(ValueError, match="a damaged image file"):
        to_pixels(encoded(stripes(), "PNG")[:60], 3)


def write_photos(root: Path) -> None:
    """train/ and test/ with cat and dog folders of 3 PNGs each, plus what macOS and Jupyter leave behind."""
    for split in ("train", "test"):
        for label, name in enumerate(("cat", "dog")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(3):
                (folder / f"{i}.png").write_bytes(encoded(Image.new("RGB", (6, 5), (200 * label, 50, 50)), "PNG"))
            (folder / "._0.png").write_bytes(b"\x00\x05\x16\x07Mac OS X        \x00\x02")
            (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
        checkpoints = root / split / "dog" / ".ipynb_checkpoints"
        checkpoints.mkdir()
        (checkpoints / "0-checkpoint.png").write_bytes((root / split / "cat" / "0.png").read_bytes())
        (root / split / "__MACOSX").mkdir()
        (root / split / "__MACOSX" / "._cat").write_bytes(b"junk")


def test_hidden_files_and_folders_are_left_out_and_counted(tmp_path):
    """._* files, .DS_Store, .ipynb_checkpoints/ and __MACOSX/ are never images; their number is said once."""
    write_photos(tmp_path)
    files, hidden = image_files(tmp_path / "train" / "dog")
    assert [Path(f).name for f in files] == ["0.png", "1.png", "2.png"] and hidden == 3
    with pytest.warns(
        UserWarning, match=r"left out 12 hidden file\(s\) and folder\(s\) in '.*train', '.*test'"
    ) as seen:
        data = image_folder(str(tmp_path / "train"), str(tmp_path / "test"), (5, 6))
    assert len([w for w in seen if "hidden" in str(w.message)]) == 1
    assert data.class_names == ["cat", "dog"] and data.sizes == {"train": 6, "test": 6}
    assert data.skipped == {"hidden files": 12}


def test_unreadable_files_can_be_skipped_and_are_counted_in_run_json(tmp_path, write_recipe, capsys):
    """With on_bad_file: skip a corrupt file is left out with a warning naming it, and run.json counts it."""
    write_photos(tmp_path)
    (tmp_path / "train" / "cat" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
    recipe = write_recipe(f"""\
        name: photos
        seed: 0
        dataset:
          name: image_folder
          args: {{train: {tmp_path / "train"}, test: {tmp_path / "test"}, image_size: [5, 6], on_bad_file: skip}}
        model: {{name: mlp, args: {{units: [4]}}}}
        training: {{epochs: 1, batch_size: 4, output_dir: {tmp_path / "runs"}, jit_compile: false}}
        """)
    assert main(["train", str(recipe), "--output", str(tmp_path / "run")]) == 0
    err = capsys.readouterr().err
    assert re.search(
        r"tapeline: warning: image_folder: left out 1 unreadable image file: '.*cat/broken.png' \(not an image file",
        err,
    )
    summary = json.loads((tmp_path / "run" / "run.json").read_text())
    assert summary["skipped"] == {"hidden files": 12, "unreadable files": 1} and summary["samples"]["train"] == 6


def test_file_names_in_any_encoding_are_read(tmp_path):
    """A file whose name is not UTF-8 (bytes from an old Windows zip) trains, and messages can print it."""
    for split in ("train", "test"):
        for label, name in enumerate(("a", "b")):
            folder = tmp_path / split / name
            folder.mkdir(parents=True)
            raw = os.fsencode(folder) + b"/caf\xe9.png"  # Latin-1 'é'
            Path(os.fsdecode(raw)).write_bytes(encoded(Image.new("RGB", (4, 4), (255 * label, 0, 0)), "PNG"))
    data = image_folder(str(tmp_path / "train"), str(tmp_path / "test"), (4, 4))
    pixels = sorted(float(x.numpy()[..., 0].mean()) for x, _ in data.train)
    assert pixels == [0.0, 255.0]


ODDITIES = sorted(odd_images())


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kinds=st.lists(st.sampled_from(ODDITIES), min_size=2, max_size=6),
    orientation=st.sampled_from([None, 3, 6, 8]),
    color_mode=st.sampled_from(["grayscale", "rgb", "rgba"]),
    hidden=st.booleans(),
)
def test_random_folders_of_odd_files_read_every_image_upright_in_the_mode(
    tmp_path_factory, kinds, orientation, color_mode, hidden
):
    """Folders of random odd files (formats, modes, EXIF turns, hidden files): every image reads as Pillow shows it."""
    root = tmp_path_factory.mktemp("odd")
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
    odd = odd_images()
    expected = {}
    for i, kind in enumerate(kinds):
        data = odd[kind]
        if orientation and kind.endswith(".jpg"):
            data = encoded(Image.open(io.BytesIO(data)).convert("RGB"), "JPEG", orientation, quality=95)
        folder = root / "train" / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}-{kind}").write_bytes(data)
        if hidden:
            (folder / f"._{i}-{kind}").write_bytes(b"\x00\x05\x16\x07Mac OS X")
        expected[str(folder / f"{i}-{kind}")] = reference(data, channels)
    size = (12, 8) if orientation in (6, 8) and any(k.endswith(".jpg") for k in kinds) else (8, 12)
    same_size = {path: pixels for path, pixels in expected.items() if pixels.shape[:2] == size}
    data = image_folder(str(root / "train"), str(root / "train"), size, color_mode=color_mode, interpolation="nearest")
    for file, (image, _) in zip(data.files, data.train):
        if file in same_size:
            np.testing.assert_array_equal(image.numpy().astype(np.uint8), same_size[file], err_msg=file)


def test_files_tensorflow_decodes_as_pillow_does_take_its_decoders(tmp_path):
    """8-bit PNGs and upright JPEGs already in the mode go to TensorFlow's decoders, the rest to Pillow; both give
    Pillow's pixels."""
    import tensorflow as tf

    from framework.data.images import JPEG, PILLOW, PNG, decode_routed, route

    odd = {**odd_images(), "turned.jpg": encoded(stripes(), "JPEG", 6, quality=90)}
    expected = {
        ("rgba.png", 4): PNG,
        ("gray.png", 1): PNG,
        ("progressive.jpg", 3): JPEG,
        ("gray.png", 3): PILLOW,
        ("turned.jpg", 3): PILLOW,
        ("cmyk.jpg", 3): PILLOW,
        ("sixteen.png", 1): PILLOW,
        ("palette.png", 3): PILLOW,
    }
    for (name, channels), way in expected.items():
        (tmp_path / name).write_bytes(odd[name])
        assert route(str(tmp_path / name), channels) == way, (name, channels)
        pixels = decode_routed(tf.constant(odd[name]), tf.constant(way), channels).numpy()
        np.testing.assert_array_equal(pixels, reference(odd[name], channels), err_msg=name)
    assert route(str(tmp_path / "missing.png"), 3) == PILLOW
