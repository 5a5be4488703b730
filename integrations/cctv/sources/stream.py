"""Network cameras and streams: RTSP, RTSPS, HTTP(S) (MJPEG, MPEG-TS, FLV, ...) and HLS, via PyAV.

Behaviour on a live stream:

- **Transport**: RTSP runs over TCP by default (passes NAT and firewalls, no UDP loss
  artefacts); ``transport="udp"`` is available.
- **Timeouts**: opening (connect + stream probe) gives up after ``open_timeout`` seconds;
  each read gives up after ``read_timeout`` seconds (PyAV's interrupt callback, so a frozen
  camera cannot block a thread forever).
- **Watchdog**: if no frame is decoded for ``stall_timeout`` seconds although packets keep
  coming (a broken decoder, a stream that only sends audio or keep-alives), the connection
  is treated as dead.
- **Disconnects**: an end of stream on a live source, a read error, a read timeout and a
  watchdog trip all mean "disconnected": the source closes the connection and reconnects
  with exponential backoff and jitter (:class:`Backoff`), for ever unless ``max_retries``
  consecutive attempts fail. Each connection is a new *segment*: media time restarts and
  width, height and fps are read again. No frame is ever invented to fill a gap.
- **Credentials** come from the URL (``rtsp://user:pass@host/...``) or from an environment
  variable named by ``credentials_env`` holding ``user:password`` (or just ``password``,
  with the user in the URL). They are only put into the URL handed to FFmpeg; the source's
  ``repr``, ``source_id``, stats, log lines and error messages never contain them.
- **Wall clock**: with ``clock="auto"`` a frame's UTC time comes from the RTCP sender
  reports (FFmpeg's ``start_time_realtime``) when the camera sends them and its clock is
  within ``max_clock_skew`` seconds of ours; otherwise from the host clock when the first
  frame of the connection arrived, plus the frames' media time. ``clock="receive"`` always
  uses the host clock. ``stats.time_source`` says which was used.

Example:
    >>> from tubescope.integrations.cctv import StreamSource
    >>> cam = StreamSource("rtsp://admin:s3cret@192.0.2.10:554/stream1", source_id="gate")
    >>> cam
    StreamSource('gate', url='rtsp://***@192.0.2.10:554/stream1', state='idle')
    >>> cam.stop()  # always safe, even before it ever connected
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from fractions import Fraction
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.errors import (
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceNotFoundError,
    SourceTimeoutError,
)
from tubescope.integrations.cctv.redact import redact, redact_url
from tubescope.integrations.cctv.sources.base import (
    Backoff,
    LiveFrame,
    MediaClock,
    Source,
    utc_now,
    wallclock_at,
)
from tubescope.videowrite import as_fraction

__all__ = ["StreamSource", "STREAM_SCHEMES", "stream_id"]

log = logging.getLogger("tubescope.cctv")

#: URL schemes :class:`StreamSource` accepts.
STREAM_SCHEMES = ("rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "srt", "udp", "tcp")
_DEFAULT_FPS = Fraction(25)


def stream_id(url: str) -> str:
    """A short, credential-free name for a stream: ``host[:port]/path``.

    Example:
        >>> stream_id("rtsp://admin:pw@10.0.0.7:554/Streaming/Channels/101?transport=tcp")
        '10.0.0.7:554/Streaming/Channels/101'
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{host}{parts.path}" or redact_url(url)


def _has_duration(container: Any) -> bool:
    """True when the container declares a finite duration (a recording, not a live stream)."""
    duration = getattr(container, "duration", None)
    return duration is not None and duration > 0


class _Disconnected(Exception):
    """Internal: the current connection is gone (reason in args[0], already redacted)."""


