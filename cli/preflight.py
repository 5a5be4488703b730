"""Checks the commands run before anything expensive (a model load, a whole video decoded).

Each check raises a one-line :class:`~tubescope.errors.TubescopeError` that names the flag
at fault (``--model``, ``--device``, ``--frames``, ``--out``), so that a mistake costs
milliseconds, not a model load followed by a traceback.

Example:
    >>> import os, tempfile
    >>> from tubescope.errors import ValidationError
    >>> folder = tempfile.mkdtemp()
    >>> video_output_file(os.path.join(folder, "new", "r.mp4"), "--render")
    >>> try:
    ...     video_output_file(os.path.join(folder, "r.json"), "--render")
    ... except ValidationError as err:
    ...     print(str(err).replace(folder, "DIR"))
    --render DIR/r.json: the extension '.json' is not a video container tubescope writes; use .mp4, .mkv, .mov, .m4v
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tubescope.errors import TubescopeError, ValidationError

__all__ = [
    "video_output_file",
    "model_family",
    "device_value",
    "enough_frames",
    "flagged",
    "RENDER_EXTENSIONS",
]

#: Containers the H.264 rendering can be written in (the extension picks the container).
RENDER_EXTENSIONS = (".mp4", ".mkv", ".mov", ".m4v")


def flagged(err: TubescopeError, flag: str) -> ValidationError:
    """``err`` as a :class:`ValidationError` that starts with ``flag`` (its first line only)."""
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ValidationError(text, flag)


def video_output_file(path: str | os.PathLike[str], flag: str) -> None:
    """Check that ``path`` can be written as an annotated H.264 video: its extension and its
    folder (missing folders are created when writing)."""
    from tubescope.durable import check_writable

    suffix = Path(path).suffix.lower()
    if suffix not in RENDER_EXTENSIONS:
        raise ValidationError(
            f"the extension {suffix or '(none)'!r} is not a video container tubescope writes; "
            f"use {', '.join(RENDER_EXTENSIONS)}",
            f"{flag} {path}",
        )
    check_writable(path, flag)


def model_family(model: str, flag: str = "--model") -> str:
    """The family of checkpoint ``model`` from its ``config.json`` (no weights are loaded);
    the errors name ``flag`` (:func:`tubescope.hub.checkpoint_family`)."""
    from tubescope.hub import checkpoint_family

    return checkpoint_family(model, what=flag)


def device_value(device: str, flag: str = "--device") -> Any:
    """The torch device ``device`` names; an error names ``flag`` and the devices available."""
    from tubescope.engine.backends.loading import resolve_device

    try:
        return resolve_device(device)
    except ValidationError as err:
        raise ValidationError(err.problem, f"{flag} {device}") from None


def enough_frames(video: Any, count: int, flag: str, given: bool) -> None:
    """Check that ``video`` has at least the ``count`` frames the model is shown.

    ``given`` says whether the user set ``flag`` (else ``count`` is the preset's).
    """
    have = int(video.frame_count)
    if have >= count:
        return
    from tubescope.plural import counted

    shown = f"{flag} {count}" if given else f"{flag} ({count} by default)"
    raise ValidationError(
        f"{video.path or 'the video'} has {counted(have, 'frame')}, fewer than the frames "
        f"the model is shown; give {flag} {have} or fewer",
        shown,
    )
