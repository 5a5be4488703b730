#!/usr/bin/env python3
"""A loopback RTSP test camera: GStreamer's RTSP server with a synthetic H.264 stream.

Run with the *system* Python (``/usr/bin/python3``), which has the Debian ``python3-gi`` and
``gir1.2-gst-rtsp-server-1.0`` packages; the project's virtualenv cannot import ``gi``.

The picture is a grey 160x120 frame at ``--fps``; during the seconds listed in ``--red``
(counted from ``--t0``, a Unix time, default: now) a red square is drawn in it, so a test
knows from the wall clock alone what a client should see, even across server restarts.

    /usr/bin/python3 rtsp_server.py --port 8554 --mount /cam --fps 10 --red 2-3.5,8-9.5

With ``--user`` and ``--password`` the server requires RTSP basic authentication (a client
with other credentials gets 401). It prints ``READY <port>`` on stdout once it listens on
127.0.0.1 and serves until killed. Only loopback is used.
"""

from __future__ import annotations

import argparse
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

WIDTH, HEIGHT = 160, 120
SQUARE = (60, 40, 100, 80)  # x1, y1, x2, y2 of the red square


def make_frame(red: bool) -> bytes:
    grey = bytes((90, 90, 90))
    row = grey * WIDTH
    if not red:
        return row * HEIGHT
    x1, y1, x2, y2 = SQUARE
    red_row = grey * x1 + bytes((220, 30, 30)) * (x2 - x1) + grey * (WIDTH - x2)
    return row * y1 + red_row * (y2 - y1) + row * (HEIGHT - y2)


def parse_spans(text: str) -> list[tuple[float, float]]:
    spans = []
    for part in filter(None, text.split(",")):
        start, end = part.split("-")
        spans.append((float(start), float(end)))
    return spans


class Factory(GstRtspServer.RTSPMediaFactory):
    def __init__(self, fps: int, spans: list[tuple[float, float]], t0: float) -> None:
        super().__init__()
        self.fps = fps
        self.spans = spans
        self.t0 = t0
        self.frames = {False: make_frame(False), True: make_frame(True)}
        self.duration = Gst.SECOND // fps
        self.set_shared(True)

    def do_create_element(self, url):  # noqa: N802 (GStreamer virtual method)
        launch = (
            f"( appsrc name=src is-live=true format=time block=false "
            f"caps=video/x-raw,format=RGB,width={WIDTH},height={HEIGHT},framerate={self.fps}/1 "
            "! videoconvert ! video/x-raw,format=I420 "
            f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={self.fps} bitrate=300 "
            "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        return Gst.parse_launch(launch)

    def do_configure(self, media):  # noqa: N802
        state = {"n": 0}
        src = media.get_element().get_child_by_name("src")

        def need_data(appsrc, _length):
            now = time.time() - self.t0
            red = any(a <= now < b for a, b in self.spans)
            buf = Gst.Buffer.new_wrapped(self.frames[red])
            buf.pts = buf.dts = state["n"] * self.duration
            buf.duration = self.duration
            state["n"] += 1
            appsrc.emit("push-buffer", buf)

        src.connect("need-data", need_data)


def require_credentials(server, factory, user: str, password: str) -> None:
    """Basic authentication: only ``user``/``password`` may see and play the mount."""
    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "user")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    factory.add_role_from_structure(
        Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", default="/cam")
    parser.add_argument("--fps", type=int, default=10)
    parser.add_argument("--red", default="", help="comma-separated START-END seconds after --t0")
    parser.add_argument("--t0", type=float, default=None)
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    args = parser.parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = Factory(
        args.fps, parse_spans(args.red), args.t0 if args.t0 is not None else time.time()
    )
    if args.user:
        require_credentials(server, factory, args.user, args.password)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"FAILED to listen on 127.0.0.1:{args.port}", flush=True)
        return 1
    print(f"READY {args.port}", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
