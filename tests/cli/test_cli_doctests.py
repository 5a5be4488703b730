"""The docstring examples of the command-line modules run and stay true."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "tubescope.cli.main",
    "tubescope.cli.values",
    "tubescope.cli.preflight",
    "tubescope.cli.watch_cmd",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0
