"""Reading an events file back: every line, one folded event per id, what a restart must not repeat.

The file written by :class:`~tubescope.integrations.cctv.JSONLSink` holds one line per
``open`` / ``update`` / ``close`` of each event (see :mod:`~tubescope.integrations.cctv.lifecycle`).
:func:`read_events` returns the lines; :func:`fold_events` folds them into one event per
``event_id``: the line with the highest ``revision`` wins, and while an event has no
``close`` line yet its frames, boxes, windows and clips are those of its lines put together.

Example:
    >>> import os, tempfile
    >>> from datetime import datetime, timedelta, timezone
    >>> from tubescope.integrations.cctv import Event, JSONLSink
    >>> t0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> def line(state, revision, frames):
    ...     times = tuple(t0 + timedelta(seconds=f / 10) for f in frames)
    ...     return Event(source_id="gate", query="a van", start=t0, end=t0 + timedelta(seconds=1),
    ...                  score=0.9, frames=frames, positions=frames, times=times,
    ...                  boxes=((0, 0, 2, 2),) * len(frames), event_id="e1", state=state, revision=revision)
    >>> path = os.path.join(tempfile.mkdtemp(), "events.jsonl")
    >>> with JSONLSink(path) as sink:
    ...     sink.emit(line("open", 0, (0, 1)))
    ...     sink.emit(line("update", 1, (2, 3)))
    >>> [(e.state, e.revision, e.frames) for e in fold_events(path)]  # no close yet: lines joined
    [('update', 1, (0, 1, 2, 3))]
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from tubescope.errors import ValidationError
from tubescope.integrations.cctv.events import Event
from tubescope.integrations.cctv.lifecycle import Known

__all__ = ["read_events", "fold_events", "known_events"]

log = logging.getLogger("tubescope.cctv")


def read_events(path: str | os.PathLike[str]) -> list[Event]:
    """Every line of an events file (blank and torn lines are skipped; bad JSON objects raise).

    A torn line can only be the remains of a crash during a write, whose line was therefore
    never reported as written.
    """
    events = []
    text = Path(path).read_text(encoding="utf-8")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            log.warning("%s line %d: torn line skipped", path, number)
            continue
        try:
            events.append(Event.from_dict(data))
        except ValidationError as err:
            raise ValidationError(f"line {number}: {err}", str(path)) from None
    return events


def fold_events(lines: str | os.PathLike[str] | Iterable[Event]) -> list[Event]:
    """One event per ``event_id`` (in the order they opened), from an events file or its lines.

    The line with the highest revision gives the event's state, times and score. A ``close``
    line holds the whole tube; lines after the last ``close`` (only a restart writes them)
    and the lines of an event not closed yet add their frames, boxes, windows and clips.
    """
    if isinstance(lines, (str, os.PathLike)):
        lines = read_events(lines)
    folded: dict[str, Event] = {}
    for line in lines:
        old = folded.get(line.event_id)
        if old is not None and line.revision <= old.revision:
            continue  # written twice (an older tubescope restarted): the first one stands
        if old is not None and line.state != "close":
            line = replace(
                line,
                frames=old.frames + line.frames,
                positions=old.positions + line.positions,
                times=old.times + line.times,
                boxes=old.boxes + line.boxes,
                windows=old.windows + tuple(w for w in line.windows if w not in old.windows),
                clips=old.clips + tuple(c for c in line.clips if c not in old.clips),
            )
        folded[line.event_id] = line
    return list(folded.values())


def known_events(
    path: str | os.PathLike[str], *, offset: int = 0, file: str | None = None
) -> dict[str, Known]:
    """What the events file holds of each event, reading from byte ``offset`` on.

    With ``file``, only lines about a file of that name count (a folder source's
    re-processed file; the folder may be spelled differently after a restart). An offset past
    the end (the file was replaced) reads the whole file.
    """
    path = Path(path)
    if not path.exists():
        return {}
    known: dict[str, Known] = {}
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(offset if 0 <= offset <= size else 0)
        for raw in handle:
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a torn last line
            if not isinstance(data, dict) or "event_id" not in data:
                continue
            if file is not None and Path(data.get("file") or "").name != Path(file).name:
                continue
            revision = data.get("revision", 0)
            through = max(data.get("positions") or [-1])
            old = known.get(data["event_id"])
            if old is not None:
                through = max(through, old.through)
                if revision <= old.revision:
                    known[data["event_id"]] = replace(old, through=through)
                    continue
            known[data["event_id"]] = Known(
                revision=revision,
                state=data.get("state", "close"),
                reason=data.get("reason"),
                through=through,
            )
    return known
