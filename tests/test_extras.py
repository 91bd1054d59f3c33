"""Tests for the pip command in missing-extra messages: it matches how Tapeline was installed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from framework import extras
from framework.extras import installed_from, needs_extra, pip_install

ROOT = Path(__file__).parents[1]


class Installed:
    """A distribution whose ``direct_url.json`` is `record` (None: installed from an index)."""

    def __init__(self, record: dict | None) -> None:
        self.record = record

    def read_text(self, name: str) -> str | None:
        return None if self.record is None else json.dumps(self.record)


@pytest.fixture
def activated(monkeypatch: pytest.MonkeyPatch) -> None:
    """This interpreter's environment counts as activated: the command starts with plain `pip`."""
    monkeypatch.setenv("VIRTUAL_ENV", sys.prefix)


@pytest.mark.parametrize(
    ("record", "command"),
    [
        (None, "pip install 'tapeline[onnx]'"),
        ({"url": "file:///src/tape%20line", "dir_info": {"editable": True}}, "pip install -e '/src/tape line[onnx]'"),
        ({"url": "file:///src/tapeline", "dir_info": {}}, "pip install '/src/tapeline[onnx]'"),
        ({"url": "file:///wheels/tapeline-0.1.0-py3-none-any.whl", "archive_info": {}}, "pip install 'tapeline[onnx]'"),
        ({"url": "https://github.com/x/tapeline", "vcs_info": {"vcs": "git"}}, "pip install 'tapeline[onnx]'"),
    ],
)
def test_the_command_follows_the_install_record(monkeypatch, activated, record, command):
    """An editable checkout gets `-e` and its folder, a plain folder its folder, an index or wheel the name; a
    distribution without pip's record (a checkout's egg-info, first on sys.path) is passed over."""
    monkeypatch.setattr(extras, "distributions", lambda name: [Installed(None), Installed(record)])
    assert pip_install("onnx") == command


def test_an_unactivated_environment_gets_its_own_python(monkeypatch):
    """Run as .venv/bin/tapeline without `activate`, the command names that interpreter's pip."""
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setattr(sys, "prefix", "/somewhere/venv")
    monkeypatch.setattr(sys, "executable", "/somewhere/venv/bin/python")
    monkeypatch.setattr(extras, "distributions", lambda name: [Installed(None)])
    assert pip_install("plots") == "/somewhere/venv/bin/python -m pip install 'tapeline[plots]'"
    assert needs_extra("tapeline compare", "plots", "matplotlib") == (
        "tapeline compare needs matplotlib: /somewhere/venv/bin/python -m pip install 'tapeline[plots]' "
        "(or /somewhere/venv/bin/python -m pip install matplotlib)"
    )


def test_this_checkout_is_named_as_the_current_folder(monkeypatch, activated):
    """The test environment is the README's `pip install -e`, so from the checkout (on sys.path, as the command
    puts it) the hint is `-e '.[x]'`."""
    monkeypatch.syspath_prepend(str(ROOT))
    folder, editable = installed_from()
    assert folder is not None and folder.resolve() == ROOT.resolve() and editable
    monkeypatch.chdir(ROOT)
    assert pip_install("onnx") == "pip install -e '.[onnx]'"
