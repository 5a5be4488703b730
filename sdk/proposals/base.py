"""The :class:`ProposalSource` protocol: where the candidate object tracks come from.

The engine chooses the grounded object among candidate :class:`~tubescope.types.Track` objects
(docs/proposals.md). A proposal source turns a video into those tracks. Three kinds ship
with tubescope (:func:`tubescope.proposals.resolve_proposals` builds them from a string):

* ``"precomputed"``: tracks read from a JSON file (ours or the official per-video layout);
* ``"detector:..."``: a detector run every k frames, linked into tracks by ByteTrack;
* ``"attention"``: a detector-free fallback that segments the engine's own attention maps.

Contract every source follows:

* ``tracks(video, frames)`` returns the tracks of ``video`` that are present (inside their
  first..last frame extent) on at least one of ``frames``; ``frames=None`` returns every track.
  ``frames`` never changes a track: the same video gives the same track ids, boxes and masks
  whichever frames are asked for, so the engine can pick a track on its sampled frames and then
  ask for all frames to build the final tube. A track keeps its own frames (the frames it was
  detected on); read its boxes on other frames with :meth:`Track.boxes_at` (interpolated).
* ``name`` says which source produced the tracks (``GroundingResult.proposal_source``).
* A source whose tracks depend on the query (a text-prompted detector) also has
  ``for_query(query) -> ProposalSource``; call :func:`bind_query` rather than checking for it.
* A source that needs the engine's attention maps has ``needs_attention = True`` and
  ``with_maps(maps, frame_indices, view=...) -> ProposalSource``, ``view`` being the part of
  the frame the map's grid covers (see :mod:`tubescope.proposals.attention`).

Example:
    >>> import numpy as np
    >>> from tubescope import Track, Video
    >>> from tubescope.proposals import ProposalSource, select_tracks
    >>> class Fixed:
    ...     name = "fixed"
    ...     def tracks(self, video, frames=None):
    ...         track = Track(0, frames=[0, 4], boxes=[[0, 0, 2, 2], [2, 0, 4, 2]])
    ...         return select_tracks([track], frames)
    >>> isinstance(Fixed(), ProposalSource)
    True
    >>> len(Fixed().tracks(Video(np.zeros((6, 4, 4, 3), np.uint8)), frames=[5]))
    0
"""

from __future__ import annotations

import os
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from tubescope.errors import ProposalError
from tubescope.plural import counted

if TYPE_CHECKING:
    from tubescope.types import Track
    from tubescope.video import Video

__all__ = ["ProposalSource", "bind_query", "select_tracks", "check_tracks_fit_video", "VideoCache"]


@runtime_checkable
class ProposalSource(Protocol):
    """Anything that gives candidate tracks for a video.

    Attributes:
        name: which source produced the tracks, e.g. ``"precomputed"``,
            ``"detector:grounding-dino"``, ``"attention"``.
    """

    name: str

    def tracks(self, video: Video, frames: Sequence[int] | np.ndarray | None = None) -> list[Track]:
        """Tracks present on at least one of ``frames`` (all tracks when ``frames`` is None)."""
        ...


def bind_query(source: ProposalSource, query: str) -> ProposalSource:
    """The source to use for ``query``: ``source.for_query(query)`` if it has one, else ``source``.

    Text-prompted detectors take their prompt from the query this way (its head noun, see
    :func:`tubescope.proposals.detector_prompt`) unless they were given an explicit prompt.

    Example:
        >>> from tubescope.proposals import bind_query
        >>> class Fixed:
        ...     name = "fixed"
        ...     def tracks(self, video, frames=None):
        ...         return []
        >>> source = Fixed()
        >>> bind_query(source, "the man in the red jacket") is source
        True
    """
    hook = getattr(source, "for_query", None)
    if hook is None:
        return source
    bound = hook(query)
    if not isinstance(bound, ProposalSource):
        raise TypeError(
            f"{type(source).__name__}.for_query() returned {type(bound).__name__}, "
            "not a ProposalSource"
        )
    return bound


