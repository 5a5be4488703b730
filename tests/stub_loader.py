"""Replace the model loader by one that records its calls and hands out the planted stub backend.

So "the model was not loaded" is an assertion, not a hope: ``assert loads == []``.
"""

from __future__ import annotations

from tests.engine.stub_backend import StubBackend


def plant_stub_loader(monkeypatch, family: str = "qwen2-vl") -> list[str]:
    """Patch ``load_backend`` / ``detect_family``; returns the list the loaded names go to."""
    calls: list[str] = []

    def load_backend(name_or_path, device="auto", dtype="auto", **options):
        calls.append(str(name_or_path))
        return StubBackend(4, 4, 4)

    monkeypatch.setattr("tubescope.engine.backends.load_backend", load_backend)
    monkeypatch.setattr("tubescope.engine.backends.detect_family", lambda name: family)
    return calls
