"""The bounded hand-over between the frame reader and the grounding worker.

The reader cuts windows as frames arrive; grounding a window can take longer than the
window lasts. :class:`WindowQueue` holds at most ``capacity`` windows waiting to be grounded
(never an unbounded backlog). When it is full:

- ``policy="drop"`` (live sources): the **oldest** waiting window is discarded, so the
  watcher always works on the freshest picture, and its frames are counted as dropped;
- ``policy="wait"`` (files and folders): the reader blocks until there is room, which slows
  decoding down instead of losing anything.

Windows leave the queue in order (grounded or dropped), so ``dropped_frames`` counts each
frame once: the frames of a dropped window that no earlier window covered. Segment markers
are never dropped and do not count against the capacity.

Example:
    >>> q = WindowQueue(capacity=1, policy="drop")
    >>> q.put("w1"), q.put("w2")  # a full queue drops the oldest
    ([], ['w1'])
    >>> q.get(timeout=0), q.dropped_windows
    ('w2', 1)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.windows import SegmentEnd, Window

__all__ = ["WindowQueue", "CLOSED"]


class _Closed:
    def __repr__(self) -> str:
        return "CLOSED"


#: Returned by :meth:`WindowQueue.get` once the queue is closed and empty.
CLOSED = _Closed()


class WindowQueue:
    """A bounded FIFO of windows with an explicit overflow policy.

    Args:
        capacity: windows that may wait (at least 1).
        policy: ``"drop"`` (discard the oldest waiting window) or ``"wait"`` (block the producer).
        on_drop: called with each dropped window (on the producer's thread).
    """

    def __init__(
        self, capacity: int = 1, policy: str = "drop", on_drop: Callable[[Any], None] | None = None
    ) -> None:
        if capacity < 1:
            raise ValidationError(f"queue capacity must be at least 1, got {capacity}")
        if policy not in ("drop", "wait"):
            raise ValidationError(f"policy must be 'drop' or 'wait', got {policy!r}")
        self.capacity = capacity
        self.policy = policy
        self.on_drop = on_drop
        self._items: deque[Any] = deque()
        self._windows = 0
        self._cond = threading.Condition()
        self._closed = False
        self._decided_upto = -1  # highest source frame index already grounded or dropped
        self.dropped_windows = 0
        self.dropped_frames = 0
        self.high_water = 0  # most windows ever waiting at once

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    @property
    def waiting_windows(self) -> int:
        with self._cond:
            return self._windows

    @property
    def waiting_frames(self) -> int:
        with self._cond:
            return sum(len(item) for item in self._items if isinstance(item, Window))

    def _is_window(self, item: Any) -> bool:
        return not isinstance(item, SegmentEnd)

    def _decide(self, item: Any, dropped: bool) -> None:
        """Account for a window leaving the queue (called in FIFO order, under the lock)."""
        if dropped:
            self.dropped_windows += 1
        if not isinstance(item, Window):
            return
        fresh = sum(1 for f in item.frames if f.index > self._decided_upto)
        self._decided_upto = max(self._decided_upto, item.frames[-1].index)
        if dropped:
            self.dropped_frames += fresh

    def put(self, item: Any, stop: threading.Event | None = None) -> list[Any]:
        """Add ``item``; returns the windows dropped to make room (``policy="drop"``).

        With ``policy="wait"`` it blocks while the queue is full, until there is room, the
        queue is closed, or ``stop`` is set (then the item is not added).
        """
        dropped: list[Any] = []
        with self._cond:
            if self._closed:
                return dropped
            if self._is_window(item):
                while self._windows >= self.capacity:
                    if self.policy == "wait":
                        if self._closed or (stop is not None and stop.is_set()):
                            return dropped
                        self._cond.wait(0.1)
                        continue
                    victim = self._pop_oldest_window()
                    self._decide(victim, dropped=True)
                    dropped.append(victim)
                self._windows += 1
                self.high_water = max(self.high_water, self._windows)
            self._items.append(item)
            self._cond.notify_all()
        if self.on_drop is not None:
            for victim in dropped:
                self.on_drop(victim)
        return dropped

    def _pop_oldest_window(self) -> Any:
        for position, candidate in enumerate(self._items):
            if self._is_window(candidate):
                del self._items[position]
                self._windows -= 1
                return candidate
        raise AssertionError("no window to drop")  # pragma: no cover - guarded by the count

    def get(self, timeout: float | None = None) -> Any:
        """The oldest item; None on timeout; :data:`CLOSED` once closed and empty."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if not self._items:
                return CLOSED if self._closed else None
            item = self._items.popleft()
            if self._is_window(item):
                self._windows -= 1
                self._decide(item, dropped=False)
            self._cond.notify_all()
            return item

    def close(self) -> None:
        """No more items: getters receive what is left, then :data:`CLOSED`; waiting putters return."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def clear(self) -> list[Any]:
        """Remove and return everything waiting (used when stopping; nothing is counted as dropped)."""
        with self._cond:
            items = list(self._items)
            self._items.clear()
            self._windows = 0
            self._cond.notify_all()
            return items
