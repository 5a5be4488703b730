"""Spec parsing, the head-noun heuristic and the protocol helpers."""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv

from tubescope import Track, Video
from tubescope.errors import ProposalError
from tubescope.proposals import (
    GROUNDING_DINO_DEFAULT,
    OWLV2_DEFAULT,
    AttentionProposals,
    DetectorProposals,
    GroundingDinoDetector,
    Owlv2Detector,
    PrecomputedProposals,
    ProposalSource,
    bind_query,
    detector_prompt,
    head_noun,
    resolve_proposals,
    select_tracks,
    write_tracks,
)


def test_spec_forms(tmp_path):
    path = tmp_path / "p.json"
    write_tracks(path, [Track(0, frames=[0], boxes=[[0, 0, 1, 1]])])
    pre = resolve_proposals(f"precomputed:{path}")
    assert isinstance(pre, PrecomputedProposals) and pre.path == path and pre.name == "precomputed"
    assert isinstance(resolve_proposals(f"precomputed:{tmp_path}"), PrecomputedProposals)

    gd = resolve_proposals("detector:grounding-dino")
    assert isinstance(gd, DetectorProposals) and isinstance(gd.detector, GroundingDinoDetector)
    assert gd.detector.model_id == GROUNDING_DINO_DEFAULT and gd.stride == 10
    assert (gd.detector.box_threshold, gd.detector.text_threshold) == (0.4, 0.4)
    assert gd.name == "detector:grounding-dino"
    owl = resolve_proposals("detector:owlv2", device="cpu", stride=5)
    assert (
        isinstance(owl.detector, Owlv2Detector)
        and owl.detector.model_id == OWLV2_DEFAULT
        and owl.stride == 5
    )
    custom = resolve_proposals("detector:grounding-dino@IDEA-Research/grounding-dino-base")
    assert custom.detector.model_id == "IDEA-Research/grounding-dino-base"
    local = resolve_proposals(f"detector:owlv2@{tmp_path}")
    assert local.detector.model_id == str(tmp_path)
    assert not gd.detector._parts.loaded  # nothing loads at resolve time

    att = resolve_proposals("attention")
    assert isinstance(att, AttentionProposals)

    class Mine:
        name = "mine"

        def tracks(self, video, frames=None):
            return []

    mine = Mine()
    assert resolve_proposals(mine) is mine and resolve_proposals(att) is att

    def my_detector(frame):
        return sv.Detections.empty()

    wrapped = resolve_proposals(my_detector, stride=3)
    assert (
        isinstance(wrapped, DetectorProposals)
        and wrapped.detector is my_detector
        and wrapped.stride == 3
    )


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ("sam3", "unknown form"),
        ("detector:yolo", "unknown detector 'yolo'"),
        ("detector:owlv2@", "nothing after '@'"),
        ("precomputed:", "precomputed needs a path"),
        ("attention:maps", "unknown form"),
        (42, "got int"),
        (None, "got NoneType"),
    ],
)
def test_unknown_specs_list_the_valid_forms(spec, why):
    with pytest.raises(ValueError) as info:
        resolve_proposals(spec)
    message = str(info.value)
    assert why in message
    for form in (
        '"precomputed:PATH"',
        '"detector:grounding-dino"',
        '"detector:owlv2"',
        '"attention"',
        "ProposalSource",
    ):
        assert form in message


def test_missing_precomputed_path(tmp_path):
    with pytest.raises(ProposalError, match="no such proposal file or directory"):
        resolve_proposals(f"precomputed:{tmp_path / 'nope'}")


@pytest.mark.parametrize(
    ("query", "noun", "prompt"),
    [
        ("The man in the red jacket who sits down", "man", "person"),
        ("the woman with a white dress walks to the car", "woman", "person"),
        ("A little girl holding a balloon", "girl", "person"),
        ("He turns around and leaves", "he", "person"),
        ("the orange car turning left", "car", "car"),
        ("The black dog running on the grass.", "dog", "dog"),
        ("the red circle moving to the right", "circle", "circle"),
        ("the tall bald man turns around", "man", "person"),
        ("a cup on the table", "cup", "cup"),
        ("Who is next to the red car?", "person", "person"),
        ("What is above the table?", "object", "object"),
        ("Which dog runs towards the boy?", "dog", "dog"),
    ],
)
def test_head_noun(query, noun, prompt):
    assert head_noun(query) == noun
    assert detector_prompt(query) == prompt


def test_head_noun_edge_cases():
    assert detector_prompt("the man", person=False) == "man"
    assert head_noun("the") == "the"
    with pytest.raises(ValueError, match="cannot find a noun"):
        head_noun("  ?! ")


def test_protocol_and_helpers():
    tracks = [
        Track(0, frames=[0, 10], boxes=[[0, 0, 1, 1]] * 2),
        Track(1, frames=[20, 30], boxes=[[0, 0, 1, 1]] * 2),
    ]
    assert select_tracks(tracks, None) == tracks
    assert [t.track_id for t in select_tracks(tracks, [10, 11])] == [0]
    assert [t.track_id for t in select_tracks(tracks, np.array([25, 3]))] == [0, 1]
    assert select_tracks(tracks, [15]) == [] and select_tracks(tracks, []) == []
    assert isinstance(resolve_proposals("attention"), ProposalSource)
    assert not isinstance(object(), ProposalSource)

    class Bad:
        name = "bad"

        def tracks(self, video, frames=None):
            return []

        def for_query(self, query):
            return "not a source"

    with pytest.raises(TypeError, match="not a ProposalSource"):
        bind_query(Bad(), "a dog")
    video = Video(np.zeros((3, 8, 8, 3), np.uint8))
    assert AttentionProposals().with_maps(np.zeros((1, 2, 2)), [0]).tracks(video) == []
