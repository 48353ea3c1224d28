"""A small HTTP server on 127.0.0.1 for download tests: Range requests and failures on demand.

    with Loopback() as web:
        web.add("/a.mp4", data)                          # plain file, Range supported
        web.add("/gone.mp4", status=404)
        web.add("/busy.mp4", data, busy=2, retry_after=1)  # 429 twice, then the file
        web.add("/stall.mp4", data, stall=True)          # headers, then silence
        web.add("/cut.mp4", data, cut_at=1000)           # claims the full length, ends at byte 1000
        web.add("/big.zip", data, cut_at=5000, cuts=1)   # only the first response is cut
        web.add("/slow.mp4", data, rate=20000)           # streams 20 kB/s
        url = web.url("/a.mp4")

The server runs in daemon threads, answers only 127.0.0.1, and shuts itself down after
`lifetime` seconds even when a test forgets to; stalls end when the server stops.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 4096
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


@dataclass
class Route:
    data: bytes = b""
    status: int = 200
    content_type: str = "video/mp4"
    busy: int = 0  # answer 429 this many times first
    retry_after: float = 1.0
    stall: bool = False  # send headers then nothing
    stall_before_headers: bool = False
    cut_at: int | None = None  # the body never goes past this byte offset
    cuts: int | None = None  # cut only the first N responses (None: every response)
    rate: float | None = None  # bytes per second
    served: int = 0  # responses that sent a body


class Loopback:
    def __init__(self, lifetime: float = 120.0):
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, str, int, float]] = []  # (path, Range header, status, time)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.lifetime = lifetime
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]

    def add(self, path: str, data: bytes = b"", **behaviour) -> str:
        self.routes[path] = Route(data=data, **behaviour)
        return self.url(path)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def requests(self, path: str) -> list[tuple[str, str, int, float]]:
        with self.lock:
            return [entry for entry in self.log if entry[0] == path]

    def __enter__(self) -> "Loopback":
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self.timer = threading.Timer(self.lifetime, self.stop)
        self.timer.daemon = True
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.timer.cancel()
        self.stop()

    def stop(self) -> None:
        if not self.stopping.is_set():
            self.stopping.set()
            self.server.shutdown()
            self.server.server_close()


def _handler_class(web: Loopback):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_HEAD(self):
            self._serve(body=False)

        def do_GET(self):
            self._serve(body=True)

        def _record(self, status: int) -> None:
            with web.lock:
                web.log.append((self.path, self.headers.get("Range", ""), status, time.monotonic()))

        def _plain(self, status: int, extra: dict | None = None) -> None:
            self._record(status)
            self.send_response(status)
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        def _serve(self, body: bool) -> None:
            route = web.routes.get(self.path.split("?")[0])
            if route is None or route.status == 404:
                return self._plain(404)
            if route.status != 200:
                return self._plain(route.status)
            with web.lock:
                busy = route.busy > 0
                if busy:
                    route.busy -= 1
            if busy:
                return self._plain(429, {"Retry-After": f"{route.retry_after:g}"})
            if route.stall_before_headers:
                self._record(0)
                web.stopping.wait()
                return
            self._send_file(route, body)

        def _send_file(self, route: Route, body: bool) -> None:
            size = len(route.data)
            start, end = 0, size - 1
            match = _RANGE.match(self.headers.get("Range", ""))
            status = 200
            if match:
                start = int(match.group(1))
                end = int(match.group(2)) if match.group(2) else size - 1
                if start >= size:
                    return self._plain(416, {"Content-Range": f"bytes */{size}"})
                end = min(end, size - 1)
                status = 206
            self._record(status)
            self.send_response(status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(end - start + 1))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if not body:
                return
            with web.lock:
                route.served += 1
                cut = route.cut_at is not None and (route.cuts is None or route.served <= route.cuts)
            stop = min(end + 1, route.cut_at) if cut else end + 1
            if route.stall:
                web.stopping.wait()
                return
            try:
                self._stream(route.data, start, stop, route.rate)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _stream(self, data: bytes, start: int, stop: int, rate: float | None) -> None:
            chunk = CHUNK if rate is None else max(1, min(CHUNK, int(rate / 20)))
            pos = start
            while pos < stop and not web.stopping.is_set():
                piece = data[pos : min(pos + chunk, stop)]
                self.wfile.write(piece)
                self.wfile.flush()
                pos += len(piece)
                if rate:
                    time.sleep(len(piece) / rate)

    return Handler
