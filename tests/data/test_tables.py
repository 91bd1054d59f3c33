"""Tests for the `csv` dataset: streaming checks, tf.data reading and Keras encoding of tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from framework.data.csv_check import Missing
from framework.data.tables import csv
from framework.errors import DataError

TRAIN = """\
size,colour,weight,kind,price
1,red,10,cat,0.5
2,blue,20,dog,1.5
3,red,30,cat,2.5
4,green,40,emu,3.5
"""
TEST = """\
kind,weight,size,colour,price
dog,15,1.5,purple,1
"""


@pytest.fixture
def tables(tmp_path: Path) -> Path:
    (tmp_path / "train.csv").write_text(TRAIN)
    (tmp_path / "test.csv").write_text(TEST)
    return tmp_path


def encoded(data, split) -> list:
    """The rows of a split as (encoded feature vector, targets), through the DataModule's encoder."""
    rows = []
    for x, y in split.batch(64):
        vectors = data.encoder(x).numpy()
        targets = (
            y.numpy() if not isinstance(y, dict) else [dict(zip(y, v)) for v in zip(*(t.numpy() for t in y.values()))]
        )
        rows += list(zip(vectors, targets))
    return rows


def read(tables: Path, **args) -> tuple[object, list, list]:
    data = csv(str(tables / "train.csv"), str(tables / "test.csv"), **args)
    return data, encoded(data, data.train), encoded(data, data.test)


def test_features_are_normalized_and_one_hot_on_the_training_file(tables):
    """Numeric features normalized with train statistics, categories one-hot (unknown first), class names sorted."""
    data, train, test = read(tables, label="kind", categorical=["colour"])
    assert data.class_names == ["cat", "dog", "emu"]
    assert data.sizes == {"train": 4, "test": 1}
    assert data.source == f"csv ({tables / 'train.csv'})" and data.preprocess == [] and data.files is None
    assert [int(y) for _, y in train] == [0, 1, 0, 2] and int(test[0][1]) == 1
    sizes = np.array([1, 2, 3, 4.0])
    x = np.stack([x for x, _ in train])
    assert x.dtype == np.float32 and x.shape == (4, 3 + 4)  # size, weight, price, then colour: unknown + 3 colours
    np.testing.assert_allclose(x[:, 0], (sizes - sizes.mean()) / sizes.std(), rtol=1e-5)
    np.testing.assert_allclose(x[:, 3:].sum(axis=1), 1)
    assert x[:, 3].sum() == 0  # no unknown colour in training
    np.testing.assert_allclose(
        test[0][0][:3],
        (np.array([1.5, 15, 1]) - [2.5, 25, 2]) / np.array([sizes.std(), 10 * sizes.std(), sizes.std()]),
        rtol=1e-5,
    )
    assert test[0][0][3] == 1  # purple is unknown


def test_integer_float_and_several_labels(tables):
    """Integer labels are int32 class ids, other numbers float32 targets; several labels give a dict."""
    (tables / "train.csv").write_text("a,b,y\n1,2.5,0\n3,4,2\n")
    (tables / "test.csv").write_text("y,a,b\n2,5,6\n")
    data, train, _ = read(tables, label="y")
    assert data.class_names == ["0", "2"] and [int(y) for _, y in train] == [0, 1]  # labels 0, 2: ids by position
    assert data.train.element_spec[1].dtype.name == "int32"
    data, train, test = read(tables, label=["y", "b"], features=["a"])
    assert train[0][0].shape == (1,)
    assert test[0][1] == {"y": 1, "b": 6.0} and data.train.element_spec[1]["b"].dtype.name == "float32"
    data, train, _ = read(tables, label="y", categorical=["y"])
    assert data.class_names == ["0", "2"] and [int(y) for _, y in train] == [0, 1]