def select_tracks(
    tracks: Sequence[Track], frames: Sequence[int] | np.ndarray | None
) -> list[Track]:
    """The tracks whose extent ``[first_frame, last_frame]`` contains at least one of ``frames``.

    ``frames=None`` keeps every track. Order is preserved.

    Example:
        >>> from tubescope import Track
        >>> from tubescope.proposals import select_tracks
        >>> a = Track(0, frames=[0, 10], boxes=[[0, 0, 1, 1]] * 2)
        >>> b = Track(1, frames=[20, 30], boxes=[[0, 0, 1, 1]] * 2)
        >>> [t.track_id for t in select_tracks([a, b], [5, 6])]
        [0]
    """
    if frames is None:
        return list(tracks)
    wanted = np.unique(np.asarray(frames, dtype=np.int64).reshape(-1))
    if wanted.size == 0:
        return []
    kept = []
    for track in tracks:
        lo = int(np.searchsorted(wanted, track.first_frame, side="left"))
        if lo < len(wanted) and wanted[lo] <= track.last_frame:
            kept.append(track)
    return kept


class VideoCache:
    """A small LRU cache of per-video results (the engine asks twice for the same video).

    Entries are keyed by the video's file (path, size on disk, modification time) or, for an
    in-memory video, by the object itself (held weakly, so a new array never hits a stale
    entry), plus any ``extra`` key.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[Any, ...], tuple[Any, Any]] = OrderedDict()

    @staticmethod
    def _key(video: Video, extra: Any) -> tuple[tuple[Any, ...], Any]:
        geometry = (video.frame_count, video.width, video.height)
        path = getattr(video, "path", None)
        if path is None:
            return ("array", id(video), *geometry, extra), weakref.ref(video)
        try:
            stat = os.stat(path)
            stamp: tuple[Any, ...] = (stat.st_size, stat.st_mtime_ns)
        except OSError:
            stamp = ()
        return (str(path), *stamp, *geometry, extra), None

    def get(self, video: Video, extra: Any = None) -> Any:
        """The cached value, or None."""
        key, _ = self._key(video, extra)
        entry = self._entries.get(key)
        if entry is None:
            return None
        ref, value = entry
        if ref is not None and ref() is not video:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, video: Video, value: Any, extra: Any = None) -> None:
        key, ref = self._key(video, extra)
        self._entries[key] = (ref, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


def check_tracks_fit_video(
    tracks: Sequence[Track],
    video: Video,
    source: str,
    *,
    box_tolerance: float = 1.0,
    names: Sequence[str] | None = None,
) -> None:
    """Raise :class:`ProposalError` when a track does not fit ``video``.

    Checks that every frame index is below the video's frame count, that every mask has the
    video's ``(height, width)``, and that every box lies inside the frame (``box_tolerance``
    pixels of slack on each side). The message starts with ``source`` (a file name) and names
    the track (``names[i]`` when given) and the field.

    Example:
        >>> import numpy as np
        >>> from tubescope import Track, Video
        >>> from tubescope.errors import ProposalError
        >>> from tubescope.proposals import check_tracks_fit_video
        >>> video = Video(np.zeros((5, 4, 4, 3), np.uint8))
        >>> try:
        ...     check_tracks_fit_video([Track(0, frames=[9], boxes=[[0, 0, 1, 1]])], video, "t.json")
        ... except ProposalError as err:
        ...     print(str(err)[:60])
        t.json: track [0] (id 0) frames[0]: frame 9 is beyond the vi
    """
    width, height, count = video.width, video.height, video.frame_count
    for i, track in enumerate(tracks):
        where = names[i] if names is not None else f"track [{i}] (id {track.track_id!r})"
        if track.last_frame >= count:
            k = int(np.argmax(track.frames >= count))
            raise ProposalError(
                f"{source}: {where} frames[{k}]: frame {int(track.frames[k])} is beyond the "
                f"video's {counted(count, 'frame')} (frame count mismatch: proposals for another video "
                "or frame rate?)"
            )
        boxes = track.boxes
        outside = (
            (boxes[:, 0] < -box_tolerance)
            | (boxes[:, 1] < -box_tolerance)
            | (boxes[:, 2] > width + box_tolerance)
            | (boxes[:, 3] > height + box_tolerance)
        )
        if outside.any():
            k = int(np.argmax(outside))
            raise ProposalError(
                f"{source}: {where} boxes[{k}] (frame {int(track.frames[k])}): box "
                f"{[round(float(v), 2) for v in boxes[k]]} lies outside the {width}x{height} video "
                "(size mismatch: proposals made at another resolution?)"
            )
        if track.masks is not None:
            for k, mask in enumerate(track.masks):
                if mask is not None and tuple(mask["size"]) != (height, width):
                    mh, mw = mask["size"]
                    raise ProposalError(
                        f"{source}: {where} masks[{k}] (frame {int(track.frames[k])}): mask size "
                        f"{mw}x{mh} does not match the {width}x{height} video (size mismatch)"
                    )
