"""benchmarks/gpu.sh: its command line, checked without running any step."""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "gpu.sh"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60)


def test_script_parses() -> None:
    """bash reads the whole script without a syntax error."""
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True).returncode == 0


def test_help_names_the_dry_run() -> None:
    """--help prints the usage, with both commands, and runs nothing."""
    result = run("--help")
    assert result.returncode == 0 and "bash benchmarks/gpu.sh --dry-run" in result.stdout and "===" not in result.stdout


def test_unknown_argument_is_refused() -> None:
    """An unknown argument exits 2 naming it and the allowed ones."""
    result = run("--dryrun")
    assert result.returncode == 2 and "unknown argument '--dryrun' (allowed: --dry-run, --help)" in result.stderr
