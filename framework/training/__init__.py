"""Layer 7, training: one run's lifecycle.

`run` is what a recipe builds (`Run`, `build_run`); `lifecycle` starts, fits and ends a run
and keeps what a failed one leaves; `first_step` tries one step before anything is written;
`callbacks` are the core's own Keras callbacks (history and resumable state); `state` saves
and restores the resumable state; `run_directory` places runs and checks resumes;
`reports` computes the evaluation report of a split.
"""
