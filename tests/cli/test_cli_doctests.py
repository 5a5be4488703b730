"""The docstring examples of the command-line modules run and stay true."""

from __future__ import annotations

import pytest

from tests.docstring_examples import check_docstring_examples

MODULES = [
    "tubescope.cli.main",
    "tubescope.cli.values",
    "tubescope.cli.preflight",
    "tubescope.cli.watch_cmd",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    check_docstring_examples(name)
