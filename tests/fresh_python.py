"""Run Python code in a fresh interpreter, optionally with some modules made unimportable."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, *, blocked: Iterable[str] = ()) -> subprocess.CompletedProcess[str]:
    """``python -c code`` from the repository root; importing a ``blocked`` module raises
    ImportError (so the code proves it does not need it)."""
    preamble = f"import sys\nfor _name in {tuple(blocked)!r}:\n    sys.modules[_name] = None\n"
    command = [sys.executable, "-c", preamble + code]
    return subprocess.run(command, check=False, capture_output=True, text=True, cwd=ROOT)