class StreamSource(Source, kind="stream", priority=10):
    """A live network stream read with PyAV, reconnecting on failure.

    Args:
        url: ``rtsp://``, ``rtsps://``, ``http(s)://`` (including HLS ``.m3u8``) or another
            FFmpeg network URL. Credentials may be in it.
        source_id: name used in events and logs (default: ``host:port/path``).
        transport: RTSP transport, ``"tcp"`` (default) or ``"udp"``.
        open_timeout: seconds allowed for connecting and probing the stream.
        read_timeout: seconds one read may block.
        stall_timeout: seconds without a decoded frame before the watchdog reconnects.
        backoff: reconnect delays (default 0.5 s doubling to 30 s, ±25 % jitter).
        max_retries: consecutive failed connection attempts before giving up (None: never).
        credentials_env: name of an environment variable with ``user:password`` or
            ``password``; read at each connect, never stored in the object's repr.
        clock: ``"auto"`` (RTCP sender reports when sane, else receive time) or ``"receive"``.
        max_clock_skew: seconds the camera clock may differ from ours before ``"auto"``
            falls back to receive time.
        options: extra FFmpeg demuxer/protocol options (strings), merged over the defaults.
        live: whether an end of stream means "disconnected" (True) or "the recording is over"
            (False). None (default) decides per connection: streams that declare a duration
            (an HLS VOD playlist, an MP4 over HTTP) end; RTSP and live HLS reconnect.

    Raises (from iteration):
        SourceAuthError / SourceNotFoundError: on the *first* connection (retrying cannot
            help); later, the same failures are retried like any disconnect.
        SourceError: after ``max_retries`` consecutive failed attempts.
    """

    is_live = True
    schemes = STREAM_SCHEMES

    @classmethod
    def accepts(cls, spec: str) -> bool:
        """A URL with a stream scheme (``rtsp://``, ``http(s)://``, ...)."""
        return "://" in spec and urlsplit(spec).scheme.lower() in STREAM_SCHEMES

    def __init__(
        self,
        url: str,
        *,
        source_id: str | None = None,
        transport: str = "tcp",
        open_timeout: float = 10.0,
        read_timeout: float = 5.0,
        stall_timeout: float = 10.0,
        backoff: Backoff | None = None,
        max_retries: int | None = None,
        credentials_env: str | None = None,
        clock: str = "auto",
        max_clock_skew: float = 300.0,
        options: dict[str, str] | None = None,
        live: bool | None = None,
    ) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme not in STREAM_SCHEMES:
            raise SourceError(
                url,
                f"not a stream URL (scheme {scheme or 'missing'!r}; expected one of {', '.join(STREAM_SCHEMES)})",
            )
        if transport not in ("tcp", "udp"):
            raise ValidationError(f"transport must be 'tcp' or 'udp', got {transport!r}")
        if clock not in ("auto", "receive"):
            raise ValidationError(f"clock must be 'auto' or 'receive', got {clock!r}")
        for name, value in (
            ("open_timeout", open_timeout),
            ("read_timeout", read_timeout),
            ("stall_timeout", stall_timeout),
        ):
            if value <= 0:
                raise ValidationError(f"{name} must be positive, got {value}")
        super().__init__(source_id or stream_id(url))
        self._url = url  # may hold credentials: never printed
        self.url = redact_url(url)
        self.scheme = scheme
        self.transport = transport
        self.open_timeout = float(open_timeout)
        self.read_timeout = float(read_timeout)
        self.stall_timeout = float(stall_timeout)
        self.backoff = backoff or Backoff()
        self.max_retries = max_retries
        self.credentials_env = credentials_env
        self.clock = clock
        self.max_clock_skew = float(max_clock_skew)
        self.extra_options = dict(options or {})
        self.live = live
        self._rng = random.Random()
        self._container: Any = None

    # ------------------------------------------------------------------ credentials
    def _secrets(self) -> tuple[str, ...]:
        """Every credential string this source knows (to scrub from messages)."""
        found = []
        parts = urlsplit(self._url)
        for value in (parts.username, parts.password):
            if value:
                found += [value, unquote(value)]
        if self.credentials_env:
            value = os.environ.get(self.credentials_env, "")
            if value:
                found.append(value)
                found += [piece for piece in value.split(":", 1) if piece]
        return tuple(dict.fromkeys(found))

    def _open_url(self) -> str:
        """The URL with credentials from ``credentials_env`` put in (the real one FFmpeg gets)."""
        if not self.credentials_env:
            return self._url
        value = os.environ.get(self.credentials_env)
        if value is None:
            raise SourceAuthError(
                self.url,
                f"environment variable {self.credentials_env} (camera credentials) is not set",
            )
        parts = urlsplit(self._url)
        if ":" in value:
            user, password = value.split(":", 1)
        else:
            user, password = unquote(parts.username or ""), value
        if not user:
            raise SourceAuthError(
                self.url,
                f"environment variable {self.credentials_env} holds only a password and the URL names no user; "
                "use USER:PASSWORD",
            )
        host = parts.hostname or ""
        if ":" in host:  # IPv6 literal
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
        netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@{host}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    def _options(self) -> dict[str, str]:
        micros = str(int(self.read_timeout * 1_000_000))
        options: dict[str, str] = {}
        if self.scheme in ("rtsp", "rtsps"):
            options["rtsp_transport"] = "tcp" if self.scheme == "rtsps" else self.transport
            options["timeout"] = micros  # socket I/O timeout (FFmpeg >= 5 name; µs)
        elif self.scheme in ("http", "https"):
            options["rw_timeout"] = micros
        options.update(self.extra_options)
        return options

    # ------------------------------------------------------------------ errors
    def _classify(self, err: BaseException, during: str) -> SourceError:
        """A typed, redacted error for an FFmpeg/PyAV failure."""
        import av

        secrets = self._secrets()
        reason = getattr(err, "strerror", None) or str(err) or type(err).__name__
        reason = redact(reason, secrets)
        if isinstance(
            err, (av.error.HTTPUnauthorizedError, av.error.HTTPForbiddenError, PermissionError)
        ):
            return SourceAuthError(
                self.url, f"{during}: the server rejected the credentials ({reason})", secrets
            )
        if isinstance(err, (av.error.HTTPNotFoundError, FileNotFoundError)):
            return SourceNotFoundError(
                self.url, f"{during}: no such stream on the server ({reason})", secrets
            )
        if isinstance(err, (av.error.ExitError, TimeoutError)):
            return SourceTimeoutError(self.url, f"{during}: no answer in time ({reason})", secrets)
        if isinstance(err, (ConnectionError, OSError)) and getattr(err, "errno", None) is not None:
            return SourceConnectionError(self.url, f"{during}: {reason}", secrets)
        return SourceError(self.url, f"{during}: {reason}", secrets)

    # ------------------------------------------------------------------ main loop
    def frames(self) -> Iterator[LiveFrame]:
        """Yield frames, reconnecting as needed, until :meth:`stop` (or ``max_retries``)."""
        attempt = 0  # consecutive failed attempts
        connected_before = False
        segment = -1
        while not self._stop.is_set():
            self.stats.state = "reconnecting" if connected_before else "connecting"
            try:
                container = self._open()
            except SourceError as err:
                if self._stop.is_set():
                    break
                self._error(str(err))
                self.stats.failed_attempts += 1
                fatal = (
                    isinstance(err, (SourceAuthError, SourceNotFoundError)) and not connected_before
                )
                if fatal or (self.max_retries is not None and attempt + 1 >= self.max_retries):
                    self.stats.state = "failed"
                    log.error("%s", err)
                    raise
                delay = self.backoff.delay(attempt, self._rng)
                attempt += 1
                log.warning("%s; retrying in %.1f s (attempt %d)", err, delay, attempt + 1)
                if self._stop.wait(delay):
                    break
                continue
            if self._stop.is_set():
                self._close(container)
                break
            segment += 1
            if connected_before:
                self.stats.reconnects += 1
                log.info("%s: reconnected (segment %d)", self.url, segment)
            else:
                log.info("%s: connected", self.url)
            connected_before = True
            self.stats.segments += 1
            got_frames = False
            reason = "end of stream"
            ended = False
            finite = self.live is False or (self.live is None and _has_duration(container))
            try:
                for frame in self._read(container, segment):
                    if not got_frames:
                        got_frames = True
                        attempt = 0
                        self.stats.state = "running"
                    yield frame
                    if self._stop.is_set():
                        break
                else:
                    ended = finite and got_frames
            except _Disconnected as lost:
                reason = str(lost)
            finally:
                self._close(container)
            if got_frames:
                self._end_segment(segment)
            if self._stop.is_set():
                break
            if ended:  # a recording served over the network (HLS VOD, HTTP file) played to its end
                log.info("%s: end of the recording", self.url)
                self.stats.state = "ended"
                return
            self.stats.disconnects += 1
            self._error(f"{self.url}: disconnected ({reason})")
            delay = self.backoff.delay(attempt, self._rng)
            if not got_frames:
                attempt += 1  # connected but nothing came: back off further next time
            log.warning("%s: disconnected (%s); reconnecting in %.1f s", self.url, reason, delay)
            self.stats.state = "reconnecting"
            if self._stop.wait(delay):
                break
        if self.stats.state != "failed":
            self.stats.state = "stopped"

    def probe(self, timeout: float | None = None) -> list[str]:
        """Connect once (credentials, stream path, a video track) and hang up; errors are typed.

        ``timeout`` caps the open timeout for this one attempt.
        """
        open_timeout = self.open_timeout if timeout is None else min(self.open_timeout, timeout)
        self._close(self._open(open_timeout))
        return []

    def _open(self, open_timeout: float | None = None) -> Any:
        import av

        url = self._open_url()
        try:
            container = av.open(
                url,
                options=self._options(),
                timeout=(open_timeout or self.open_timeout, self.read_timeout),
            )
        except av.FFmpegError as err:
            raise self._classify(err, "cannot open") from None
        except OSError as err:  # pragma: no cover - PyAV maps errors to FFmpegError subclasses
            raise self._classify(err, "cannot open") from None
        if not container.streams.video:
            container.close()
            raise SourceError(self.url, "the stream has no video track", self._secrets())
        self._container = container
        return container

    def _close(self, container: Any) -> None:
        self._container = None
        try:
            container.close()
        except Exception:  # noqa: BLE001 - a dead connection may fail to close cleanly
            pass

    def _fps(self, stream: Any) -> Fraction:
        for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
            if rate and 0 < float(rate) <= 240:
                return as_fraction(Fraction(rate.numerator, rate.denominator))
        log.warning(
            "%s: the stream declares no usable frame rate; assuming %s fps", self.url, _DEFAULT_FPS
        )
        return _DEFAULT_FPS

    def _read(self, container: Any, segment: int) -> Iterator[LiveFrame]:
        import av

        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = self._fps(stream)
        self.stats.fps = fps
        self.stats.width = stream.codec_context.width or None
        self.stats.height = stream.codec_context.height or None
        time_base = stream.time_base
        clock = MediaClock(fps)
        anchor = _Anchor(self, container, stream, fps)
        last_frame_at = time.monotonic()
        position = 0
        lost: _Disconnected | None = None
        try:
            for packet in container.demux(stream):
                if self._stop.is_set():
                    return
                if time.monotonic() - last_frame_at > self.stall_timeout:
                    raise _Disconnected(f"watchdog: no frame for {self.stall_timeout:g} s")
                try:
                    decoded = self._decode(packet)
                except av.error.InvalidDataError:
                    continue  # a damaged packet: skip it, the watchdog catches a dead decoder
                for vframe in decoded:
                    stamp = (
                        None if vframe.pts is None or time_base is None else vframe.pts * time_base
                    )
                    media = clock.time_of(stamp)
                    image = vframe.to_ndarray(format="rgb24")
                    self.stats.width, self.stats.height = image.shape[1], image.shape[0]
                    last_frame_at = time.monotonic()
                    for held_media, held_image in anchor.offer(media, stamp, image):
                        yield self._frame(
                            held_image,
                            held_media,
                            anchor.wallclock(held_media),
                            segment,
                            position,
                            fps,
                        )
                        position += 1
        except av.FFmpegError as err:
            if self._stop.is_set():
                return
            lost = _Disconnected(str(self._classify(err, "read failed").problem))
        except _Disconnected as err:
            lost = err
        # frames still held while the clock was settling go out before the segment ends
        for held_media, held_image in [] if self._stop.is_set() else anchor.release():
            yield self._frame(
                held_image, held_media, anchor.wallclock(held_media), segment, position, fps
            )
            position += 1
        if lost is not None:
            raise lost

    @staticmethod
    def _decode(packet: Any) -> list[Any]:
        """Decode one packet (a seam for tests that simulate a decoder producing nothing)."""
        return packet.decode()

    def _frame(
        self,
        image: Any,
        media: Fraction,
        wallclock: datetime,
        segment: int,
        position: int,
        fps: Fraction,
    ) -> LiveFrame:
        frame = LiveFrame(
            index=self.stats.frames,
            time=float(media),
            image=image,
            wallclock=wallclock,
            source_id=self.source_id,
            segment=segment,
            position=position,
            fps=fps,
        )
        self.stats.frames += 1
        return frame

    def stop(self) -> None:
        """Stop: the reader returns within ``read_timeout`` (at once during a backoff wait)."""
        super().stop()

    def __repr__(self) -> str:
        return f"StreamSource({self.source_id!r}, url={self.url!r}, state={self.stats.state!r})"


