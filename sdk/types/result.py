"""The :class:`GroundingResult`: everything one ``Grounder.ground(video, query)`` call found out."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from tubescope.errors import ValidationError
from tubescope.types.boxseq import check_frames, check_keys, check_optional_float, readonly
from tubescope.types.schema import SCHEMA_VERSION, check_schema_version
from tubescope.types.tube import Tube, check_track_id

__all__ = ["GroundingResult", "SubQueries", "RESULT_JSON_FIELDS"]

RESULT_JSON_FIELDS = (
    "query",
    "tube",
    "video",
    "sub_queries",
    "track_id",
    "track_scores",
    "sampled_frames",
    "frame_scores",
    "grounding_token",
    "proposal_source",
    "stats",
    "maps",
    "meta",
)
SUB_QUERY_FIELDS = ("attribute", "action", "fell_back", "source", "raw")


@dataclass(frozen=True)
class SubQueries:
    """The decomposition of a query into its attribute (spatial) and action (temporal) parts.

    ``fell_back`` is True when decomposition failed and the full query was used instead;
    ``source`` names the decomposer (``"mllm"``, ``"rules"``, ``"precomputed"``, ...); ``raw``
    is what the decomposer produced before parsing (the MLLM's generated text), when it has one.

    Example:
        >>> SubQueries("the man in red", "someone sits down", source="rules").to_dict()["fell_back"]
        False
    """

    attribute: str | None = None
    action: str | None = None
    fell_back: bool = False
    source: str | None = None
    raw: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name in ("attribute", "action", "source", "raw"):
            _optional_str(getattr(self, name), f"sub_queries.{name}")
        if not isinstance(self.fell_back, bool):
            raise ValidationError(f"expected true or false, got {self.fell_back!r}", "sub_queries.fell_back")

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in SUB_QUERY_FIELDS}

    @classmethod
    def from_dict(cls, data: Any) -> SubQueries:
        check_keys(data, (), SUB_QUERY_FIELDS, "sub_queries")
        return cls(**data)


def _optional_str(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValidationError(f"expected a string or null, got {value!r}", name)
    return value


def _float_mapping(value: Any, name: str) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected an object of numbers, got {type(value).__name__}", name)
    out = {}
    for key, number in value.items():
        checked = check_optional_float(number, f"{name}[{key!r}]")
        if checked is None:
            raise ValidationError("expected a number, got null", f"{name}[{key!r}]")
        out[str(key)] = checked
    return MappingProxyType(out)


def _maps(value: Any) -> Mapping[str, np.ndarray] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ValidationError(f"expected an object of arrays, got {type(value).__name__}", "maps")
    out = {}
    for key, array in value.items():
        try:
            data = np.array(array, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ValidationError(f"not a numeric array ({err})", f"maps[{key!r}]") from None
        if not np.isfinite(data).all():
            raise ValidationError("contains non-finite values", f"maps[{key!r}]")
        out[str(key)] = readonly(data)
    return MappingProxyType(out)


@dataclass(frozen=True, eq=False)
class GroundingResult:
    """The answer to one query on one video, with the evidence behind it.

    Attributes:
        query: the sentence as asked.
        tube: the grounded tube, or None when no candidate object existed.
        video: path or id of the video.
        sub_queries: the attribute (spatial) and action (temporal) texts used, and whether
            decomposition fell back to the full query.
        track_id: the chosen proposal; track_scores: spatial score of every proposal,
            keyed by ``str(track_id)``.
        sampled_frames / frame_scores: the frames the model saw and each one's temporal score.
        grounding_token: which prompt token's attention was used.
        proposal_source: what produced the candidate tracks.
        stats: counters and seconds (``forward_passes``, ``backward_passes``,
            ``vision_encodes``, ``seconds``, ...).
        maps: opt-in attention maps, e.g. ``{"spatial": (frames, h, w)}``.
        meta: free-form JSON-serialisable provenance (model id, preset, config).

    Example:
        >>> from tubescope import GroundingResult, Tube
        >>> result = GroundingResult("the red ball", Tube(3, 9, frames=[3], boxes=[[0, 0, 4, 4]]))
        >>> GroundingResult.from_json(result.to_json()) == result
        True
    """

    query: str
    tube: Tube | None = None
    video: str | None = None
    sub_queries: SubQueries | None = None
    track_id: int | str | None = None
    track_scores: Mapping[str, float] = field(default_factory=dict)
    sampled_frames: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    frame_scores: np.ndarray | None = None
    grounding_token: str | None = None
    proposal_source: str | None = None
    stats: Mapping[str, float] = field(default_factory=dict)
    maps: Mapping[str, np.ndarray] | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.query, str) or not self.query.strip():
            raise ValidationError(f"must be a non-empty string, got {self.query!r}", "query")
        tube = self.tube
        if isinstance(tube, Mapping):
            tube = Tube.from_dict(tube)
        if tube is not None and not isinstance(tube, Tube):
            raise ValidationError(f"expected a Tube or null, got {type(tube).__name__}", "tube")
        for name in ("video", "grounding_token", "proposal_source"):
            _optional_str(getattr(self, name), name)
        sub_queries = self.sub_queries
        if isinstance(sub_queries, Mapping):
            sub_queries = SubQueries.from_dict(sub_queries)
        if sub_queries is not None and not isinstance(sub_queries, SubQueries):
            raise ValidationError(f"expected SubQueries or null, got {type(sub_queries).__name__}", "sub_queries")
        # sampled frames may repeat when a span is shorter than the sample (official linspace rule)
        sampled = check_frames(self.sampled_frames, "sampled_frames", strict=False)
        scores = self.frame_scores
        if scores is not None:
            values = [check_optional_float(s, f"frame_scores[{i}]") for i, s in enumerate(scores)]
            if any(v is None for v in values):
                raise ValidationError("expected numbers, got null", "frame_scores")
            if len(values) != len(sampled):
                raise ValidationError(
                    f"{len(values)} scores for {len(sampled)} sampled frames", "frame_scores"
                )
            scores = readonly(np.asarray(values, dtype=np.float64))
        if not isinstance(self.meta, Mapping):
            raise ValidationError(f"expected an object, got {type(self.meta).__name__}", "meta")
        try:
            meta = json.loads(json.dumps(dict(self.meta), allow_nan=False))
        except (TypeError, ValueError) as err:
            raise ValidationError(f"must be JSON-serialisable ({err})", "meta") from None
        for name, value in (
            ("tube", tube),
            ("sub_queries", sub_queries),
            ("track_id", check_track_id(self.track_id)),
            ("track_scores", _float_mapping(self.track_scores, "track_scores")),
            ("sampled_frames", sampled),
            ("frame_scores", scores),
            ("stats", _float_mapping(self.stats, "stats")),
            ("maps", _maps(self.maps)),
            ("meta", MappingProxyType(meta)),
        ):
            object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ JSON
    def to_dict(self, *, include_maps: bool = True) -> dict[str, Any]:
        """The GroundingResult JSON object; ``tube`` follows the Tube JSON schema."""
        return {
            "schema_version": SCHEMA_VERSION,
            "query": self.query,
            "tube": None if self.tube is None else self.tube.to_dict(),
            "video": self.video,
            "sub_queries": None if self.sub_queries is None else self.sub_queries.to_dict(),
            "track_id": self.track_id,
            "track_scores": dict(self.track_scores),
            "sampled_frames": self.sampled_frames.tolist(),
            "frame_scores": None if self.frame_scores is None else self.frame_scores.tolist(),
            "grounding_token": self.grounding_token,
            "proposal_source": self.proposal_source,
            "stats": dict(self.stats),
            "maps": (
                {k: v.tolist() for k, v in self.maps.items()}
                if include_maps and self.maps is not None
                else None
            ),
            "meta": json.loads(json.dumps(dict(self.meta))),
        }

    @classmethod
    def from_dict(cls, data: Any) -> GroundingResult:
        """Build a result from its JSON object; unknown fields raise ValidationError."""
        if isinstance(data, Mapping) and "schema_version" in data:
            check_schema_version(data, "GroundingResult")
            data = {k: v for k, v in data.items() if k != "schema_version"}
        check_keys(data, RESULT_JSON_FIELDS[:1], RESULT_JSON_FIELDS[1:], "GroundingResult")
        values = {name: data[name] for name in RESULT_JSON_FIELDS if name in data}
        for name in ("track_scores", "stats", "meta"):
            if values.get(name, ...) is None:
                values[name] = {}
        if values.get("sampled_frames", ...) is None:
            values["sampled_frames"] = []
        return cls(**values)

    def to_json(self, *, include_maps: bool = True, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(include_maps=include_maps), **kwargs)

    @classmethod
    def from_json(cls, text: str | bytes) -> GroundingResult:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValidationError(f"not valid JSON ({err})", "GroundingResult") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GroundingResult):
            return NotImplemented
        return json.dumps(self.to_dict(), sort_keys=True) == json.dumps(other.to_dict(), sort_keys=True)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"GroundingResult(query={self.query!r}, tube={self.tube!r}, track_id={self.track_id!r})"

