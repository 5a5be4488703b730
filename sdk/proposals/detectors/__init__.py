"""Per-frame object detectors for :class:`~tubescope.proposals.DetectorProposals`.

:mod:`~tubescope.proposals.detectors.base` holds what they share (the :class:`Detector`
protocol, the name registry behind ``"detector:NAME"`` specs, box rescaling, loading, the
text-prompted base); each built-in detector has its own module:

* ``"grounding-dino"``: :class:`GroundingDinoDetector`
  (:mod:`~tubescope.proposals.detectors.grounding_dino`);
* ``"owlv2"``: :class:`Owlv2Detector` (:mod:`~tubescope.proposals.detectors.owlv2`).

A new named detector is one module that decorates its factory with
:func:`register_detector` and is imported here.

Example:
    >>> from tubescope.proposals.detectors import detector_names
    >>> detector_names()
    ('grounding-dino', 'owlv2')
"""

from tubescope.proposals.detectors.base import (
    Detector,
    TextPromptedDetector,
    build_detector,
    detector_names,
    load_pretrained,
    register_detector,
    rescale_boxes,
    unregister_detector,
)
from tubescope.proposals.detectors.grounding_dino import (
    GROUNDING_DINO_DEFAULT,
    GroundingDinoDetector,
)
from tubescope.proposals.detectors.owlv2 import OWLV2_DEFAULT, Owlv2Detector

__all__ = [
    "Detector",
    "TextPromptedDetector",
    "build_detector",
    "detector_names",
    "register_detector",
    "unregister_detector",
    "load_pretrained",
    "rescale_boxes",
    "GroundingDinoDetector",
    "GROUNDING_DINO_DEFAULT",
    "Owlv2Detector",
    "OWLV2_DEFAULT",
]
