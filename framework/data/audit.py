"""The leakage audit: samples shared between splits, near-duplicate images across splits, one input with conflicting
labels, and the class balance of each split, each finding naming its samples' files.

`tapeline validate` and `tapeline train` run it before training (``dataset.audit``: ``warn``
prints the findings, ``strict`` also stops with exit 2, ``off`` skips it). It reads every split
once as the reader gives it (`framework.data.fingerprints`) and compares hashes, so its memory
grows by 2 KB a sample at most (280 bytes kept, the rest while near copies are searched). Near
duplicates are searched image against image between two splits: images whose difference hashes
differ in at most `CANDIDATE_BITS` bits are compared by their thumbnails, and a mean difference
of at most `NEAR_LEVELS` grey levels makes a near copy (in blocks of `BLOCK` rows).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from framework.data.arrays import Arrays
from framework.data.fingerprints import THUMBNAIL, Fingerprints, fingerprint_splits
from framework.data.module import DataModule, sample_name
from framework.errors import DataError

CANDIDATE_BITS = (
    6  # difference hashes this close (of 64) are compared by thumbnail; JPEG copies (quality 75) differ by <= 3
)
# A near copy's thumbnails differ by at most this many grey levels on average (of 255). Measured on Fashion-MNIST:
# JPEG quality-75 copies stay below 4.1 (95% below 2.8); the nearest other training image of 997 of 1,000 test
# images is further than 3.5, and the few closer ones are the same product photographed twice.
NEAR_LEVELS = 3.5
PLAIN_BITS = 6  # images with fewer set hash bits (blank, flat) match too many others to compare
BLOCK = 64  # rows of one split compared with all rows of another at a time
SHOWN = 25  # findings of each kind printed; audit.json keeps all
PAIRS = (("train", "validation"), ("train", "test"), ("validation", "test"))
Namer = Callable[[str, int], str]
PLURAL = {"copy": "copies", "near copy": "near copies", "conflicting labels": "inputs with conflicting labels"}


@dataclass
class Finding:
    """One problem: its `kind` (`PLURAL`'s keys) and its samples, as (split, name)."""

    kind: str
    samples: list[tuple[str, str]]
    detail: str = ""

    def line(self) -> str:
        """``copy: test 'a.png' = train 'b.png'`` ..."""
        joined = {"copy": " = ", "near copy": " ~ "}.get(self.kind, ", ")
        where = joined.join(f"{split} '{name}'" for split, name in self.samples)
        return f"{self.kind}: {where}{f' ({self.detail})' if self.detail else ''}"


@dataclass
class AuditReport:
    """What the audit found: `findings`, samples per split, class counts per split, and its duration in seconds."""

    samples: dict[str, int]
    balance: dict[str, dict[str, int]]
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    repeats: int = 0  # identical samples with the same label within one split (not a leak; said in the summary)

    def lines(self) -> list[str]:
        """The report as printed: the cost, the findings (`SHOWN` of each kind) and the class balance."""
        read = ", ".join(f"{split} {count:,}" for split, count in self.samples.items())
        head = f"audit: read {sum(self.samples.values()):,} samples ({read}) in {self.seconds:.1f} s: "
        counts = {
            kind: sum(f.kind == kind for f in self.findings) for kind in dict.fromkeys(f.kind for f in self.findings)
        }
        head += ", ".join(f"{n} {PLURAL[kind] if n > 1 else kind}" for kind, n in counts.items()) or "no leak found"
        lines = [head]
        for kind in counts:
            chosen = [f for f in self.findings if f.kind == kind]
            lines += [f"  {finding.line()}" for finding in chosen[:SHOWN]]
            if len(chosen) > SHOWN:
                lines.append(f"  ... and {len(chosen) - SHOWN} more {kind} findings (all in audit.json of the run)")
        if self.repeats:
            lines.append(f"  {self.repeats} samples repeat another of their split with the same label")
        return lines + balance_lines(self.balance)

    def as_json(self) -> dict[str, Any]:
        """The report as JSON data (``audit.json``)."""
        return {
            "samples": self.samples,
            "seconds": round(self.seconds, 3),
            "balance": self.balance,
            "repeats": self.repeats,
            "findings": [{"kind": f.kind, "samples": f.samples, "detail": f.detail} for f in self.findings],
        }


def balance_lines(balance: dict[str, dict[str, int]]) -> list[str]:
    """``class balance: 'cat' train 50.0% test 48.0%, ...``; classes missing from a split are said first."""
    if not balance:
        return []
    classes = list(next(iter(balance.values())))
    missing = [f"'{c}' has no {split} samples" for c in classes for split, counts in balance.items() if not counts[c]]
    shares = {
        split: {c: n / max(sum(counts.values()), 1) for c, n in counts.items()} for split, counts in balance.items()
    }
    parts = [f"'{c}' " + " ".join(f"{split} {shares[split][c]:.1%}" for split in balance) for c in classes[:12]]
    more = f", ... ({len(classes)} classes)" if len(classes) > 12 else ""
    return [f"  class balance: {', '.join(parts)}{more}"] + [f"  warning: {m}" for m in missing]


def audit(source: Arrays | DataModule, limit: int | None = None) -> AuditReport:
    """Reads every split of `source` once and reports what leaks between them, naming samples by `source`'s names;
    of the training split, only the first `limit` samples when given (``dataset.limit``: the ones trained on)."""
    namer = functools.partial(sample_name, getattr(source, "names", {}))
    class_names = source.class_names
    started = time.perf_counter()
    prints = fingerprint_splits(source, limit)
    report = AuditReport({split: len(p.inputs) for split, p in prints.items()}, class_balance(prints, class_names))
    report.findings = exact_findings(prints, namer, report, class_names) + near_findings(prints, namer)
    report.seconds = time.perf_counter() - started
    return report


def class_balance(prints: dict[str, Fingerprints], class_names: list[str] | None) -> dict[str, dict[str, int]]:
    """Samples per class name per split, for single class-id labels (else empty)."""
    if any(p.classes is None for p in prints.values()):
        return {}
    values = np.unique(np.concatenate([p.classes for p in prints.values()]))
    ids = values.size and values.min() >= 0 and class_names and values.max() < len(class_names)
    names = class_names if ids else [str(v) for v in values]  # labels as given (-1/1, 10/20/30 ...)
    values = np.arange(len(names)) if ids else values
    return {
        split: {name: int(np.sum(p.classes == value)) for name, value in zip(names, values)}
        for split, p in prints.items()
    }


def exact_findings(
    prints: dict[str, Fingerprints], namer: Namer, report: AuditReport, class_names: list[str] | None
) -> list[Finding]:
    """Copies across splits and equal inputs with different labels (within a split too)."""
    splits = list(prints)
    inputs = np.concatenate([prints[s].inputs for s in splits])
    labels = np.concatenate([prints[s].labels for s in splits])
    where = [(s, i) for s in splits for i in range(len(prints[s].inputs))]
    order = np.argsort(inputs, kind="stable")
    starts = np.flatnonzero(np.r_[True, inputs[order][1:] != inputs[order][:-1]])
    findings: list[Finding] = []
    for group in np.split(order, starts[1:]):
        if len(group) < 2:
            continue
        members = [where[i] for i in group]
        if len(set(labels[group])) > 1:
            named = [(s, namer(s, i)) for s, i in members]
            findings.append(Finding("conflicting labels", named, label_detail(prints, members, class_names)))
            continue
        first = members[0]
        for split, index in members[1:]:
            if split == first[0]:
                report.repeats += 1
            else:
                findings.append(Finding("copy", [(split, namer(split, index)), (first[0], namer(*first))]))
    return findings


def label_detail(prints: dict[str, Fingerprints], members: list[tuple[str, int]], names: list[str] | None) -> str:
    """``labels 'cat', 'dog'`` for class ids, else that the labels differ."""
    if any(prints[s].classes is None for s, _ in members):
        return "labels differ"
    ids = [int(prints[s].classes[i]) for s, i in members]
    return "labels " + ", ".join(f"'{names[k] if names and k < len(names) else k}'" for k in ids)


def near_findings(prints: dict[str, Fingerprints], namer: Namer) -> list[Finding]:
    """Images of a later split within `NEAR_LEVELS` of one of an earlier split (copies excepted), the closest one."""
    findings: list[Finding] = []
    for earlier, later in PAIRS:
        a, b = prints.get(earlier), prints.get(later)
        if a is None or b is None or a.images is None or b.images is None:
            continue
        for row, column, levels in near_pairs(b, a):
            if b.inputs[row] != a.inputs[column]:
                pair = [(later, namer(later, row)), (earlier, namer(earlier, column))]
                findings.append(Finding("near copy", pair, f"thumbnails differ by {levels:.1f} grey levels"))
    return findings


def near_pairs(rows: Fingerprints, columns: Fingerprints) -> list[tuple[int, int, float]]:
    """For each image of `rows`, the closest of `columns` when a near copy: (row, column, mean level difference).

    Every plain image of `rows` is compared with every plain one of `columns`: the Hamming distances of their
    difference hashes come from one matrix product of `signs` a block of rows at a time, and the candidates within
    `CANDIDATE_BITS` are narrowed by ever finer `cells` of their thumbnails, the last being the thumbnails.
    """
    kept = np.flatnonzero(np.bitwise_count(columns.images) >= PLAIN_BITS)
    column_signs = signs(columns.images[kept]).T.copy()
    levels = [(cells(rows.thumbnails, side), cells(columns.thumbnails[kept], side)) for side in (1, 4, THUMBNAIL)]
    plain = np.flatnonzero(np.bitwise_count(rows.images) >= PLAIN_BITS)
    found = []
    for start in range(0, len(plain), BLOCK):
        block = plain[start : start + BLOCK]
        close = np.flatnonzero(signs(rows.images[block]) @ column_signs >= 64 - 2 * CANDIDATE_BITS)
        row, column = np.divmod(close, len(kept))  # 7x faster than a 2-D np.nonzero
        row = block[row]
        for row_levels, column_levels in levels:  # coarsest first: each rules pairs out for less than the next
            differ = np.abs(row_levels[row] - column_levels[column]).mean(axis=1)
            near = differ <= NEAR_LEVELS
            row, column, differ = row[near], column[near], differ[near]
        for r in np.unique(row):
            mine = np.flatnonzero(row == r)
            best = mine[differ[mine].argmin()]
            found.append((int(r), int(kept[column[best]]), float(differ[best])))
    return found


def signs(hashes: np.ndarray) -> np.ndarray:
    """Each uint64 hash of ``(n,)`` as float32 ``(n, 64)`` signs, column k +1 where bit k is set and -1 where it is
    clear: the dot product of two hashes' signs is 64 minus twice their Hamming distance (exact in float32)."""
    bits = np.unpackbits(hashes.astype("<u8").view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    return bits.astype(np.float32) * 2 - 1


def cells(thumbnails: np.ndarray, side: int) -> np.ndarray:
    """uint8 ``(n, 256)`` thumbnails averaged over `side` x `side` cells: float32 ``(n, side**2)`` grey levels.
    Coarser cells' mean absolute difference is at most the finer ones' (the triangle inequality), so a pair that
    they put above `NEAR_LEVELS` is no near copy."""
    size = THUMBNAIL // side
    return thumbnails.reshape(-1, side, size, side, size).mean(axis=(2, 4), dtype=np.float32).reshape(-1, side * side)


def check_audit(report: AuditReport, strict: bool) -> None:
    """`DataError` (exit 2) when `strict` and the audit found something."""
    if strict and report.findings:
        raise DataError(
            f"the leakage audit found {len(report.findings)} problem(s) (`dataset.audit: strict`): "
            + "; ".join(f.line() for f in report.findings[:5])
            + ("; ..." if len(report.findings) > 5 else "")
        )
