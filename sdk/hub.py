"""Hugging Face hub access as tubescope needs it: offline flag, endpoint, cache, one quick probe.

Model loading (backends and detectors) uses these to fail within seconds on an offline machine
instead of going through the hub client's retry loops.

Example:
    >>> import os
    >>> from tubescope.hub import hub_offline
    >>> os.environ["HF_HUB_OFFLINE"] = "1"; hub_offline()
    True
    >>> del os.environ["HF_HUB_OFFLINE"]
"""

from __future__ import annotations

import os

__all__ = ["hub_offline", "hub_endpoint", "hub_cache_dir", "probe_hub"]


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
