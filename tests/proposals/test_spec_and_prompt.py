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
    SpecOptions,
    bind_query,
    detector_names,
    detector_prompt,
    head_noun,
    proposal_kinds,
    register_detector,
    register_proposal_kind,
    resolve_proposals,
    select_tracks,
    unregister_detector,
    unregister_proposal_kind,
    valid_specs,
    write_tracks,
)
from tubescope.proposals import spec as spec_module
from tubescope.proposals.detectors import base as detectors_base


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
        ("sam3", "unknown kind 'sam3'; valid forms: "),
        ("foo", "unknown kind 'foo'; valid forms: "),
        (42, "got int; valid forms: "),
        (None, "got NoneType; valid forms: "),
    ],
)
def test_unknown_specs_fail_in_one_line_listing_the_kinds(spec, why):
    with pytest.raises(ProposalError) as info:
        resolve_proposals(spec)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"invalid proposal spec {spec!r}: ")
    assert why in message
    for form in (
        '"precomputed:PATH"',
        '"detector:NAME[@MODEL_ID_OR_DIR]" (NAME: grounding-dino, owlv2)',
        '"attention"',
        "ProposalSource",
        "detector callable",
    ):
        assert form in message
    assert isinstance(info.value, ValueError)  # callers catching ValueError keep working


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("detector:yolo", "unknown detector 'yolo'; registered: grounding-dino, owlv2"),
        ("detector:owlv2@", "nothing after '@' (expected a model id or directory)"),
        ("detector:", 'expected "detector:NAME[@MODEL_ID_OR_DIR]" (NAME: grounding-dino, owlv2)'),
        ("precomputed:", 'expected "precomputed:PATH"'),
        ("attention:maps", 'expected "attention"'),
    ],
)
def test_bad_arguments_fail_in_one_line(spec, message):
    with pytest.raises(ProposalError) as info:
        resolve_proposals(spec)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(f"invalid proposal spec {spec!r}: {message}")


def test_kinds_are_case_insensitive():
    assert resolve_proposals(" Attention ").name == "attention"
    assert resolve_proposals("DETECTOR:OWLv2").name == "detector:owlv2"
    assert list(proposal_kinds()) == ["attention", "detector", "precomputed"]


@pytest.fixture
def scratch_registries(monkeypatch):
    """Registrations made by a test disappear after it."""
    monkeypatch.setattr(spec_module._KINDS, "_entries", dict(spec_module._KINDS._entries))
    monkeypatch.setattr(
        detectors_base._DETECTORS, "_entries", dict(detectors_base._DETECTORS._entries)
    )


def test_a_new_kind_through_the_registry_alone(scratch_registries, tmp_path):
    built = []

    class Fixed:
        name = "fixed"

        def __init__(self, count):
            self.count = count

        def tracks(self, video, frames=None):
            boxes = [[0, 0, 2, 2]]
            return select_tracks([Track(i, frames=[0], boxes=boxes) for i in range(self.count)], frames)

    @register_proposal_kind("fixed", usage='"fixed:N" (N one-frame tracks)')
    def build(argument, options):
        built.append((argument, options))
        if not argument.isdigit():
            raise ProposalError(f"{argument!r} is not a count")
        return Fixed(int(argument))

    source = resolve_proposals("fixed:3", device="cuda:1", stride=4)
    assert isinstance(source, Fixed) and source.count == 3
    assert built == [("3", SpecOptions(device="cuda:1", stride=4))]
    assert '"fixed:N" (N one-frame tracks)' in valid_specs()
    with pytest.raises(ProposalError, match=r"^invalid proposal spec 'fixed:x': 'x' is not a count$"):
        resolve_proposals("fixed:x")
    with pytest.raises(ProposalError, match='expected "fixed:N"'):
        resolve_proposals("fixed")
    with pytest.raises(ProposalError) as info:
        resolve_proposals("nothing")
    assert '"fixed:N" (N one-frame tracks)' in str(info.value)  # listed with the built-in kinds
    video = Video(np.zeros((2, 4, 4, 3), np.uint8))
    assert len(source.tracks(video)) == 3

    with pytest.raises(ProposalError, match="'fixed' is already registered"):
        register_proposal_kind("fixed", usage="again")(lambda argument, options: Fixed(0))
    with pytest.raises(ProposalError, match="without ':'"):
        register_proposal_kind("a:b", usage="x")
    with pytest.raises(ProposalError, match="argument must be one of"):
        register_proposal_kind("b", usage="x", argument="sometimes")
    assert unregister_proposal_kind("FIXED").name == "fixed"
    with pytest.raises(ProposalError, match="unknown kind 'fixed'"):
        resolve_proposals("fixed:1")


def test_a_new_detector_name_through_the_registry_alone(scratch_registries):
    calls = []

    @register_detector("corner")
    def corner(model="corner-v1", *, device="cpu"):
        calls.append((model, device))

        def detect(frame):
            return sv.Detections(xyxy=np.array([[0.0, 0, 4, 4]]), confidence=np.array([0.5]))

        detect.name = "corner"
        return detect

    source = resolve_proposals("detector:corner", device="cuda", stride=2)
    assert isinstance(source, DetectorProposals) and source.stride == 2
    assert source.name == "detector:corner" and calls == [("corner-v1", "cuda")]
    resolve_proposals("detector:Corner@my/weights")
    assert calls[-1] == ("my/weights", "cpu")
    assert "corner" in detector_names()
    with pytest.raises(ProposalError, match="registered: grounding-dino, owlv2, corner$"):
        resolve_proposals("detector:yolo")
    tracks = source.tracks(Video(np.zeros((5, 8, 8, 3), np.uint8)))
    assert [t.frames.tolist() for t in tracks] == [[0, 2, 4]]
    with pytest.raises(ProposalError, match="'corner' is already registered"):
        register_detector("corner")(lambda *a, **k: None)
    unregister_detector("corner")
    assert "corner" not in detector_names()


def test_missing_precomputed_path(tmp_path):
    with pytest.raises(ProposalError, match="^invalid proposal spec .*: .*nope: no such proposal file"):
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
