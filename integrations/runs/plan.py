"""What a dataset run grounds: queries grouped into per-video jobs, shards, video file lookup.

* **Jobs.** Queries are grouped by video (HC-STVG: one query per video; VidSTG: several), in
  the order their videos first appear in the annotation file. One job is one
  :meth:`~tubescope.Grounder.ground_many` call, so a video is decoded and encoded once for all
  its queries. VidSTG queries are grouped by ``(video, used_segment)``: the official code samples
  frames inside the annotated segment only, so two segments of one video are two encodings.
* **--limit N** keeps the first N queries in annotation order (before sharding).
* **--shard i/n** splits by video: the distinct video ids of the (limited) query set are sorted
  and video number k (0-based) goes to shard ``k % n``. Every segment of a video lands in the same
  shard, the shards are disjoint, their union is the whole set, and the split depends only on the
  set of video ids (not on file order or on the machine).
* **Video files** (:func:`video_files`): the dataset's video layout from the dataset table
  (:class:`tubescope.eval.datasets.VideoLayout`): ``DIR/<video_id><ext>`` for the usual video
  extensions, else a file of that stem in a sub-directory (VidOR ships
  ``video/<group>/<vid>.mp4``). Two matches are an error naming both.
* **Segments** (:meth:`VideoJob.span`): where the dataset's family restricts queries to a
  ``used_segment`` (VidSTG), frames are sampled inside it only; the table says so
  (:class:`tubescope.eval.datasets.Family`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from tubescope.errors import TubescopeError
from tubescope.eval.annotations import GTQuery
from tubescope.eval.datasets import VideoFiles, get_dataset, get_family
from tubescope.formats import VIDEO_EXTENSIONS
from tubescope.integrations.runs.dataset_rules import job_segment

__all__ = [
    "RunError",
    "VideoJob",
    "VIDEO_EXTENSIONS",
    "parse_shard",
    "open_video",
    "plan_jobs",
    "select_queries",
    "video_files",
]


class RunError(TubescopeError):
    """A dataset run cannot start or continue (bad arguments, a locked or mismatched ``--out``)."""


@dataclass(frozen=True)
class VideoJob:
    """One ``ground_many`` call: the queries of one video (and one VidSTG segment).

    Attributes:
        video_id: the annotation's video id (file name without extension / VidOR ``vid``).
        query_ids, queries: the queries' ids and their text (same order).
        segment: VidSTG ``used_segment`` as written in the file (``begin_fid``, ``end_fid``,
            end inclusive); None for HC-STVG (the whole video).
        family: the dataset family of the queries (``GTQuery.dataset``), whose table record
            says how a segment becomes frames (:meth:`span`).
    """

    video_id: str
    query_ids: tuple[str, ...]
    queries: tuple[str, ...]
    segment: tuple[int, int] | None = None
    family: str | None = None

    def span(self, frame_count: int) -> tuple[int, int] | None:
        """The half-open frames to sample (None: the whole video), from the family's rule."""
        if self.segment is None or self.family is None:
            return None
        return get_family(self.family).segment_span(self.segment, frame_count)

    @property
    def name(self) -> str:
        """``video_id`` plus ``@begin-end`` when the job is restricted to a segment."""
        if self.segment is None:
            return self.video_id
        return f"{self.video_id}@{self.segment[0]}-{self.segment[1]}"

    def subset(self, query_ids: Sequence[str]) -> VideoJob:
        """The same job with only ``query_ids`` (kept in the job's order)."""
        wanted = set(query_ids)
        pairs = [(q, t) for q, t in zip(self.query_ids, self.queries) if q in wanted]
        return VideoJob(
            self.video_id,
            tuple(q for q, _ in pairs),
            tuple(t for _, t in pairs),
            self.segment,
            self.family,
        )


def parse_shard(shard: str | tuple[int, int] | None) -> tuple[int, int] | None:
    """``"i/n"`` (or ``(i, n)``) -> ``(i, n)`` with ``0 <= i < n``; None stays None.

    Example:
        >>> parse_shard("1/4")
        (1, 4)
    """
    if shard is None:
        return None
    if isinstance(shard, str):
        index, sep, count = shard.strip().partition("/")
        try:
            if not sep:
                raise ValueError
            i, n = int(index), int(count)
        except ValueError:
            raise RunError(f"--shard {shard!r}: expected i/n, e.g. 0/4") from None
    else:
        i, n = (int(v) for v in shard)
    if n < 1 or not 0 <= i < n:
        raise RunError(f"--shard {i}/{n}: need 0 <= i < n")
    return i, n


def select_queries(
    queries: Sequence[GTQuery], *, limit: int | None = None, shard: tuple[int, int] | None = None
) -> list[GTQuery]:
    """The queries of a run: the first ``limit`` (annotation order), then this shard's videos."""
    chosen = list(queries)
    if limit is not None:
        if limit < 1:
            raise RunError(f"--limit must be at least 1, got {limit}")
        chosen = chosen[:limit]
    if shard is not None:
        index, count = shard
        videos = sorted({q.video_id for q in chosen})
        mine = {v for k, v in enumerate(videos) if k % count == index}
        chosen = [q for q in chosen if q.video_id in mine]
    return chosen


def plan_jobs(queries: Sequence[GTQuery], *, lowercase: bool = False) -> list[VideoJob]:
    """Group queries into :class:`VideoJob` s (order: first appearance of each video/segment).

    ``lowercase``: lower-case the query text (the official HC-STVG loader does, ``--preset paper``).
    The segment of a job comes from
    :func:`~tubescope.integrations.runs.dataset_rules.job_segment`.
    """
    groups: dict[tuple[str, tuple[int, int] | None], list[GTQuery]] = {}
    for query in queries:
        groups.setdefault((query.video_id, job_segment(query)), []).append(query)
    jobs = []
    for (video_id, segment), members in groups.items():
        texts = tuple(q.query.lower() if lowercase else q.query for q in members)
        ids = tuple(q.query_id for q in members)
        jobs.append(VideoJob(video_id, ids, texts, segment, members[0].dataset))
    return jobs


def video_files(dataset: str, root: str | os.PathLike[str]) -> VideoFiles:
    """The video-file resolver of ``dataset``'s layout under ``root`` (the dataset table).

    Example:
        >>> import os, tempfile
        >>> root = tempfile.mkdtemp()
        >>> os.makedirs(os.path.join(root, "0001"))
        >>> open(os.path.join(root, "0001", "2727682922.mp4"), "wb").close()
        >>> video_files("vidstg", root).resolve("2727682922").relative_to(root).as_posix()
        '0001/2727682922.mp4'
    """
    return get_dataset(dataset).videos.files(root)


def open_video(path: str | os.PathLike[str]):  # type: ignore[no-untyped-def]
    """Open ``path`` (frames of a VidSTG segment are sampled through ``ground_many(span=...)``)."""
    from tubescope.video import Video

    return Video(path)
