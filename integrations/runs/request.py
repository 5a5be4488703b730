"""What a dataset run is asked to do, checked before any work: :class:`RunRequest` (what to
ground, with which model and settings, how to score it) and :class:`Execution` (where: this
process or Ray actors, on which device).

Everything here is cheap: argument values, ``--set`` types and ranges
(:mod:`~tubescope.integrations.runs.overrides`), the proposal spec, the decompositions file,
device and dtype names. Errors are :class:`~tubescope.integrations.runs.plan.RunError` naming
the ``tubescope run`` flag at fault.

Example:
    >>> request = RunRequest.create("hcstvg-v1", "test.json", "videos/", "out/", model="m",
    ...                             overrides={"num_frames": 8}, shard="0/2")
    >>> request.shard, request.max_attempts, request.sampled_frames(ray=False)
    ((0, 2), 3, 8)
    >>> try:
    ...     RunRequest.create("hcstvg-v3", "test.json", "videos/", "out/", model="m")
    ... except RunError as err:
    ...     print(err)
    unknown dataset 'hcstvg-v3'; choose from hcstvg-v1, hcstvg-v2, vidstg
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tubescope.errors import TubescopeError, ValidationError
from tubescope.integrations.runs.dataset_rules import query_transform
from tubescope.integrations.runs.overrides import check_overrides
from tubescope.integrations.runs.plan import RunError, parse_shard

__all__ = ["Choice", "RunRequest", "Execution", "proposal_choice", "decomposer_choice"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class Choice:
    """A ``--proposals`` / ``--decompositions`` value, resolved.

    Attributes:
        arg: what the workers get. label: what the manifest records. path: the data file or
        directory hashed for provenance (None: nothing to hash).
    """

    arg: Any = None
    label: str | None = None
    path: Path | None = None


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text.split(". Valid forms:")[0]


def proposal_choice(proposals: Any) -> Choice:
    """Resolve a proposals argument: a spec or path (checked now), tracks, or a source object."""
    if proposals is None:
        return Choice()
    if isinstance(proposals, (str, os.PathLike)):
        text = os.fspath(proposals).strip()
        kind, sep, rest = text.partition(":")
        if kind.lower() == "precomputed" and sep:
            path = Path(rest).expanduser()
        elif kind.lower() == "attention" or (kind.lower() == "detector" and sep):
            from tubescope.proposals import resolve_proposals

            try:
                resolve_proposals(text)  # a bad name fails here; detector weights load later
            except (TubescopeError, ValueError) as err:
                raise RunError(f"--proposals {text!r}: {_first_line(err)}") from None
            return Choice(text, text)
        else:
            path = Path(text).expanduser()
        if not path.exists():
            raise RunError(
                f"--proposals {text!r}: neither an existing file/directory nor a spec "
                "(precomputed:PATH, detector:NAME[@MODEL], attention)"
            )
        spec = f"precomputed:{path.resolve()}"
        return Choice(spec, spec, path.resolve())
    if isinstance(proposals, Sequence):
        from tubescope.types import Track

        if all(isinstance(t, Track) for t in proposals):
            tracks = list(proposals)
            return Choice(tracks, f"<{len(tracks)} given tracks>")
    return Choice(proposals, f"<{type(proposals).__name__}: {getattr(proposals, 'name', '?')}>")


def decomposer_choice(decompositions: Any) -> Choice:
    """Resolve a decompositions argument: ``rules``/``mllm``, a JSON file (parsed now), an object."""
    if decompositions is None:
        return Choice()
    if isinstance(decompositions, (str, os.PathLike)):
        text = os.fspath(decompositions)
        if text in ("rules", "mllm"):
            return Choice(text, text)
        path = Path(text).expanduser()
        if not path.is_file():
            raise RunError(f"--decompositions {text!r}: no such file (or use 'rules' / 'mllm')")
        from tubescope.decompose import PrecomputedDecomposer

        try:
            PrecomputedDecomposer(path)
        except TubescopeError as err:
            raise RunError(f"--decompositions {_first_line(err)}") from None
        resolved = path.resolve()
        return Choice(str(resolved), str(resolved), resolved)
    return Choice(decompositions, f"<{type(decompositions).__name__}>")


def _model_label(model: Any) -> str:
    if isinstance(model, (str, os.PathLike)):
        path = Path(os.fspath(model)).expanduser()
        return str(path.resolve()) if path.exists() else os.fspath(model)
    family = getattr(model, "family", None)
    if family is not None:
        return f"<{family}:{getattr(model, 'model_id', '?')}>"
    return f"<{getattr(model, '__qualname__', type(model).__name__)}>"


def _choose(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise RunError(f"unknown {name} {value!r}; choose from {', '.join(allowed)}")


@dataclass(frozen=True)
class RunRequest:
    """What to ground and how to score it (the arguments of :func:`run_dataset`, checked).

    Build it with :meth:`create`; the fields mean what ``run_dataset``'s arguments mean.
    """

    dataset: str
    annotations: Path
    videos: Path
    out: Path
    model: Any
    preset: str = "default"
    proposals: Choice = field(default_factory=Choice)
    decompositions: Choice = field(default_factory=Choice)
    boxes: Path | None = None
    config: Any = None
    overrides: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    shard: tuple[int, int] | None = None
    retries: int = 2
    protocol: str = "tubedetr"
    command: str | None = None

    @classmethod
    def create(
        cls,
        dataset: str,
        annotations: PathLike,
        videos: PathLike,
        out: PathLike,
        *,
        model: Any,
        preset: str = "default",
        proposals: Any = None,
        decompositions: Any = None,
        boxes: PathLike | None = None,
        config: Any = None,
        overrides: Mapping[str, Any] | None = None,
        limit: int | None = None,
        shard: str | tuple[int, int] | None = None,
        retries: int = 2,
        protocol: str = "tubedetr",
        command: str | None = None,
    ) -> RunRequest:
        """Check and normalise the arguments (RunError naming the flag at fault)."""
        from tubescope.engine.config import PRESETS, GrounderConfig
        from tubescope.eval import DATASETS, PROTOCOLS

        _choose("dataset", dataset, DATASETS)
        _choose("preset", preset, PRESETS)
        _choose("protocol", protocol, PROTOCOLS)
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise RunError(f"--retries must be an integer >= 0, got {retries!r}")
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 1
        ):
            raise RunError(f"--limit must be at least 1, got {limit!r}")
        if config is not None and not isinstance(config, GrounderConfig):
            raise RunError(f"config must be a GrounderConfig, got {type(config).__name__}")
        if boxes is not None and dataset != "vidstg":
            raise RunError(f"--boxes {boxes}: only applies with --dataset vidstg")
        return cls(
            dataset=dataset,
            annotations=Path(annotations),
            videos=Path(videos).expanduser(),
            out=Path(out).expanduser(),
            model=model,
            preset=preset,
            proposals=proposal_choice(proposals),
            decompositions=decomposer_choice(decompositions),
            boxes=None if boxes is None else Path(boxes),
            config=config,
            overrides=check_overrides(overrides),
            limit=limit,
            shard=parse_shard(shard),
            retries=retries,
            protocol=protocol,
            command=command,
        )

    @property
    def max_attempts(self) -> int:
        """Attempts a query gets over all runs on ``out`` (input errors use none)."""
        return self.retries + 1

    @property
    def shard_text(self) -> str | None:
        return None if self.shard is None else f"{self.shard[0]}/{self.shard[1]}"

    @property
    def query_transform(self) -> str | None:
        return query_transform(self.dataset, self.preset, custom_config=self.config is not None)

    @property
    def model_for_workers(self) -> Any:
        """The model argument the workers get (an existing local directory made absolute)."""
        if isinstance(self.model, (str, os.PathLike)):
            path = Path(os.fspath(self.model)).expanduser()
            return str(path.resolve()) if path.exists() else os.fspath(self.model)
        return self.model

    def sampled_frames(self, *, ray: bool) -> int | None:
        """Frames sampled per video, when known before the model loads (else None).

        Only the ``paper`` preset depends on the model family; it is read from the
        checkpoint's ``config.json`` for local runs (no weights are loaded) and left to the
        workers with Ray (the driver may not have the checkpoint).
        """
        from tubescope.engine.config import preset as make_preset

        if self.config is not None:
            return int(self.config.num_frames)
        if "num_frames" in self.overrides:
            return int(self.overrides["num_frames"])
        if self.preset == "default":
            return make_preset("default", None, dataset=self.dataset).num_frames
        if isinstance(self.model, (str, os.PathLike)):
            if ray:
                return None
            from tubescope.engine.backends import detect_family

            family = detect_family(self.model)
        else:
            family = getattr(self.model, "family", None)
            if family is None:
                return None  # a callable that builds the backend: known once it has
        return make_preset(self.preset, family, dataset=self.dataset).num_frames

    def identity(self, data: dict[str, Any]) -> dict[str, Any]:
        """The manifest fields a resumed run must match (``data``: the hashed data files)."""
        settings = (
            self.config.to_dict()
            if self.config is not None
            else {k: self.overrides[k] for k in sorted(self.overrides)}
        )
        identity = {
            "dataset": self.dataset,
            "model": _model_label(self.model),
            "preset": self.preset if self.config is None else "custom",
            "settings": settings,
            "proposals": self.proposals.label,
            "decompositions": self.decompositions.label,
            "query_transform": self.query_transform,
            "data_sha256": {k: (v or {}).get("sha256") for k, v in data.items() if k != "videos"},
        }
        return json.loads(json.dumps(identity))  # tuples -> lists, as the manifest reads back


@dataclass(frozen=True)
class Execution:
    """Where the jobs run: this process, or Ray actors (see :mod:`.executors`)."""

    ray: bool = False
    address: str | None = None
    workers: int | None = None
    cpus_per_worker: float = 1.0
    device: str = "auto"
    dtype: str = "auto"

    @classmethod
    def create(
        cls,
        ray: bool | str | None = None,
        *,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
        device: str = "auto",
        dtype: str = "auto",
        model: Any = None,
    ) -> Execution:
        """Check the values (device and dtype only matter for a model given by id)."""
        if ray is None or ray is False:
            use_ray, address = False, None
        elif ray is True or (isinstance(ray, str) and ray.strip().lower() in ("", "local")):
            use_ray, address = True, None
        else:
            use_ray, address = True, str(ray)
        if workers is not None and workers < 1:
            raise RunError(f"--workers must be at least 1, got {workers}")
        if cpus_per_worker <= 0:
            raise RunError(f"cpus per worker must be positive, got {cpus_per_worker}")
        if isinstance(model, (str, os.PathLike)):
            _check_device(device, dtype, local=not use_ray)
            if not use_ray:
                _check_model(model)
        return cls(use_ray, address, workers, float(cpus_per_worker), device, dtype)


def _check_model(model: PathLike) -> None:
    """A local checkpoint (or, offline, a cached one) is read now: its ``config.json`` names a
    supported family. A hub id is left to the loader, which may download it."""
    from tubescope.hub import checkpoint_family, hub_offline

    text = os.fspath(model)
    if hub_offline() or Path(text).expanduser().exists() or text.startswith((".", "/", "~", "\\")):
        checkpoint_family(model, what="--model")


def _check_device(device: str, dtype: str, *, local: bool) -> None:
    import torch
    from tubescope.engine.backends.loading import resolve_device, resolve_dtype

    def problem(err: BaseException) -> str:  # the value is named by the flag already
        return err.problem if isinstance(err, ValidationError) else _first_line(err)

    where = torch.device("cpu")
    if local:
        try:
            where = resolve_device(device)
        except (TubescopeError, ValueError, RuntimeError) as err:
            raise RunError(f"--device {device!r}: {problem(err)}") from None
    try:
        resolve_dtype(dtype, where)
    except (TubescopeError, ValueError, RuntimeError) as err:
        raise RunError(f"--dtype {dtype!r}: {problem(err)}") from None
