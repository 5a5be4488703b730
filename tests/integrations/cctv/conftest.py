"""Fixtures of the CCTV tests: a per-test time limit, a loopback RTSP server, helpers.

The RTSP server is GStreamer's (Debian packages ``python3-gi``, ``gir1.2-gst-rtsp-server-1.0``
and the GStreamer plugin packages; ``scripts/system-deps.sh`` installs them). It runs under the
system Python as a subprocess on a free 127.0.0.1 port and is killed by PID at teardown. Tests
that need it are skipped, with the reason, when the packages are missing.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

# run by the system python3 (with gi) as the test RTSP server, never imported by pytest
collect_ignore = ["rtsp_server.py"]

import pytest

HERE = Path(__file__).resolve().parent
SERVER_SCRIPT = HERE / "rtsp_server.py"
SYSTEM_PYTHON = os.environ.get("TUBESCOPE_GST_PYTHON", "/usr/bin/python3")
TEST_TIME_LIMIT = 60  # seconds any one CCTV test may take

sys.path.insert(0, str(HERE))  # the stubs module


class TimeLimitExceeded(BaseException):
    """Raised in the main thread when a test runs too long.

    A BaseException (like KeyboardInterrupt), so no ``except Exception``/``except OSError`` in
    the code under test can swallow it.
    """


@pytest.fixture(autouse=True)
def _time_limit(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test (instead of hanging CI) if it runs past its limit."""
    marker = request.node.get_closest_marker("time_limit")
    limit = marker.args[0] if marker else TEST_TIME_LIMIT
    if not hasattr(signal, "SIGALRM"):  # pragma: no cover - not on Windows
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeLimitExceeded(f"test exceeded its {limit} s time limit")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "time_limit(seconds): per-test time limit of the CCTV tests")


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _gstreamer_missing() -> str | None:
    """Why the RTSP server cannot run here, or None when it can."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} not found (the GStreamer RTSP server runs under the system Python)"
    check = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
        "missing = [e for e in ('appsrc', 'videoconvert', 'x264enc', 'h264parse', 'rtph264pay')"
        " if Gst.ElementFactory.find(e) is None];"
        "print(','.join(missing))"
    )
    try:
        proc = subprocess.run(
            [SYSTEM_PYTHON, "-c", check], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"cannot run {SYSTEM_PYTHON}: {err}"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer RTSP server not importable ({last}); run scripts/system-deps.sh as root"
    if proc.stdout.strip():
        return (
            f"GStreamer elements missing: {proc.stdout.strip()}; run scripts/system-deps.sh as root"
        )
    return None


class RTSPServer:
    """The loopback test camera (``tests/integrations/cctv/rtsp_server.py``) run as a subprocess."""

    def __init__(
        self,
        red: str = "",
        fps: int = 10,
        t0: float | None = None,
        mount: str = "/cam",
        user: str = "",
        password: str = "",
    ) -> None:
        self.port = free_port()
        self.red = red
        self.fps = fps
        self.t0 = time.time() if t0 is None else t0
        self.mount = mount
        self.user = user
        self.password = password
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    def start(self, timeout: float = 15.0) -> None:
        cmd = [
            SYSTEM_PYTHON,
            str(SERVER_SCRIPT),
            "--port",
            str(self.port),
            "--mount",
            self.mount,
            "--fps",
            str(self.fps),
            "--red",
            self.red,
            "--t0",
            repr(self.t0),
            "--user",
            self.user,
            "--password",
            self.password,
        ]
        deadline = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            line = ""
            while time.monotonic() < deadline and self.proc.poll() is None:
                ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
                if ready:
                    line = self.proc.stdout.readline()  # type: ignore[union-attr]
                    break
            if line.startswith("READY"):
                return
            self.kill()
            if time.monotonic() >= deadline:  # e.g. the port is still held after a restart
                raise RuntimeError(f"RTSP test server did not start on port {self.port}: {line!r}")
            time.sleep(0.2)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


@pytest.fixture(scope="session")
def gstreamer() -> None:
    reason = _gstreamer_missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def rtsp_server(gstreamer: None) -> Iterator[Callable[..., RTSPServer]]:
    """Factory: ``rtsp_server(red="2-3.5", fps=10)`` starts a server; all are killed at teardown."""
    servers: list[RTSPServer] = []

    def start(**kwargs: object) -> RTSPServer:
        server = RTSPServer(**kwargs)  # type: ignore[arg-type]
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.kill()
