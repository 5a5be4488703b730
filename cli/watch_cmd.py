"""``tubescope watch SOURCE --query ...``: standing queries on a camera, a recording or an NVR folder.

SOURCE is an ``rtsp://``/``rtsps://``/``http(s)://`` (HLS included) URL, a video file, or a
folder that an NVR exports clips into. Each event is written to the events file (JSON lines,
fsynced) as it happens: an ``open`` line at the end of its first confident window,
``update`` lines every ``--update-every`` seconds while it goes on, and a ``close`` line with
the whole tube (``--final-only``: the ``close`` line alone). With ``--clips``, every window
with a finding is also written as an annotated H.264 clip. A live status line on stderr shows
frames in, windows grounded, events, reconnects and dropped frames. Ctrl-C (or SIGTERM)
stops cleanly: the window being grounded finishes, open events are closed, files are closed;
a second Ctrl-C quits at once.

Everything that can be checked in milliseconds is checked before the model loads (minutes
for a 7B model): the arguments (each message names the one at fault), the queries, the output
paths, and the source itself (a short probe: a camera's address, stream path and credentials;
a readable video; a listable folder, its state file and whether ``--time-pattern`` matches
its first file). Every such error is one line on stderr and exit code 2.

Credentials: put them in the URL or, better, in an environment variable named by
``--credentials-env`` (``USER:PASSWORD``). They are never printed.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from tubescope.cli.values import TEXT, NonEmptyPath
from tubescope.errors import TubescopeError, ValidationError

# Internal test hook: with TUBESCOPE_TESTING=1, ``--model stub:MODULE:FACTORY`` builds the grounder
# by calling FACTORY() from MODULE (tests inject a stand-in grounder into a real subprocess).
_TEST_ENV = "TUBESCOPE_TESTING"


def _duration(ctx: click.Context, param: click.Parameter, value: Any) -> float | None:
    if value is None:
        return None
    from tubescope.integrations.cctv.windows import parse_duration

    flag = f"--{param.name.replace('_', '-')}"  # type: ignore[union-attr]
    try:
        return parse_duration(value, flag)
    except ValidationError as err:
        raise ValidationError(str(err).split(": ", 1)[-1], f"{flag} {value}") from None


def _given(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT)


def _shown(ctx: click.Context, name: str, value: float) -> str:
    """``--overlap 3s`` for a flag the user gave, ``--overlap (2s by default)`` otherwise."""
    flag = f"--{name.replace('_', '-')}"
    return f"{flag} {value:g}s" if _given(ctx, name) else f"{flag} ({value:g}s by default)"


def _longer(
    ctx: click.Context, short: str, short_value: float, long: str, long_value: float
) -> None:
    """Check ``short < long``; the message blames the flag the user gave (``short`` if both)."""
    if short_value < long_value:
        return
    if _given(ctx, short) or not _given(ctx, long):
        raise ValidationError(
            f"must be shorter than {_shown(ctx, long, long_value)}",
            f"--{short.replace('_', '-')} {short_value:g}s",
        )
    raise ValidationError(
        f"must be longer than {_shown(ctx, short, short_value)}; give a shorter --{short.replace('_', '-')} too",
        f"--{long.replace('_', '-')} {long_value:g}s",
    )


def _window_spec(
    ctx: click.Context,
    window: float,
    overlap: float,
    motion: bool,
    pre_roll: float,
    post_roll: float,
    sample_fps: float | None,
) -> Any:
    """The window spec; every inconsistency names the argument the user gave."""
    from tubescope.integrations.cctv import FixedWindows, MotionWindows

    if window <= 0:
        raise ValidationError("must be longer than 0 s", f"--window {window:g}s")
    if not motion:
        for name in ("pre_roll", "post_roll"):
            if _given(ctx, name):
                raise ValidationError("only applies with --motion", f"--{name.replace('_', '-')}")
        _longer(ctx, "overlap", overlap, "window", window)
        return FixedWindows(window, overlap, sample_fps=sample_fps)
    _longer(ctx, "pre_roll", pre_roll, "window", window)
    _longer(ctx, "overlap", overlap, "window", window)
    return MotionWindows(
        pre_roll=pre_roll,
        post_roll=post_roll,
        max_length=window,
        overlap=overlap,
        sample_fps=sample_fps,
    )


def _load_grounder(model: str, device: str, num_frames: int | None) -> Any:
    if model.startswith("stub:"):
        if os.environ.get(_TEST_ENV) != "1":
            raise ValidationError(
                f"'stub:' models are a test hook; set {_TEST_ENV}=1 to use one", "--model"
            )
        module_name, _, attr = model[len("stub:") :].partition(":")
        factory = getattr(importlib.import_module(module_name), attr or "make_grounder")
        return factory()
    from tubescope import Grounder
    from tubescope.cli.preflight import model_family

    model_family(model)  # config.json only: an unusable --model is named before weights load
    if num_frames is None:
        return Grounder(model, device=device)
    grounder = Grounder(model, device=device)
    return Grounder(grounder.backend, config=grounder.config.replace(num_frames=num_frames))


@click.command("watch")
@click.argument("source", type=TEXT)
@click.option(
    "-q",
    "--query",
    "queries",
    multiple=True,
    required=True,
    help="A standing query (repeat for several).",
)
@click.option("--model", type=TEXT, required=True, help="Model id or checkpoint directory for the Grounder.")
@click.option(
    "--window",
    "window",
    default="10s",
    callback=_duration,
    show_default=True,
    help="Window length (e.g. 10s); with --motion, the longest window.",
)
@click.option(
    "--overlap",
    default="2s",
    callback=_duration,
    show_default=True,
    help="Overlap of fixed windows.",
)
@click.option(
    "--motion", is_flag=True, help="Ground only around motion (MOG2) instead of fixed windows."
)
@click.option(
    "--pre-roll",
    default="2s",
    callback=_duration,
    show_default=True,
    help="Motion: seconds kept before motion.",
)
@click.option(
    "--post-roll",
    default="3s",
    callback=_duration,
    show_default=True,
    help="Motion: stillness that ends a window.",
)
@click.option(
    "--sample-fps",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Keep about this many frames per second in windows (default: all).",
)
@click.option(
    "--events",
    "events_path",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    default=Path("events.jsonl"),
    show_default=True,
    help="Events file (JSON lines, appended).",
)
@click.option(
    "--clips",
    "clips_dir",
    type=NonEmptyPath(file_okay=False, path_type=Path),
    default=None,
    help="Write an annotated clip of every window with events here.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Results scoring below this are not events.",
)
@click.option(
    "--source-id",
    type=TEXT,
    default=None,
    help="Name of the source in events (default: host/path, file or folder name).",
)
@click.option(
    "--credentials-env",
    type=TEXT,
    default=None,
    metavar="VAR",
    help="Environment variable holding the camera's USER:PASSWORD.",
)
@click.option(
    "--transport",
    type=click.Choice(["tcp", "udp"]),
    default="tcp",
    show_default=True,
    help="RTSP transport.",
)
@click.option(
    "--realtime", is_flag=True, help="Replay a video file at its own speed (as a camera would)."
)
@click.option("--once", is_flag=True, help="Folder: process what is there, then exit.")
@click.option(
    "--state-file",
    type=NonEmptyPath(dir_okay=False, path_type=Path),
    default=None,
    help="Folder: where to record processed files (default: FOLDER/.tubescope-state.json).",
)
@click.option(
    "--time-pattern",
    type=TEXT,
    default=None,
    help="strftime pattern of the start time in file names, e.g. %Y%m%d_%H%M%S.",
)
@click.option(
    "--tz",
    type=TEXT,
    default=None,
    help="Time zone of file-name times (IANA name or UTC; default: this machine's).",
)
@click.option(
    "--num-frames",
    type=click.IntRange(min=1),
    default=None,
    help="Frames the grounder samples per window.",
)
@click.option(
    "--update-every",
    default="10s",
    callback=_duration,
    show_default=True,
    help="Write an update line of a continuing event this often (seconds of video).",
)
@click.option(
    "--max-event",
    default="5min",
    callback=_duration,
    show_default=True,
    help="Longest event; a longer happening continues as a new event naming the previous one.",
)
@click.option(
    "--final-only",
    is_flag=True,
    help="One line per event, written at its close (a crash loses up to --max-event of findings).",
)
@click.option(
    "--settle",
    default="2s",
    callback=_duration,
    show_default=True,
    help="Folder: seconds a new file must stay unchanged before it is read.",
)
@click.option(
    "--probe/--no-probe",
    default=True,
    show_default=True,
    help="Check that the source can be read before loading the model (--no-probe: start anyway; a camera is retried).",
)
@click.option("--device", type=TEXT, default="auto", show_default=True, help="Where to run the model (auto, cpu, cuda, cuda:1, ...).")
@click.pass_context
def watch_command(
    ctx: click.Context,
    source: str,
    queries: tuple[str, ...],
    model: str,
    window: float,
    overlap: float,
    motion: bool,
    pre_roll: float,
    post_roll: float,
    sample_fps: float | None,
    events_path: Path,
    clips_dir: Path | None,
    min_score: float,
    source_id: str | None,
    credentials_env: str | None,
    transport: str,
    realtime: bool,
    once: bool,
    state_file: Path | None,
    time_pattern: str | None,
    tz: str | None,
    num_frames: int | None,
    update_every: float,
    max_event: float,
    final_only: bool,
    settle: float,
    probe: bool,
    device: str,
) -> None:
    """Ground standing QUERIES on SOURCE (camera URL, video file or NVR export folder) and log events."""
    from tubescope.cli.preflight import device_value
    from tubescope.cli.quiet import quiet_ffmpeg
    from tubescope.integrations.cctv import ClipSink, JSONLSink, Watcher, open_source
    from tubescope.integrations.cctv.preflight import check_queries, check_writable
    from tubescope.integrations.cctv.redact import redact_url
    from tubescope.integrations.cctv.sources.files import check_time_pattern, resolve_tz

    quiet_ffmpeg()
    # ---- everything cheap first: nothing below loads a model until the source answered
    query_list = check_queries(list(queries), "--query")
    if tz is not None:
        try:
            resolve_tz(tz)
        except ValueError as err:
            raise ValidationError(str(err), f"--tz {tz}") from None
    check_time_pattern(time_pattern, "--time-pattern")
    spec = _window_spec(ctx, window, overlap, motion, pre_roll, post_roll, sample_fps)
    if update_every <= 0:
        raise ValidationError("must be longer than 0 s", f"--update-every {update_every:g}s")
    if max_event < window:
        raise ValidationError(
            f"must be at least {_shown(ctx, 'window', window)}", f"--max-event {max_event:g}s"
        )
    device_value(device)
    check_writable(events_path, "--events")
    if clips_dir is not None:
        check_writable(clips_dir, "--clips", folder=True)
    if state_file is not None:
        check_writable(state_file, "--state-file")
    src = open_source(
        source,
        source_id=source_id,
        credentials_env=credentials_env,
        transport=transport,
        realtime=realtime or None,
        once=once or None,
        state_file=state_file,
        time_pattern=time_pattern,
        tz=tz,
        settle=settle,
    )
    shown = redact_url(source)
    if probe:
        for warning in _probe(src):
            click.echo(f"warning: {warning}", err=True)
    # ---- the expensive part
    click.echo(f"loading model {model} ...", err=True)
    grounder = _load_grounder(model, device, num_frames)
    sinks: list[Any] = [JSONLSink(events_path)]
    if clips_dir is not None:
        sinks.insert(0, ClipSink(clips_dir))
    watcher = Watcher(
        src,
        query_list,
        grounder,
        spec,
        sinks=sinks,
        min_score=min_score,
        update_every=update_every,
        max_event=max_event,
        final_only=final_only,
    )
    _run_with_status(watcher, shown)
    click.echo(_final_line(watcher.status, events_path, clips_dir), err=True)
    error = watcher.error
    if error is not None:
        if isinstance(error, TubescopeError):
            raise error
        raise click.ClickException(f"{type(error).__name__}: {error}")


def _final_line(status: Any, events_path: Path, clips_dir: Path | None) -> str:
    """What the watch did, in one line (``1 event``, ``2 events``, ...).

    Example:
        >>> from types import SimpleNamespace
        >>> status = SimpleNamespace(state="ended", frames_in=1, windows_grounded=1, events=1,
        ...                          event_lines=2, frames_dropped=0, reconnects=1)
        >>> _final_line(status, Path("e.jsonl"), None)
        'ended: 1 frame, 1 window grounded, 1 event (2 lines) -> e.jsonl, 1 reconnect'
    """
    from tubescope.plural import counted

    return (
        f"{status.state}: {counted(status.frames_in, 'frame')}, "
        f"{counted(status.windows_grounded, 'window')} grounded, "
        f"{counted(status.events, 'event')} ({counted(status.event_lines, 'line')}) -> {events_path}"
        + (f", clips in {clips_dir}" if clips_dir else "")
        + (f", {counted(status.frames_dropped, 'frame')} dropped" if status.frames_dropped else "")
        + (f", {counted(status.reconnects, 'reconnect')}" if status.reconnects else "")
    )


def _probe(source: Any) -> list[str]:
    """The source's probe; an unreachable camera's message says how to start anyway."""
    from tubescope.integrations.cctv import SourceConnectionError, SourceTimeoutError

    try:
        return source.probe()
    except (SourceConnectionError, SourceTimeoutError) as err:
        raise type(err)(
            err.source,
            f"{err.problem}; check the address, or start anyway with --no-probe (it keeps retrying)",
        ) from None


def _status_text(watcher: Any, shown: str) -> str:
    status = watcher.status
    text = f"{shown} | {status.line()}"
    if status.last_error and status.source_state in ("connecting", "reconnecting", "failed"):
        text += f" | last error: {status.last_error[:120]}"
    return text


def _run_with_status(watcher: Any, shown: str) -> None:
    """Run the watcher with a live status line; Ctrl-C/SIGTERM stop it cleanly.

    The first Ctrl-C stops the watcher (the window being grounded finishes, held events are
    written, files are closed); a second one quits at once.
    """
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(stderr=True)
    interrupted = threading.Event()
    handler = _log_to(console, watcher)

    def on_term(signum: int, frame: Any) -> None:  # SIGTERM behaves like Ctrl-C
        raise KeyboardInterrupt

    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, on_term)

    def first_interrupt() -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()
        message = "stopping: finishing the current window (Ctrl-C again to quit now)"
        if console.is_terminal:
            console.print(message)
        else:
            print(message, file=sys.stderr, flush=True)
        threading.Thread(target=watcher.stop, daemon=True).start()

    watcher.start()
    last_plain = 0.0
    try:
        if console.is_terminal:
            with Live(
                Text(_status_text(watcher, shown)), console=console, refresh_per_second=4
            ) as live:
                while True:
                    try:
                        while not watcher.join(0.25):
                            live.update(Text(_status_text(watcher, shown)))
                        live.update(Text(_status_text(watcher, shown)))
                        break
                    except KeyboardInterrupt:
                        first_interrupt()
        else:
            while True:
                try:
                    while not watcher.join(0.25):
                        if time.monotonic() - last_plain >= 5.0:
                            last_plain = time.monotonic()
                            print(_status_text(watcher, shown), file=sys.stderr, flush=True)
                    break
                except KeyboardInterrupt:
                    first_interrupt()
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if handler is not None:
            logging.getLogger("tubescope").removeHandler(handler)


def _log_to(console: Any, watcher: Any) -> logging.Handler | None:
    """Show tubescope warnings above the status line (unless the user configured logging)."""
    from rich.logging import RichHandler
    from tubescope.integrations.cctv.redact import RedactingFilter

    logger = logging.getLogger("tubescope")
    if logging.getLogger().handlers or logger.handlers:
        return None
    handler = RichHandler(console=console, show_path=False, markup=False, rich_tracebacks=False)
    handler.setLevel(logging.WARNING)
    handler.addFilter(RedactingFilter(getattr(watcher.source, "_secrets", lambda: ())()))
    logger.addHandler(handler)
    return handler
