"""Object proposals: the candidate tracks the grounding engine chooses among.

Sources (all implement :class:`ProposalSource`; :func:`resolve_proposals` builds them from a
spec string such as ``"precomputed:props/"``, ``"detector:grounding-dino"`` or ``"attention"``,
through the registry of :mod:`tubescope.proposals.spec`):

* :class:`PrecomputedProposals`: our track JSON or the official per-video proposal JSON;
* :class:`DetectorProposals`: a detector every k frames + ByteTrack
  (:class:`GroundingDinoDetector`, :class:`Owlv2Detector` from
  :mod:`tubescope.proposals.detectors`, or any ``frame -> sv.Detections``);
* :class:`AttentionProposals`: detector-free, from the engine's attention maps.

docs/proposals.md describes the formats, the detectors and the attention-derived tracks.

Example:
    >>> from tubescope.proposals import resolve_proposals
    >>> resolve_proposals("detector:grounding-dino").name
    'detector:grounding-dino'
"""

from tubescope.proposals.attention import AttentionConfig, AttentionProposals, tracks_from_attention
from tubescope.proposals.base import (
    ProposalSource,
    bind_query,
    check_tracks_fit_video,
    select_tracks,
)
from tubescope.proposals.detector import DetectorProposals
from tubescope.proposals.detectors import (
    GROUNDING_DINO_DEFAULT,
    OWLV2_DEFAULT,
    Detector,
    GroundingDinoDetector,
    Owlv2Detector,
    TextPromptedDetector,
    detector_names,
    load_pretrained,
    register_detector,
    rescale_boxes,
    unregister_detector,
)
from tubescope.proposals.precomputed import (
    OFFICIAL_TRACK_FIELDS,
    PrecomputedProposals,
    proposal_files_for,
    read_official_proposals,
    read_proposal_file,
    read_tracks,
    write_tracks,
)
from tubescope.proposals.prompt import PERSON_WORDS, detector_prompt, head_noun
from tubescope.proposals.spec import (
    ProposalKind,
    SpecOptions,
    proposal_kinds,
    register_proposal_kind,
    resolve_proposals,
    unregister_proposal_kind,
    valid_specs,
)
from tubescope.proposals.tracking import FrameDetections, TrackerConfig, link_detections

__all__ = [
    "ProposalSource",
    "bind_query",
    "select_tracks",
    "check_tracks_fit_video",
    "resolve_proposals",
    "register_proposal_kind",
    "unregister_proposal_kind",
    "proposal_kinds",
    "valid_specs",
    "ProposalKind",
    "SpecOptions",
    # precomputed
    "PrecomputedProposals",
    "read_tracks",
    "write_tracks",
    "read_official_proposals",
    "read_proposal_file",
    "proposal_files_for",
    "OFFICIAL_TRACK_FIELDS",
    # detector + tracker
    "Detector",
    "DetectorProposals",
    "GroundingDinoDetector",
    "Owlv2Detector",
    "TextPromptedDetector",
    "register_detector",
    "unregister_detector",
    "detector_names",
    "GROUNDING_DINO_DEFAULT",
    "OWLV2_DEFAULT",
    "rescale_boxes",
    "load_pretrained",
    "TrackerConfig",
    "FrameDetections",
    "link_detections",
    "head_noun",
    "detector_prompt",
    "PERSON_WORDS",
    # attention
    "AttentionConfig",
    "AttentionProposals",
    "tracks_from_attention",
]
