"""The two evaluation protocols: which frames are scored, and which GT span each peer sees.

Both reproduce their reference evaluator's numbers on the same inputs bit for bit, quirks
included: per-query values use the peers' operations in the peers' order, and the aggregates
are sums run sequentially over the queries in annotation order, as the peers' ``summarize``
loops do (not numpy's pairwise ``mean``). Differences between the protocols move scores by 1-3
points, so always say which protocol a number comes from. What differs per dataset (sampled
frames, STCAT's GT, what STCAT drops) is read from the dataset table
(:mod:`tubescope.eval.datasets`); docs/evaluation.md describes both protocols in full.

How a tubescope prediction is fed to each peer: our tube is ``[start, end)``, 0-based, so the
peer's predicted ``sted`` is ``[start, end)`` (TubeDETR's and STCAT's post-processors both emit
``[first_frame, last_frame + 1]``), and the box asked for on frame ``f`` is the tube's box on
``f`` (:meth:`tubescope.Tube.box_at`: interpolated between known frames, held at the ends, none
outside the span). Keyed predictions (TubeDETR / official files) have boxes only on the listed
frames; ``stcat`` interpolates between them as STCAT's inference does.

``tubedetr`` (default; TubeDETR ``datasets/{hcstvg,vidstg}_eval.py`` as of commit 3c32cc92)
    * Evaluated frames: TubeDETR's 5-fps sample (:mod:`tubescope.eval.sampling`): float64
      ``int(f * rate)`` bins, HC-STVG ``rate = 5 / (frame_count / 20)`` over
      ``range(0, frame_count - 1)`` (the last frame is never evaluated), VidSTG
      ``rate = 5 / fps`` over ``range(used_segment.begin_fid, used_segment.end_fid)``, thinned
      to 200 frames with ``(j * n) // 200`` (this does happen on long VidSTG segments).
    * HC-STVG GT span: ``[st_frame, st_frame + len(bbox))`` with the raw, 1-based ``st_frame``
      used as a 0-based index, i.e. our GT span shifted **one frame later**; GT box on frame
      ``f`` is ``bbox[f - st_frame]``. VidSTG: ``[temporal_gt.begin_fid, end_fid)`` unchanged.
    * tIoU on raw frame numbers of the half-open spans (no ``+1``): touching spans score 0;
      float spans are fine.
    * vIoU = sum of IoU over sampled GT frames inside the predicted span / number of sampled
      frames in the hull ``[min(starts), max(ends))``; gt_vIoU = mean IoU over the sampled GT
      frames. Only the first predicted box of a frame counts.
    * TubeDETR's initial commit (20c00199) computed the hull end as ``min`` of the two ends,
      so its vIoU denominator was the intersection; 3c32cc92 fixed it to ``max`` and the
      later copies (the d70c0eed snapshot, STCAT, VideoGLaMM) have the fix. We follow it.
    * Deviations (TubeDETR crashes where we score): a missing prediction scores 0 on every
      metric (TubeDETR raises); a sampled GT frame without a predicted box has IoU 0 (TubeDETR
      raises); a sampled frame in the GT span without a GT box (a hole in a VidOR track) is
      not evaluated (TubeDETR raises a KeyError); a video under 5 fps has every frame sampled
      (TubeDETR asserts ``rate <= 1``).

``stcat`` (STCAT ``datasets/evaluation/{hcstvg,vidstg}_eval.py``; CG-STVG and TA-STVG copy it)
    * Evaluated frames: **every annotated GT frame**, no sampling.
    * HC-STVG GT span: ``[st_frame - 1, st_frame - 1 + len(bbox) - 1]``, **inclusive**
      (``datasets/hcstvg.py``), clipped to ``frame_count - 1``; it equals our
      ``[start, end - 1]``.
    * VidSTG GT span: ``[begin_fid, min(end_fid, used_segment.end_fid, frame_count - 1)]``,
      **inclusive**: STCAT treats the exclusive ``end_fid`` as inside the tube; its box is the
      VidOR box on ``end_fid`` when there is one, else the previous frame's box is duplicated
      (``datasets/vidstg.py``; :attr:`GTQuery.end_box`).
    * tIoU: the same formula with the inclusive GT ``[s, e]`` against the exclusive predicted
      ``[ps, pe)``: the GT length counts as ``e - s``, one frame short. On HC-STVG a perfect
      ``[start, end)`` tube of n frames therefore scores ``(n - 1) / n`` (tIoU and vIoU), never
      1; on VidSTG, whose STCAT GT is one frame longer than ours, ``[begin_fid, end_fid)``
      scores tIoU = vIoU = 1 but misses the GT frame ``end_fid`` in gt_vIoU.
    * vIoU: ``union = range(min_start, max_end)``, ``inter = range(max_start, min_end)`` on
      raw frames; sum of IoU over GT frames in ``inter`` / ``len(union)``. The last GT frame only
      counts when the prediction ends after it. gt_vIoU = mean IoU over all GT frames.
      Predicted spans must be integers (STCAT iterates ``range``).
    * Deviations: a missing prediction scores 0 and is counted (STCAT silently averages over the
      predicted videos only, which inflates scores; ``clean_miss`` drops two HC-STVG v1 videos
      that way); a GT frame without a predicted box scores 0 (CG-STVG / TA-STVG behaviour;
      STCAT raises); an HC-STVG tube running past ``frame_count - 1`` is clipped (STCAT's
      length assert fails); VidSTG pairs that STCAT drops from its cache (GT running past the used
      segment, GT outside it) are kept and scored by the same rules; so is a VidSTG pair whose
      ``temporal_gt.end_fid == used_segment.end_fid == frame_count`` (the GT ends with the
      video and the segment claims one frame more): STCAT collects ``frame_count - begin_fid``
      boxes but expects one more, so its length check drops the pair. Minimal case:
      ``frame_count 600``, ``used_segment (0, 600)``, ``temporal_gt (500, 600)``, target boxed
      on frames 400-599. Every query STCAT would drop is counted in the report
      (``n_stcat_would_drop``, with the reasons in ``Report.stcat_drops``); GT boxes past the image
      are not clipped (CG-STVG clips them to W, H; STCAT asserts); predicted boxes are not
      clamped to >= 0 (STCAT's model does that before evaluation); the two HC-STVG v1 videos
      STCAT's ``clean_miss`` removes are scored (and counted in ``n_stcat_would_drop``).

Common to both: box IoU per :mod:`tubescope.eval.boxes` (no ``+1``, no clamping; a zero union
gives 0 instead of the peers' nan), thresholds strict ``vIoU > R``, averages over **all** GT
queries, and the VidSTG category comes from the GT (the peers read it from the prediction).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tubescope.eval.annotations.record import GTQuery
from tubescope.eval.datasets import get_family

__all__ = ["PROTOCOLS", "Plan", "build_plan", "stcat_drops"]

PROTOCOLS = ("tubedetr", "stcat")


@dataclass(frozen=True)
class Plan:
    """What one protocol evaluates, flattened over all queries (sorted by query, then frame).

    Attributes:
        gt_start, gt_end: per query, the GT span the peer uses in tIoU (half-open for
            ``tubedetr``, inclusive end for ``stcat``), in prediction frame units.
        frame_q, frame_id, gt_boxes: the evaluated GT frames: owning query, frame id, GT box.
        n_gt_frames: per query, the gt_vIoU denominator.
        sampled_q, sampled_f: ``tubedetr`` only: all sampled frames (the vIoU union counts
            them); None for ``stcat``, whose union is every raw frame of the hull.
        integer_spans: predicted spans must be integers (``stcat``).
    """

    protocol: str
    gt_start: np.ndarray
    gt_end: np.ndarray
    frame_q: np.ndarray
    frame_id: np.ndarray
    gt_boxes: np.ndarray
    n_gt_frames: np.ndarray
    sampled_q: np.ndarray | None
    sampled_f: np.ndarray | None
    integer_spans: bool


def _concat_gt(
    queries: Sequence[GTQuery], shift: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All GT frames (shifted per query), their query index and boxes, in (query, frame) order."""
    counts = np.fromiter((len(q.frames) for q in queries), dtype=np.int64, count=len(queries))
    qidx = np.repeat(np.arange(len(queries), dtype=np.int64), counts)
    if counts.sum() == 0:
        return qidx, np.zeros(0, dtype=np.int64), np.zeros((0, 4))
    frames = np.concatenate([q.frames for q in queries]) + shift[qidx]
    boxes = _contiguous([q.boxes for q in queries])
    if boxes is None:
        boxes = np.concatenate([q.boxes for q in queries])
    return qidx, frames, boxes


