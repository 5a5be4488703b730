"""Turning a proposal spec (``Grounder(proposals=...)``) into a :class:`ProposalSource`.

Valid forms:

=======================================  ==================================================
``"precomputed:PATH"``                   :class:`PrecomputedProposals`: PATH is a proposal
                                         file (our JSON or the official one), or a
                                         directory with ``{video_stem}.json`` per video (or
                                         ``{video_stem}/*.json``, VidSTG style)
``"detector:grounding-dino"``            :class:`DetectorProposals` over
                                         :class:`GroundingDinoDetector` (default weights)
``"detector:owlv2"``                     ... over :class:`Owlv2Detector`
``"detector:NAME@MODEL_ID_OR_DIR"``      the same with other weights (hub id or directory)
``"attention"``                          :class:`AttentionProposals` (detector-free)
an object with ``name`` and ``tracks()``  used as is
a callable ``frame -> sv.Detections``    wrapped in :class:`DetectorProposals`
=======================================  ==================================================

Example:
    >>> from tubescope.proposals import resolve_proposals
    >>> resolve_proposals("attention").name
    'attention'
    >>> source = resolve_proposals("detector:owlv2@google/owlv2-base-patch16")
    >>> source.name, source.detector.model_id
    ('detector:owlv2', 'google/owlv2-base-patch16')
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tubescope.errors import ProposalError
from tubescope.proposals.attention import AttentionProposals
from tubescope.proposals.base import ProposalSource
from tubescope.proposals.detector import (
    GROUNDING_DINO_DEFAULT,
    OWLV2_DEFAULT,
    DetectorProposals,
    GroundingDinoDetector,
    Owlv2Detector,
)
from tubescope.proposals.precomputed import PrecomputedProposals

__all__ = ["resolve_proposals", "VALID_SPECS"]

VALID_SPECS = (
    (
        '"precomputed:PATH" (a proposal file, or a directory of per-video files named after '
        "the video stem)"
    ),
    '"detector:grounding-dino" or "detector:grounding-dino@MODEL_ID_OR_DIR"',
    '"detector:owlv2" or "detector:owlv2@MODEL_ID_OR_DIR"',
    '"attention" (detector-free: tracks from the attention maps)',
    "a ProposalSource object (has .name and .tracks(video, frames))",
    "a detector callable frame -> supervision.Detections",
)

_DETECTORS = {
    "grounding-dino": (GroundingDinoDetector, GROUNDING_DINO_DEFAULT),
    "owlv2": (Owlv2Detector, OWLV2_DEFAULT),
}


def _invalid(spec: Any, why: str) -> ValueError:
    forms = "\n  ".join(VALID_SPECS)
    return ValueError(f"invalid proposal spec {spec!r}: {why}. Valid forms:\n  {forms}")


def resolve_proposals(spec: Any, *, device: str = "cpu", stride: int = 10) -> ProposalSource:
    """The :class:`ProposalSource` for ``spec`` (forms in the module docstring).

    Args:
        spec: a spec string, a ProposalSource, or a detector callable.
        device: torch device of the built-in detectors.
        stride: detect every ``stride`` frames (detector specs and callables; paper: 10).

    Nothing is loaded here: detector weights load on first use.

    Raises:
        ValueError: unknown spec (the message lists the valid forms).
        ProposalError: ``precomputed:PATH`` names a path that does not exist.

    Example:
        >>> from tubescope.proposals import resolve_proposals
        >>> resolve_proposals("detector:grounding-dino").name
        'detector:grounding-dino'
        >>> try:
        ...     resolve_proposals("sam3")
        ... except ValueError as err:
        ...     print(str(err).splitlines()[0])
        invalid proposal spec 'sam3': unknown form. Valid forms:
    """
    if isinstance(spec, ProposalSource) and not isinstance(spec, (str, bytes)):
        return spec
    if isinstance(spec, str):
        text = spec.strip()
        kind, sep, rest = text.partition(":")
        kind = kind.lower()
        if kind == "attention" and not sep:
            return AttentionProposals()
        if kind == "precomputed" and sep:
            if not rest:
                raise _invalid(spec, "precomputed needs a path")
            path = Path(rest).expanduser()
            if not path.exists():
                raise ProposalError(f"{path}: no such proposal file or directory")
            return PrecomputedProposals(path)
        if kind == "detector" and sep:
            name, at, model = rest.partition("@")
            entry = _DETECTORS.get(name.strip().lower())
            if entry is None:
                raise _invalid(
                    spec, f"unknown detector {name!r} (built in: {', '.join(_DETECTORS)})"
                )
            if at and not model.strip():
                raise _invalid(spec, "nothing after '@' (expected a model id or directory)")
            cls, default = entry
            detector = cls(model.strip() or default, device=device)
            return DetectorProposals(detector, stride=stride)
        raise _invalid(spec, "unknown form")
    if callable(spec):
        return DetectorProposals(spec, stride=stride)
    raise _invalid(
        spec,
        f"expected a string, a ProposalSource or a detector callable, got {type(spec).__name__}",
    )
