"""Tests for typed checking of plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from framework.recipe.schema import (
    INVALID,
    Checker,
    describe,
    dotted,
    spec,
)


@dataclass
class Section:
    """A section for tests."""

    count: int = field(default=1, metadata=spec("A count.", expect="a positive integer", valid=lambda v: v > 0))
    rate: float = 0.5
    mode: Literal["min", "max"] = "min"
    tags: list[str] = field(default_factory=list)


def check(value, tp):
    checker = Checker(lambda path: f"f.yaml:{dotted(path)}")
    return checker.value(value, tp, ("s",)), [str(p) for p in checker.problems]


def test_dotted_paths_show_list_indices():
    """Paths print as dotted keys with [i] for list items."""
    assert dotted(("plugins", 2, "args", "x")) == "plugins[2].args.x"


def test_valid_section_converts_ints_to_floats():
    """A valid mapping becomes the dataclass, integers accepted for floats."""
    value, problems = check({"count": 3, "rate": 1, "mode": "max", "tags": ["a"]}, Section)
    assert problems == [] and value == Section(3, 1.0, "max", ["a"])


def test_type_error_quotes_value_and_uses_expectation():
    """A wrong type says what was expected and quotes what was given."""
    _, problems = check({"count": "five"}, Section)
    assert problems == ["f.yaml:s.count: `s.count` must be a positive integer (got 'five')"]


def test_check_failure_and_bool_is_not_int():
    """Values failing the field check, and booleans given for integers, are rejected."""
    _, problems = check({"count": 0}, Section)
    assert "must be a positive integer (got 0)" in problems[0]
    _, problems = check({"count": True}, Section)
    assert "(got true)" in problems[0]


def test_unknown_keys_list_allowed_and_suggest():
    """An unknown key lists the allowed keys and suggests the closest one."""
    _, problems = check({"cout": 2}, Section)
    assert problems == ["f.yaml:s.cout: unknown key `s.cout`; allowed: count, rate, mode, tags; did you mean 'count'?"]


def test_all_problems_are_collected():
    """Every bad value is reported, not just the first."""
    value, problems = check({"count": -1, "mode": "mean", "tags": [1, "b", 2]}, Section)
    assert value is INVALID
    assert len(problems) == 4
    assert "one of 'min', 'max' (got 'mean')" in problems[1]
    assert "`s.tags[2]` must be a string (got 2)" in problems[3]


def test_describe_words():
    """Types are described in words for messages."""
    assert describe(int | None) == "an integer or null"
    assert describe(list[int]) == "a list of integers"
    assert describe(tuple[int, ...]) == "a list of integers"


def test_arguments_checked_against_signature():
    """Call arguments are checked by name, requiredness and annotation; lists become tuples."""

    def build(size: tuple[int, ...], depth: int = 2, name: str | None = None) -> None:
        """A builder."""

    checker = Checker(lambda path: dotted(path))
    assert checker.arguments({"size": [1, 2], "depth": 3}, build, ("args",)) == {"size": (1, 2), "depth": 3}
    assert checker.arguments({"depht": 3}, build, ("args",)) is INVALID
    messages = [p.message for p in checker.problems]
    assert "unknown key `args.depht`; allowed: size, depth, name; did you mean 'depth'?" in messages
    assert "missing required key `args.size`" in messages


def test_unannotated_arguments_take_their_default_type():
    """Without annotations a numeric default refuses strings (lists pass, as Keras takes some), a boolean default takes
    booleans."""

    def build(rate=0, scale=1.0, flag=False, anything=None) -> None:
        """A builder without annotations, like Keras's own classes."""

    checker = Checker(lambda path: dotted(path))
    checked = checker.arguments({"rate": [10, 20], "scale": 2, "flag": True, "anything": [1]}, build, ("args",))
    assert checked == {"rate": [10, 20], "scale": 2.0, "flag": True, "anything": [1]} and isinstance(
        checked["scale"], float
    )
    assert checker.arguments({"rate": "0.5", "flag": "yes", "anything": "3"}, build, ("args",)) is INVALID
    assert [p.message for p in checker.problems] == [
        "`args.rate` must be a number (got '0.5', a string: write numbers without quotes)",
        "`args.flag` must be true or false (got 'yes')",
        "`args.anything` is the string '3'; write numbers without quotes",
    ]


def test_typed_mappings_check_keys_and_values():
    """dict[int, float] takes integer keys (digit strings too) and number values."""
    assert check({0: 1, "3": 2.5}, dict[int, float]) == ({0: 1.0, 3: 2.5}, [])
    assert check({"zero": 1.0}, dict[int, float]) == (
        INVALID,
        ["f.yaml:s.zero: `s` keys must be integers (got 'zero')"],
    )
    assert check({1: "x"}, dict[int, float]) == (INVALID, ["f.yaml:s[1]: `s[1]` must be a number (got 'x')"])
    assert check({"a": 1.0, 2: "y"}, dict[int, float] | None)[1] == [
        "f.yaml:s.a: `s` keys must be integers (got 'a')",
        "f.yaml:s[2]: `s[2]` must be a number (got 'y')",
    ]


def test_yaml11_words_are_explained_where_they_were_spelled():
    """A boolean that YAML 1.1 made of a word gets the word and how to quote it."""
    checker = Checker(lambda path: dotted(path), {("s",): "off"})
    assert checker.value(False, str, ("s",)) is INVALID
    assert (
        checker.problems[0].message
        == "`s` must be a string (got false: YAML reads the unquoted word 'off' as false; write it in quotes ('off') "
        "for the string)"
    )
