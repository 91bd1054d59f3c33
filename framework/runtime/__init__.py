"""Layer 1, runtime: the TensorFlow process, below everything that knows recipes.

`distribute` makes the `tf.distribute` strategy and lets workers agree; `precision` picks the
dtype policy for ``precision: auto``; `process_state` puts process-wide settings back after a
run; `quiet` keeps TensorFlow's start-up logging off the terminal; `compat` holds every private
Keras and TensorFlow API Tapeline uses.
"""
