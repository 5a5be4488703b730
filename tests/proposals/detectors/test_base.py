"""What the detectors share: box rescaling, and loading through the one checkpoint resolution."""

from __future__ import annotations

import numpy as np
import pytest
from tubescope.errors import ModelUnavailableError
from tubescope.proposals import (
    GroundingDinoDetector,
    Owlv2Detector,
    load_pretrained,
    rescale_boxes,
)
from tubescope.proposals.detectors import base as detectors_base


# ---------------------------------------------------------------------------- rescaling
def test_rescale_boxes_known_values():
    boxes = [[0.5, 0.5, 1.0, 1.0], [0.25, 0.5, 0.1, 0.2], [0.95, 0.5, 0.2, 0.2]]
    np.testing.assert_allclose(
        rescale_boxes(boxes, 200, 100),
        [[0, 0, 200, 100], [40, 40, 60, 60], [170, 40, 200, 60]],  # the last one is clipped
    )
    np.testing.assert_allclose(rescale_boxes(boxes[2:], 200, 100, clip=False), [[170, 40, 210, 60]])
    # OWLv2: relative to the bottom/right-padded square of side max(w, h)
    np.testing.assert_allclose(
        rescale_boxes([[0.5, 0.25, 0.5, 0.5]], 200, 100, padded_square=True), [[50, 0, 150, 100]]
    )
    np.testing.assert_allclose(
        rescale_boxes([[0.25, 0.5, 0.5, 0.5]], 100, 200, padded_square=True), [[0, 50, 100, 150]]
    )
    assert rescale_boxes(np.zeros((0, 4)), 10, 10).shape == (0, 4)


# ---------------------------------------------------------------------------- loading errors
def test_missing_weights_offline_fail_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    detector = GroundingDinoDetector("tubescope-tests/no-such-model", prompt="person")
    with pytest.raises(ModelUnavailableError, match="skipped because HF_HUB_OFFLINE=1") as info:
        detector.load()
    message = str(info.value)
    assert message.startswith("Grounding DINO model 'tubescope-tests/no-such-model' is not available")
    assert "huggingface-cli download tubescope-tests/no-such-model" in message
    assert "\n" not in message
    with pytest.raises(ModelUnavailableError, match="OWLv2 model .*dir: no such model directory"):
        Owlv2Detector(tmp_path / "missing" / "dir", prompt="person").load()


def test_missing_weights_hub_unreachable(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    calls = []

    def loader(name, **kwargs):
        calls.append(name)
        raise OSError("not cached")

    with pytest.raises(ModelUnavailableError, match="http://127.0.0.1:9: unreachable"):
        load_pretrained(loader, "org/model", "test model")
    assert calls == []  # the loader never runs without a checkpoint directory


def test_detectors_and_backends_share_one_checkpoint_resolution(monkeypatch, tmp_path):
    import tubescope.hub
    from tubescope.engine.backends import loading

    assert loading.resolve_checkpoint is tubescope.hub.resolve_checkpoint
    seen = []

    def resolve(name, *, what="model", patterns=()):
        seen.append((str(name), what))
        return tmp_path

    monkeypatch.setattr(detectors_base, "resolve_checkpoint", resolve)

    def loader(directory, **kwargs):
        raise OSError("bad weights\nsecond line")

    with pytest.raises(ModelUnavailableError) as info:
        GroundingDinoDetector("org/gd", prompt="person").load()
    # the hub id is resolved once; the model (then tokenizer, processor) load from its directory
    assert seen == [("org/gd", "Grounding DINO model"), (str(tmp_path), "Grounding DINO model")]
    assert "\n" not in str(info.value)
    with pytest.raises(ModelUnavailableError, match=r"^w: cannot load from the directory .* \(bad weights\)$"):
        load_pretrained(loader, "org/x", "w")


def test_broken_model_directory(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="cannot load from the directory"):
        GroundingDinoDetector(tmp_path, prompt="person").load()


def test_import_paths_of_before_the_split_keep_working():
    import tubescope.grounder
    from tubescope.proposals import ProposalSource, detectors
    from tubescope.proposals.detector import (
        GROUNDING_DINO_DEFAULT,
        OWLV2_DEFAULT,
        Detector,
        DetectorProposals,
        GroundingDinoDetector,
        Owlv2Detector,
        load_pretrained,
        rescale_boxes,
    )

    assert GroundingDinoDetector is detectors.GroundingDinoDetector
    assert Owlv2Detector is detectors.Owlv2Detector and Detector is detectors.Detector
    assert (rescale_boxes, load_pretrained) == (detectors.rescale_boxes, detectors.load_pretrained)
    assert (GROUNDING_DINO_DEFAULT, OWLV2_DEFAULT) == (
        "IDEA-Research/grounding-dino-tiny",
        "google/owlv2-base-patch16-ensemble",
    )
    assert DetectorProposals.__module__ == "tubescope.proposals.detector"
    assert tubescope.grounder.TrackSource is ProposalSource
