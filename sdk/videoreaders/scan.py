"""One pass over a file's packets: which frames FFmpeg will decode, their times, the keyframes.

The table lists the frames the decoder outputs, which is not always every packet: packets an
MP4 edit list cuts away (a stream-copy trim such as ``ffmpeg -ss 3 -i in.mp4 -c copy out.mp4``
keeps them, with negative timestamps) carry FFmpeg's discard flag and are decoded but never
shown, so they are not frames; their keyframes still are places decoding can start from.
When some packet has no presentation timestamp (raw streams, AVI with B-frames, broken
transport streams), the table is built by decoding the whole file once instead, exactly as the
``ffmpeg`` tool does.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.errors import VideoError
from tubescope.plural import counted
from tubescope.videoreaders.pyav_io import (
    decode,
    decode_all,
    display_rotation,
    ffmpeg_reason,
    open_container,
    packet_stamp,
)
from tubescope.videowrite import as_fraction


@dataclass(frozen=True)
class PacketTable:
    """What a reader needs to know about a file, read once when it is opened.

    ``stamps`` are the sorted presentation timestamps (stream ticks) of the frames the decoder
    outputs, frame ``i`` being ``stamps[i]``; ``key_stamps`` those of the keyframe packets
    (discarded ones included). Both are None when packets lack timestamps: frames are then
    known only by their rank in decoding order. ``times`` are seconds from frame 0.
    ``width``/``height`` are in display orientation (after ``rotation``, counter-clockwise
    degrees).
    """

    path: Path
    codec: str
    container: str
    width: int
    height: int
    rotation: int
    rate: Fraction
    time_base: Fraction
    intra_only: bool
    times: np.ndarray
    stamps: np.ndarray | None
    key_stamps: np.ndarray | None

    @property
    def frame_count(self) -> int:
        return len(self.times)


@dataclass
class _Packets:
    stamps: list[int]
    keys: list[int]
    complete: bool  # every shown packet had a timestamp
    total: int  # packets, discarded ones included
    first: Any  # the first decoded frame
    reorders: bool  # the decoder reorders frames (B-frames)


def scan(path: Path) -> PacketTable:
    """Read ``path``'s packet table (raises :class:`VideoError` naming the file and the problem)."""
    import av

    container = open_container(path, "not a readable video file")
    try:
        if not container.streams.video:
            raise VideoError(path, "contains no video stream")
        stream = container.streams.video[0]
        codec = stream.codec_context
        intra_only = bool(codec.codec.intra_only)
        time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        rate = stream.average_rate or stream.guessed_rate
        # the MP4/MOV sample table lists every sample; other containers' counts are hints
        # (0 when unknown, and AVI headers count B-frame packing twice)
        declared = stream.frames if container.format.name.startswith("mov,") else 0
        try:
            packets = _read_packets(container, stream, intra_only)
        except av.FFmpegError as err:
            raise VideoError(path, f"corrupt container ({ffmpeg_reason(err)})") from None
        if 0 < packets.total < declared:
            raise VideoError(
                path, f"truncated: the container declares {counted(declared, 'frame')} but only {packets.total} "
                f"{'is' if packets.total == 1 else 'are'} present"
            )
        name, container_name = codec.name, container.format.name
    finally:
        container.close()
    if packets.first is None:
        raise VideoError(path, "has no frames" if packets.total == 0 else "no frame of it can be decoded (corrupt?)")
    stamps = np.asarray(packets.stamps, dtype=np.int64)
    if packets.complete and packets.keys:
        # pictures shown before the first keyframe but decoded after it (open-GOP leading
        # pictures) reference a GOP the file does not have: decoders drop them
        stamps = stamps[stamps >= packets.keys[0]]
    ordered = np.unique(stamps)
    # AVI stores no presentation times: FFmpeg makes them up in decoding order, which is
    # wrong for every reordered (B-) frame
    made_up = container_name == "avi" and packets.reorders and not intra_only
    if packets.complete and packets.keys and len(ordered) == len(stamps) and not made_up:
        key_stamps: np.ndarray | None = np.unique(np.asarray(packets.keys, dtype=np.int64))
        times = (ordered - ordered[0]).astype(np.float64) * float(time_base)
        table_stamps: np.ndarray | None = ordered
    else:  # missing or repeated timestamps, or no keyframe flags: the decoder's order is the only safe index
        times = _decoded_times(path, time_base, rate, trust_pts=not made_up)
        table_stamps = key_stamps = None
    rotation = display_rotation(packets.first)
    width, height = packets.first.width, packets.first.height
    if rotation in (90, 270):
        width, height = height, width
    rate = _average_rate(rate, times)
    return PacketTable(
        path=path,
        codec=name,
        container=container_name,
        width=width,
        height=height,
        rotation=rotation,
        rate=rate,
        time_base=time_base,
        intra_only=intra_only,
        times=times,
        stamps=table_stamps,
        key_stamps=key_stamps,
    )