def _contiguous(parts: Sequence[np.ndarray]) -> np.ndarray | None:
    """The one array that ``parts`` are consecutive slices of, in order (else None).

    The fast annotation readers slice every query's boxes out of one array, so the
    concatenation is that array again and need not be copied.
    """
    parts = [p for p in parts if len(p)]  # an empty slice may point anywhere
    owner = parts[0].base if parts else None
    if not isinstance(owner, np.ndarray) or not owner.flags.c_contiguous:
        return None
    first = parts[0]
    start = expected = first.__array_interface__["data"][0]
    for part in parts:
        if (
            part.base is not owner
            or part.dtype != first.dtype
            or part.shape[1:] != first.shape[1:]
            or not part.flags.c_contiguous
            or part.__array_interface__["data"][0] != expected
        ):
            return None
        expected += part.nbytes
    offset = start - owner.__array_interface__["data"][0]
    shape = (sum(len(p) for p in parts), *first.shape[1:])
    whole = np.ndarray(shape, dtype=first.dtype, buffer=owner, offset=offset)
    whole.flags.writeable = False
    return whole


def _tubedetr(queries: Sequence[GTQuery]) -> Plan:
    n = len(queries)
    families = {q.dataset: get_family(q.dataset) for q in queries}
    samples = [families[q.dataset].tubedetr_frames(q) for q in queries]
    # TubeDETR uses HC-STVG's raw, 1-based st_frame as a 0-based GT start (GTQuery.st_frame)
    shift = np.fromiter(
        (0 if q.st_frame is None else q.st_frame - q.start for q in queries),
        dtype=np.int64,
        count=n,
    )
    lengths = np.fromiter((len(s) for s in samples), dtype=np.int64, count=n)
    sq = np.repeat(np.arange(n, dtype=np.int64), lengths)
    sf = np.concatenate(samples) if n else np.zeros(0, dtype=np.int64)
    gs = np.fromiter((q.start for q in queries), dtype=np.int64, count=n) + shift
    ge = np.fromiter((q.end for q in queries), dtype=np.int64, count=n) + shift
    in_gt = (sf >= gs[sq]) & (sf < ge[sq])
    eq, ef = sq[in_gt], sf[in_gt]
    gq, gf, gb = _concat_gt(queries, shift)
    stride = int(max(sf.max(initial=0), gf.max(initial=0))) + 2
    gkey = gq * stride + gf
    ekey = eq * stride + ef
    pos = np.searchsorted(gkey, ekey)
    found = np.zeros(len(ekey), dtype=bool)
    if len(gkey):
        pos_c = np.minimum(pos, len(gkey) - 1)
        found = gkey[pos_c] == ekey
        pos = pos_c
    frame_q = eq[found]
    return Plan(
        protocol="tubedetr",
        gt_start=gs.astype(np.float64),
        gt_end=ge.astype(np.float64),
        frame_q=frame_q,
        frame_id=ef[found],
        gt_boxes=gb[pos[found]] if len(gkey) else np.zeros((0, 4)),
        n_gt_frames=np.bincount(frame_q, minlength=n),
        sampled_q=sq,
        sampled_f=sf,
        integer_spans=False,
    )


