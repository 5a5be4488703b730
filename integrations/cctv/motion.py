"""Is something happening? OpenCV background subtraction (MOG2) on small grey frames.

Each frame is shrunk to ``width`` pixels wide, turned grey and blurred, then fed to a MOG2
background model; the foreground mask is cleaned with a morphological opening and the
*motion score* is the fraction of pixels in it. Noise and compression flicker stay well below
the default ``threshold`` of 0.2 % of the picture; a person crossing a 160-pixel-wide view
covers several percent. The first ``warmup`` frames only train the model (score 0).

Example:
    >>> import numpy as np
    >>> detector = MotionDetector(warmup=5)
    >>> still = np.full((120, 160, 3), 80, np.uint8)
    >>> moving = still.copy(); moving[40:80, 60:100] = 250
    >>> [detector.update(still) for _ in range(8)][-1]
    0.0
    >>> detector.update(moving) > detector.threshold
    True
"""

from __future__ import annotations

import numpy as np

from tubescope.errors import ValidationError

__all__ = ["MotionDetector"]


class MotionDetector:
    """Background-subtraction motion score of successive frames of one camera.

    Args:
        width: analysis width in pixels (height keeps the aspect ratio).
        threshold: foreground fraction above which a frame counts as moving.
        history: frames the background model remembers.
        var_threshold: MOG2's squared Mahalanobis distance for "foreground" (higher: less
            sensitive).
        warmup: frames used only to learn the background after a reset.
    """

    def __init__(
        self,
        *,
        width: int = 160,
        threshold: float = 0.002,
        history: int = 300,
        var_threshold: float = 32.0,
        warmup: int = 10,
    ) -> None:
        if width < 16:
            raise ValidationError(f"motion analysis width must be at least 16 px, got {width}")
        if not 0 < threshold < 1:
            raise ValidationError(
                f"motion threshold is a fraction of the picture in (0, 1), got {threshold}"
            )
        self.width = width
        self.threshold = threshold
        self.history = history
        self.var_threshold = var_threshold
        self.warmup = warmup
        self.reset()

    def reset(self) -> None:
        """Forget the background (after a reconnect, or when the camera moved)."""
        import cv2

        self._model = cv2.createBackgroundSubtractorMOG2(
            history=self.history, varThreshold=self.var_threshold, detectShadows=False
        )
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
        self._seen = 0
        self.last_score = 0.0

    def _small(self, image: np.ndarray) -> np.ndarray:
        import cv2

        height, width = image.shape[:2]
        size = (self.width, max(1, round(height * self.width / width)))
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        small = cv2.resize(grey, size, interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(small, (5, 5), 0)

    def update(self, image: np.ndarray) -> float:
        """Feed one RGB frame; return its motion score (foreground fraction, 0 during warm-up)."""
        import cv2

        self._seen += 1
        # learn fast while warming up, then slowly, so a person standing still for a few
        # seconds is not absorbed into the background at once
        rate = -1.0 if self._seen <= self.warmup else 1.0 / self.history
        mask = self._model.apply(self._small(image), learningRate=rate)
        if self._seen <= self.warmup:
            self.last_score = 0.0
            return 0.0
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, self._kernel)
        self.last_score = float(np.count_nonzero(mask > 127)) / mask.size
        return self.last_score

    def is_moving(self, image: np.ndarray) -> bool:
        """Feed one frame; True when its score exceeds ``threshold``."""
        return self.update(image) > self.threshold
