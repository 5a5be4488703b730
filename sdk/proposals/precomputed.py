"""Precomputed proposals: our track JSON and the official per-video proposal JSON.

**Our format** is a JSON list of Track objects (:meth:`tubescope.Track.to_dict`)::

    [{"track_id": 0, "frames": [0, 10, 20], "boxes": [[x1, y1, x2, y2], ...],
      "masks": [{"size": [h, w], "counts": "..."}, null, ...] | null,
      "label": "person" | null, "scores": [0.9, ...] | null}, ...]

Frames are 0-based indices of the original video, boxes are xyxy pixels of the original
frame, masks are COCO RLE (encoded with supervision's ``mask_to_rle``, see
:meth:`tubescope.Track.encode_mask`). :func:`write_tracks` writes it, :func:`read_tracks`
reads it.

**The official format** (docs/proposals.md; file ``dino_sam2_proposals/{video_stem}.json``
of the HC-STVG release) is an object::

    {"sample_frames": ["00000.jpg", "00010.jpg", ...],
     "dino_sam2_proposals": [
        {<k0>: track_id, <k1>: [per-frame bbox], <k2>: [per-frame COCO RLE],
         <k3>: class_name, <k4>: box_format, <k5>: img_width, <k6>: img_height}, ...]}

What we assume, from how the official code reads it (the generation code was never
released; docs/proposals.md says why):

* each track object has exactly 7 keys read **by position** (``track.values()``, like the
  official ``hcstvg.py:367``); their names are ignored;
* ``sample_frames[i]`` names the original video frame ``int(name.split('.')[0])`` (0-based; a
  multiple of 10 in HC-STVG); plain integers are accepted too. ``frame_offset`` is subtracted
  (use 1 for files numbered from 1);
* there is one bbox and one mask per ``sample_frames`` entry (a list in that order; a mapping
  keyed by the frame name is accepted as well); a bbox is ``[x1, y1, x2, y2]`` or the official
  ``1x4`` nested list, in original video pixels; ``box_format`` ``"xyxy"`` (or ``"xywh"``,
  converted; anything else is refused);
* a frame where the track is absent holds a zero box (``sum == 0``, the official presence
  test) and an empty mask (or null); such frames become the :class:`Track`'s ``absent``
  marks (no box and no mask there, and none interpolated across them);
* ``img_width`` / ``img_height`` and the RLE ``size`` must match the video.

VidSTG keeps several such files per video in a directory; their tracks are concatenated
(:class:`PrecomputedProposals` with a directory). Track ids that repeat across files are
prefixed with the file stem (``"part2:3"``).

Example:
    >>> import os, tempfile
    >>> from tubescope import Track
    >>> from tubescope.proposals import read_tracks, write_tracks
    >>> path = os.path.join(tempfile.mkdtemp(), "tracks.json")
    >>> track = Track(0, frames=[0, 10], boxes=[[0, 0, 5, 5], [2, 0, 7, 5]], label="person")
    >>> write_tracks(path, [track])
    >>> [t.label for t in read_tracks(path)]
    ['person']
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tubescope.durable import atomic_write_text
from tubescope.errors import ProposalError, ValidationError
from tubescope.jsonio import read_json
from tubescope.plural import counted
from tubescope.proposals.base import VideoCache, check_tracks_fit_video, select_tracks
from tubescope.proposals.spec import SpecOptions, register_proposal_kind
from tubescope.types import Track
from tubescope.types.track import check_rle

if TYPE_CHECKING:
    from tubescope.video import Video

__all__ = [
    "read_tracks",
    "write_tracks",
    "read_official_proposals",
    "read_proposal_file",
    "proposal_files_for",
    "PrecomputedProposals",
    "OFFICIAL_TRACK_FIELDS",
]

#: The positional fields of one official track object (their JSON key names are not known).
OFFICIAL_TRACK_FIELDS = (
    "track_id",
    "bboxes",
    "masks",
    "class_name",
    "box_format",
    "img_width",
    "img_height",
)


def _load_json(path: Path) -> Any:
    return read_json(
        path, lambda problem: ProposalError(f"{path}: {problem}"), missing="no such proposal file"
    )


# ---------------------------------------------------------------------------- our format
def write_tracks(
    path: str | os.PathLike[str], tracks: Sequence[Track], *, indent: int | None = None
) -> None:
    """Write ``tracks`` as our proposal JSON (a list of Track objects), atomically.

    Example:
        >>> import os, tempfile
        >>> from tubescope import Track
        >>> from tubescope.proposals import read_tracks, write_tracks
        >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
        >>> tracks = [Track(3, frames=[5], boxes=[[1, 2, 3, 4]])]
        >>> write_tracks(path, tracks)
        >>> read_tracks(path) == tracks
        True
    """
    target = Path(path)
    ids = [t.track_id for t in tracks]
    repeated = [tid for tid, n in Counter(ids).items() if n > 1]
    if repeated:
        raise ProposalError(f"{target}: track ids must be unique, {repeated[0]!r} repeats")
    atomic_write_text(target, json.dumps([t.to_dict() for t in tracks], indent=indent))


def _parse_our_tracks(data: Any, path: Path) -> list[Track]:
    if not isinstance(data, list):
        raise ProposalError(f"{path}: expected a JSON list of tracks, got {type(data).__name__}")
    tracks = []
    for i, item in enumerate(data):
        try:
            tracks.append(Track.from_dict(item))
        except ValidationError as err:
            raise ProposalError(f"{path}: track [{i}]: {err}") from None
    seen: dict[Any, int] = {}
    for i, track in enumerate(tracks):
        if track.track_id in seen:
            raise ProposalError(
                f"{path}: track [{i}]: track_id {track.track_id!r} repeats "
                f"track [{seen[track.track_id]}]"
            )
        seen[track.track_id] = i
    return tracks


def read_tracks(
    path: str | os.PathLike[str], video: Video | None = None, *, box_tolerance: float = 1.0
) -> list[Track]:
    """Read our proposal JSON; with ``video``, check that the tracks fit it.

    Raises:
        ProposalError: the file is missing or malformed (the message names the file, the track
            and the field), or a track does not fit ``video`` (frame beyond the frame count,
            mask of another size, box outside the frame).

    Example:
        >>> import os, tempfile
        >>> from tubescope.proposals import read_tracks
        >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
        >>> with open(path, "w") as f:
        ...     _ = f.write('[{"track_id": 1, "frames": [4], "boxes": [[0, 0, 2, 2]]}]')
        >>> read_tracks(path)[0].frames.tolist()
        [4]
    """
    source = Path(path)
    tracks = _parse_our_tracks(_load_json(source), source)
    if video is not None:
        check_tracks_fit_video(tracks, video, str(source), box_tolerance=box_tolerance)
    return tracks


# ---------------------------------------------------------------------------- official format
def _frame_of(name: Any, where: str, offset: int) -> int:
    if isinstance(name, (bool, np.bool_)):
        raise ProposalError(f"{where}: expected a frame file name or index, got {name!r}")
    if isinstance(name, (int, np.integer)):
        index = int(name)
    elif isinstance(name, str):
        stem = os.path.basename(name).split(".")[0]
        try:
            index = int(stem)
        except ValueError:
            raise ProposalError(
                f"{where}: frame name {name!r} does not start with a frame number "
                "(expected e.g. '00010.jpg')"
            ) from None
    else:
        raise ProposalError(f"{where}: expected a frame file name or index, got {name!r}")
    index -= offset
    if index < 0:
        raise ProposalError(
            f"{where}: frame {name!r} gives a negative index {index} (frame_offset={offset})"
        )
    return index


def _per_frame(values: Any, names: Sequence[Any], where: str) -> list[Any]:
    """One value per sample frame: a list in order, or a mapping keyed by the frame name."""
    if isinstance(values, Mapping):
        out = []
        for name in names:
            for key in (name, str(name)):
                if key in values:
                    out.append(values[key])
                    break
            else:
                raise ProposalError(f"{where}: has no entry for sample frame {name!r}")
        return out
    if not isinstance(values, list):
        raise ProposalError(
            f"{where}: expected a list with one entry per sample frame, got {type(values).__name__}"
        )
    if len(values) != len(names):
        raise ProposalError(
            f"{where}: {len(values)} entries for {len(names)} sample_frames (frame count mismatch)"
        )
    return values


def _box(value: Any, box_format: str, where: str) -> np.ndarray:
    try:
        box = np.asarray(value, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ProposalError(f"{where}: expected 4 numbers, got {value!r}") from None
    if box.shape != (4,):
        raise ProposalError(f"{where}: expected 4 numbers (a 1x4 box), got {value!r}")
    if not np.isfinite(box).all():
        raise ProposalError(f"{where}: box {box.tolist()} is not finite")
    if box_format == "xywh":
        box = np.array([box[0], box[1], box[0] + box[2], box[1] + box[3]])
    return box


def _rle_is_empty(rle: Mapping[str, Any]) -> bool:
    counts = rle["counts"]
    if isinstance(counts, list):
        return sum(counts[1::2]) == 0
    import supervision as sv

    height, width = rle["size"]
    return not sv.rle_to_mask(counts, (width, height)).any()


class _Official:
    """What one official file holds: tracks, their names for messages, declared sizes, frames."""

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self.names: list[str] = []
        self.sizes: list[tuple[int, int]] = []
        self.sample_frames: np.ndarray = np.zeros(0, dtype=np.int64)
        self.sample_names: list[Any] = []

    def check(self, video: Video, source: str, box_tolerance: float) -> None:
        """Raise ProposalError when the file does not match ``video``."""
        count = video.frame_count
        beyond = self.sample_frames >= count
        if beyond.any():
            k = int(np.argmax(beyond))
            raise ProposalError(
                f"{source}: sample_frames[{k}] = {self.sample_names[k]!r} is frame "
                f"{int(self.sample_frames[k])} "
                f"but the video has {counted(count, 'frame')} (frame count mismatch)"
            )
        for name, size in zip(self.names, self.sizes):
            if size != (video.width, video.height):
                raise ProposalError(
                    f"{source}: {name}: img_width x img_height is {size[0]}x{size[1]} "
                    "but the video is "
                    f"{video.width}x{video.height} (size mismatch)"
                )
        check_tracks_fit_video(
            self.tracks, video, source, box_tolerance=box_tolerance, names=self.names
        )


def _official_tracks(data: Any, path: Path, offset: int) -> _Official:
    if not isinstance(data, Mapping):
        raise ProposalError(
            f"{path}: expected an object with 'sample_frames' and 'dino_sam2_proposals'"
        )
    for key in ("sample_frames", "dino_sam2_proposals"):
        if key not in data:
            raise ProposalError(f"{path}: missing field {key!r}")
    names = data["sample_frames"]
    if not isinstance(names, list) or not names:
        raise ProposalError(
            f"{path}: field 'sample_frames' must be a non-empty list of frame names"
        )
    frames = np.array(
        [_frame_of(n, f"{path}: sample_frames[{i}]", offset) for i, n in enumerate(names)]
    )
    order_bad = np.diff(frames) <= 0
    if order_bad.any():
        i = int(np.argmax(order_bad)) + 1
        raise ProposalError(
            f"{path}: sample_frames[{i}]: frame {frames[i]} does not come after "
            f"frame {frames[i - 1]}"
        )
    proposals = data["dino_sam2_proposals"]
    if not isinstance(proposals, list):
        raise ProposalError(f"{path}: field 'dino_sam2_proposals' must be a list of tracks")
    out = _Official()
    out.sample_frames, out.sample_names = frames, list(names)
    for i, raw in enumerate(proposals):
        where = f"{path}: dino_sam2_proposals[{i}]"
        if not isinstance(raw, Mapping) or len(raw) != len(OFFICIAL_TRACK_FIELDS):
            got = f"{len(raw)} fields" if isinstance(raw, Mapping) else type(raw).__name__
            raise ProposalError(
                f"{where}: expected an object with {len(OFFICIAL_TRACK_FIELDS)} fields "
                f"({', '.join(OFFICIAL_TRACK_FIELDS)}, read by position), got {got}"
            )
        track_id, bboxes, masks, class_name, box_format, img_width, img_height = list(raw.values())
        keys = list(raw.keys())
        tid: Any = track_id
        if isinstance(tid, bool) or not isinstance(tid, (int, str)):
            raise ProposalError(
                f"{where} field {keys[0]!r} (track_id): expected an int or string, got {track_id!r}"
            )
        fmt = str(box_format).lower() if isinstance(box_format, str) else box_format
        if fmt not in ("xyxy", "xywh"):
            raise ProposalError(
                f"{where} field {keys[4]!r} (box_format): unsupported box format {box_format!r}"
            )
        for k, value in ((5, img_width), (6, img_height)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ProposalError(
                    f"{where} field {keys[k]!r} ({OFFICIAL_TRACK_FIELDS[k]}): "
                    f"expected a positive size, got {value!r}"
                )
        boxes = _per_frame(bboxes, names, f"{where} field {keys[1]!r} (bboxes)")
        rles = (
            _per_frame(masks, names, f"{where} field {keys[2]!r} (masks)")
            if masks is not None
            else [None] * len(names)
        )
        kept_frames, kept_boxes, kept_masks, absent = [], [], [], []
        for k, (box_value, rle_value) in enumerate(zip(boxes, rles)):
            box = _box(box_value, fmt, f"{where} field {keys[1]!r} (bboxes)[{k}]")
            try:
                rle = check_rle(rle_value, f"masks[{k}]")
            except ValidationError as err:
                raise ProposalError(f"{where} field {keys[2]!r}: {err}") from None
            if box.sum() <= 0:  # absent: the official presence test is bbox.sum() > 0
                absent.append(int(frames[k]))
                continue
            if box[0] > box[2] or box[1] > box[3]:
                raise ProposalError(
                    f"{where} field {keys[1]!r} (bboxes)[{k}]: box {box.tolist()} "
                    "has x1 > x2 or y1 > y2"
                )
            try:
                empty = rle is None or _rle_is_empty(rle)
            except ValueError as err:
                raise ProposalError(
                    f"{where} field {keys[2]!r} (masks)[{k}]: cannot decode the RLE ({err})"
                ) from None
            kept_frames.append(int(frames[k]))
            kept_boxes.append(box)
            kept_masks.append(None if empty else rle)
        if not kept_frames:
            continue  # a track that is absent everywhere carries no proposal
        label = None if class_name is None else str(class_name)
        masks_out = tuple(kept_masks) if any(m is not None for m in kept_masks) else None
        out.tracks.append(
            Track(
                tid,
                frames=kept_frames,
                boxes=np.array(kept_boxes),
                masks=masks_out,
                label=label,
                absent=absent or None,
            )
        )
        out.names.append(f"dino_sam2_proposals[{i}] (track {tid!r})")
        out.sizes.append((int(img_width), int(img_height)))
    seen: dict[Any, str] = {}
    for track, name in zip(out.tracks, out.names):
        if track.track_id in seen:
            raise ProposalError(
                f"{path}: {name}: track_id {track.track_id!r} repeats {seen[track.track_id]}"
            )
        seen[track.track_id] = name
    return out


def read_official_proposals(
    path: str | os.PathLike[str],
    video: Video | None = None,
    *,
    frame_offset: int = 0,
    box_tolerance: float = 1.0,
) -> list[Track]:
    """Read one official per-video proposal file (layout in the module docstring).

    Frames where a track is absent (zero box) become its ``absent`` marks; a track absent
    everywhere is skipped. With ``video``, the declared image size, the mask sizes, the frame indices and the
    boxes are checked against it.

    Example:
        >>> import json, os, tempfile
        >>> from tubescope.proposals import read_official_proposals
        >>> path = os.path.join(tempfile.mkdtemp(), "v.json")
        >>> track = {"id": 4, "bbox": [[[0, 0, 0, 0]], [[10, 10, 40, 50]]], "mask": [None, None],
        ...          "cls": "person", "fmt": "xyxy", "w": 320, "h": 240}
        >>> with open(path, "w") as f:
        ...     json.dump({"sample_frames": ["00000.jpg", "00010.jpg"],
        ...                "dino_sam2_proposals": [track]}, f)
        >>> [(t.track_id, t.frames.tolist(), t.absent.tolist()) for t in read_official_proposals(path)]
        [(4, [10], [0])]

    Raises:
        ProposalError: malformed file (names the file, the track position, the field) or a
            mismatch with ``video`` (frame count, size, boxes outside the frame).
    """
    source = Path(path)
    official = _official_tracks(_load_json(source), source, frame_offset)
    if video is not None:
        official.check(video, str(source), box_tolerance)
    return official.tracks


def read_proposal_file(
    path: str | os.PathLike[str],
    video: Video | None = None,
    *,
    frame_offset: int = 0,
    box_tolerance: float = 1.0,
) -> list[Track]:
    """Read a proposal file in either format (a JSON list: ours; an object: the official one).

    Example:
        >>> import os, tempfile
        >>> from tubescope import Track
        >>> from tubescope.proposals import read_proposal_file, write_tracks
        >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
        >>> write_tracks(path, [Track(0, frames=[1], boxes=[[0, 0, 1, 1]])])
        >>> len(read_proposal_file(path))
        1
    """
    source = Path(path)
    data = _load_json(source)
    if isinstance(data, list):
        tracks = _parse_our_tracks(data, source)
        if video is not None:
            check_tracks_fit_video(tracks, video, str(source), box_tolerance=box_tolerance)
        return tracks
    if isinstance(data, Mapping) and "dino_sam2_proposals" in data:
        official = _official_tracks(data, source, frame_offset)
        if video is not None:
            official.check(video, str(source), box_tolerance)
        return official.tracks
    raise ProposalError(
        f"{source}: unrecognised proposal file: expected a JSON list of tracks (tubescope format) "
        "or an object with 'sample_frames' and 'dino_sam2_proposals' (official format)"
    )


# ---------------------------------------------------------------------------- directories
def proposal_files_for(root: str | os.PathLike[str], video: Video) -> list[Path]:
    """The proposal file(s) of ``video`` under ``root``.

    ``root`` may be a file (used as is), or a directory holding ``{video_stem}.json`` or a
    sub-directory ``{video_stem}/`` of JSON files (VidSTG layout; all ``*.json`` in it, sorted
    by name).

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from tubescope.proposals import proposal_files_for
        >>> from tubescope.synthetic import make_clip
        >>> from tubescope.video import Video
        >>> root = Path(tempfile.mkdtemp())
        >>> clip = make_clip(root / "walk.mp4", num_frames=5)
        >>> _ = (root / "walk.json").write_text("[]")
        >>> [p.name for p in proposal_files_for(root, Video(clip.path))]
        ['walk.json']
    """
    base = Path(root)
    if base.is_file():
        return [base]
    if not base.exists():
        raise ProposalError(f"{base}: no such proposal file or directory")
    path = getattr(video, "path", None)
    if path is None:
        raise ProposalError(
            f"{base}: a proposal directory needs the video's file name to find its proposals; "
            "this video is an in-memory array, pass the proposal file itself"
        )
    stem = Path(path).stem
    single = base / f"{stem}.json"
    if single.is_file():
        return [single]
    folder = base / stem
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix == ".json" and p.is_file())
        if files:
            return files
        raise ProposalError(f"{folder}: proposal directory of video {stem!r} holds no .json file")
    raise ProposalError(
        f"{base}: no proposals for video {stem!r} (looked for {single.name} and {stem}/*.json)"
    )


class PrecomputedProposals:
    """Tracks read from proposal JSON: a file, or a directory of per-video files.

    Args:
        path: a proposal file (our format or the official one, detected from its content), or
            a directory with ``{video_stem}.json`` per video, or ``{video_stem}/*.json``
            (VidSTG: several official files whose tracks are concatenated; ids that repeat
            across files get the file stem as prefix, ``"part2:3"``).
        frame_offset: subtracted from the official ``sample_frames`` numbers (1 for files
            numbered from 1).
        box_tolerance: pixels a box may extend beyond the frame before it is an error.

    Files are parsed once per video and checked against it: a frame beyond the video's frame
    count, a mask or declared image size that differs from the video, or a box outside the
    frame raises :class:`~tubescope.errors.ProposalError` naming the file and the mismatch.

    Example:
        >>> import os, tempfile
        >>> import numpy as np
        >>> from tubescope import Track, Video
        >>> from tubescope.proposals import PrecomputedProposals, write_tracks
        >>> path = os.path.join(tempfile.mkdtemp(), "t.json")
        >>> write_tracks(path, [Track(0, frames=[0, 2], boxes=[[0, 0, 2, 2], [1, 1, 3, 3]])])
        >>> source = PrecomputedProposals(path)
        >>> [t.track_id for t in source.tracks(Video(np.zeros((4, 4, 4, 3), np.uint8)))]
        [0]
    """

    name = "precomputed"

    def __init__(
        self, path: str | os.PathLike[str], *, frame_offset: int = 0, box_tolerance: float = 1.0
    ) -> None:
        self.path = Path(path)
        self.frame_offset = int(frame_offset)
        self.box_tolerance = float(box_tolerance)
        self._cache = VideoCache(size=2)

    def __repr__(self) -> str:
        return f"PrecomputedProposals({str(self.path)!r})"

    def tracks(self, video: Video, frames: Sequence[int] | np.ndarray | None = None) -> list[Track]:
        """The tracks of ``video`` present on at least one of ``frames`` (all when None)."""
        files = proposal_files_for(self.path, video)
        stamp = tuple((str(f), f.stat().st_mtime_ns) for f in files)
        tracks = self._cache.get(video, stamp)
        if tracks is None:
            tracks = self._read(files, video)
            self._cache.put(video, tracks, stamp)
        return select_tracks(tracks, frames)

    def _read(self, files: Sequence[Path], video: Video) -> list[Track]:
        if len(files) == 1:
            return read_proposal_file(
                files[0], video, frame_offset=self.frame_offset, box_tolerance=self.box_tolerance
            )
        per_file = [
            read_proposal_file(
                f, video, frame_offset=self.frame_offset, box_tolerance=self.box_tolerance
            )
            for f in files
        ]
        counts = Counter(t.track_id for tracks in per_file for t in tracks)
        merged = []
        for path, tracks in zip(files, per_file):
            for track in tracks:
                if counts[track.track_id] > 1:
                    track = replace(track, track_id=f"{path.stem}:{track.track_id}")
                merged.append(track)
        return merged


@register_proposal_kind(
    "precomputed",
    usage=(
        '"precomputed:PATH" (a proposal file, or a directory of per-video files named after '
        "the video stem)"
    ),
)
def _precomputed_spec(argument: str | None, options: SpecOptions) -> PrecomputedProposals:
    path = Path(argument or "").expanduser()
    if not path.exists():
        raise ProposalError(f"{path}: no such proposal file or directory")
    return PrecomputedProposals(path)