def test_validation_file_and_delimiter(tables):
    """A validation file is read like the test file; other delimiters work."""
    (tables / "train.csv").write_text("a;y\n1;0.5\n2;1.5\n")
    (tables / "val.csv").write_text("y;a\n3;0\n")
    (tables / "test.csv").write_text("a;y\n4;1\n")
    data = csv(
        str(tables / "train.csv"),
        str(tables / "test.csv"),
        label="y",
        validation=str(tables / "val.csv"),
        delimiter=";",
    )
    assert data.sizes == {"train": 2, "validation": 1, "test": 1}
    [(x, y)] = encoded(data, data.validation)
    assert y == pytest.approx(3.0) and x[0] == pytest.approx(-3.0)


def test_missing_empty_and_short_files(tables):
    """Missing, empty and header-only files, and rows of the wrong length, are named with file and line."""
    with pytest.raises(DataError, match=r"csv: file '.*nowhere.csv' does not exist"):
        csv(str(tables / "nowhere.csv"), str(tables / "test.csv"), label="kind")
    (tables / "empty.csv").write_text("")
    with pytest.raises(DataError, match=r"csv: '.*empty.csv' is empty \(expected a header line naming the columns\)"):
        csv(str(tables / "train.csv"), str(tables / "empty.csv"), label="kind", categorical=["colour"])
    (tables / "header.csv").write_text("size,colour,weight,kind,price\n")
    with pytest.raises(DataError, match=r"csv: '.*header.csv' has a header but no data rows"):
        csv(str(tables / "train.csv"), str(tables / "header.csv"), label="kind", categorical=["colour"])
    (tables / "test.csv").write_text("size,colour,weight,kind,price\n1,red,10,cat,0.5\n\n")
    with pytest.raises(DataError, match=r"csv: .*test.csv:3: an empty line, but the header has 5 columns"):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"])
    (tables / "test.csv").write_text("a,a\n1,2\n")
    with pytest.raises(DataError, match=r"names column\(s\) a more than once"):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"])


def test_missing_column_names_the_file_and_its_columns(tables):
    """A missing column is named with the file's columns and a did-you-mean."""
    with pytest.raises(
        DataError,
        match=r"csv: '.*train.csv' has no column 'knd'; its columns: size, colour, weight, kind, price; did you mean "
        r"'kind'\?",
    ):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="knd")
    (tables / "test.csv").write_text("size,colour,kind,price\n1,red,cat,2\n")
    with pytest.raises(DataError, match=r"'.*test.csv' has no column 'weight'"):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"])


def test_non_numeric_values_name_file_line_column_and_value(tables):
    """Text in a numeric column names file:line, column and value, and hints at `categorical`."""
    with pytest.raises(
        DataError,
        match=r"csv: .*train.csv:2: column 'colour' holds 'red', not a number; if the column holds categories, list "
        r"it under `categorical`",
    ):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind")
    (tables / "test.csv").write_text("size,colour,weight,kind,price\n1,red,12kg,cat,nan\n")
    with pytest.raises(DataError, match=r"test.csv:2: column 'weight' holds '12kg', not a number"):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"])


def test_labels_must_match_the_training_file(tables):
    """Test labels of another kind, or classes the training file lacks, are refused at file:line."""
    (tables / "test.csv").write_text("size,colour,weight,kind,price\n1,red,10,owl,1\n")
    with pytest.raises(
        DataError,
        match=r"test.csv:2: label column 'kind' holds 'owl', which is not one of the training file's classes \(cat, "
        r"dog, emu\)",
    ):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"])
    (tables / "train.csv").write_text("a,y\n1,0\n2,1\n")
    (tables / "test.csv").write_text("a,y\n1,0.5\n")
    with pytest.raises(
        DataError, match=r"label column 'y' holds '0.5', but the training file's labels there are integer class ids"
    ):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="y")


