"""Layer 3, data: the dataset contract, the readers, and the pipelines a run trains on.

A dataset builder (``dataset.name`` in a recipe) returns either `Arrays` (`arrays`: NumPy
splits, for small data) or a `DataModule` (`module`: unbatched ``tf.data`` splits read from
files as training goes). `catalog` lists the built-in builders (`image_folder`, `tables`,
`tfrecord`, `tfds`, `sklearn_tables` and the IDX/NPZ readers). `tasks` infers and checks what
the labels are; `pipelines` shuffles, batches, preprocesses and prefetches either kind of
source into `Pipelines`; `sharding` gives each worker of a multi-worker run its own files.
"""
