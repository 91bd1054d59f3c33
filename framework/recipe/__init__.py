"""Layer 2, recipes: reading YAML recipes and checking them, with no TensorFlow.

`yaml_reader` reads a file with the line of every value; `schema` checks plain data against
typed dataclasses and call signatures; `sections` holds the typed sections (`Recipe`,
`DatasetSection`, `TrainingSection` ...); `registry` maps recipe names to models, datasets,
plugins and Keras objects; `components` checks and calls the components a recipe names;
`loader` applies ``extends:`` and ``--set`` and returns a checked `Recipe`; `search_space`
checks ``search:`` for `tapeline tune`; `json_schema` writes the schema editors use.
"""
