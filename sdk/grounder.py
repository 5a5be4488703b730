"""The public API: ``Grounder(model).ground(video, query) -> GroundingResult``.

Example (offline, with a tiny random model; real grounding needs real weights):
    >>> import tempfile, os
    >>> from tubescope import Grounder, GrounderConfig
    >>> from tubescope.synthetic import make_clip
    >>> from tubescope.testing import save_tiny_model
    >>> work = tempfile.mkdtemp()
    >>> clip = make_clip(os.path.join(work, "c.mp4"), num_frames=24)
    >>> model_dir = save_tiny_model("qwen2-vl", os.path.join(work, "tiny"))
    >>> grounder = Grounder(model_dir, proposals=[o.track for o in clip.objects],
    ...                     config=GrounderConfig(num_frames=4))
    >>> result = grounder.ground(clip.path, clip.objects[0].description)
    >>> result.tube.track_id in {o.track_id for o in clip.objects}
    True
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tubescope.decompose import Decomposer, PrecomputedDecomposer, RuleDecomposer, check_query, resolve_parts
from tubescope.engine.backends.base import Backend
from tubescope.engine.config import GrounderConfig, preset as make_preset
from tubescope.engine.engine import EncodedVideo, Engine, QueryOutcome
from tubescope.errors import QueryError, VideoError
from tubescope.proposals import ProposalSource, bind_query, check_tracks_fit_video
from tubescope.types import GroundingResult, SubQueries, Track
from tubescope.video import Video, uniform_indices

__all__ = ["Grounder", "TrackSource"]

VideoLike = str | os.PathLike[str] | Video | np.ndarray


#: The protocol of candidate-track sources; an alias of
#: :class:`tubescope.proposals.ProposalSource`, kept for earlier imports.
TrackSource = ProposalSource


class _FixedTracks:
    """Tracks given directly as a list (the same for every video)."""

    name = "given"

    def __init__(self, tracks: Sequence[Track]) -> None:
        self._tracks = list(tracks)

    def tracks(self, video: Video, frames: Sequence[int] | None = None) -> list[Track]:
        return list(self._tracks)


class Grounder:
    """Zero-shot spatio-temporal grounding of natural-language queries in videos.

    Args:
        model: a model id or local checkpoint directory (loaded with
            ``tubescope.engine.backends.load_backend``), or a ready :class:`Backend`.
        proposals: where candidate tracks come from: a list of :class:`Track`, a
            :class:`~tubescope.proposals.ProposalSource`, a detector callable, a spec string
            (``"precomputed:PATH"``, ``"detector:grounding-dino"``, ``"detector:owlv2"``,
            ``"attention"``: :func:`tubescope.proposals.resolve_proposals`), or None for
            tracks derived from the attention maps themselves (no detector at all). It is
            checked before the model loads.
        decomposer: ``"rules"``, ``"mllm"`` (the loaded model, when it can generate text), a
            path to a precomputed JSON, a :class:`Decomposer`, or None (``"mllm"`` when
            available, else ``"rules"``).
        config: a full :class:`GrounderConfig`; overrides ``preset``.
        preset: ``"default"`` or ``"paper"`` (per backbone; ``dataset`` picks the official
            window length).
        device, dtype: where and how to load ``model`` (``"auto"``: CUDA bf16 if available).
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | Backend,
        *,
        proposals: Sequence[Track] | ProposalSource | str | None = None,
        decomposer: Decomposer | str | os.PathLike[str] | None = None,
        config: GrounderConfig | None = None,
        preset: str = "default",
        dataset: str | None = None,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        source = _resolve_proposals(proposals)  # a bad spec fails before the model loads
        # a rules or file decomposer is checked before the model loads too ("mllm" needs it)
        early = None if decomposer in (None, "mllm") else _resolve_decomposer(decomposer, None)
        if isinstance(model, (str, os.PathLike)):
            from tubescope.engine.backends import detect_family, load_backend

            family = detect_family(model)
            config = config or make_preset(preset, family, dataset=dataset)
            backend = load_backend(model, device=device, dtype=dtype, **config.backend_options)
        else:
            backend = model
            config = config or make_preset(preset, getattr(backend, "family", None), dataset=dataset)
        self.backend = backend
        self.config = config
        self.engine = Engine(backend, config)
        self.proposals = source
        self.decomposer = early or _resolve_decomposer(decomposer, backend)

    # ------------------------------------------------------------------ public
    def ground(
        self,
        video: VideoLike,
        query: str,
        *,
        tracks: Sequence[Track] | None = None,
        span: tuple[int, int] | None = None,
        return_maps: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> GroundingResult:
        """Ground one query: the tube of the target it describes.

        ``tracks`` overrides the proposal source for this call; ``span`` (half-open frame
        range) restricts where frames are sampled and where the tube may lie.
        """
        return self.ground_many(
            video, [query], tracks=tracks, span=span, return_maps=return_maps, progress=progress
        )[0]

    def ground_many(
        self,
        video: VideoLike,
        queries: Sequence[str],
        *,
        tracks: Sequence[Track] | None = None,
        span: tuple[int, int] | None = None,
        return_maps: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> list[GroundingResult]:
        """Ground several queries on one video, encoding it once for all of them.

        ``span`` = ``(start, end)`` samples frames only inside ``[start, end)`` (e.g. a VidSTG
        segment) and keeps the tube inside it.
        """
        if isinstance(queries, str):
            raise QueryError(
                f"ground_many takes a list of queries, got the single string {queries!r}: "
                f"use ground(video, {queries!r}) or ground_many(video, [{queries!r}])"
            )
        texts = [check_query(q) for q in queries]
        notify = progress or (lambda stage: None)
        started = time.perf_counter()
        opened = video if isinstance(video, Video) else Video(video)
        name = str(opened.path) if opened.path is not None else None
        source = self.proposals if tracks is None else _FixedTracks(tracks)
        fixed: dict[int, list[Track]] = {}  # tracks per source object, shared by the queries
        keyframes = None
        if self.config.sample_frames == "proposals" and texts:
            keyframes = self._keyframes(opened, bind_query(source, texts[0]), fixed)
        notify("decode")
        encodes_before = self.engine.stats["vision_encodes"]
        encoded = self._encode(opened, notify, span, keyframes)
        encodes = float(self.engine.stats["vision_encodes"] - encodes_before)
        encode_seconds = time.perf_counter() - started
        results = []
        for text in texts:
            query_started = time.perf_counter()
            before = dict(self.engine.stats)
            notify("decompose")
            parts = resolve_parts(text, self.decomposer.decompose(text, video_id=name))
            bound = bind_query(source, text)
            candidates = self._candidates(opened, bound, encoded, fixed)
            notify("ground")
            outcome = self.engine.ground(encoded, text, parts, candidates)
            stats = {k: 0.0 for k in ("forward_passes", "backward_passes")}
            stats.update({k: float(v - before.get(k, 0)) for k, v in self.engine.stats.items()})
            stats["vision_encodes"] = encodes  # one per video, shared by all its queries
            stats["seconds"] = time.perf_counter() - query_started + (encode_seconds if not results else 0.0)
            stats["encode_seconds"] = encode_seconds
            results.append(
                self._result(opened, name, text, parts, outcome, bound, stats, encoded, return_maps)
            )
        return results

    # ------------------------------------------------------------------ steps
    def _keyframes(self, video: Video, source: Any, fixed: dict[int, list[Track]]) -> np.ndarray | None:
        """The proposal frames of ``video`` (every frame a candidate track was seen on or
        marked absent on), or None for a source whose tracks come from the attention maps."""
        if getattr(source, "needs_attention", False):
            return None
        tracks = self._fixed_tracks(video, source, fixed)
        frames = [t.frames for t in tracks] + [t.absent for t in tracks if t.absent is not None]
        if not frames:
            return None
        return np.unique(np.concatenate(frames))

    def _encode(
        self,
        video: Video,
        notify: Callable[[str], None],
        span: tuple[int, int] | None = None,
        keyframes: np.ndarray | None = None,
    ) -> EncodedVideo:
        """Sample, decode, resize and encode the frames: uniformly over the video (or ``span``),
        or over the proposal frames inside it when ``keyframes`` are given."""
        count = self.config.num_frames
        start, end = (0, video.frame_count) if span is None else (int(span[0]), int(span[1]))
        if not 0 <= start < end <= video.frame_count:
            raise VideoError(video.path or "<array>", f"span [{start}, {end}) is not inside [0, {video.frame_count})")
        if end - start < count:
            where = "has" if span is None else f"has, in the span [{start}, {end}),"
            raise VideoError(
                video.path or "<array>",
                f"{where} {end - start} frames, fewer than the {count} the grounder samples "
                "(lower GrounderConfig.num_frames)",
            )
        inside = None if keyframes is None else keyframes[(keyframes >= start) & (keyframes < end)]
        if inside is not None and len(inside):
            # the official sampling: int(linspace(0, n - 1, count)) over the proposal frames
            indices = inside[uniform_indices(count, 0, len(inside))]
        else:
            indices = video.sample(count, span=(start, end))
        frames = video.get_frames(indices)
        if self.config.resolution is not None:
            frames = _resize_square(frames, self.config.resolution)
        notify("encode")
        times = np.asarray(video.timestamps, dtype=np.float64)[indices]
        encoded = self.engine.encode(
            frames, indices, width=video.width, height=video.height, frame_count=video.frame_count,
            span=(start, end), timestamps=times,
        )
        encoded.over_proposals = inside is not None and len(inside) > 0
        return encoded

    def _candidates(
        self, video: Video, source: Any, encoded: EncodedVideo, fixed: dict[int, list[Track]]
    ) -> list[Track] | Callable[[np.ndarray], list[Track]]:
        """The query's candidate tracks, or how to derive them from its spatial map."""
        if getattr(source, "needs_attention", False):
            def from_map(spatial: np.ndarray) -> list[Track]:
                bound = source.with_maps(spatial, encoded.frame_indices, view=encoded.visual.view)
                tracks = bound.tracks(video, None)
                check_tracks_fit_video(tracks, video, source.name)
                return tracks

            return from_map
        return self._fixed_tracks(video, source, fixed)

    def _fixed_tracks(self, video: Video, source: Any, fixed: dict[int, list[Track]]) -> list[Track]:
        if id(source) not in fixed:
            tracks = source.tracks(video, None)
            check_tracks_fit_video(tracks, video, getattr(source, "name", "proposals"))
            fixed[id(source)] = tracks
        return fixed[id(source)]

    def _result(
        self,
        video: Video,
        name: str | None,
        query: str,
        parts: SubQueries,
        outcome: QueryOutcome,
        source: Any,
        stats: dict[str, float],
        encoded: EncodedVideo,
        return_maps: bool,
    ) -> GroundingResult:
        tube = None
        track_id = None
        tracks = outcome.tracks
        if outcome.track_index is not None and outcome.span is not None:
            track = tracks[outcome.track_index]
            track_id = track.track_id
            start, end = outcome.span
            times = video.timestamps
            end_time = float(times[end]) if end < video.frame_count else video.duration
            tube = track.to_tube(
                start, end, fps=float(video.fps), start_time=float(times[start]), end_time=end_time,
                score=outcome.confidence,
            )
        token = outcome.spatial.choice.token
        return GroundingResult(
            query=query,
            tube=tube,
            video=name,
            sub_queries=parts,
            track_id=track_id,
            track_scores={str(t.track_id): float(s) for t, s in zip(tracks, outcome.track_scores)},
            sampled_frames=encoded.frame_indices,
            frame_scores=outcome.frame_scores,
            grounding_token=token,
            proposal_source=getattr(source, "name", None),
            stats=stats,
            maps={k: v for k, v in outcome.maps.items()} if return_maps else None,
            meta={
                "sampled_over": "proposals" if encoded.over_proposals else "video",
                "model": getattr(self.backend, "model_id", None),
                "family": getattr(self.backend, "family", None),
                "config": self.config.to_dict(),
                "view": list(encoded.visual.view),  # the part of the frame the maps' grid covers
            },
        )


def _resolve_proposals(proposals: Any) -> Any:
    from tubescope.proposals import AttentionProposals, resolve_proposals

    if proposals is None:
        return AttentionProposals()
    if isinstance(proposals, (str, ProposalSource)) or callable(proposals):
        return resolve_proposals(proposals)
    if isinstance(proposals, Sequence) and all(isinstance(t, Track) for t in proposals):
        return _FixedTracks(proposals)
    raise TypeError(
        "proposals must be a list of Track, a proposal source, a detector callable, a spec string "
        f"('precomputed:PATH', 'detector:NAME[@MODEL]', 'attention') or None; got {type(proposals).__name__}"
    )


def _resolve_decomposer(decomposer: Any, backend: Any) -> Decomposer:
    from tubescope.decompose import MLLMDecomposer, TextGenerator

    if decomposer is None:
        return MLLMDecomposer(backend) if isinstance(backend, TextGenerator) else RuleDecomposer()
    if decomposer == "rules":
        return RuleDecomposer()
    if decomposer == "mllm":
        return MLLMDecomposer(backend)
    if isinstance(decomposer, (str, os.PathLike)):
        return PrecomputedDecomposer(Path(decomposer))
    if isinstance(decomposer, Decomposer):
        return decomposer
    raise TypeError(f"decomposer must be 'rules', 'mllm', a JSON path or a Decomposer, got {decomposer!r}")


def _resize_square(frames: np.ndarray, size: int) -> np.ndarray:
    """Squash frames to ``size x size`` with Pillow's bicubic filter (the official preprocessing,
    ``Image.fromarray(frame).resize((size, size), Image.BICUBIC)``)."""
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC)) for f in frames])
