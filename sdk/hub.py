"""Hugging Face hub access as tubescope needs it: offline flag, endpoint, cache, one quick probe.

Model loading (backends and detectors) resolves checkpoints with :func:`resolve_checkpoint`,
which fails within seconds on an offline machine instead of going through the hub client's
retry loops. Resolution order for a name:

1. an existing local directory: used as is, never touching the network;
2. a hub id with ``HF_HUB_OFFLINE=1`` (or ``TRANSFORMERS_OFFLINE=1``): the local Hugging Face
   cache only;
3. a hub id otherwise: one quick reachability probe of the hub endpoint (``HF_ENDPOINT``,
   ``TUBESCOPE_HUB_TIMEOUT`` seconds, default 3, no retries); reachable -> download what is
   missing; unreachable -> the local cache only.

Whatever fails ends in :class:`~tubescope.errors.ModelUnavailableError` naming the model, what
was tried, and how to make it available.

Example:
    >>> import os
    >>> from tubescope.hub import hub_offline
    >>> os.environ["HF_HUB_OFFLINE"] = "1"; hub_offline()
    True
    >>> del os.environ["HF_HUB_OFFLINE"]
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from tubescope.errors import ModelUnavailableError

__all__ = [
    "hub_offline",
    "hub_endpoint",
    "hub_cache_dir",
    "probe_hub",
    "resolve_checkpoint",
    "checkpoint_family",
    "CHECKPOINT_PATTERNS",
]

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")

#: files a checkpoint download needs (weights, configs, tokenizer, chat template).
CHECKPOINT_PATTERNS = (
    "*.json",
    "*.safetensors",
    "*.model",
    "*.txt",
    "*.jinja",
    "*.tiktoken",
    "*.py",
)


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def hub_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is set (read at call time)."""
    return _env_flag("HF_HUB_OFFLINE") or _env_flag("TRANSFORMERS_OFFLINE")


def hub_endpoint() -> str:
    """The hub's base URL (``HF_ENDPOINT`` when set)."""
    from huggingface_hub import constants

    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or constants.ENDPOINT


def hub_cache_dir() -> str:
    """The Hugging Face hub cache folder (``HF_HUB_CACHE``, ``$HF_HOME/hub`` or the default)."""
    from huggingface_hub import constants

    cache = os.environ.get("HF_HUB_CACHE")
    if cache:
        return cache
    home = os.environ.get("HF_HOME")
    if home:
        return os.path.join(home, "hub")
    return constants.HF_HUB_CACHE


def probe_hub(repo_id: str, endpoint: str | None = None) -> str | None:
    """``None`` when the hub answers (any HTTP status), else a one-line reason.

    One HEAD request, no retries, ``TUBESCOPE_HUB_TIMEOUT`` seconds (default 3).
    """
    import urllib.error
    import urllib.request

    try:
        timeout = float(os.environ.get("TUBESCOPE_HUB_TIMEOUT", "3"))
    except ValueError:
        timeout = 3.0
    base = endpoint or hub_endpoint()
    request = urllib.request.Request(f"{base}/api/models/{repo_id}", method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):  # noqa: S310 (http(s) endpoint from config)
            return None
    except urllib.error.HTTPError:
        return None  # the hub answered (401/404/...): reachable
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        return f"{type(err).__name__}: {reason}"


def _how_to_fix(repo_id: str, cache: str) -> str:
    folder = "models--" + repo_id.replace("/", "--")
    return (
        "To make it available: on a machine with internet access run "
        f"`huggingface-cli download {repo_id}` (or `hf download {repo_id}`), then copy the folder "
        f"{folder} from its Hugging Face cache (default ~/.cache/huggingface/hub) "
        f"into this machine's cache {cache} and set HF_HUB_OFFLINE=1; "
        "or download the checkpoint to a directory and pass that directory instead of the id."
    )


