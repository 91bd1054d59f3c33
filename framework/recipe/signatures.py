"""What a function or class accepts: its named parameters and their annotations, for checking recipe args."""

from __future__ import annotations

import ast
import inspect
import textwrap
import typing
from collections.abc import Callable
from typing import Any


def signature_parameters(target: Callable) -> dict[str, inspect.Parameter] | None:
    """Named parameters of a function or class; `None` for a function taking arbitrary keywords.

    A class whose ``__init__`` takes ``**kwargs`` (Keras optimizers do) also gets the named
    parameters of its bases, since that is where those keywords go, except those its own
    ``super().__init__(...)`` call sets itself (``StringLookup`` sets ``vocabulary_dtype``).
    """
    is_class = isinstance(target, type)
    owners = [c.__init__ for c in target.__mro__ if "__init__" in vars(c) and c is not object] if is_class else [target]
    params: dict[str, inspect.Parameter] = {}
    fixed: set[str] = set()  # keywords a subclass passes to its base itself
    for owner in owners:
        try:
            found = inspect.signature(owner).parameters
        except (TypeError, ValueError):
            return None
        for name, param in found.items():
            if param.kind in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY) and name != "self" and name not in fixed:
                params.setdefault(name, param)
        if not any(p.kind is p.VAR_KEYWORD for p in found.values()):
            return params
        fixed |= super_keywords(owner)
    return params if is_class else None


def super_keywords(init: Callable) -> set[str]:
    """The keyword names an ``__init__`` passes to ``super().__init__`` itself (empty when its source is unknown)."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return set()
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "__init__"
        and isinstance(node.func.value, ast.Call)
        and getattr(node.func.value.func, "id", None) == "super"
    ]
    return {keyword.arg for call in calls for keyword in call.keywords if keyword.arg}


def type_hints(target: Callable) -> dict[str, Any]:
    """The parameter annotations of `target` (its ``__init__`` for a class) that can be resolved.

    A name imported only for type checking (``keras.Model`` as a lazily imported builder's
    return type) leaves just that annotation out; unresolvable ones count as unannotated.
    """
    function = target.__init__ if isinstance(target, type) else target
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # resolve what can be resolved, one annotation at a time
        pass
    hints = {}
    for name, annotation in getattr(function, "__annotations__", {}).items():
        try:
            hints[name] = (
                eval(annotation, getattr(function, "__globals__", {})) if isinstance(annotation, str) else annotation
            )  # noqa: S307 (annotations, as get_type_hints does)
        except Exception:
            continue
    return hints
