"""The file extensions tubescope treats as videos, in one place.

Dataset runs look for videos with these extensions, annotation ids drop them, and the CCTV
folder source watches for them. Everything here is read by FFmpeg; the list names what people
actually have: MP4/MOV/M4V exports, Matroska and WebM, AVI, MPEG program and transport
streams (NVR and HLS exports: ``.ts``, ``.m2ts``, ``.mts``), Flash video, Windows Media and
Dahua ``.dav`` recordings.

Example:
    >>> is_video_file("cam1/20260301_101500.TS"), is_video_file("notes.txt")
    (True, False)
"""

from __future__ import annotations

import os

__all__ = ["VIDEO_EXTENSIONS", "is_video_file"]

#: lower-case extensions, dot included, most common first.
VIDEO_EXTENSIONS = (
    ".mp4",
    ".mkv",
    ".avi",
    ".mov",
    ".webm",
    ".m4v",
    ".ts",
    ".m2ts",
    ".mts",
    ".mpg",
    ".mpeg",
    ".flv",
    ".wmv",
    ".dav",
)


def is_video_file(name: str | os.PathLike[str]) -> bool:
    """Whether ``name`` ends in one of :data:`VIDEO_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(os.fspath(name))[1].lower() in VIDEO_EXTENSIONS