def _average_rate(declared: Fraction | None, times: np.ndarray) -> Fraction:
    """The container's average frame rate, exact, unless the frame times contradict it (AVI
    with B-frames declares twice its rate): then the rate the times show."""
    span = float(times[-1]) if len(times) > 1 else 0.0
    shown = (len(times) - 1) / span if span > 0 else None
    if declared and (shown is None or abs(float(declared) / shown - 1) < 0.05):
        return as_fraction(declared)
    return as_fraction(shown) if shown else Fraction(25)


def _read_packets(container: Any, stream: Any, intra_only: bool) -> _Packets:
    """Demux every packet of ``stream``, decoding only until the first frame comes out."""
    codec = stream.codec_context
    found = _Packets(stamps=[], keys=[], complete=True, total=0, first=None, reorders=False)
    for packet in container.demux(stream):
        if found.first is None:
            frames = decode(codec, packet)
            if frames:
                found.first = frames[0]
                found.reorders = bool(codec.has_b_frames)
        if packet.size == 0:  # the flush packet at the end
            continue
        found.total += 1
        stamp = packet_stamp(packet, intra_only)
        if packet.is_keyframe and stamp is not None:
            found.keys.append(stamp)
        if packet.is_discard or not found.keys:
            # an edit list cuts it away: decoded for its references, never shown; or it comes
            # before the first keyframe (a recording joined mid-GOP): nothing to decode it from
            continue
        if stamp is None:
            found.complete = False
        else:
            found.stamps.append(stamp)
    return found


def _decoded_times(path: Path, time_base: Fraction, rate: Fraction | None, *, trust_pts: bool) -> np.ndarray:
    """Decode the whole file once: each frame's best-effort time, seconds from frame 0.

    Times follow FFmpeg's ``best_effort_timestamp`` (:class:`BestEffort`); with
    ``trust_pts=False`` only decode timestamps count. Frames FFmpeg gives no time get one
    interpolated between their neighbours (or the typical gap away from the nearest one).
    """
    import av

    container = open_container(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            guess = BestEffort(trust_pts)
            raw = [guess(frame) for frame in decode_all(container, stream)]
        except av.FFmpegError as err:
            raise VideoError(path, f"decoding failed ({ffmpeg_reason(err)}; corrupt or truncated?)") from None
    finally:
        container.close()
    if not raw:
        raise VideoError(path, "no frame of it can be decoded (corrupt?)")
    known = np.array([s is not None for s in raw])
    ticks = np.array([0 if s is None else s for s in raw], dtype=np.float64) * float(time_base)
    index = np.arange(len(raw))
    steps = np.diff(ticks[known]) / np.diff(index[known]) if known.sum() > 1 else np.zeros(0)
    period = float(np.median(steps)) if len(steps) else (1 / float(rate) if rate else 1 / 25)
    if not known.any():
        seconds = index * period
    elif known.sum() == 1:
        seconds = ticks[known][0] + (index - index[known][0]) * period
    else:
        seconds = np.interp(index, index[known], ticks[known])
        # before the first / after the last known time: extend by the frame period
        first, last = index[known][0], index[known][-1]
        seconds[:first] = ticks[first] - (first - index[:first]) * period
        seconds[last + 1 :] = ticks[last] + (index[last + 1 :] - last) * period
    return (seconds - seconds[0]).astype(np.float64)


class BestEffort:
    """FFmpeg's ``best_effort_timestamp`` rule: a frame's pts, unless the pts have gone
    backwards more often than the decode timestamps have, then its dts."""

    def __init__(self, trust_pts: bool = True) -> None:
        self.trust_pts = trust_pts
        self.pts_faults = self.dts_faults = 0
        self.last_pts: int | None = None
        self.last_dts: int | None = None

    def __call__(self, frame: Any) -> int | None:
        pts = frame.pts if self.trust_pts else None
        dts = frame.dts
        if dts is not None:
            self.dts_faults += self.last_dts is not None and dts <= self.last_dts
            self.last_dts = dts
        if pts is not None:
            self.pts_faults += self.last_pts is not None and pts <= self.last_pts
            self.last_pts = pts
        if pts is not None and (self.pts_faults <= self.dts_faults or dts is None):
            return int(pts)
        return None if dts is None else int(dts)
