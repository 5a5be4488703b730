"""The reader interface :class:`tubescope.video.Video` talks to."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from tubescope.errors import VideoError


def to_display(images: np.ndarray, rotation: int) -> np.ndarray:
    """Images (``(..., height, width, 3)``) turned ``rotation`` degrees counter-clockwise.

    ``rotation`` is the display matrix's angle (0, 90, 180 or 270), which players (and the
    ``ffmpeg`` tool) apply before showing a frame.
    """
    if not rotation:
        return images
    return np.ascontiguousarray(np.rot90(images, rotation // 90, axes=(-3, -2)))


class Reader(ABC):
    """Decodes frames of one source; frame ``i`` is the ``i``-th frame FFmpeg shows.

    Subclasses set the metadata attributes in ``__init__`` and implement :meth:`read` and
    :meth:`stream`; callers pass sorted, unique, in-range indices.
    """

    #: how ``Video.info`` names the reader
    name: str
    #: why this reader was chosen, when the choice is not the usual one
    note: str | None = None
    path: Path | None
    width: int
    height: int
    rate: Fraction
    times: np.ndarray
    codec: str | None
    container: str | None

    @property
    def frame_count(self) -> int:
        return len(self.times)

    @abstractmethod
    def read(self, indices: np.ndarray) -> np.ndarray:
        """The frames at the sorted, unique ``indices`` as ``(k, height, width, 3)`` RGB."""

    @abstractmethod
    def stream(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """``(index, image)`` for the sorted, unique ``indices``, decoded in one forward pass."""

    def close(self) -> None:
        """Release what the reader holds."""

    def missing(self, index: int) -> VideoError:
        """The error for a frame the decoder never produced."""
        return VideoError(
            self.path or "<array>", f"frame {index} could not be decoded (the file is truncated or corrupt there)"
        )
