"""Matching predictions to ground-truth queries.

Rules, in order, for each prediction:

1. **By query id**, when the prediction has one (JSONL ``query_id``; the ``<vid>`` of a
   TubeDETR-format file): the GT query whose :attr:`GTQuery.query_id` equals it, else whose
   ``query_id`` equals it once normalised like a video name (base name, extension dropped),
   else whose TubeDETR integer ``video_id`` (:attr:`GTQuery.index`) equals it.
   If the prediction also names a ``video_id``, it must be that query's video.
2. **By video id** otherwise (JSONL ``video_id`` / GroundingResult ``video``; official
   HC-STVG keys): video names are normalised (``/data/x/55_ab.mp4`` -> ``55_ab``) and the video
   must have **exactly one** GT query (always true for HC-STVG). A VidSTG clip usually has
   several sentences: give ``query_id`` there.

Errors (:class:`PredictionError`, naming the file and line/field of the prediction): an id that
matches no GT query, a video with several queries and no ``query_id``, and a second prediction
for a query that already has one. GT queries left without a prediction are *missing*: they
score 0 and are counted in ``n_missing``.

A matched prediction must lie inside its video (:func:`check_within_videos`): a span ending
after frame ``frame_count`` or a box on a frame past the last one is an error, never scored.
"""

from __future__ import annotations

from collections.abc import Sequence

from tubescope.eval.annotations.record import GTQuery, video_key
from tubescope.eval.predictions import Prediction

__all__ = ["check_within_videos", "match_predictions"]


def _where(pred: Prediction) -> str:
    if pred.line is not None:
        return f"line {pred.line}"
    if pred.field is not None:
        return str(pred.field)
    return "an earlier prediction"


def match_predictions(
    queries: Sequence[GTQuery], predictions: Sequence[Prediction]
) -> list[Prediction | None]:
    """One prediction (or None when missing) per query, aligned with ``queries``.

    Example:
        >>> from tubescope.eval.annotations import GTQuery
        >>> q = GTQuery("v1", "v1", "a man", None, "hcstvg", 100, 5.0, 64, 64, 3, 5)
        >>> p = Prediction(3, 5, video_id="/videos/v1.mp4")
        >>> match_predictions([q], [p])[0] is p
        True
    """
    by_id = {q.query_id: i for i, q in enumerate(queries)}
    by_index = {str(q.index): i for i, q in enumerate(queries)}
    by_video: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        by_video.setdefault(video_key(q.video_id), []).append(i)
    assigned: list[Prediction | None] = [None] * len(queries)
    for pred in predictions:
        if pred.query_id is not None:
            i = by_id.get(pred.query_id)
            if i is None:
                i = by_id.get(video_key(pred.query_id))
            if i is None:
                i = by_index.get(pred.query_id)
            if i is None:
                raise pred.error(
                    f"no ground-truth query has query_id {pred.query_id!r}", "query_id"
                )
            if pred.video_id is not None and video_key(pred.video_id) != video_key(
                queries[i].video_id
            ):
                raise pred.error(
                    f"video_id {pred.video_id!r} does not match query {queries[i].query_id!r} "
                    f"(video {queries[i].video_id!r})",
                    "video_id",
                )
        else:
            assert pred.video_id is not None
            candidates = by_video.get(video_key(pred.video_id), [])
            if not candidates:
                raise pred.error(f"no ground-truth query for video {pred.video_id!r}", "video_id")
            if len(candidates) > 1:
                ids = ", ".join(repr(queries[j].query_id) for j in candidates[:5])
                more = ", ..." if len(candidates) > 5 else ""
                raise pred.error(
                    f"video {pred.video_id!r} has {len(candidates)} ground-truth queries "
                    f"({ids}{more}); give query_id to say which one this prediction answers",
                    "video_id",
                )
            i = candidates[0]
        if assigned[i] is not None:
            raise pred.error(
                f"second prediction for query {queries[i].query_id!r} "
                f"(the first is at {_where(assigned[i])})"  # type: ignore[arg-type]
            )
        assigned[i] = pred
    return assigned


def check_within_videos(
    queries: Sequence[GTQuery], matched: Sequence[Prediction | None]
) -> None:
    """Refuse a prediction whose span or boxes run past the end of its query's video.

    Example:
        >>> from tubescope.eval.annotations import GTQuery
        >>> q = GTQuery("v", "v", "a man", None, "hcstvg", 40, 2.0, 64, 64, 3, 5)
        >>> check_within_videos([q], [Prediction(3, 400, video_id="v", path="p.jsonl", line=1, origin="jsonl")])
        Traceback (most recent call last):
        ...
        tubescope.errors.PredictionError: p.jsonl, line 1, field 'tube.end_frame': the predicted span [3, 400) runs past the end of video 'v', which has 40 frames (a span ends by frame 40)
    """
    for query, pred in zip(queries, matched):
        if pred is None:
            continue
        count = query.frame_count
        if pred.end > count:
            raise pred.error_at(
                f"the predicted span [{pred.start:g}, {pred.end:g}) runs past the end of video "
                f"{query.video_id!r}, which has {count} frames (a span ends by frame {count})",
                "end",
            )
        if len(pred.frames) and pred.frames[-1] >= count:
            raise pred.error_at(
                f"a box on frame {int(pred.frames[-1])} (0-based) lies past the end of video "
                f"{query.video_id!r}, which has {count} frames",
                "frames",
            )
