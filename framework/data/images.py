"""Images as users have them, decoded by Pillow: phone photos with an EXIF orientation, CMYK and progressive
JPEGs, palette, grayscale, RGBA and 16-bit PNGs, 1-bit and 8-bit BMPs, GIFs, WebP and TIFF files.

`decode` turns encoded bytes into the pixels a person sees: Pillow's ``ImageOps.exif_transpose``
applies the EXIF orientation (as Keras's own ``load_img`` and image viewers do; TensorFlow's
``decode_image`` ignores it), then the image is converted to the recipe's ``color_mode``
(``grayscale``, ``rgb``, ``rgba``) with Pillow's conversions (16-bit values scaled to 8 bits,
palettes with transparency through RGBA). Animated files give their first frame. File names
travel as bytes, so any encoding of them reads; `display` makes one printable.

Decoding in Python costs time, so the files TensorFlow's own decoders read exactly as Pillow
does are routed to them (`routes`): 8-bit PNGs and JPEGs (decoded with ``INTEGER_ACCURATE``,
Pillow's DCT) already in the recipe's mode and upright. A header read per file (about 30 µs)
picks the route; everything else goes through Pillow.

Hidden files and folders (names starting with ``.``: macOS ``._*`` AppleDouble files,
``.DS_Store``, ``.ipynb_checkpoints/``; and ``__MACOSX/``) are never images: `image_files`
leaves them out and counts them.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import tensorflow as tf

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}
HIDDEN_FOLDERS = ("__MACOSX",)
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N", "I")
PNG, JPEG, PILLOW = 0, 1, 2  # decoding routes
NATIVE = {"L": 1, "RGB": 3, "RGBA": 4}  # Pillow modes TensorFlow's decoders give as they are


def is_hidden(relative: Path) -> bool:
    """Whether a path (relative to the folder searched) lies in or is a hidden file or folder."""
    return any(part.startswith(".") or part in HIDDEN_FOLDERS for part in relative.parts)


def image_files(folder: Path) -> tuple[list[str], int]:
    """The image files under `folder` (sub-folders too), sorted, and how many hidden entries were left out."""
    files, hidden = [], 0
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if is_hidden(relative):
            hidden += not is_hidden(relative.parent)  # a hidden folder counts once, not its content
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
            files.append(str(path))
    return sorted(files), hidden


def warn_hidden(count: int, where: Iterable[str]) -> None:
    """Says once that `count` hidden files and folders were left out of the folders `where`."""
    if count:
        folders = ", ".join(f"'{display(f)}'" for f in where)
        warnings.warn(
            f"image_folder: left out {count} hidden file(s) and folder(s) in {folders} (names starting with '.', "
            "such as macOS ._* files and .ipynb_checkpoints/, and __MACOSX/)",
            stacklevel=3,
        )


def display(name: str | bytes) -> str:
    """A file name as it can be printed, whatever its encoding (undecodable bytes as U+FFFD)."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    return raw.decode("utf-8", "replace")


def as_bytes(files: list[str]) -> list[bytes]:
    """File names as the bytes the file system holds (what TensorFlow's file ops take)."""
    return [os.fsencode(f) for f in files]


def to_pixels(data: bytes, channels: int) -> np.ndarray:
    """The image encoded in `data` as uint8 pixels ``(height, width, channels)``, upright and in `channels`' mode.

    Raises:
        ValueError: `data` is no image Pillow can read, or a truncated one (the message says which).
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except UnidentifiedImageError:
        raise ValueError(f"not an image file Pillow can read ({', '.join(IMAGE_SUFFIXES)})") from None
    except (OSError, SyntaxError) as error:  # truncated or damaged data
        raise ValueError(f"a damaged image file: {error}") from None
    return np.asarray(converted(image, PIL_MODES[channels]), np.uint8).reshape(image.height, image.width, channels)


def converted(image: object, mode: str) -> object:
    """The Pillow `image` in `mode` (``L``, ``RGB`` or ``RGBA``): 16-bit grayscale scaled to 8 bits, a palette
    with transparency through RGBA (as Pillow advises), everything else by Pillow's ``convert``."""
    from PIL import Image

    if image.mode in SIXTEEN_BIT:
        scaled = np.asarray(image, np.float64) * (255 / 65535 if np.asarray(image).max() > 255 else 1)
        image = Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), "L")
    elif image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    return image if image.mode == mode else image.convert(mode)