def _stcat(queries: Sequence[GTQuery]) -> Plan:
    n = len(queries)
    families = {q.dataset: get_family(q.dataset) for q in queries}
    views = [families[q.dataset].stcat_gt(q) for q in queries]
    gs = np.fromiter((q.start for q in queries), dtype=np.int64, count=n)
    ge = np.fromiter((v.end for v in views), dtype=np.int64, count=n)
    gq, gf, gb = _concat_gt(queries, np.zeros(n, dtype=np.int64))
    keep = gf <= ge[gq]
    gq, gf, gb = gq[keep], gf[keep], gb[keep]
    extra = [(i, v.extra_frame) for i, v in enumerate(views) if v.extra_frame is not None]
    if extra:
        eq = np.array([i for i, _ in extra], dtype=np.int64)
        ef = np.array([item[0] for _, item in extra], dtype=np.int64)
        eb = np.array([item[1] for _, item in extra], dtype=np.float64).reshape(-1, 4)
        gq, gf, gb = np.concatenate([gq, eq]), np.concatenate([gf, ef]), np.concatenate([gb, eb])
        order = np.lexsort((gf, gq))
        gq, gf, gb = gq[order], gf[order], gb[order]
    return Plan(
        protocol="stcat",
        gt_start=gs.astype(np.float64),
        gt_end=ge.astype(np.float64),
        frame_q=gq,
        frame_id=gf,
        gt_boxes=gb,
        n_gt_frames=np.bincount(gq, minlength=n),
        sampled_q=None,
        sampled_f=None,
        integer_spans=True,
    )


def build_plan(protocol: str, queries: Sequence[GTQuery]) -> Plan:
    """The :class:`Plan` of ``protocol`` (``"tubedetr"`` or ``"stcat"``) for ``queries``."""
    if protocol == "tubedetr":
        return _tubedetr(queries)
    if protocol == "stcat":
        return _stcat(queries)
    raise ValueError(f"unknown protocol {protocol!r}; expected one of {', '.join(PROTOCOLS)}")


def stcat_drops(queries: Sequence[GTQuery]) -> list[str | None]:
    """Per query, why STCAT's own loader would drop it from its evaluation (None: kept).

    We score these queries like any other (the report counts them, ``n_stcat_would_drop``).

    Example:
        >>> q = GTQuery("0", "v", "who ends the video?", "interrogative", "vidstg", 600, 30.0,
        ...             640, 480, 500, 600, frames=range(500, 600), boxes=[[0, 0, 9, 9]] * 100,
        ...             segment=(0, 600))
        >>> stcat_drops([q])
        ["temporal_gt and used_segment both end at frame_count (STCAT's length check fails)"]
    """
    families = {q.dataset: get_family(q.dataset) for q in queries}
    return [families[q.dataset].stcat_drop(q) for q in queries]
