"""Layer 8, tools: commands that work on runs.

`evaluate` (saved weights' test metrics), `inference` (a run rebuilt to take raw inputs),
`export` and `predict` on top of it, `tune` with `tune_trial` and `tune_report` (Optuna
sweeps), `runs` (the runs table) and `compare` (learning curves).
"""
