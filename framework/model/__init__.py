"""Layer 4, models: the `Trainer` (a `keras.Model` with an explicit GradientTape step) and the built-in networks."""
