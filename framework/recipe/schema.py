"""Typed validation of plain YAML data: dataclasses for recipe sections, signatures for args.

`Checker` turns plain data (dicts, lists, scalars) into typed values and collects a `Problem`
for everything wrong, so that all of a recipe's problems are reported at once. The same code
checks recipe sections (dataclasses whose fields carry `spec` metadata) and the ``args`` of
models, datasets, optimizers and plugins (checked against their call signatures).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal, Union

from framework.errors import Problem
from framework.recipe.paths import DataPathSpec
from framework.recipe.signatures import signature_parameters, type_hints

Path = tuple[str | int, ...]
Locate = Callable[[Path], str]
INVALID = object()  # returned in place of a value that produced a problem


def spec(doc: str, *, expect: str | None = None, valid: Callable[[Any], bool] | None = None) -> dict:
    """Field metadata: the documentation, the expected value in words and an extra check."""
    return {"doc": doc, "expect": expect, "valid": valid}


INTERNAL = {
    "internal": True
}  # field metadata: set by Tapeline, never written in a recipe (not checked, not in the schema)


def written_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of dataclass `cls` that a recipe writes: all but those with `INTERNAL` metadata."""
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


@dataclasses.dataclass(frozen=True)
class Origins:
    """Where each value of a recipe was written, for messages.

    Attributes:
        where: ``file:line`` (or ``--set key=value``) by value path.
        default: what a path without a recorded place (nor an ancestor with one) is located at.
    """

    where: Mapping[Path, str] = dataclasses.field(default_factory=dict)
    default: str = "recipe"

    def locate(self, path: Path) -> str:
        """``file:line`` of `path`, or of its closest ancestor that has one."""
        while path not in self.where and path:
            path = path[:-1]
        return self.where.get(path, self.default)


def require(**checks: tuple[Any, bool, str]) -> None:
    """Checks a plugin's or builder's arguments whose values need more than a type.

    Args:
        checks: ``name=(value, passed, "expected words")`` for each argument, e.g.
            ``patience=(patience, patience >= 0, "zero or positive")``.

    Raises:
        ValueError: for the first failed check: `` `patience` must be zero or positive (got -1) ``,
            which Tapeline reports at the argument's line in the recipe.
    """
    for name, (value, passed, expect) in checks.items():
        if not passed:
            raise ValueError(f"`{name}` must be {expect} (got {value!r})")


def looks_numeric(text: str) -> bool:
    """Whether `text` reads as a number (``'0.001'``, ``'1e-4'``, ``'32'``), the usual sign of quotes around one."""
    try:
        float(text)
    except ValueError:
        return False
    return text.strip().lower() not in ("nan", "inf", "-inf", "+inf", "infinity", "-infinity", "+infinity")


def yaml11_hint(word: str, value: bool) -> str:
    """What YAML did to an unquoted `word` that it read as the boolean `value`, and how to avoid it."""
    return f"YAML reads the unquoted word {word!r} as {quote(value)}; write it in quotes ('{word}') for the string"


