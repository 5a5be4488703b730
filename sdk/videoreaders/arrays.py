"""Frames already in memory: a ``(frames, height, width, 3)`` uint8 RGB array."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import numpy as np

from tubescope.errors import VideoError
from tubescope.videoreaders.base import Reader


class ArrayReader(Reader):
    """Indexes the array; frame ``i`` is shown at ``i / rate`` seconds."""

    name = "array"

    def __init__(self, array: np.ndarray, rate: Fraction) -> None:
        if array.ndim != 4 or array.shape[-1] != 3 or array.dtype != np.uint8:
            raise VideoError("<array>", f"expected a (frames, height, width, 3) uint8 array, got {array.shape} {array.dtype}")
        if len(array) == 0:
            raise VideoError("<array>", "has no frames")
        self.array = array
        self.path = None
        self.height, self.width = array.shape[1:3]
        self.rate = rate
        self.times = np.array([float(Fraction(i) / rate) for i in range(len(array))])
        self.codec = self.container = None

    def read(self, indices: np.ndarray) -> np.ndarray:
        return self.array[indices]

    def stream(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        for index in indices:
            yield int(index), self.array[index]
