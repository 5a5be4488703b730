"""The data model: :class:`Track`, :class:`Tube` and :class:`GroundingResult`.

Conventions: frames are 0-based indices of the original video, spans are half-open
``[start, end)``, boxes are ``[x1, y1, x2, y2]`` float pixels of the original frame.
Importing this package needs only numpy (supervision is imported when detections are asked for).
"""

from tubescope.types.result import GroundingResult, SubQueries
from tubescope.types.track import RLE, Track
from tubescope.types.tube import TUBE_JSON_FIELDS, Tube

__all__ = ["Track", "Tube", "GroundingResult", "SubQueries", "RLE", "TUBE_JSON_FIELDS"]