def dotted(path: Path) -> str:
    """``("plugins", 0, "args")`` -> ``plugins[0].args``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def quote(value: Any) -> str:
    """A value as it appears in messages: strings in quotes, YAML null as null."""
    return "null" if value is None else repr(value) if not isinstance(value, bool) else str(value).lower()


def suggest(name: str, allowed: Sequence[str]) -> str:
    """A ``; did you mean 'x'?`` suffix, or nothing when no allowed name is close."""
    close = difflib.get_close_matches(str(name), list(allowed), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def describe(tp: Any) -> str:
    """A type in words, as used in "must be ..." messages."""
    origin, targs = typing.get_origin(tp), typing.get_args(tp)
    if origin is Annotated:
        specs = [m for m in tp.__metadata__ if isinstance(m, DataPathSpec)]
        return f"a path to a {specs[0].kind}" if specs else describe(targs[0])
    if origin in (Union, types.UnionType):
        words = [describe(a) for a in targs if a is not type(None)]
        return " or ".join(words) + (" or null" if type(None) in targs else "")
    if origin is Literal:
        return "one of " + ", ".join(quote(a) for a in targs)
    if origin in (list, tuple, Sequence):
        return f"a list of {_plural(describe(targs[0]))}" if targs else "a list"
    if origin in (dict, Mapping) or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(tp, "a value")


def _plural(words: str) -> str:
    noun = words.split(" ", 1)[-1] if words.startswith(("a ", "an ")) else words
    return noun if noun.endswith("s") else noun + "s"


class Checker:
    """Converts plain data to typed values, recording a `Problem` per bad value.

    `spelled` maps paths of booleans that YAML 1.1 made of words (``on``, ``yes`` ...) to those
    words, so that messages about them can say what happened. With `paths_exist` false, data
    paths are resolved but not checked (a run's saved recipe, for inference without the data).
    """

    def __init__(self, locate: Locate, spelled: Mapping[Path, str] | None = None, *, paths_exist: bool = True) -> None:
        self.locate = locate
        self.spelled = spelled or {}
        self.paths_exist = paths_exist
        self.problems: list[Problem] = []

    def fail(self, path: Path, message: str) -> object:
        """Record a problem at `path` and return `INVALID`."""
        self.problems.append(Problem(self.locate(path), message))
        return INVALID

    def bad_value(self, path: Path, value: Any, expect: str) -> object:
        """Record "`path` must be <expect> (got <value>)", saying why when YAML or quotes made the value."""
        return self.fail(path, f"`{dotted(path)}` must be {expect} (got {self.got(path, value)})")

    def got(self, path: Path, value: Any) -> str:
        """`value` quoted for a message, with what YAML did to it when it was not what it seems."""
        if isinstance(value, bool) and path in self.spelled:
            return f"{quote(value)}: {yaml11_hint(self.spelled[path], value)}"
        if isinstance(value, str) and looks_numeric(value):
            return f"{quote(value)}, a string: write numbers without quotes"
        return quote(value)

    def unknown_keys(self, path: Path, data: Mapping, allowed: Sequence[str]) -> None:
        """Record each key of `data` that is not in `allowed`, with the allowed names."""
        for key in data:
            if key not in allowed:
                self.fail(
                    (*path, key),
                    f"unknown key `{dotted((*path, key))}`; allowed: {', '.join(allowed) or 'none'}"
                    + suggest(key, allowed),
                )

    def value(self, value: Any, tp: Any, path: Path, expect: str | None = None) -> Any:
        """`value` converted to type `tp`, or `INVALID` after recording why not."""
        expect = expect or describe(tp)
        origin, targs = typing.get_origin(tp), typing.get_args(tp)
        if tp is Any or tp is inspect.Parameter.empty:
            return value
        if dataclasses.is_dataclass(tp):
            return self.dataclass(value, tp, path)
        if origin is Annotated:
            return self._annotated(value, tp, path, expect)
        if origin in (Union, types.UnionType):
            return self._union(value, targs, path, expect)
        if origin is Literal:
            return value if value in targs else self._bad_choice(path, value, targs)
        if origin in (list, tuple, Sequence):
            return self._list(value, targs[0] if targs else Any, path, expect, tuple if origin is tuple else list)
        if origin in (dict, Mapping) or tp is dict:
            return self._dict(value, targs, path, expect)
        return self._scalar(value, tp, path, expect)

    def _annotated(self, value: Any, tp: Any, path: Path, expect: str) -> Any:
        """`value` checked as ``Annotated``'s type; a `DataPathSpec` path made absolute (and checked to exist)."""
        checked = self.value(value, typing.get_args(tp)[0], path, expect)
        data_path = next((m for m in tp.__metadata__ if isinstance(m, DataPathSpec)), None)
        try:
            return (
                checked
                if INVALID is checked or not data_path
                else data_path.resolved(checked, self.locate(path), self.paths_exist)
            )
        except ValueError as error:
            return self.fail(path, f"`{dotted(path)}`: {error}")

    def _bad_choice(self, path: Path, value: Any, choices: Sequence[Any]) -> object:
        words = ", ".join(quote(c) for c in choices)
        return self.fail(
            path,
            f"`{dotted(path)}` must be one of {words} (got {self.got(path, value)})"
            + suggest(value, [str(c) for c in choices]),
        )

    def _union(self, value: Any, targs: tuple, path: Path, expect: str) -> Any:
        if value is None and type(None) in targs:
            return None
        alternatives = [a for a in targs if a is not type(None)]
        for tp in alternatives:
            trial = Checker(self.locate, self.spelled, paths_exist=self.paths_exist)
            result = trial.value(value, tp, path)
            if not trial.problems:
                return result
        container = {dict: dict, Mapping: dict, list: list}.get(typing.get_origin(alternatives[0]))
        if len(alternatives) == 1 and container is not None and isinstance(value, container):
            self.problems += trial.problems  # a mapping (list) or null, given one: say what is wrong inside it
            return INVALID
        return self.bad_value(path, value, expect)

    def _list(self, value: Any, item: Any, path: Path, expect: str, kind: type) -> Any:
        if not isinstance(value, list):
            return self.bad_value(path, value, expect)
        items = [self.value(v, item, (*path, i)) for i, v in enumerate(value)]
        return INVALID if INVALID in items else kind(items)

    def _dict(self, value: Any, targs: tuple, path: Path, expect: str) -> Any:
        """A mapping with keys and values of the types in `targs`; a key ``'3'`` counts as the integer 3."""
        if not isinstance(value, dict):
            return self.bad_value(path, value, expect)
        if not targs:
            return dict(value)
        key_type, value_type = targs
        result = {}
        for key, item in value.items():
            if key_type is int and isinstance(key, str) and key.isdigit():
                key = int(key)
            if key_type is not Any and (not isinstance(key, key_type) or isinstance(key, bool)):
                result[key] = self.fail(
                    (*path, key), f"`{dotted(path)}` keys must be {_plural(describe(key_type))} (got {quote(key)})"
                )
            else:
                result[key] = self.value(item, value_type, (*path, key))
        return INVALID if INVALID in result.values() else result

    def _scalar(self, value: Any, tp: Any, path: Path, expect: str) -> Any:
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(tp, type) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
            return value
        return self.bad_value(path, value, expect)

    def dataclass(self, value: Any, cls: type, path: Path) -> Any:
        """An instance of dataclass `cls` from a mapping (or a string, for `Component`-like classes)."""
        shorthand = getattr(cls, "SHORTHAND", None)
        if shorthand and isinstance(value, str):
            value = {shorthand: value}
        if not isinstance(value, dict):
            return self.bad_value(path, value, "a mapping")
        fields = {f.name: f for f in written_fields(cls)}
        hints = typing.get_type_hints(cls)
        self.unknown_keys(path, value, list(fields))
        kwargs = {}
        for name, fld in fields.items():
            if name in value:
                kwargs[name] = self._field(value[name], hints[name], fld.metadata, (*path, name))
            elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                kwargs[name] = self.fail(path, f"missing required key `{dotted((*path, name))}`")
        if INVALID in kwargs.values() or any(k not in fields for k in value):
            return INVALID
        return cls(**kwargs)

    def _field(self, value: Any, tp: Any, meta: Mapping, path: Path) -> Any:
        expect, valid = meta.get("expect"), meta.get("valid")
        result = self.value(value, tp, path, expect)
        if result is not INVALID and valid is not None and not valid(result):
            return self.bad_value(path, value, expect or describe(tp))
        return result

    def arguments(self, args: Mapping[str, Any], target: Callable, path: Path, injected: Sequence[str] = ()) -> Any:
        """`args` checked against the signature of `target` (names, required ones, annotated types)."""
        params = signature_parameters(target)
        if params is None:
            return dict(args)
        allowed = [n for n in params if n not in injected]
        self.unknown_keys(path, args, allowed)
        hints = type_hints(target)
        checked = {}
        for name in allowed:
            param = params[name]
            if name in args:
                checked[name] = self._argument(
                    args[name], hints.get(name, param.annotation), param.default, (*path, name)
                )
            elif param.default is inspect.Parameter.empty:
                checked[name] = self.fail(path, f"missing required key `{dotted((*path, name))}`")
        if INVALID in checked.values() or any(k not in allowed for k in args):
            return INVALID
        return checked

    def _argument(self, value: Any, annotation: Any, default: Any, path: Path) -> Any:
        """An argument checked against its annotation or, unannotated (Keras's own classes), its default's type.

        A numeric default refuses strings and booleans where a number belongs (lists pass:
        Keras's ``TensorBoard(profile_batch=0)`` also takes ``[10, 20]``), and an integer for a
        float default becomes a float (Keras refuses ``learning_rate=1``); a boolean default
        makes the argument a boolean. Other unannotated
        arguments take anything but a quoted number, which no Keras argument expects.
        """
        if annotation is not inspect.Parameter.empty:
            return self.value(value, annotation, path)
        if isinstance(default, bool):
            return self.value(value, bool, path)
        if isinstance(default, (int, float)) and isinstance(value, (str, bool)):
            return self.bad_value(path, value, "a number")
        if isinstance(default, float) and isinstance(value, int):
            return float(value)  # Keras refuses `learning_rate=1`
        if isinstance(value, str) and looks_numeric(value):
            return self.fail(path, f"`{dotted(path)}` is the string {quote(value)}; write numbers without quotes")
        return value


def value_at(data: Any, path: Path) -> Any:
    """The value at `path` in nested mappings, lists or dataclasses."""
    for part in path:
        data = data[part] if isinstance(data, (dict, list)) else getattr(data, part)
    return data
