"""The built-in Grounding DINO and OWLv2 detectors, end to end on tiny random-weight models.

The models are built from small configs (nothing is downloaded), so their outputs are
meaningless; what is tested is the plumbing: shapes, thresholds, class assignment, the
rescaling of normalised boxes to original pixels, loading and its errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.proposals.helpers import bert_like_tokenizer, clip_like_tokenizer

from tubescope import Video
from tubescope.errors import ModelUnavailableError, ProposalError
from tubescope.proposals import (
    DetectorProposals,
    GroundingDinoDetector,
    Owlv2Detector,
    load_pretrained,
    rescale_boxes,
    resolve_proposals,
)
from tubescope.proposals import detector as detector_module

QUERIES = 12  # Grounding DINO object queries of the tiny model


def _tiny_gdino():
    from transformers import GroundingDinoConfig, GroundingDinoForObjectDetection, SwinConfig
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    torch.manual_seed(0)
    swin = SwinConfig(
        window_size=7,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        image_size=64,
        out_indices=[2, 3, 4],
    )
    config = GroundingDinoConfig(
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        num_queries=QUERIES,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        backbone_config=swin,
        max_text_len=16,
        text_config={
            "model_type": "bert",
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 8,
            "max_position_embeddings": 32,
            "vocab_size": 1100,
        },
    )
    model = GroundingDinoForObjectDetection(config).eval()
    processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96})
    return model, bert_like_tokenizer(), processor


def _tiny_owlv2():
    from transformers import Owlv2Config, Owlv2ForObjectDetection
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

    torch.manual_seed(0)
    config = Owlv2Config(
        text_config={
            "vocab_size": 64,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
        },
        projection_dim=16,
    )
    model = Owlv2ForObjectDetection(config).eval()
    processor = Owlv2ImageProcessorPil(size={"height": 64, "width": 64})
    return model, clip_like_tokenizer(), processor


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread():
    """Tiny models run faster on one thread (no oversubscription on small CI machines)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def gdino_parts():
    return _tiny_gdino()


@pytest.fixture(scope="module")
def owl_parts():
    return _tiny_owlv2()


def _frame(width=80, height=60, seed=0):
    return np.random.default_rng(seed).integers(0, 255, size=(height, width, 3), dtype=np.uint8)


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


# ---------------------------------------------------------------------------- Grounding DINO
def test_grounding_dino_end_to_end_shapes_and_thresholds(gdino_parts):
    frame = _frame()
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
    batch = keep_all.detect_batch([frame, _frame(seed=1), frame])
    np.testing.assert_allclose(batch[0].xyxy, dets.xyxy, atol=1e-4)
    np.testing.assert_allclose(batch[2].confidence, dets.confidence, atol=1e-5)


def test_grounding_dino_boxes_are_rescaled_to_original_pixels(gdino_parts):
    model, tokenizer, processor = gdino_parts
    detector = GroundingDinoDetector.from_components(
        model, tokenizer, processor, prompt="person", box_threshold=0.0
    )
    frame = _frame(width=90, height=50)
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
        detector(_frame())
    with pytest.raises(ValueError, match="empty detector prompt"):
        detector.with_prompt(" . ")
    assert detector.with_prompt("Person. Car").phrases == ("person", "car")


def test_detector_proposals_with_tiny_grounding_dino(gdino_parts):
    video = Video(np.stack([_frame(seed=i) for i in range(12)]), fps=10)
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
        detector(_frame()).xyxy,
        GroundingDinoDetector.from_components(*gdino_parts, prompt="dog", box_threshold=0.0)(
            _frame()
        ).xyxy,
        atol=1e-4,
    )
    source = resolve_proposals(f"detector:grounding-dino@{tmp_path}")
    assert source.name == "detector:grounding-dino"
    video = Video(np.stack([_frame(seed=i) for i in range(3)]))
    assert isinstance(source.for_query("a dog").tracks(video), list)


# ---------------------------------------------------------------------------- OWLv2
def test_owlv2_end_to_end_shapes_thresholds_and_classes(owl_parts):
    frame = _frame(width=80, height=60)
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
    frame = _frame(width=40, height=80)  # tall: padded on the right to 80x80
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


# ---------------------------------------------------------------------------- loading errors
def test_missing_weights_offline_fail_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    detector = GroundingDinoDetector("tubescope-tests/no-such-model", prompt="person")
    with pytest.raises(ModelUnavailableError, match="HF_HUB_OFFLINE is set") as info:
        detector.load()
    assert "tubescope-tests/no-such-model" in str(info.value) and "download" in str(info.value)
    with pytest.raises(ModelUnavailableError, match="not a directory"):
        Owlv2Detector(tmp_path / "missing" / "dir", prompt="person").load()


def test_missing_weights_hub_unreachable(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    monkeypatch.setattr(detector_module, "hub_offline", lambda: False)
    monkeypatch.setattr(detector_module, "probe_hub", lambda repo_id, endpoint=None: "URLError: refused")
    calls = []

    def loader(name, **kwargs):
        calls.append(kwargs)
        raise OSError("not cached")

    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        load_pretrained(loader, "org/model", "test model")
    assert calls == [{"local_files_only": True}]  # no network attempt after the cache miss


def test_broken_model_directory(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ModelUnavailableError, match="cannot load from the directory"):
        GroundingDinoDetector(tmp_path, prompt="person").load()


def test_half_precision_model(gdino_parts):
    model, tokenizer, processor = _tiny_gdino()
    detector = GroundingDinoDetector.from_components(
        model.to(torch.bfloat16), tokenizer, processor, prompt="person", box_threshold=0.0
    )
    dets = detector(_frame())  # pixels are cast to the model's dtype
    assert len(dets) == QUERIES and np.isfinite(dets.xyxy).all()
    assert dets.xyxy.dtype == np.float64
