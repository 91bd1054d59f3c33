"""Layer 6, build: from a checked recipe to built objects, knowing nothing of runs.

`data` builds the pipelines (the dataset with its preprocessing and augmentation layers),
`network` the network matched to the labels, `compile` the compiled Trainer (optimizer,
loss, metrics, class weights).
"""
