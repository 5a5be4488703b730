"""The input checks of a dataset run, done before the model loads.

For every video still to ground: its file is found under ``--videos``, it opens (container,
stream and frame index readable: no frame is decoded), it has at least the number of frames
the grounder samples (inside the VidSTG segment when there is one; a segment that lies outside
the video is a bad annotation), and its proposal file exists when ``--proposals`` is a
directory. A video that fails is an *input failure* (see
:mod:`~tubescope.integrations.runs.failures`): recorded, it uses no attempt, and it does not stop
the others. When not one video of the run is found at all, ``--videos`` is wrong: that is a
:class:`~tubescope.integrations.runs.plan.RunError`.

Videos are opened by a few threads at once (opening demuxes the container's packets).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from tubescope.synthetic import make_clip
    >>> from tubescope.integrations.runs import VideoJob, video_files
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = make_clip(root / "a.mp4", num_frames=6)
    >>> jobs = [VideoJob("a", ("qa",), ("a dog",)), VideoJob("b", ("qb",), ("a cat",))]
    >>> checked = check_inputs(jobs, video_files("hcstvg-v2", root), num_frames=4)
    >>> [j.video_id for j in checked.ready], [(f.job.video_id, f.cause) for f in checked.failures]
    (['a'], [('b', 'missing video')])
    >>> check_inputs(jobs, video_files("hcstvg-v2", root), num_frames=8).failures[0].error.problem
    'has 6 frames, fewer than the 8 sampled per video (lower --set num_frames)'
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tubescope.errors import AnnotationError, ProposalError, TubescopeError, VideoError
from tubescope.integrations.runs.failures import failure_record
from tubescope.eval.datasets import VideoFiles
from tubescope.integrations.runs.plan import RunError, VideoJob, open_video
from tubescope.plural import counted

__all__ = ["InputFailure", "InputCheck", "check_inputs", "require_some_videos"]

_THREADS = 4


@dataclass(frozen=True)
class InputFailure:
    """One job whose input is unusable: ``cause`` (``"missing video"``, ...) and the error."""

    job: VideoJob
    cause: str
    error: TubescopeError

    def records(self) -> list[dict[str, Any]]:
        """One failure record per query of the job (they use no attempt)."""
        return [
            failure_record(self.job.video_id, qid, self.error, attempt=0, cause=self.cause)
            for qid in self.job.query_ids
        ]


@dataclass
class InputCheck:
    """The jobs ready to ground and the input failures, both in job order."""

    ready: list[VideoJob] = field(default_factory=list)
    failures: list[InputFailure] = field(default_factory=list)


def require_some_videos(jobs: Sequence[VideoJob], resolver: VideoFiles) -> None:
    """RunError naming ``--videos`` when not one video of ``jobs`` is found under it."""
    ids = list(dict.fromkeys(job.video_id for job in jobs))
    if not ids:
        return
    if not resolver.root.is_dir():
        raise RunError(f"--videos {resolver.root}: no such directory")
    for video_id in ids:
        try:
            resolver.resolve(video_id)
            return
        except VideoError:
            continue
    count = counted(len(ids), "video")
    raise RunError(
        f"--videos {resolver.root}: none of the {count} of this run is there (no "
        f"{ids[0]}.{{mp4,mkv,webm,...}} in it or its sub-directories)"
    )


def check_inputs(
    jobs: Sequence[VideoJob],
    resolver: VideoFiles,
    *,
    num_frames: int | None,
    proposals: Path | None = None,
    annotations: str | os.PathLike[str] | None = None,
) -> InputCheck:
    """Check every job's video (and proposal file); see the module docstring.

    Args:
        jobs: the jobs still to ground.
        resolver: finds the video files.
        num_frames: frames sampled per video (None: not known before the model loads; the
            frame count is then left to the grounder).
        proposals: the precomputed proposal directory or file (only a directory is checked).
        annotations: the annotation file, for messages about bad segments.
    """
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        outcomes = list(
            pool.map(lambda job: _check(job, resolver, num_frames, proposals, annotations), jobs)
        )
    result = InputCheck()
    for job, failure in zip(jobs, outcomes):
        if failure is None:
            result.ready.append(job)
        else:
            result.failures.append(failure)
    return result


def _check(
    job: VideoJob,
    resolver: VideoFiles,
    num_frames: int | None,
    proposals: Path | None,
    annotations: str | os.PathLike[str] | None,
) -> InputFailure | None:
    try:
        path = resolver.resolve(job.video_id)
    except VideoError as err:
        return InputFailure(job, "missing video", err)
    try:
        video = open_video(path)
    except VideoError as err:
        return InputFailure(job, "unreadable video", err)
    try:
        frames = video.frame_count
        span = job.span(frames)
        if job.segment is not None and span is None:
            begin, end = job.segment
            return InputFailure(
                job,
                "bad annotation",
                AnnotationError(
                    annotations,
                    f"used_segment [{begin}, {end}] lies outside the video ({counted(frames, 'frame')}, {path})",
                    record=job.video_id,
                    field="used_segment",
                ),
            )
        available = frames if span is None else span[1] - span[0]
        if num_frames is not None and available < num_frames:
            where = "" if span is None else f" in its segment [{span[0]}, {span[1]})"
            return InputFailure(
                job,
                "video too short",
                VideoError(
                    path,
                    f"has {available} frame{'' if available == 1 else 's'}{where}, fewer than "
                    f"the {num_frames} sampled per "
                    "video (lower --set num_frames)",
                ),
            )
        if proposals is not None and proposals.is_dir():
            from tubescope.proposals import proposal_files_for

            try:
                proposal_files_for(proposals, video)
            except ProposalError as err:
                return InputFailure(job, "missing proposals", err)
    finally:
        video.close()
    return None
