"""Camera credentials never appear in messages, reprs, stats or log lines."""

from __future__ import annotations

import logging

import pytest
from tubescope.integrations.cctv import (
    Backoff,
    RedactingFilter,
    SourceAuthError,
    SourceError,
    StreamSource,
    Watcher,
    open_source,
    redact,
    redact_url,
)

from .conftest import free_port
from .stubs import RedGrounder

SECRET = "Tr0ub4dor&3"
USER = "operator"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("rtsp://admin:pw@10.0.0.7:554/live", "rtsp://***@10.0.0.7:554/live"),
        ("rtsps://admin@cam/x", "rtsps://***@cam/x"),
        (
            "http://cam/snap?user=admin&password=pw&ch=1",
            "http://cam/snap?user=***&password=***&ch=1",
        ),
        ("https://h/live.m3u8?token=abc", "https://h/live.m3u8?token=***"),
        ("rtsp://cam.local/stream1", "rtsp://cam.local/stream1"),
        ("/var/nvr/cam1", "/var/nvr/cam1"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_redact_removes_raw_and_percent_encoded_secrets() -> None:
    text = f"failed for {SECRET} and Tr0ub4dor%263 at rtsp://{USER}:x@h/"
    out = redact(text, [SECRET])
    assert SECRET not in out and "Tr0ub4dor%263" not in out and USER not in out


def test_redacting_filter_scrubs_any_record(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("libav.rtsp")
    handler_filter = RedactingFilter([SECRET])
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.WARNING, logger="libav"):
            logger.warning("DESCRIBE rtsp://%s:%s@cam/ failed", USER, SECRET)
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert SECRET not in caplog.text and "***" in caplog.text


def _assert_clean(*texts: object) -> None:
    for text in texts:
        assert SECRET not in str(text), text
        assert f"{USER}:" not in str(text), text


def test_stream_source_never_shows_url_credentials(caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()  # nothing listens there: connection refused at once
    url = f"rtsp://{USER}:{SECRET}@127.0.0.1:{port}/cam"
    source = StreamSource(
        url, backoff=Backoff(0.05, 0.1), max_retries=3, open_timeout=2, read_timeout=1
    )
    with caplog.at_level(logging.DEBUG, logger="tubescope"):
        with pytest.raises(SourceError) as info:
            list(source)
    _assert_clean(
        info.value,
        repr(info.value),
        repr(source),
        source.source_id,
        source.url,
        source.stats.to_dict(),
        caplog.text,
    )
    assert "127.0.0.1" in str(info.value)  # still says which camera
    assert source.stats.failed_attempts == 3 and source.stats.state == "failed"


def test_credentials_from_environment_are_used_and_hidden(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CAM_CREDENTIALS", f"{USER}:{SECRET}")
    port = free_port()
    source = open_source(
        f"rtsp://127.0.0.1:{port}/cam",
        credentials_env="CAM_CREDENTIALS",
        backoff=Backoff(0.05, 0.1),
        max_retries=2,
    )
    assert isinstance(source, StreamSource)
    assert (
        USER in source._open_url() and "Tr0ub4dor%263" in source._open_url()
    )  # percent-encoded for FFmpeg
    watcher = Watcher(source, ["a red car"], RedGrounder())
    with caplog.at_level(logging.DEBUG, logger="tubescope"):
        with pytest.raises(SourceError) as info:
            watcher.run()
    _assert_clean(info.value, repr(watcher), watcher.status, caplog.text, source.stats.last_error)


def test_missing_credentials_variable_is_a_clear_auth_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_SUCH_CAM_VAR", raising=False)
    source = StreamSource("rtsp://127.0.0.1:9/cam", credentials_env="NO_SUCH_CAM_VAR")
    with pytest.raises(SourceAuthError, match="NO_SUCH_CAM_VAR"):
        list(source)