def test_bad_arguments(tables):
    """Argument mistakes are ValueErrors (reported at the recipe's line)."""
    train, test = str(tables / "train.csv"), str(tables / "test.csv")
    with pytest.raises(
        ValueError, match=r"`categorical` must be feature or label columns \(size, kind\) \(got \['colour'\]\)"
    ):
        csv(train, test, label="kind", features=["size"], categorical=["colour"])
    with pytest.raises(ValueError, match=r"`features` must be a non-empty list of columns that are not labels"):
        csv(train, test, label="kind", features=["kind"])
    with pytest.raises(ValueError, match=r"`delimiter` must be one character \(got ';;'\)"):
        csv(train, test, label="kind", delimiter=";;")
    with pytest.raises(
        ValueError, match=r"`label` must be a column name or a list of different column names \(got \[\]\)"
    ):
        csv(train, test, label=[])


def test_features_are_float32_under_mixed_precision(tables):
    """The encoding layers compute in float32 whatever the global Keras dtype policy."""
    import keras

    _, expected, _ = read(tables, label="kind", categorical=["colour"])
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    _, train, _ = read(tables, label="kind", categorical=["colour"])
    np.testing.assert_array_equal(np.stack([x for x, _ in train]), np.stack([x for x, _ in expected]))


def test_excel_files_with_a_byte_order_mark_and_crlf_read_as_any_other(tables):
    """Excel's "CSV UTF-8" (a BOM before the header, CRLF line ends): the first column keeps its name."""
    bom = b"\xef\xbb\xbf" + TRAIN.replace("\n", "\r\n").encode()
    (tables / "train.csv").write_bytes(bom)
    data, train, _ = read(tables, label="kind", categorical=["colour"])
    assert data.sizes["train"] == 4 and "size" in data.train.element_spec[0] and len(train) == 4


def test_quoted_fields_and_other_encodings(tables):
    """Quoted fields may hold the delimiter and line breaks; cp1252 files read with `encoding`, and a file not in the
    encoding names its line."""
    (tables / "train.csv").write_bytes(
        'size,colour,weight,kind,price\n1,"r,ed",10,"ca\nt",0.5\n2,bl\xe9,20,dog,1\n'.encode("cp1252")
    )
    (tables / "test.csv").write_bytes(b"size,colour,weight,kind,price\n1,red,10,dog,2\n")
    data = csv(
        str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"], encoding="cp1252"
    )
    assert data.class_names == ["ca\nt", "dog"] and data.sizes["train"] == 2
    assert [row["colour"] for row, _ in data.train.as_numpy_iterator()] == [b"r,ed", "blé".encode()]
    with pytest.raises(
        DataError,
        match=r"train.csv:4: the file is not utf-8-sig text \(invalid continuation byte: byte b'\\xe9' at "
        r"column 5\); set `dataset.args.encoding`",
    ):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", categorical=["colour"])
    with pytest.raises(ValueError, match=r"`encoding` must be a text encoding Python knows.*\(got 'utf-9'\)"):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="kind", encoding="utf-9")


MISSING = """\
a,b,color,label
1,10,red,x
,20,blue,y
3,NA,,x
5,?,green,y
"""


@pytest.mark.parametrize(
    ("policy", "fill_a", "fill_b"), [("mean", 3.0, 15.0), ("median", 3.0, 15.0), (-1.0, -1.0, -1.0)]
)
def test_missing_numbers_are_filled_from_the_training_file(tables, policy, fill_a, fill_b):
    """Empty, NA and ? cells become the training file's mean or median, or a constant; a missing category is one."""
    (tables / "train.csv").write_text(MISSING)
    (tables / "test.csv").write_text("label,color,b,a\ny,,NaN,\n")
    data = csv(
        str(tables / "train.csv"),
        str(tables / "test.csv"),
        label="label",
        categorical=["color"],
        missing=Missing(numeric=policy),
    )
    rows = list(data.train.as_numpy_iterator())
    assert [float(r["a"]) for r, _ in rows] == [1.0, fill_a, 3.0, 5.0]
    assert [float(r["b"]) for r, _ in rows] == [10.0, 20.0, fill_b, fill_b]
    assert [r["color"] for r, _ in rows] == [b"red", b"blue", b"[MISSING]", b"green"]
    [(test, label)] = list(data.test.as_numpy_iterator())
    assert (float(test["a"]), float(test["b"]), test["color"], int(label)) == (fill_a, fill_b, b"[MISSING]", 1)
    vector = data.encoder({k: np.array([v]) for k, v in test.items()}).numpy()[0]
    assert vector[2:].tolist() == [0, 0, 0, 0, 1]  # the missing category, learnt from the training file


