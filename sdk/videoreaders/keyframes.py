"""PyAV random access from verified keyframes, for files whose packets carry timestamps.

To decode frame ``i``, the reader seeks to the last keyframe whose timestamp is not after the
frame's (so open-GOP leading pictures, shown before their keyframe but depending on the GOP
before it, are decoded from that earlier GOP) and decodes forward, skipping frames that no
other frame references unless they are wanted. Every decoded frame is identified by its
timestamp in the packet table, never by counting, so a frame is either the right one or
reported missing.

A seek is checked before anything is decoded: demuxing must reach that exact keyframe packet.
Containers that seek imprecisely, MPEG-TS above all (FFmpeg's transport-stream seek often
lands a GOP late), land past it; the reader then seeks one keyframe earlier, then further
back, and demuxes forward (without decoding) to the keyframe, and as a last resort decodes
from the start of the file. Decoding always starts at that keyframe, and frames shown before
it are dropped, so a frame is never built from missing references.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.cores import usable_cores
from tubescope.errors import VideoError
from tubescope.videoreaders.base import Reader
from tubescope.videoreaders.pyav_io import decode, ffmpeg_reason, frame_stamp, open_container, packet_stamp, rgb
from tubescope.videoreaders.scan import PacketTable

# Decoders that decide whether to skip a frame (``skip_frame``) when its packet is decoded;
# others (libdav1d) decide when a frame comes out, often after later packets, so skipping
# could drop a wanted frame.
_SKIPS_PER_PACKET = frozenset({"h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "vp8", "vp9"})
# Streaming seeks (instead of decoding through) when the next wanted frame is this far ahead.
_SEEK_GAP_SECONDS = 2.0


def _workers() -> int:
    """Parallel decoders for random access: one per core, at most 4."""
    return max(1, min(4, usable_cores()))


class _Decoder:
    """One open container and the decoding position inside it."""

    def __init__(self, reader: KeyframeReader, *, threads: bool) -> None:
        self.reader = reader
        self.threads = threads
        self.container: Any = None
        self._open()

    def _open(self) -> None:
        if self.container is not None:
            self.container.close()
        self.container = open_container(self.reader.path)
        self.stream = self.container.streams.video[0]
        if self.threads:
            self.stream.thread_type = "AUTO"
        self.codec = self.stream.codec_context

    def close(self) -> None:
        if self.container is not None:
            self.container.close()
            self.container = None

    def start(self, gop: int) -> tuple[Iterator[Any], int | None]:
        """Packets from keyframe ``gop`` on (``gop < 0``: from the start of the file), and the
        timestamp below which decoded frames are dropped (None: keep all)."""
        keys = self.reader.keys
        if gop >= 0:
            key = int(keys[gop])
            for earlier in self._seek_candidates(gop):
                packets = self._seek_to(int(keys[earlier]), key)
                if packets is not None:
                    return packets, key
        self._open()  # the start of the file is the one place every container reaches
        return iter(self.container.demux(self.stream)), None

    @staticmethod
    def _seek_candidates(gop: int) -> Iterator[int]:
        step = 0
        while step < gop:
            yield gop - step
            step = 2 * step or 1
        yield 0

    def _seek_to(self, target: int, key: int) -> Iterator[Any] | None:
        """Seek to ``target`` and demux on to the keyframe packet stamped ``key``; None when
        the demuxer lands past it."""
        import av

        try:
            self.container.seek(target, stream=self.stream, backward=True)
        except av.FFmpegError:
            return None
        self.codec.flush_buffers()
        packets = iter(self.container.demux(self.stream))
        intra_only = self.reader.intra_only
        for packet in packets:
            if not packet.size or not packet.is_keyframe:
                continue
            stamp = packet_stamp(packet, intra_only)
            if stamp is None or stamp < key:
                continue
            if stamp == key:
                return chain([packet], packets)
            return None  # overshot
        return None

    def frames(self, packets: Iterator[Any], floor: int | None, wanted: set[int] | None = None) -> Iterator[tuple[int, Any]]:
        """``(index, frame)`` for each decoded frame of the table at or after ``floor``.

        With ``wanted``, frames no other frame references are skipped unless their packet is
        wanted.
        """
        import av

        reader, codec = self.reader, self.codec
        intra_only = reader.intra_only
        if codec.name not in _SKIPS_PER_PACKET:
            wanted = None
        try:
            for packet in packets:
                if wanted is not None and packet.size:
                    codec.skip_frame = "DEFAULT" if packet_stamp(packet, intra_only) in wanted else "NONREF"
                for frame in decode(codec, packet):
                    stamp = frame_stamp(frame, intra_only)
                    if stamp is None or (floor is not None and stamp < floor):
                        continue
                    index = reader.index_of(stamp)
                    if index is not None:
                        yield index, frame
        except av.FFmpegError as err:
            raise VideoError(reader.path, f"decoding failed ({ffmpeg_reason(err)}; corrupt or truncated?)") from None
        finally:
            if wanted is not None:
                codec.skip_frame = "DEFAULT"


class KeyframeReader(Reader):
    """Random access and streaming through PyAV, frames identified by their timestamps."""

    name = "pyav"

    def __init__(self, path: Path, table: PacketTable) -> None:
        assert table.stamps is not None and table.key_stamps is not None
        self.path = path
        self.table = table
        self.stamps = table.stamps
        self.keys = table.key_stamps
        self.intra_only = table.intra_only
        self.rotation = table.rotation
        self.width, self.height = table.width, table.height
        self.rate, self.times = table.rate, table.times
        self.codec, self.container = table.codec, table.container

    # ------------------------------------------------------------------ lookup
    def index_of(self, stamp: int) -> int | None:
        """Frame index of a decoded frame's timestamp (None when it is not a frame of the table)."""
        index = int(np.searchsorted(self.stamps, stamp))
        if index >= len(self.stamps) or self.stamps[index] != stamp:
            return None
        return index

    def gop_of(self, indices: np.ndarray) -> np.ndarray:
        """For each frame, the last keyframe shown at or before it (-1: none, decode from the start)."""
        return np.searchsorted(self.keys, self.stamps[indices], side="right") - 1

    # ------------------------------------------------------------------ random access
    def read(self, indices: np.ndarray) -> np.ndarray:
        gops = self.gop_of(indices)
        distinct = np.unique(gops)
        groups = [g for g in np.array_split(distinct, min(_workers(), len(distinct))) if len(g)]
        chunks = [indices[np.isin(gops, group)] for group in groups]
        found: dict[int, np.ndarray] = {}
        if len(chunks) == 1:
            found.update(self._decode_chunk(chunks[0]))
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                for part in pool.map(self._decode_chunk, chunks):
                    found.update(part)
        missing = [int(i) for i in indices if int(i) not in found]
        if missing:
            found.update(self._decode_from_start(np.asarray(missing, dtype=np.int64)))
        for index in indices:
            if int(index) not in found:
                raise self.missing(int(index))
        return np.stack([found[int(i)] for i in indices])

    def _decode_chunk(self, targets: np.ndarray) -> dict[int, np.ndarray]:
        """Decode the sorted ``targets`` GOP by GOP in one container of their own."""
        found: dict[int, np.ndarray] = {}
        gops = self.gop_of(targets)
        decoder = _Decoder(self, threads=False)
        try:
            for gop in np.unique(gops):
                if gop < 0:
                    continue  # before the first keyframe: left to _decode_from_start
                group = targets[gops == gop]
                packets, floor = decoder.start(int(gop))
                found.update(self._collect(decoder, packets, floor, group))
        finally:
            decoder.close()
        return found

    def _decode_from_start(self, targets: np.ndarray) -> dict[int, np.ndarray]:
        decoder = _Decoder(self, threads=True)
        try:
            packets, floor = decoder.start(-1)
            return self._collect(decoder, packets, floor, targets)
        finally:
            decoder.close()

    def _collect(self, decoder: _Decoder, packets: Iterator[Any], floor: int | None, group: np.ndarray) -> dict[int, np.ndarray]:
        wanted = {int(self.stamps[i]) for i in group}
        last = int(group[-1])
        found: dict[int, np.ndarray] = {}
        for index, frame in decoder.frames(packets, floor, wanted):
            if int(self.stamps[index]) in wanted:
                found[index] = rgb(frame, self.rotation)
            if index >= last or len(found) == len(group):
                break
        return found

    # ------------------------------------------------------------------ streaming
    def stream(self, indices: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        if not len(indices):
            return
        gap = _SEEK_GAP_SECONDS * float(self.rate)
        gops = self.gop_of(indices)
        decoder = _Decoder(self, threads=True)
        try:
            pending = 0
            while pending < len(indices):
                packets, floor = decoder.start(int(gops[pending]))
                for index, frame in decoder.frames(packets, floor):
                    if index < indices[pending]:
                        continue
                    if index > indices[pending]:
                        raise self.missing(int(indices[pending]))
                    yield index, rgb(frame, self.rotation)
                    pending += 1
                    if pending == len(indices):
                        return
                    if gops[pending] > self.gop_of(np.array([index]))[0] + 1 and indices[pending] - index > gap:
                        break  # far ahead: seek rather than decode the gap
                else:
                    raise self.missing(int(indices[pending]))  # the file ended first
        finally:
            decoder.close()
