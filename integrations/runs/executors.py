"""Where the jobs run: this process (:class:`LocalExecutor`) or Ray actors (:class:`RayExecutor`).

Both take the list of pending :class:`~tubescope.integrations.runs.plan.VideoJob` s and yield
``(job, records)`` as jobs finish; the driver (``run_dataset``) is the only process that writes
the run's files, so the output of a Ray run is the same JSONL a single-machine run writes.

**Ray layout.** One actor per GPU when the cluster has GPUs (``num_gpus=1`` each: the actor
sees exactly one device, ``device="auto"`` picks it), otherwise one actor per ``cpus_per_worker``
CPUs. ``workers`` overrides the count. Each actor is a
:class:`~tubescope.integrations.runs.worker.Worker`:
it loads the model once, in its constructor. Work is handed out one video at a time to whichever
actor is free (a slow video never holds up a queue of others). An actor that dies (out of host
memory, node lost) costs the video it was working on one attempt: the failure is recorded, a
replacement actor is started, and the video is queued again while it has attempts left.
Workers must see the same paths as the driver (a shared filesystem) and have tubescope installed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from tubescope.integrations.runs.failures import WorkerDied, failure_record
from tubescope.integrations.runs.plan import RunError, VideoJob
from tubescope.integrations.runs.worker import Worker, WorkerSpec

__all__ = ["LocalExecutor", "RayExecutor", "import_ray", "RAY_INSTALL_HINT"]

RAY_INSTALL_HINT = "pip install 'tubescope[ray]'  (or: pip install 'ray>=2.40')"

PastFailures = Callable[[VideoJob], Mapping[str, int]]


def import_ray() -> Any:
    """``import ray``, or a :class:`RunError` that says how to install it."""
    try:
        import ray
    except ImportError as err:
        raise RunError(
            f"--ray needs Ray, an optional dependency of tubescope: {RAY_INSTALL_HINT}"
        ) from err
    return ray


class LocalExecutor:
    """Runs every job in this process with one :class:`Worker`."""

    kind = "local"

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.worker: Worker | None = None
        self.workers = 1

    def start(self) -> list[dict[str, Any]]:
        self.worker = Worker(self.spec)
        return [self.worker.describe()]

    def run(
        self, jobs: Sequence[VideoJob], past_failures: PastFailures, max_attempts: int
    ) -> Iterator[tuple[VideoJob, list[dict[str, Any]]]]:
        assert self.worker is not None, "start() first"
        for job in jobs:
            yield job, self.worker.process(job, past_failures(job), max_attempts)

    def info(self) -> dict[str, Any]:
        return {"kind": self.kind, "workers": 1}

    def close(self) -> None:
        self.worker = None


def _ray_error_text(err: BaseException) -> str:
    """The innermost error line of a Ray exception (they carry whole remote tracebacks)."""
    cause = getattr(err, "cause", None)
    if isinstance(cause, BaseException) and cause is not err:
        text = str(cause).strip().splitlines()
        return f"{type(cause).__name__}: {text[0]}" if text else type(cause).__name__
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    for line in reversed(lines):
        head = line.split(":", 1)[0]
        if head.endswith(("Error", "Exception")) and " " not in head:
            return line
    return lines[-1] if lines else type(err).__name__


class RayExecutor:
    """Runs the jobs on Ray actors (layout in the module docstring).

    Args:
        spec: what each actor builds.
        address: a Ray address (``"auto"``, ``"host:6379"``, ``"ray://host:10001"``); None starts a
            local Ray instance, unless Ray is already initialised in this process (then that one
            is used, and left running).
        workers: number of actors (default: one per GPU, else one per ``cpus_per_worker`` CPUs).
        cpus_per_worker: CPUs reserved by each actor.
    """

    kind = "ray"

    def __init__(
        self,
        spec: WorkerSpec,
        *,
        address: str | None = None,
        workers: int | None = None,
        cpus_per_worker: float = 1.0,
    ) -> None:
        if workers is not None and workers < 1:
            raise RunError(f"--workers must be at least 1, got {workers}")
        if cpus_per_worker <= 0:
            raise RunError(f"cpus per worker must be positive, got {cpus_per_worker}")
        self.spec = spec
        self.address = address or None
        self.requested = workers
        self.cpus_per_worker = float(cpus_per_worker)
        self.ray: Any = None
        self.actors: list[Any] = []
        self._owns_ray = False
        self._options: dict[str, Any] = {}
        self._actor_class: Any = None
        self.workers = 0
        self.replaced = 0

    def start(self) -> list[dict[str, Any]]:
        ray = self.ray = import_ray()
        if not ray.is_initialized():
            ray.init(address=self.address, log_to_driver=False)
            self._owns_ray = True
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = float(resources.get("CPU", 1))
        if gpus:
            count = self.requested or gpus
            self._options = {"num_gpus": 1, "num_cpus": self.cpus_per_worker}
        else:
            count = self.requested or max(1, int(cpus // self.cpus_per_worker))
            self._options = {"num_gpus": 0, "num_cpus": self.cpus_per_worker}
        self._actor_class = ray.remote(Worker)
        self.actors = [self._new_actor() for _ in range(count)]
        self.workers = count
        try:
            return list(ray.get([actor.describe.remote() for actor in self.actors]))
        except Exception as err:  # noqa: BLE001 - actor construction failed (model unavailable, ...)
            raise RunError(f"a Ray worker could not start: {_ray_error_text(err)}") from None

    def _new_actor(self) -> Any:
        return self._actor_class.options(**self._options).remote(self.spec)

    def run(
        self, jobs: Sequence[VideoJob], past_failures: PastFailures, max_attempts: int
    ) -> Iterator[tuple[VideoJob, list[dict[str, Any]]]]:
        ray = self.ray
        assert ray is not None, "start() first"
        from ray.exceptions import RayActorError

        queue: deque[VideoJob] = deque(jobs)
        idle = list(self.actors)
        running: dict[Any, tuple[Any, VideoJob]] = {}
        while queue or running:
            while idle and queue:
                actor = idle.pop()
                job = queue.popleft()
                ref = actor.process.remote(job, dict(past_failures(job)), max_attempts)
                running[ref] = (actor, job)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                actor, job = running.pop(ref)
                try:
                    records = ray.get(ref)
                except RayActorError as err:
                    records = self._died(job, past_failures(job), err)
                    self.actors.remove(actor)
                    actor = self._new_actor()
                    self.actors.append(actor)
                    self.replaced += 1
                    yield job, records
                    past = past_failures(job)
                    again = [q for q in job.query_ids if past.get(q, 0) < max_attempts]
                    if again:
                        queue.append(job.subset(again))
                    idle.append(actor)
                    continue
                idle.append(actor)
                yield job, records

    @staticmethod
    def _died(job: VideoJob, past: Mapping[str, int], err: BaseException) -> list[dict[str, Any]]:
        died = WorkerDied(f"the Ray worker grounding this video died ({_ray_error_text(err)})")
        return [
            failure_record(
                job.video_id, qid, died, attempt=int(past.get(qid, 0)) + 1, trace=str(err)
            )
            for qid in job.query_ids
        ]

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": self.kind,
            "workers": self.workers,
            "address": self.address,
            "actor_resources": dict(self._options),
            "replaced_workers": self.replaced,
        }
        if self.ray is not None:
            info["ray"] = getattr(self.ray, "__version__", None)
        return info

    def close(self) -> None:
        ray = self.ray
        if ray is None:
            return
        for actor in self.actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        if self._owns_ray:
            ray.shutdown()
            self._owns_ray = False
