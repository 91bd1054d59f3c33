"""Tests that files with the oddities users' files have never give a traceback: `validate` passes or exits 2."""

from __future__ import annotations

import io
import textwrap

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from framework.cli import main

FAST = {"max_examples": 8, "deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


def validate(capsys, recipe_text: str, folder) -> tuple[int, str]:
    (folder / "recipe.yaml").write_text(textwrap.dedent(recipe_text))
    code = main(["validate", str(folder / "recipe.yaml")])
    return code, capsys.readouterr().err


cells = st.one_of(
    st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: f"{v:.3f}"),
    st.sampled_from(["", "NA", "NaN", "?", "n/a", " 7 ", "1e-3", "12kg"]),
)
categories = st.one_of(st.sampled_from(["red", "blue", "gr, een", 'say "hi"', "", "NA", "ünï", "new\nline"]))


def csv_text(rows: list[tuple[str, str, int]], quote_all: bool) -> str:
    def field(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote_all or any(c in value for c in ',"\n') else value

    body = "".join(f"{field(a)},{field(c)},{y}\n" for a, c, y in rows)
    return "a,colour,label\n1.5,red,0\n-2,blue,1\n" + body  # both classes, whatever the random rows hold


@settings(**FAST)
@given(
    rows=st.lists(st.tuples(cells, categories, st.integers(0, 1)), min_size=2, max_size=12),
    bom=st.booleans(),
    crlf=st.booleans(),
    quote_all=st.booleans(),
    encoding=st.sampled_from(["utf-8", "cp1252"]),
    declared=st.booleans(),
    numeric=st.sampled_from(["error", "mean", "median", "0"]),
    missing_label=st.booleans(),
)
def test_random_odd_csv_files_validate_or_exit_2(
    tmp_path_factory, capsys, rows, bom, crlf, quote_all, encoding, declared, numeric, missing_label
):
    """CSV files with BOMs, CRLF, quoting, encodings (declared in the recipe or not), missing cells and labels: exit 0
    or 2, never a traceback."""
    folder = tmp_path_factory.mktemp("csv")
    text = csv_text(rows, quote_all)
    if missing_label:
        text = text.replace(",0\n", ",\n", 1)
    if crlf:
        text = text.replace("\n", "\r\n")
    data = text.encode(encoding, errors="replace")
    (folder / "train.csv").write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    (folder / "test.csv").write_bytes(data)
    code, err = validate(
        capsys,
        f"""\
        name: odd
        seed: 0
        task: classification
        dataset:
          name: csv
          args: {{train: {folder / "train.csv"}, test: {folder / "test.csv"}, label: label, categorical: [colour],
                  missing: {{numeric: {numeric}}}}}
        model: {{name: mlp, args: {{units: [4]}}}}
        training: {{batch_size: 4, jit_compile: false}}
        """,
        folder,
    )
    assert code in (0, 2) and "Traceback" not in err, err
    assert code == 0 or err.startswith("tapeline: error: "), err


def image_bytes(kind: str) -> bytes:
    """A small image of one of the kinds users have, or bytes that are none."""
    if kind == "junk":
        return b"\x00\x05\x16\x07Mac OS X"
    if kind == "cut":
        return image_bytes("png")[:40]
    mode, fmt = {
        "png": ("RGB", "PNG"),
        "gray": ("L", "PNG"),
        "cmyk": ("CMYK", "JPEG"),
        "webp": ("RGB", "WEBP"),
        "palette": ("P", "GIF"),
        "rgba": ("RGBA", "PNG"),
    }[kind]
    buffer = io.BytesIO()
    Image.new(mode, (5, 4), 90).save(buffer, fmt)
    return buffer.getvalue()


@settings(**FAST)
@given(
    files=st.lists(
        st.tuples(
            st.sampled_from(["png", "gray", "cmyk", "webp", "palette", "rgba", "junk", "cut"]),
            st.sampled_from(["", "._", "."]),
            st.integers(0, 1),
        ),
        min_size=2,
        max_size=10,
    ),
    color_mode=st.sampled_from(["grayscale", "rgb", "rgba"]),
    on_bad_file=st.sampled_from(["error", "skip"]),
)
def test_random_odd_image_folders_validate_or_exit_2(tmp_path_factory, capsys, files, color_mode, on_bad_file):
    """Folders of odd images, hidden and corrupt files: exit 0 or 2, never a traceback."""
    folder = tmp_path_factory.mktemp("images")
    for split in ("train", "test"):
        for i, (kind, prefix, label) in enumerate([("png", "", 0), ("gray", "", 1), *files]):
            directory = folder / split / f"class{label}"
            directory.mkdir(parents=True, exist_ok=True)
            (directory / f"{prefix}{i}.png").write_bytes(image_bytes(kind))
    code, err = validate(
        capsys,
        f"""\
        name: odd
        seed: 0
        dataset:
          name: image_folder
          args: {{train: {folder / "train"}, test: {folder / "test"}, image_size: [4, 5], color_mode: {color_mode},
                  on_bad_file: {on_bad_file}}}
        model: {{name: mlp, args: {{units: [4]}}}}
        training: {{batch_size: 4, jit_compile: false}}
        """,
        folder,
    )
    assert code in (0, 2) and "Traceback" not in err, err
    assert code == 0 or err.splitlines()[-1].startswith("tapeline: error: "), err
