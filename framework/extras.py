"""The pip command that adds an optional extra to Tapeline as it was installed here.

Installed from a checkout (``pip install -e .``), the extra must come from that checkout
(``pip install -e '/path/to/tapeline[onnx]'``): ``pip install 'tapeline[onnx]'`` would look for
Tapeline on the package index. pip records how it installed a package in the distribution's
``direct_url.json`` (PEP 610), which is read here.
"""

from __future__ import annotations

import json
import os
import sys
from importlib.metadata import distributions
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "tapeline"


def installed_from() -> tuple[Path | None, bool]:
    """The local folder Tapeline was installed from (None: from an index or a wheel) and whether editably.

    Every ``tapeline`` distribution on ``sys.path`` is asked: run from a checkout, its own
    ``tapeline.egg-info`` (left by setuptools, without pip's record) may come first.
    """
    texts = (found.read_text("direct_url.json") for found in distributions(name=DISTRIBUTION))
    record = json.loads(next((text for text in texts if text), None) or "{}")
    url = urlparse(record.get("url", ""))
    if url.scheme != "file" or "dir_info" not in record:
        return None, False
    return Path(unquote(url.path)), bool(record["dir_info"].get("editable"))


def pip_command() -> str:
    """``pip``, or this interpreter's ``python -m pip`` when it is not the ``python`` on PATH (an unactivated venv)."""
    on_path = Path(sys.prefix) == Path(os.environ.get("VIRTUAL_ENV", sys.base_prefix))
    if on_path:
        return "pip"
    python = Path(sys.executable)
    try:
        python = python.relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{python} -m pip"


def pip_install(extra: str) -> str:
    """The command that installs `extra` (e.g. ``onnx``) for this Tapeline, for error messages.

    ``pip install 'tapeline[onnx]'`` for an install from an index or a wheel;
    ``pip install -e '/checkout[onnx]'`` for an editable install from a checkout (without ``-e``
    for a plain install from a folder); ``.venv/bin/python -m pip ...`` when the running
    interpreter is a virtual environment that is not activated.
    """
    folder, editable = installed_from()
    target = f"'{DISTRIBUTION}[{extra}]'" if folder is None else f"'{shorten(folder)}[{extra}]'"
    return f"{pip_command()} install {'-e ' if editable else ''}{target}"


def shorten(folder: Path) -> str:
    """`folder` relative to the current folder when it is inside it (``.``), else absolute."""
    try:
        relative = folder.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return str(folder)
    return str(relative)


def needs_extra(what: str, extra: str, package: str) -> str:
    """``<what> needs <package>: <pip_install(extra)> (or pip install <package>)``, for error messages."""
    return f"{what} needs {package}: {pip_install(extra)} (or {pip_command()} install {package})"
