"""OWLv2 end to end on a tiny random-weight model: shapes, thresholds, classes, padded-square boxes.

The model's outputs are meaningless; what is tested is the plumbing.
"""

from __future__ import annotations

import numpy as np
import torch
from tubescope.proposals import Owlv2Detector

from tests.proposals.detectors.helpers import random_frame


# ---------------------------------------------------------------------------- OWLv2
def test_owlv2_end_to_end_shapes_thresholds_and_classes(owl_parts):
    frame = random_frame(width=80, height=60)
    keep_all = Owlv2Detector.from_components(
        *owl_parts, prompt=["person", "car"], threshold=0.0, nms_threshold=None
    )
    dets = keep_all(frame)
    patches = (64 // 16) ** 2
    # every patch predicts one box; those lying wholly in the bottom padding (the 80x60 frame
    # is padded to 80x80) have no area in the frame and are dropped
    assert 0 < len(dets) <= patches
    assert dets.xyxy.shape == (len(dets), 4) and dets.confidence.shape == (len(dets),)
    assert set(dets.class_id.tolist()) <= {0, 1}
    assert set(dets.data["class_name"].tolist()) <= {"person", "car"}
    assert (
        (dets.xyxy[:, 2] <= 80).all() and (dets.xyxy[:, 3] <= 60).all() and (dets.xyxy >= 0).all()
    )
    nothing = Owlv2Detector.from_components(*owl_parts, prompt="person", threshold=1.01)
    assert len(nothing(frame)) == 0
    nms = Owlv2Detector.from_components(
        *owl_parts, prompt=["person", "car"], threshold=0.0, nms_threshold=0.5
    )
    assert 0 < len(nms(frame)) <= patches


def test_owlv2_boxes_are_relative_to_the_padded_square(owl_parts):
    model, tokenizer, processor = owl_parts
    detector = Owlv2Detector.from_components(
        model, tokenizer, processor, prompt="dog", threshold=0.0, nms_threshold=None
    )
    frame = random_frame(width=40, height=80)  # tall: padded on the right to 80x80
    text = tokenizer(["dog"], padding="max_length", max_length=16, return_tensors="pt")
    pixels = processor(images=[frame], return_tensors="pt")
    with torch.no_grad():
        out = model(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            pixel_values=pixels["pixel_values"],
        )
    raw = out.pred_boxes[0].numpy().astype(np.float64)
    expected = np.stack(
        [
            (raw[:, 0] - raw[:, 2] / 2) * 80,
            (raw[:, 1] - raw[:, 3] / 2) * 80,
            (raw[:, 0] + raw[:, 2] / 2) * 80,
            (raw[:, 1] + raw[:, 3] / 2) * 80,
        ],
        axis=1,
    )
    expected[:, [0, 2]] = expected[:, [0, 2]].clip(0, 40)
    expected[:, [1, 3]] = expected[:, [1, 3]].clip(0, 80)
    valid = (expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])
    np.testing.assert_allclose(detector(frame).xyxy, expected[valid], atol=1e-3)


def test_owlv2_postprocess_with_known_logits(owl_parts):
    detector = Owlv2Detector.from_components(*owl_parts, prompt=["person", "car"], threshold=0.5)
    logits = np.array([[3.0, -3.0], [-3.0, 2.0], [0.0, -1.0]])  # sigmoid: .95/.05, .05/.88, .5/.27
    boxes = np.array([[0.25, 0.25, 0.5, 0.5], [0.5, 0.75, 0.2, 0.1], [0.5, 0.5, 1, 1]])
    dets = detector.postprocess(logits, boxes, width=100, height=50)
    assert dets.class_id.tolist() == [0] and dets.data["class_name"].tolist() == ["person"]
    np.testing.assert_allclose(dets.xyxy, [[0, 0, 50, 50]])  # x 100 px (the padded square side)
    detector.threshold = 0.0
    dets = detector.postprocess(logits, boxes, width=100, height=50)
    # the second box lies in the bottom padding of the 100x100 square: no area in the frame
    assert dets.class_id.tolist() == [0, 0]
    np.testing.assert_allclose(dets.xyxy, [[0, 0, 50, 50], [0, 0, 100, 50]])


def test_owlv2_second_box_outside_a_wide_frame_is_dropped(owl_parts):
    detector = Owlv2Detector.from_components(*owl_parts, prompt="person", threshold=0.0)
    # a wide 100x50 frame is padded at the bottom to 100x100: cy = 0.75 lies in the padding
    dets = detector.postprocess(
        np.array([[1.0], [1.0]]), np.array([[0.5, 0.25, 0.2, 0.1], [0.5, 0.75, 0.2, 0.1]]), 100, 50
    )
    np.testing.assert_allclose(dets.xyxy, [[40, 20, 60, 30]])
