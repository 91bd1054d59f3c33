"""The arguments of the tool commands (``tune``, ``runs``, ``compare``, ``export``, ``predict``, ``evaluate
--errors``), each added to its sub-parser by a function of the command's name; `count` and `non_negative` check
numbers. Standard library only, like `framework.cli`."""

from __future__ import annotations

import argparse
from pathlib import Path


def count(text: str) -> int:
    """A positive integer, or argparse's error quoting `text`."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (got {text!r})")
    return int(text)


def non_negative(text: str) -> float:
    """A number of 0 or more, or argparse's error quoting `text`."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number, 0 or more (got {text!r})")
    return value


def tune(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``tapeline tune``."""
    parser.add_argument("--trials", type=int, metavar="N", help="trials to add to the study (default: search.trials)")
    parser.add_argument(
        "--timeout", type=float, metavar="S", help="start no trial after S seconds (default: search.timeout)"
    )
    parser.add_argument(
        "--storage", metavar="URL", help="the study's database (default: sqlite:///<tune dir>/study.db)"
    )
    parser.add_argument("--study", metavar="NAME", help="the study's name (default: the recipe's name)")
    parser.add_argument(
        "--output",
        type=Path,
        metavar="DIR",
        help="tune directory (default: <training.output_dir>/<name>/tune_<N>); an existing one is joined",
    )
    parser.add_argument(
        "--resume", type=Path, metavar="DIR", help="continue the tune in DIR: run the trials it has left"
    )


def runs(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``tapeline runs``."""
    parser.add_argument(
        "directory",
        type=Path,
        nargs="?",
        default=Path("runs"),
        metavar="DIR",
        help="where to look for runs (default: runs)",
    )
    parser.add_argument(
        "--metric", help="metric of the best/final columns (default: val_loss, or loss when no run has it)"
    )
    parser.add_argument(
        "--sort",
        metavar="METRIC",
        help="best first by this metric (test_* from evaluation.json, others by their best epoch); runs without it "
        "last",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def compare(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``tapeline compare``."""
    parser.add_argument("runs", type=Path, nargs="+", metavar="RUN", help="run directories")
    parser.add_argument(
        "--metric", action="append", help="metric to draw, one panel each (repeatable; default val_loss)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path("curves.png"),
        metavar="FILE",
        help="image file (default curves.png; .svg, .pdf ... too)",
    )


def export(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``tapeline export``."""
    parser.add_argument("run", type=Path, metavar="RUN", help="a run directory (recipe.yaml and model.weights.h5)")
    parser.add_argument(
        "--format",
        default="keras",
        choices=["keras", "savedmodel", "litert", "onnx"],
        help="default keras (litert and onnx need their extras)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        metavar="PATH",
        help="file or folder to write (default RUN/export/model.keras, saved_model, model.tflite or model.onnx)",
    )
    parser.add_argument(
        "--samples",
        type=count,
        metavar="N",
        help="test samples the export is checked on (default 64; quantized: the test split, at most 2000)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        metavar="T",
        help="largest allowed |difference| (default 1e-4; 2e-2 for mixed-precision runs)",
    )
    parser.add_argument(
        "--quantize",
        choices=["float16", "dynamic", "int8"],
        help="litert only: float16 weights, dynamic-range int8 weights, or int8 weights and activations (calibrated "
        "on training inputs); checked by the task's metric on the test split",
    )
    parser.add_argument(
        "--max-drop",
        type=non_negative,
        metavar="POINTS",
        help="with --quantize: largest allowed accuracy loss in points (regression: MAE increase in %%; default 1.0)",
    )


def predict(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``tapeline predict``."""
    parser.add_argument("run", type=Path, metavar="RUN", help="a run directory (recipe.yaml and model.weights.h5)")
    parser.add_argument(
        "inputs", type=Path, nargs="+", metavar="INPUT", help="image files or folders, .csv or .npz files"
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="a .csv or .jsonl file (default: CSV on stdout)")
    parser.add_argument("--batch-size", type=count, default=64, metavar="N", help="samples per batch (default 64)")


def evaluate_errors(parser: argparse.ArgumentParser) -> None:
    """The error-report arguments of ``tapeline evaluate``."""
    parser.add_argument(
        "--errors",
        type=count,
        metavar="K",
        help="list the K highest-loss and the K most confidently wrong samples (file, label, prediction, probability, "
        "loss) of each output",
    )
    parser.add_argument(
        "--split",
        choices=["test", "train", "validation"],
        help="with --errors: the split to report (default test; train: the place to find wrong labels)",
    )
    parser.add_argument("--output", type=Path, metavar="FILE", help="with --errors: also write the rows as CSV to FILE")
