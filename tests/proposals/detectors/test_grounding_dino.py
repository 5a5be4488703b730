"""Grounding DINO end to end on a tiny random-weight model: shapes, thresholds, phrases, rescaling.

The model's outputs are meaningless; what is tested is the plumbing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tubescope import Video
from tubescope.errors import ProposalError
from tubescope.proposals import DetectorProposals, GroundingDinoDetector, resolve_proposals

from tests.proposals.detectors.helpers import QUERIES, random_frame, tiny_gdino


# ---------------------------------------------------------------------------- Grounding DINO
def test_grounding_dino_end_to_end_shapes_and_thresholds(gdino_parts):
    frame = random_frame()
    keep_all = GroundingDinoDetector.from_components(
        *gdino_parts, prompt="person", box_threshold=0.0
    )
    dets = keep_all(frame)
    assert len(dets) == QUERIES
    assert dets.xyxy.shape == (QUERIES, 4) and dets.confidence.shape == (QUERIES,)
    assert (dets.xyxy[:, [0, 2]] >= 0).all() and (dets.xyxy[:, [0, 2]] <= 80).all()
    assert (dets.xyxy[:, [1, 3]] >= 0).all() and (dets.xyxy[:, [1, 3]] <= 60).all()
    assert set(dets.data["class_name"]) == {"person"} and set(dets.class_id) == {0}
    none = keep_all.with_prompt("person")
    none.box_threshold = 1.01
    assert len(none(frame)) == 0
    mid = float(np.median(dets.confidence))
    some = GroundingDinoDetector.from_components(*gdino_parts, prompt="person", box_threshold=mid)
    assert len(some(frame)) == int((dets.confidence > mid).sum())
    # batches give the same as single frames
    batch = keep_all.detect_batch([frame, random_frame(seed=1), frame])
    np.testing.assert_allclose(batch[0].xyxy, dets.xyxy, atol=1e-4)
    np.testing.assert_allclose(batch[2].confidence, dets.confidence, atol=1e-5)


def test_grounding_dino_boxes_are_rescaled_to_original_pixels(gdino_parts):
    model, tokenizer, processor = gdino_parts
    detector = GroundingDinoDetector.from_components(
        model, tokenizer, processor, prompt="person", box_threshold=0.0
    )
    frame = random_frame(width=90, height=50)
    ids, _ = detector.encode_prompt()
    pixels = processor(images=[frame], return_tensors="pt")
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        out = model(
            pixel_values=pixels["pixel_values"],
            pixel_mask=pixels["pixel_mask"],
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            token_type_ids=torch.zeros_like(input_ids),
        )
    raw = out.pred_boxes[0].numpy().astype(np.float64)
    expected = np.stack(
        [
            (raw[:, 0] - raw[:, 2] / 2) * 90,
            (raw[:, 1] - raw[:, 3] / 2) * 50,
            (raw[:, 0] + raw[:, 2] / 2) * 90,
            (raw[:, 1] + raw[:, 3] / 2) * 50,
        ],
        axis=1,
    )
    expected[:, [0, 2]] = expected[:, [0, 2]].clip(0, 90)
    expected[:, [1, 3]] = expected[:, [1, 3]].clip(0, 50)
    np.testing.assert_allclose(detector(frame).xyxy, expected, atol=1e-3)


def test_grounding_dino_postprocess_with_known_logits(gdino_parts):
    detector = GroundingDinoDetector.from_components(
        *gdino_parts, prompt=["red car", "dog"], box_threshold=0.4, text_threshold=0.4
    )
    ids, phrase_of = detector.encode_prompt()
    # [CLS] red car . dog . [SEP]
    assert ids == [101, 1033, 1031, 1012, 1032, 1012, 102]
    assert phrase_of.tolist() == [-1, 0, 0, -1, 1, -1, -1]

    def logit(p):
        return float(np.log(p / (1 - p)))

    logits = np.full((3, 16), -np.inf)
    logits[:, : len(ids)] = logit(0.01)
    logits[0, 2] = logit(0.9)  # "car" -> phrase 0
    logits[1, 4] = logit(0.6)  # "dog" -> phrase 1
    logits[1, 1] = logit(0.3)
    logits[2, 4] = logit(0.35)  # below the box threshold
    boxes = np.array([[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.2, 0.2], [0.5, 0.5, 0.1, 0.1]])
    dets = detector.postprocess(logits, boxes, ids, phrase_of, width=100, height=50)
    assert len(dets) == 2
    np.testing.assert_allclose(dets.confidence, [0.9, 0.6], atol=1e-6)
    assert dets.class_id.tolist() == [0, 1]
    assert dets.data["class_name"].tolist() == ["red car", "dog"]
    assert dets.data["phrase"].tolist() == ["car", "dog"]
    np.testing.assert_allclose(dets.xyxy, [[40, 15, 60, 35], [0, 0, 20, 10]])
    detector.text_threshold = 0.2
    assert (
        detector.postprocess(logits, boxes, ids, phrase_of, 100, 50).data["phrase"].tolist()[1]
        == "red dog"
    )
    detector.text_threshold = 1.5
    assert detector.postprocess(logits, boxes, ids, phrase_of, 100, 50).data["phrase"].tolist() == [
        "",
        "",
    ]


def test_grounding_dino_needs_a_prompt(gdino_parts):
    detector = GroundingDinoDetector.from_components(*gdino_parts)
    with pytest.raises(ProposalError, match="no prompt"):
        detector(random_frame())
    with pytest.raises(ValueError, match="empty detector prompt"):
        detector.with_prompt(" . ")
    assert detector.with_prompt("Person. Car").phrases == ("person", "car")


def test_detector_proposals_with_tiny_grounding_dino(gdino_parts):
    video = Video(np.stack([random_frame(seed=i) for i in range(12)]), fps=10)
    detector = GroundingDinoDetector.from_components(*gdino_parts, box_threshold=0.0)
    source = DetectorProposals(detector, stride=4)
    bound = source.for_query("the man in the red jacket")
    assert bound.detector.prompt == "person." and source.detector.prompt is None
    tracks = bound.tracks(video)
    assert tracks, "threshold 0 keeps every box, so some are linked"
    for track in tracks:
        assert set(track.frames.tolist()) <= {0, 4, 8}
        assert (track.boxes[:, 2] <= 80).all() and (track.boxes[:, 3] <= 60).all()
        assert track.label == "person"
    detector.box_threshold = 1.01
    assert DetectorProposals(detector.with_prompt("person")).tracks(video) == []


def test_save_and_load_from_a_directory(gdino_parts, tmp_path):
    for part in gdino_parts:
        part.save_pretrained(tmp_path)
    detector = GroundingDinoDetector(tmp_path, prompt="dog", box_threshold=0.0).load()
    assert type(detector._parts.model).__name__ == "GroundingDinoForObjectDetection"
    np.testing.assert_allclose(
        detector(random_frame()).xyxy,
        GroundingDinoDetector.from_components(*gdino_parts, prompt="dog", box_threshold=0.0)(
            random_frame()
        ).xyxy,
        atol=1e-4,
    )
    source = resolve_proposals(f"detector:grounding-dino@{tmp_path}")
    assert source.name == "detector:grounding-dino"
    video = Video(np.stack([random_frame(seed=i) for i in range(3)]))
    assert isinstance(source.for_query("a dog").tracks(video), list)


def test_half_precision_model(gdino_parts):
    model, tokenizer, processor = tiny_gdino()
    detector = GroundingDinoDetector.from_components(
        model.to(torch.bfloat16), tokenizer, processor, prompt="person", box_threshold=0.0
    )
    dets = detector(random_frame())  # pixels are cast to the model's dtype
    assert len(dets) == QUERIES and np.isfinite(dets.xyxy).all()
    assert dets.xyxy.dtype == np.float64
