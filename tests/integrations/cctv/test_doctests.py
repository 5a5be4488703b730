"""The docstring examples of the CCTV integration run and stay true."""

from __future__ import annotations

import pytest

from tests.docstring_examples import check_docstring_examples

MODULES = [
    "tubescope.integrations.cctv",
    "tubescope.integrations.cctv.redact",
    "tubescope.integrations.cctv.errors",
    "tubescope.integrations.cctv.motion",
    "tubescope.integrations.cctv.windows",
    "tubescope.integrations.cctv.buffers",
    "tubescope.integrations.cctv.events",
    "tubescope.integrations.cctv.lifecycle",
    "tubescope.integrations.cctv.eventlog",
    "tubescope.integrations.cctv.preflight",
    "tubescope.integrations.cctv.sinks",
    "tubescope.integrations.cctv.watcher",
    "tubescope.integrations.cctv.sources",
    "tubescope.integrations.cctv.sources.base",
    "tubescope.integrations.cctv.sources.stream",
    "tubescope.integrations.cctv.sources.files",
    "tubescope.integrations.cctv.sources.folder",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    check_docstring_examples(name)
