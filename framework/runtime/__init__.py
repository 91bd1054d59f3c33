"""Layer 2, runtime: setting up the TensorFlow process for a run.

`configure` applies a recipe's devices, strategy, seeds, determinism and dtype policy;
`distribute` makes the `tf.distribute` strategy and lets workers agree; `precision` picks the
policy for ``precision: auto``; `process_state` puts process-wide settings back after a run;
`quiet` keeps TensorFlow's start-up logging off the terminal; `compat` holds every private
Keras and TensorFlow API Tapeline uses.
"""