def route(file: str, channels: int) -> int:
    """How to decode `file` into `channels` exactly as Pillow shows it: `PNG` or `JPEG` (TensorFlow's decoders) for an
    8-bit file of that mode without an EXIF turn, else `PILLOW` (an unreadable file too: decoding says why)."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            kind, mode, exif = image.format, image.mode, image.info.get("exif")
            rawmode = image.tile[0].args if image.tile else None
    except Exception:  # whatever Pillow raises for a file it cannot open
        return PILLOW
    rawmode = rawmode[0] if isinstance(rawmode, tuple) else rawmode
    if NATIVE.get(mode) != channels or rawmode != mode or (exif and orientation(exif) not in (0, 1)):
        return PILLOW
    return {"PNG": PNG, "JPEG": JPEG if mode != "RGBA" else PILLOW}.get(kind, PILLOW)


def orientation(exif: bytes) -> int:
    """The EXIF orientation tag in `exif` (0 when absent)."""
    from PIL import Image

    tags = Image.Exif()
    tags.load(exif)
    return int(tags.get(0x0112, 0))


def routes(files: list[str], channels: int) -> np.ndarray:
    """`route` of each file, as int32."""
    return np.array([route(file, channels) for file in files], np.int32)


def decode_routed(data: tf.Tensor, way: tf.Tensor, channels: int) -> tf.Tensor:
    """Encoded bytes decoded the `way` `route` chose: uint8 ``(h, w, channels)``, the pixels Pillow shows."""
    import tensorflow as tf

    return tf.switch_case(
        way,
        [
            lambda: tf.io.decode_png(data, channels),
            lambda: tf.io.decode_jpeg(data, channels, dct_method="INTEGER_ACCURATE"),
            lambda: decode(data, channels),
        ],
    )


def decode(data: tf.Tensor, channels: int) -> tf.Tensor:
    """`to_pixels` inside a TensorFlow pipeline: a scalar string tensor of encoded bytes -> uint8 ``(h, w, c)``."""
    import tensorflow as tf

    def pixels_of(raw: bytes | np.ndarray) -> np.ndarray:  # eagerly, TensorFlow passes a 0-d object array
        return to_pixels(raw.item() if isinstance(raw, np.ndarray) else raw, channels)

    pixels = tf.numpy_function(pixels_of, [data], tf.uint8, stateful=False)
    return tf.ensure_shape(pixels, (None, None, channels))


def load_image(
    path: tf.Tensor, size: tuple[int, int], channels: int, interpolation: str, way: tf.Tensor | int = PILLOW
) -> tf.Tensor:
    """The image file `path` (a string tensor, bytes or text) as training reads it: decoded (`decode_routed`, the
    `way` `route` chose) and resized to `size` (height, width) with `interpolation` (`tf.image.resize`); float32
    ``(height, width, channels)``, values 0..255. Raises TensorFlow's error for a file that cannot be read or
    decoded."""
    import tensorflow as tf

    pixels = decode_routed(tf.io.read_file(path), tf.convert_to_tensor(way, tf.int32), channels)
    image = tf.image.resize(pixels, size, method=interpolation)
    return tf.ensure_shape(tf.cast(image, tf.float32), (*size, channels))


def unreadable_reason(file: str, channels: int) -> str:
    """Why `file` cannot be used as an image (for messages)."""
    try:
        to_pixels(Path(file).read_bytes(), channels)
    except (OSError, ValueError) as error:
        return str(error)
    return "it failed only when read in parallel with the others"
