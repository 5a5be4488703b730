"""``run.json``, the manifest of a run's ``--out``: what produced the predictions, and one
entry per session (each call of :func:`~tubescope.integrations.runs.run_dataset`).

The manifest's *identity* (dataset, model, preset, settings, proposals, decompositions, query
transform, data hashes) is fixed when the first session loads its model; a later session with
another identity is refused, and so is one whose workers load another model revision or
resolve another config (``resolved``): mixing two experiments in one predictions file would
make its score meaningless. ``--limit``, ``--shard``, ``--retries``, ``--protocol``, ``--ray``
and ``--videos`` may change between sessions.

A session is recorded as soon as its model is loaded (``finished_utc`` null until it ends), so
a session that is killed stays in the history.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> out = Path(tempfile.mkdtemp())
    >>> manifest = Manifest.load(out)
    >>> session = Session.begin("tubescope run ...", videos="videos/")
    >>> manifest.record({"dataset": "hcstvg-v1", "model": "m"}, {}, session)
    >>> manifest.save()
    >>> again = Manifest.load(out)
    >>> again.check_same({"dataset": "hcstvg-v1", "model": "m"})
    >>> try:
    ...     again.check_same({"dataset": "vidstg", "model": "m"})
    ... except RunError as err:
    ...     print(str(err).split(": ", 2)[2])
    dataset='hcstvg-v1' (now 'vidstg'); resume with the same settings, or use a new --out
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tubescope.integrations.runs.plan import RunError

__all__ = ["MANIFEST", "IDENTITY", "Manifest", "Session", "agreed_resolution"]

MANIFEST = "run.json"

#: fields of the manifest that must not change when a run is resumed
IDENTITY = (
    "dataset",
    "model",
    "preset",
    "settings",
    "proposals",
    "decompositions",
    "query_transform",
    "data_sha256",
)


@dataclass
class Session:
    """One call of ``run_dataset`` on an ``--out`` (the entries of ``run.json["sessions"]``)."""

    started_utc: str
    command: str
    argv: list[str]
    cwd: str
    videos: str
    finished_utc: str | None = None
    repaired_bytes: int = 0
    queries_pending: int = 0
    input_failures: int = 0
    limit: int | None = None
    shard: str | None = None
    executor: dict[str, Any] | None = None
    hardware: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[str] = field(default_factory=list)
    queries_processed: int = 0
    aborted_utc: str | None = None
    aborted_by: str | None = None

    @classmethod
    def begin(cls, command: str, *, videos: str) -> Session:
        """A session starting now, run as ``command``."""
        from tubescope.integrations.runs.provenance import utc_now

        return cls(utc_now(), command, list(sys.argv), os.getcwd(), videos)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.aborted_utc is None:
            del data["aborted_utc"], data["aborted_by"]
        return data


class Manifest:
    """The content of ``run.json`` plus the session being run (see the module docstring)."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.session: Session | None = None

    @classmethod
    def load(cls, out_dir: Path) -> Manifest:
        """``out_dir/run.json`` (an empty manifest when the run is new)."""
        from tubescope.jsonio import read_json
        from tubescope.types.schema import check_schema_version

        path = out_dir / MANIFEST
        data: Any = (
            read_json(path, lambda problem: RunError(f"{path}: {problem}")) if path.exists() else {}
        )
        if not isinstance(data, dict):
            raise RunError(f"{path}: not a run manifest (expected a JSON object)")
        if data:
            check_schema_version(data, str(path))
        return cls(path, data)

    @property
    def exists(self) -> bool:
        """Whether an earlier session recorded this run."""
        return bool(self.data)

    @property
    def sessions(self) -> list[dict[str, Any]]:
        """Every recorded session, the current one last (as written to the file)."""
        past = list(self.data.get("sessions", []))
        return past + [self.session.to_dict()] if self.session is not None else past

    def check_same(self, identity: dict[str, Any]) -> None:
        """RunError when ``identity`` differs from the recorded one (nothing recorded: fine)."""
        if not self.exists:
            return
        old = {k: self.data.get(k) for k in IDENTITY}
        new = {k: identity.get(k) for k in IDENTITY}
        if old != new:
            raise RunError(
                f"{self.path}: this output directory holds a run with different settings: "
                f"{_diff(old, new)}; resume with the same settings, or use a new --out"
            )

    def check_resolved(self, resolved: dict[str, Any]) -> None:
        """RunError when the loaded model/config differ from those of the predictions."""
        recorded = self.data.get("resolved")
        if recorded and recorded != resolved:
            raise RunError(
                f"{self.path}: the predictions were made with {_diff(recorded, resolved)}; "
                "resume with the same model and config, or use a new --out"
            )

    def record(
        self,
        identity: dict[str, Any],
        data: dict[str, Any],
        session: Session,
        resolved: dict[str, Any] | None = None,
    ) -> None:
        """Create the manifest when new, and add ``session`` to its history (not saved yet)."""
        from tubescope.types.schema import SCHEMA_VERSION

        if not self.exists:
            self.data = {
                "schema_version": SCHEMA_VERSION,
                "created_utc": session.started_utc,
                **identity,
                "data": data,
            }
        if resolved is not None:
            self.data["resolved"] = resolved
        self.session = session

    def save(self) -> None:
        """Write ``run.json`` atomically (with the current session's latest state)."""
        from tubescope.integrations.runs.store import write_json_atomic

        write_json_atomic(self.path, {**self.data, "sessions": self.sessions})


def agreed_resolution(described: list[dict[str, Any]]) -> dict[str, Any]:
    """Model + config every worker loaded; they must agree (a cluster with mixed revisions fails).

    The checkpoint's local path is left out: it differs between machines (cache locations) while
    the weights do not; the id, revision and config hash identify them.
    """

    def key(info: dict[str, Any]) -> dict[str, Any]:
        model = {k: v for k, v in info["model"].items() if k != "checkpoint"}
        return json.loads(json.dumps({"model": model, "config": info["config"]}))

    first = key(described[0])
    for other in described[1:]:
        if key(other) != first:
            raise RunError(
                f"Ray workers loaded different models or configs: {_diff(first, key(other))}"
            )
    return first


def unique(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` without repeats, in order (dicts are not hashable)."""
    out: list[dict[str, Any]] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


def _diff(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        parts = []
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key) != new.get(key):
                parts.append(_diff(old.get(key), new.get(key), f"{prefix}{key}."))
        return "; ".join(parts)
    return f"{prefix.rstrip('.')}={old!r} (now {new!r})"