def test_missing_cells_the_policy_refuses_and_missing_labels_name_file_line_and_column(tables):
    """By default a missing number is an error naming the policy to set; `categorical: error` likewise; a missing
    label is always an error."""
    (tables / "train.csv").write_text(MISSING)
    with pytest.raises(
        DataError,
        match=r"train.csv:3: column 'a' is missing a value \(''\); set "
        r"`dataset.args.missing.numeric` to mean, median or a number",
    ):
        csv(str(tables / "train.csv"), str(tables / "train.csv"), label="label", categorical=["color"])
    with pytest.raises(
        DataError,
        match=r"train.csv:4: column 'color' is missing a value \(''\); set "
        r"`dataset.args.missing.categorical: category`",
    ):
        csv(
            str(tables / "train.csv"),
            str(tables / "train.csv"),
            label="label",
            categorical=["color"],
            missing=Missing("mean", "error"),
        )
    (tables / "test.csv").write_text("a,b,color,label\n1,2,red,\n")
    with pytest.raises(
        DataError,
        match=r"test.csv:2: label column 'label' is missing its value \(''\); every row "
        r"needs a label",
    ):
        csv(
            str(tables / "train.csv"),
            str(tables / "test.csv"),
            label="label",
            categorical=["color"],
            missing=Missing("mean"),
        )
    (tables / "train.csv").write_text("a,label\nmissing,1\n2,0\n")
    data = csv(
        str(tables / "train.csv"), str(tables / "train.csv"), label="label", na_values=["missing"], missing=Missing(0.0)
    )
    assert [float(r["a"]) for r, _ in data.train.as_numpy_iterator()] == [0.0, 2.0]


def test_a_recipe_writes_the_missing_policy(write_recipe, tables):
    """`dataset.args.missing` is checked as a typed mapping, with the allowed values."""
    from framework.errors import RecipeError
    from framework.recipe.loader import load_recipe

    recipe = write_recipe(f"""\
        name: t
        dataset:
          name: csv
          args: {{train: {tables / "train.csv"}, test: {tables / "test.csv"}, label: kind, missing: {{numeric: avg}}}}
        model: mlp
        """)
    with pytest.raises(
        RecipeError,
        match=r"`dataset.args.missing.numeric` must be one of 'error', 'mean', 'median' or "
        r"a number \(got 'avg'\)",
    ):
        load_recipe(recipe)


def test_integer_labels_from_1_become_ids_from_0_with_their_names(tables):
    """Labels 1..3 are classes 0..2 named '1', '2', '3' (no class 0 that does not exist); a test label the training
    file lacks is refused at file:line."""
    (tables / "train.csv").write_text("a,y\n1,1\n2,2\n3,3\n4,1\n")
    (tables / "test.csv").write_text("a,y\n5,3\n")
    data, train, test = read(tables, label="y")
    assert data.class_names == ["1", "2", "3"] and [int(y) for _, y in train] == [0, 1, 2, 0] and int(test[0][1]) == 2
    (tables / "test.csv").write_text("a,y\n5,4\n")
    with pytest.raises(
        DataError,
        match=r"test.csv:2: label column 'y' holds '4', which is not one of the training "
        r"file's labels \(1, 2, 3\)",
    ):
        csv(str(tables / "train.csv"), str(tables / "test.csv"), label="y")