class _Anchor:
    """Finds the wall clock of media time 0 for one connection.

    RTCP first: FFmpeg's ``start_time_realtime`` (the camera's clock at the stream start),
    used when it is known and within ``max_clock_skew`` of the host clock. Otherwise the host
    clock, corrected for the connect burst: while FFmpeg probes a new stream it buffers a
    second or more of frames, which then arrive all at once. ``receive time - media time`` of
    a frame is an upper bound of the true anchor; during the burst it keeps dropping by about
    one frame interval per frame, and once frames arrive at their natural pace it stops
    dropping. Frames are held (at most ``HOLD_SECONDS`` of them, and ``HOLD_BYTES``) until then,
    so every frame of the connection gets the same, settled anchor.
    """

    HOLD_SECONDS = 6.0
    HOLD_BYTES = 256 * 1024 * 1024

    def __init__(self, source: StreamSource, container: Any, stream: Any, fps: Fraction) -> None:
        self.source = source
        self.container = container
        self.stream = stream
        self.step = float(1 / fps)
        self.max_held = max(2, round(self.HOLD_SECONDS * float(fps)))
        self.anchor: datetime | None = None
        self.best: datetime | None = None
        self.held: list[tuple[Fraction, Any]] = []
        self.held_bytes = 0
        self.first_stamp: Fraction | None = None
        self.first_media: Fraction | None = None

    def _rtcp(self, received: datetime) -> datetime | None:
        realtime = self.container.start_time_realtime
        start, base = self.stream.start_time, self.stream.time_base
        if realtime is None or start is None or base is None or self.first_media is None:
            return None
        # a first frame without pts is the one that starts the stream
        stamp = self.first_stamp if self.first_stamp is not None else start * base
        camera = datetime.fromtimestamp(realtime / 1_000_000, tz=timezone.utc)
        first_wall = wallclock_at(camera, stamp - start * base)
        # held frames arrived late by up to the hold time, so allow for that on one side
        skew = (first_wall - received).total_seconds()
        if (
            not -self.source.max_clock_skew - self.HOLD_SECONDS
            <= skew
            <= self.source.max_clock_skew
        ):
            if not getattr(self, "_warned", False):
                self._warned = True
                log.warning(
                    "%s: the camera clock is %.0f s off the host clock; using receive time",
                    self.source.url,
                    skew,
                )
            return None
        return wallclock_at(first_wall, -self.first_media)

    def offer(
        self, media: Fraction, stamp: Fraction | None, image: Any
    ) -> list[tuple[Fraction, Any]]:
        """Add a decoded frame; returns the frames that can now be stamped, oldest first."""
        if self.anchor is not None:
            return [(media, image)]
        received = utc_now()
        if self.first_media is None:
            self.first_media, self.first_stamp = media, stamp
        self.held.append((media, image))
        self.held_bytes += getattr(image, "nbytes", 0)
        if self.source.clock == "auto":
            rtcp = self._rtcp(received)
            if rtcp is not None:
                self.source.stats.time_source = "rtcp"
                return self._settle(rtcp)
        estimate = wallclock_at(received, -media)
        improving = self.best is None or (self.best - estimate).total_seconds() > self.step / 2
        if self.best is None or estimate < self.best:
            self.best = estimate
        if improving and len(self.held) < self.max_held and self.held_bytes < self.HOLD_BYTES:
            return []  # still in the burst (or the first frame): wait for the pace to settle
        self.source.stats.time_source = "receive"
        assert self.best is not None
        return self._settle(self.best)

    def _settle(self, anchor: datetime) -> list[tuple[Fraction, Any]]:
        self.anchor = anchor
        held, self.held, self.held_bytes = self.held, [], 0
        return held

    def release(self) -> list[tuple[Fraction, Any]]:
        """The frames still held when the connection ends (stamped with the best estimate)."""
        if not self.held:
            return []
        if self.anchor is None:
            self.source.stats.time_source = "receive"
            assert self.best is not None
            self.anchor = self.best
        held, self.held, self.held_bytes = self.held, [], 0
        return held

    def wallclock(self, media: Fraction) -> datetime:
        assert self.anchor is not None
        return wallclock_at(self.anchor, media)
