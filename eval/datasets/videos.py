"""Video-file resolution: a dataset's video id -> its file under a ``--videos`` folder.

The rules are those of :class:`~tubescope.eval.datasets.VideoLayout`: the id as given when it
already ends with a video extension, else ``<root>/<id><ext>`` for every extension of
:data:`tubescope.formats.VIDEO_EXTENSIONS`, else (``nested`` layouts) any file with that stem
in a sub-directory at any depth. The sub-directory index is built once, on the first id that
is not found flat. No match, or two, is a :class:`~tubescope.errors.VideoError` naming them.

Example:
    >>> import os, tempfile
    >>> from tubescope.eval.datasets import get_dataset
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "0001"))
    >>> open(os.path.join(root, "0001", "2727682922.mp4"), "wb").close()
    >>> files = get_dataset("vidstg").videos.files(root)
    >>> files.resolve("2727682922").relative_to(root).as_posix()
    '0001/2727682922.mp4'
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tubescope.errors import VideoError
from tubescope.formats import VIDEO_EXTENSIONS, is_video_file

if TYPE_CHECKING:
    from tubescope.eval.datasets.table import VideoLayout

__all__ = ["VideoFiles"]


class VideoFiles:
    """Resolve many video ids under one folder (see the module docstring for the rules)."""

    def __init__(self, root: str | os.PathLike[str], layout: VideoLayout) -> None:
        self.root = Path(root)
        self.layout = layout
        self._by_stem: dict[str, list[Path]] | None = None

    def _index(self) -> dict[str, list[Path]]:
        if self._by_stem is None:
            by_stem: dict[str, list[Path]] = {}
            for folder, _dirs, names in os.walk(self.root, followlinks=True):
                for name in names:
                    if is_video_file(name):
                        by_stem.setdefault(os.path.splitext(name)[0], []).append(
                            Path(folder) / name
                        )
            for paths in by_stem.values():
                paths.sort()
            self._by_stem = by_stem
        return self._by_stem

    def resolve(self, video_id: str) -> Path:
        """The file of ``video_id``; :class:`~tubescope.errors.VideoError` for none or two."""
        if not self.root.is_dir():
            raise VideoError(self.root, "videos directory not found (or not a directory)")
        as_given = self.root / video_id
        if is_video_file(video_id) and as_given.is_file():
            return as_given
        flat = (self.root / f"{video_id}{ext}" for ext in VIDEO_EXTENSIONS)
        found = [path for path in flat if path.is_file()]
        if not found and self.layout.nested:
            found = self._index().get(video_id, [])
        if not found:
            where = f"{self.root} and its sub-directories" if self.layout.nested else str(self.root)
            raise VideoError(
                as_given,
                f"no video file for {video_id!r}: looked for {video_id}.{{mp4,mkv,webm,...}} in "
                f"{where} (expected layout: {self.layout.example})",
            )
        if len(found) > 1:
            names = ", ".join(str(p) for p in found[:3])
            raise VideoError(as_given, f"{len(found)} files match video {video_id!r}: {names}")
        return found[0]
