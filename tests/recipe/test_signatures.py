"""Tests for reading what functions and classes accept."""

from __future__ import annotations

from framework.recipe.signatures import signature_parameters


def test_signature_of_class_with_kwargs_includes_bases():
    """A class passing **kwargs to its base accepts the base's named parameters too."""

    class Base:
        def __init__(self, name: str = "", clip: float = 0.0) -> None:
            pass

    class Child(Base):
        def __init__(self, rate: float = 1.0, **kwargs) -> None:
            super().__init__(**kwargs)

    assert list(signature_parameters(Child)) == ["rate", "name", "clip"]


def test_a_base_keyword_the_subclass_sets_itself_is_no_argument():
    """StringLookup passes `vocabulary_dtype` to its base itself: a recipe cannot (and need not) give it, while the
    other keywords stay allowed; IntegerLookup's own `vocabulary_dtype` (with a default) stays."""
    import keras

    params = signature_parameters(keras.layers.StringLookup)
    assert "vocabulary_dtype" not in params and {"output_mode", "max_tokens", "name", "trainable"} <= set(params)
    assert signature_parameters(keras.layers.IntegerLookup)["vocabulary_dtype"].default == "int64"
    assert "num_bins" in signature_parameters(keras.layers.Hashing)
