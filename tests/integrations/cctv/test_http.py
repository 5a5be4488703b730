"""HTTP(S) and HLS through the stream source, served from a loopback HTTP server."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator

import av
import pytest
from tubescope.integrations.cctv import StreamSource, open_source
from tubescope.synthetic import make_clip, read_barcode


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("http")
    make_clip(root / "clip.mp4", width=160, height=120, num_frames=30, fps=10)
    with (
        av.open(str(root / "clip.mp4")) as source,
        av.open(
            str(root / "index.m3u8"),
            "w",
            format="hls",
            options={"hls_time": "1", "hls_playlist_type": "vod"},
        ) as playlist,
    ):
        video = source.streams.video[0]
        stream = playlist.add_stream_from_template(video)
        for packet in source.demux(video):
            if packet.dts is not None:
                packet.stream = stream
                playlist.mux(packet)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    thread.join(5)


@pytest.mark.parametrize("name", ["clip.mp4", "index.m3u8"])
def test_recordings_over_http_and_hls_play_to_the_end_and_stop(http_root: str, name: str) -> None:
    source = open_source(f"{http_root}/{name}", read_timeout=3)
    assert isinstance(source, StreamSource)
    frames = list(source)
    assert [read_barcode(f.image) for f in frames] == list(range(30))
    assert source.stats.state == "ended" and source.stats.reconnects == 0 and source.stats.fps == 10


def test_live_flag_makes_an_http_stream_reconnect_at_its_end(http_root: str) -> None:
    source = StreamSource(f"{http_root}/clip.mp4", live=True, read_timeout=3)
    seen = 0
    for frame in source:
        seen += 1
        if frame.segment == 1:  # the "camera" came back after the end of stream
            source.stop()
    assert source.stats.reconnects == 1 and source.stats.disconnects == 1 and seen == 31


def test_http_404_is_a_not_found_error_at_the_first_connect(http_root: str) -> None:
    from tubescope.integrations.cctv import SourceNotFoundError

    with pytest.raises(SourceNotFoundError, match="no such stream"):
        list(StreamSource(f"{http_root}/missing.m3u8"))