def resolve_checkpoint(
    name_or_path: str | os.PathLike[str],
    *,
    what: str = "model",
    patterns: tuple[str, ...] = CHECKPOINT_PATTERNS,
) -> Path:
    """A local directory holding the checkpoint ``name_or_path`` (order in the module docstring).

    Args:
        name_or_path: a checkpoint directory (with a ``config.json``) or a hub id ``org/name``.
        what: how messages name the checkpoint (``"model"``, ``"Grounding DINO model"``).
        patterns: the files to download when the hub is reachable.

    Raises:
        ModelUnavailableError: not a directory, not cached, and not downloadable (one line
            saying what was tried and how to make the checkpoint available).

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> from tubescope.errors import ModelUnavailableError
        >>> from tubescope.hub import resolve_checkpoint
        >>> folder = Path(tempfile.mkdtemp())
        >>> _ = (folder / "config.json").write_text(json.dumps({"model_type": "owlv2"}))
        >>> resolve_checkpoint(folder) == folder
        True
        >>> try:
        ...     resolve_checkpoint("./no/such/dir", what="OWLv2 model")
        ... except ModelUnavailableError as err:
        ...     print(err)
        OWLv2 model ./no/such/dir: no such model directory (and not a hub id like 'org/name')
    """
    text = os.fspath(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelUnavailableError(
                f"{what} {text}: directory has no config.json, so it is not a model checkpoint"
            )
        return path
    if path.exists():
        raise ModelUnavailableError(
            f"{what} {text}: not a directory; pass a checkpoint directory or a hub id"
        )
    if text.startswith((".", "/", "~", "\\")) or not _HUB_ID.match(text):
        raise ModelUnavailableError(
            f"{what} {text}: no such model directory (and not a hub id like 'org/name')"
        )
    repo_id = text
    cache = hub_cache_dir()
    tried: list[str] = [f"a local directory {str(path.absolute())!r}: not found"]

    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    def from_cache() -> Path | None:
        try:
            found = Path(snapshot_download(repo_id, cache_dir=cache, local_files_only=True))
        except (LocalEntryNotFoundError, FileNotFoundError, ValueError, OSError) as err:
            tried.append(f"Hugging Face cache {cache}: no snapshot ({type(err).__name__})")
            return None
        if not (found / "config.json").is_file():
            tried.append(f"Hugging Face cache {cache}: snapshot {found} has no config.json")
            return None
        return found

    def unavailable() -> ModelUnavailableError:
        return ModelUnavailableError(
            f"{what} {repo_id!r} is not available. Tried: {'; '.join(tried)}. "
            f"{_how_to_fix(repo_id, cache)}"
        )

    if hub_offline():
        found = from_cache()
        if found is not None:
            return found
        tried.append("the hub: skipped because HF_HUB_OFFLINE=1")
        raise unavailable()

    endpoint = hub_endpoint()
    started = time.monotonic()
    reason = probe_hub(repo_id, endpoint)
    if reason is not None:
        found = from_cache()
        if found is not None:
            return found
        tried.append(
            f"the hub at {endpoint}: unreachable after {time.monotonic() - started:.1f}s ({reason})"
        )
        raise unavailable()
    try:
        return Path(
            snapshot_download(
                repo_id, cache_dir=cache, allow_patterns=list(patterns), endpoint=endpoint
            )
        )
    except (HfHubHTTPError, OSError, ValueError) as err:
        found = from_cache()
        if found is not None:
            return found
        first = str(err).splitlines()[0] if str(err) else ""
        tried.append(f"download from {endpoint}: {type(err).__name__}: {first}")
        raise unavailable() from err


def checkpoint_family(name_or_path: str | os.PathLike[str], *, what: str = "--model") -> str:
    """The model family of a checkpoint, from its ``config.json`` (no weights are loaded).

    Like :func:`tubescope.engine.backends.detect_family` (and so it may download the
    checkpoint), but every message starts with ``what`` and the name, e.g. ``--model
    ./ckpt: no such model directory ...``: the command line names its flag this way.

    Example:
        >>> from tubescope.errors import ModelUnavailableError
        >>> try:
        ...     checkpoint_family("./no/such/dir")
        ... except ModelUnavailableError as err:
        ...     print(err)
        --model ./no/such/dir: no such model directory (and not a hub id like 'org/name')
    """
    from tubescope.engine.backends import detect_family

    text = os.fspath(name_or_path)
    try:
        return detect_family(name_or_path)
    except ModelUnavailableError as err:
        message = str(err).strip().splitlines()[0]
        if message.startswith("model "):  # resolve_checkpoint's "model NAME: ..."
            message = message[len("model ") :]
        elif not message.startswith((text, repr(text))):
            message = f"{text}: {message}"
        raise ModelUnavailableError(f"{what} {message}") from None
