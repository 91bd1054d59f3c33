"""Datasets from files: the `DataModule` contract and the readers that return one.

A dataset builder (``dataset.name`` in a recipe) returns either `framework.datasets.Arrays`
(NumPy splits, for small data) or a `DataModule` (``tf.data`` pipelines of single samples,
for data read from files as training goes). `framework.pipelines` shuffles, batches,
preprocesses and prefetches either kind the same way.
"""
