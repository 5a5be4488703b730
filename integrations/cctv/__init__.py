"""CCTV integration: standing natural-language queries on cameras, recordings and NVR exports.

Point a :class:`Watcher` at a source, give it sentences and a grounder; it cuts the video
into windows, grounds every window against every query (one ``ground_many`` call per
window), and writes each confident finding as it happens: an :class:`Event` line
``open`` at the end of its first confident window, ``update`` lines while it goes on and a
``close`` line with the whole tube (:mod:`.lifecycle`, :class:`EventTracker`): source,
query, UTC start and end, per-frame boxes, score and annotated clips. Read the events file
back with :func:`read_events` (lines) or :func:`fold_events` (one event per id).

Sources (:mod:`.sources`, a registry of kinds: :func:`source_kinds`): :class:`StreamSource` (RTSP/RTSPS/HTTP(S)/HLS through PyAV, TCP,
timeouts, reconnect with backoff and jitter, stall watchdog, credentials redacted
everywhere), :class:`FileSource` (a recording, real time or as fast as possible),
:class:`FolderSource` (an NVR export folder, each settled file processed once, resumable),
:class:`IterableSource` (any iterable of frames). Windows (:mod:`.windows`):
:class:`FixedWindows` and motion-gated :class:`MotionWindows`. Sinks (:mod:`.sinks`):
:class:`JSONLSink`, :class:`ClipSink`, :class:`CallbackSink`. The command line is
``tubescope watch``.

Example:
    >>> from tubescope.integrations.cctv import Watcher, FixedWindows, JSONLSink, ClipSink
    >>> # from tubescope import Grounder
    >>> # watcher = Watcher("rtsp://192.0.2.10/stream1", ["a person climbs the fence"],
    >>> #                   Grounder("Qwen/Qwen2-VL-7B-Instruct"), FixedWindows("10s", "2s"),
    >>> #                   sinks=[JSONLSink("events.jsonl"), ClipSink("clips")])
    >>> # watcher.run()  # until Ctrl-C
"""

from __future__ import annotations

from tubescope.integrations.cctv.buffers import WindowQueue
from tubescope.integrations.cctv.errors import (
    SourceAuthError,
    SourceConnectionError,
    SourceError,
    SourceNotFoundError,
    SourceTimeoutError,
    StateFileError,
    WatchError,
)
from tubescope.integrations.cctv.eventlog import fold_events, known_events, read_events
from tubescope.integrations.cctv.events import CLOSE_REASONS, STATES, Event, events_from_results
from tubescope.integrations.cctv.lifecycle import EventTracker, Known
from tubescope.integrations.cctv.motion import MotionDetector
from tubescope.integrations.cctv.redact import RedactingFilter, redact, redact_url
from tubescope.integrations.cctv.sinks import CallbackSink, ClipSink, JSONLSink, Sink
from tubescope.integrations.cctv.sources import (
    SOURCE_KINDS,
    Backoff,
    FileSource,
    FolderSource,
    IterableSource,
    LiveFrame,
    Source,
    SourceStats,
    StreamSource,
    open_source,
    source_kinds,
)
from tubescope.integrations.cctv.watcher import GrounderLike, Watcher, WatchStatus
from tubescope.integrations.cctv.windows import FixedWindows, MotionWindows, Window, parse_duration

__all__ = [
    "Backoff",
    "CLOSE_REASONS",
    "CallbackSink",
    "ClipSink",
    "Event",
    "EventTracker",
    "FileSource",
    "FixedWindows",
    "FolderSource",
    "GrounderLike",
    "IterableSource",
    "JSONLSink",
    "Known",
    "LiveFrame",
    "MotionDetector",
    "MotionWindows",
    "RedactingFilter",
    "SOURCE_KINDS",
    "STATES",
    "Sink",
    "Source",
    "SourceAuthError",
    "SourceConnectionError",
    "SourceError",
    "SourceNotFoundError",
    "SourceStats",
    "SourceTimeoutError",
    "StateFileError",
    "WatchError",
    "StreamSource",
    "WatchStatus",
    "Watcher",
    "Window",
    "WindowQueue",
    "events_from_results",
    "fold_events",
    "known_events",
    "open_source",
    "parse_duration",
    "read_events",
    "redact",
    "redact_url",
    "source_kinds",
]
