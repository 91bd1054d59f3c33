"""Tests for `framework.data.audit`: copies, near copies and conflicting labels across splits, named by file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from framework.cli import main
from framework.data.audit import CANDIDATE_BITS, NEAR_LEVELS, PLAIN_BITS, audit, near_pairs
from framework.data.catalog import synthetic
from framework.data.fingerprints import Fingerprints
from framework.data.image_folder import image_folder
from framework.data.tables import csv

CLASSES = ("ant", "bee")


def smooth_image(rng: np.random.Generator, size: int = 32) -> np.ndarray:
    """A random smooth RGB image (a 4 x 4 pattern enlarged), unlike any other drawn."""
    small = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((size, size), Image.BILINEAR))


def write_folder(root: Path, count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.fromarray(smooth_image(rng)).save(root / name / f"{seed}_{i}.png")


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    write_folder(tmp_path / "train", 20, seed=1)
    write_folder(tmp_path / "test", 8, seed=2)
    return tmp_path


def plant_copies(root: Path) -> list[tuple[str, str]]:
    """10 training images copied into test: 4 as they are, 3 renamed, 3 re-encoded as JPEG; (test, train) paths."""
    planted = []
    for i in range(10):
        source = root / "train" / CLASSES[i % 2] / f"1_{i}.png"
        if i < 4:
            target = root / "test" / CLASSES[i % 2] / source.name
            shutil.copy(source, target)
        elif i < 7:
            target = root / "test" / CLASSES[i % 2] / f"renamed_{i}.png"
            shutil.copy(source, target)
        else:
            target = root / "test" / CLASSES[i % 2] / f"again_{i}.jpg"
            Image.open(source).save(target, quality=90)
        planted.append((str(target), str(source)))
    return planted


def test_planted_copies_are_all_found(folders: Path):
    """Exact, renamed and JPEG re-encoded copies of training images in test are each listed with both paths."""
    planted = plant_copies(folders)
    report = audit(image_folder(str(folders / "train"), str(folders / "test"), (32, 32)))
    found = {(f.samples[0][1], f.samples[1][1]) for f in report.findings if f.kind in ("copy", "near copy")}
    assert found == set(planted)
    kinds = sorted(f.kind for f in report.findings)
    assert kinds == ["copy"] * 7 + ["near copy"] * 3
    assert report.samples == {"train": 40, "test": 26}


def test_a_clean_folder_reports_nothing(folders: Path):
    """Distinct images give no finding, and the summary says so with the class balance."""
    report = audit(image_folder(str(folders / "train"), str(folders / "test"), (32, 32)))
    assert report.findings == []
    assert "no leak found" in report.lines()[0]
    assert report.lines()[1] == "  class balance: 'ant' train 50.0% test 50.0%, 'bee' train 50.0% test 50.0%"


def test_one_image_in_two_classes_has_conflicting_labels(folders: Path):
    """The same image filed under two classes is reported with both files and both class names."""
    shutil.copy(folders / "train" / "ant" / "1_0.png", folders / "train" / "bee" / "dup.png")
    report = audit(image_folder(str(folders / "train"), str(folders / "test"), (32, 32)))
    [finding] = report.findings
    assert finding.kind == "conflicting labels" and finding.detail == "labels 'ant', 'bee'"
    assert [Path(name).name for _, name in finding.samples] == ["1_0.png", "dup.png"]


def test_csv_rows_shared_by_train_and_test_are_named_by_line(tmp_path: Path):
    """A CSV row of the test file equal to a training row is reported as file:line for both."""
    (tmp_path / "train.csv").write_text("a,b,y\n1,2,0\n3,4,1\n5,6,0\n")
    (tmp_path / "test.csv").write_text("a,b,y\n7,8,1\n3,4,1\n")
    report = audit(csv(str(tmp_path / "train.csv"), str(tmp_path / "test.csv"), label="y"))
    [finding] = report.findings
    assert finding.line() == f"copy: test '{tmp_path}/test.csv:3' = train '{tmp_path}/train.csv:3'"


def test_arrays_are_audited_by_index():
    """In-memory arrays are named split[index]; a test sample equal to a training one is a copy."""
    arrays = synthetic(num_train=30, num_test=6, shape=(8, 8))
    arrays.x_test[2] = arrays.x_train[5]
    arrays.y_test[2] = arrays.y_train[5]
    lines = [f.line() for f in audit(arrays).findings]
    assert "copy: test 'test[2]' = train 'train[5]'" in lines


def test_a_limit_audits_only_the_training_samples_used():
    """With `dataset.limit`, a training sample past the limit is not trained on, so its copy in test is no leak."""
    arrays = synthetic(num_train=30, num_test=6, shape=(8, 8))
    arrays.x_test[2], arrays.y_test[2] = arrays.x_train[25], arrays.y_train[25]
    assert [f.line() for f in audit(arrays, limit=26).findings] == ["copy: test 'test[2]' = train 'train[25]'"]
    report = audit(arrays, limit=25)
    assert (report.findings, report.samples["train"]) == ([], 25)


def image_recipe(write_recipe, folders: Path, audit: str = "warn") -> Path:
    return write_recipe(f"""
        name: audited
        dataset:
          name: image_folder
          args: {{train: {folders / "train"}, test: {folders / "test"}, image_size: [32, 32]}}
          audit: {audit}
        model: {{name: seed_cnn, args: {{filters: [4], units: 8}}}}
        training: {{epochs: 1, batch_size: 8, output_dir: {folders / "runs"}}}
        """)


def test_validate_warns_and_strict_exits_2(capsys, write_recipe, folders: Path):
    """`validate` prints the findings and succeeds; with --strict it exits 2 naming the problem."""
    plant_copies(folders)
    recipe = image_recipe(write_recipe, folders)
    assert main(["validate", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "7 copies, 3 near copies" in out and "renamed_4.png' = train '" in out
    assert main(["validate", str(recipe), "--strict"]) == 2
    assert "the leakage audit found 10 problem(s) (`dataset.audit: strict`)" in capsys.readouterr().err


def test_train_writes_audit_json_and_off_skips_it(capsys, write_recipe, folders: Path):
    """`train` saves the findings as audit.json; `dataset.audit: off` runs no audit."""
    plant_copies(folders)
    assert main(["train", str(image_recipe(write_recipe, folders)), "--output", str(folders / "run")]) == 0
    saved = json.loads((folders / "run" / "audit.json").read_text())
    assert len(saved["findings"]) == 10 and saved["samples"] == {"train": 40, "test": 26}
    capsys.readouterr()
    assert main(["validate", str(image_recipe(write_recipe, folders, audit="off"))]) == 0
    assert "audit:" not in capsys.readouterr().out


def test_class_balance_of_labels_that_are_not_class_ids():
    """Labels such as -1/1 are counted by value, not refused."""
    arrays = synthetic(num_train=20, num_test=6, shape=(8, 8), num_classes=2)
    arrays.y_train, arrays.y_test = arrays.y_train * 2 - 1, arrays.y_test * 2 - 1
    arrays.class_names = None
    assert set(audit(arrays).balance["train"]) == {"-1", "1"}


def brute_near_pairs(rows: Fingerprints, columns: Fingerprints) -> list[tuple[int, int, float]]:
    """`near_pairs` written out pair by pair, as its docstring states it."""
    found = []
    for r in range(len(rows.images)):
        best = None
        for c in range(len(columns.images)):
            plain = min(int(rows.images[r]).bit_count(), int(columns.images[c]).bit_count()) >= PLAIN_BITS
            close = (int(rows.images[r]) ^ int(columns.images[c])).bit_count() <= CANDIDATE_BITS
            levels = float(np.abs(rows.thumbnails[r].astype(int) - columns.thumbnails[c]).mean())
            if plain and close and levels <= NEAR_LEVELS and (best is None or levels < best[2]):
                best = (r, c, levels)
        found += [best] if best else []
    return found


def test_near_pairs_match_the_pairwise_definition():
    """The blocked matrix search finds exactly the closest near copy that comparing every pair finds: flat images
    left out, several candidates per image, and ties going to the first column."""
    rng = np.random.default_rng(0)
    columns = 300
    hashes = rng.integers(0, 2**63, columns, dtype=np.uint64) | rng.integers(0, 2**63, columns, dtype=np.uint64) << 1
    thumbs = rng.integers(0, 256, (columns, 256), dtype=np.uint8)
    hashes[:10] = np.uint64(3) << np.arange(10, dtype=np.uint64)  # flat images: 2 bits set
    hashes[10:20], thumbs[10:15] = hashes[20:30], thumbs[20:25]  # shared hashes; 5 identical pairs (ties)
    picked = np.r_[np.arange(30), rng.integers(30, columns, 120)]  # rows: noisy copies of columns
    flips = np.array(
        [np.uint64(sum(1 << b for b in rng.choice(64, n, replace=False))) for n in rng.integers(0, 9, 150)]
    )
    noise = rng.integers(-6, 7, (150, 256))  # random noise, or a brightness shift of as many levels everywhere
    noise[75:] = rng.integers(-5, 6, (75, 1))
    rows = Fingerprints(
        np.zeros(150, np.uint64),
        np.zeros(150, np.uint64),
        hashes[picked] ^ flips,
        np.clip(thumbs[picked] + noise, 0, 255).astype(np.uint8),
        None,
    )
    earlier = Fingerprints(np.zeros(columns, np.uint64), np.zeros(columns, np.uint64), hashes, thumbs, None)
    expected = brute_near_pairs(rows, earlier)
    assert 20 < len(expected) < 140  # both near copies and rejected ones
    assert {c for _, c, _ in expected} & set(range(10, 15)) and not {c for _, c, _ in expected} & set(range(20, 25))
    assert [(r, c, round(v, 4)) for r, c, v in near_pairs(rows, earlier)] == [
        (r, c, round(v, 4)) for r, c, v in expected
    ]
