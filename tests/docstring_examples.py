"""Running a module's docstring examples as a test (for packages outside pytest's doctest paths)."""

from __future__ import annotations

import doctest
import importlib


def check_docstring_examples(name: str) -> None:
    """Run the examples in module ``name``'s docstrings; fail if one fails or there are none."""
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0, f"{result.failed} doctest(s) failed in {name}"
    assert result.attempted > 0, f"{name} has no docstring examples"
