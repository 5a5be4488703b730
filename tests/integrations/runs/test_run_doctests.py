"""The docstring examples of the dataset-run modules run and stay true (api's uses a tiny model)."""

from __future__ import annotations

import pytest

from tests.docstring_examples import check_docstring_examples

MODULES = [
    "tubescope.integrations.runs.plan",
    "tubescope.integrations.runs.store",
    "tubescope.integrations.runs.api",
    "tubescope.integrations.runs.dataset_rules",
    "tubescope.integrations.runs.failures",
    "tubescope.integrations.runs.inputs",
    "tubescope.integrations.runs.ledger",
    "tubescope.integrations.runs.manifest",
    "tubescope.integrations.runs.overrides",
    "tubescope.integrations.runs.report",
    "tubescope.integrations.runs.request",
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    if name.endswith(".api"):
        pytest.importorskip("tubescope.testing")
    check_docstring_examples(name)
