"""Checking many files before training: one parallel ``tf.data`` pass, then the failures one by one.

Readers use `check_all` to find unreadable files (corrupt images, TFRecord shards that do not
parse) before anything is trained, and `failure_message` to name them with the reason
TensorFlow gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from framework.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

NAMED_FAILURES = 5  # failures a message names; the rest are counted
CHECK_BATCH = 1024  # results gathered per step of the checking pass
TF_FRAMING = re.compile(
    r"Graph execution error:\s*"
    r"|Detected at node \S+ defined at \(most recent call last\):\s*(<stack traces unavailable>\s*)?"
    r"|\{\{function_node [^}]*\}\}\s*"  # {{function_node __wrapped__DecodeImage_device_/job:...}}
    r"|Error in user-defined function passed to .*? transformation with iterator: \S+: "
    r"|\s*\[\[.*?\]\]"  # [[{{node ParseSingleExample/...}}]]
    r"|\s*\[Op:\w+\].*$",  # [Op:DecodeImage] name: ...
    re.DOTALL,
)


def tf_reason(error: Exception) -> str:
    """The text of a TensorFlow error without its graph-function and op framing."""
    text = getattr(error, "message", None) or str(error)
    return TF_FRAMING.sub("", text).strip() or type(error).__name__


def check_all(
    items: Sequence[str | bytes], check: Callable[[tf.Tensor], tf.Tensor], explain: bool = True
) -> tuple[dict[int, np.ndarray], list[tuple[str, str]]]:
    """`check(item)` for every item in one parallel ``tf.data`` pass.

    Args:
        items: file names (or other strings), passed to `check` as scalar string tensors.
        check: a TensorFlow function of one item returning a tensor; it fails (raises inside
            the pipeline) for a bad item.
        explain: find the reasons of the first failures (else the list returned is empty).

    Returns:
        The results of the items that passed, by index into `items` (NumPy values), and
        ``(item, reason)`` for the first `NAMED_FAILURES` that failed, the reason found by
        running `check` on the item again, eagerly. ``len(items) - len(results)`` items failed.
    """
    import tensorflow as tf

    indices = tf.data.Dataset.from_tensor_slices(
        (tf.range(len(items), dtype=tf.int64), tf.constant(list(items), tf.string))
    )
    checked = indices.map(lambda i, item: (i, check(item)), num_parallel_calls=tf.data.AUTOTUNE, deterministic=False)
    options = tf.data.Options()
    options.autotune.enabled = False  # no wait for the autotune thread when the pass ends
    results: dict[int, np.ndarray] = {}
    for index, value in checked.ignore_errors().batch(CHECK_BATCH).with_options(options).as_numpy_iterator():
        results.update(zip(index.tolist(), value))
    failed = [i for i in range(len(items)) if i not in results][:NAMED_FAILURES] if explain else []
    return results, [(items[i], failure_reason(check, items[i])) for i in failed]


def failure_reason(check: Callable[[tf.Tensor], tf.Tensor], item: str) -> str:
    """Why `check(item)` fails, run eagerly on its own (`tf_reason` of TensorFlow's error)."""
    import tensorflow as tf

    try:
        check(tf.constant(item))
    except (tf.errors.OpError, ValueError) as error:
        return tf_reason(error)
    return "it failed only when read in parallel with the others"


def failure_message(what: str, failures: list[tuple[str, str]], total: int) -> str:
    """``2 corrupt images: 'a.png' (reason); 'b.png' (reason)``, with ``and N more`` past those named.

    `what` is the singular noun phrase (``"corrupt image"``); an ``s`` is added for several.
    """
    named = "; ".join(f"'{item}' ({reason})" for item, reason in failures)
    more = f"; and {total - len(failures)} more" if total > len(failures) else ""
    return f"{total} {what}{'s' if total != 1 else ''}: {named}{more}"


def data_failure(error: BaseException, source: str, epoch: int | None) -> DataError | None:
    """`error` as a `DataError` (exit 2, no traceback) when TensorFlow raised it while reading the input pipeline
    (``IteratorGetNext``: a record, image or row that a check before training did not reach), else None."""
    import tensorflow as tf

    if not isinstance(error, tf.errors.OpError) or "IteratorGetNext" not in str(error):
        return None
    where = f" in epoch {epoch + 1}" if epoch is not None else ""
    return DataError(f"{source}: reading the data failed{where}: {tf_reason(error)}")
