"""The web server of `s2i listen`: the page, live windows over a WebSocket, files over POST.

    GET  /            the page (and its script, style sheet and audio worklet)
    WS   /ws/live     binary messages of one window each (16000 samples, signed 16-bit
                      little-endian, 16 kHz mono); JSON answers, one per window, by `seq`
    POST /api/file    the raw bytes of any media file; NDJSON lines (info, windows, done)
    GET  /api/status  clients, queue and counters (the load test reads them)

Every window gets exactly one answer: an image, "quiet", or "skipped" with the reason.
No client string reaches a path or a command line: uploads get a server-chosen temp name
and are judged by probing their content with ffmpeg; errors are one plain sentence.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import shutil
import tempfile
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.websockets import WebSocketDisconnect, WebSocketState

from pipeline.media.decode import MediaError, decode_frames, probe
from pipeline.media.features import segment_slice
from pipeline.translation.imaginer import CONTEXT_SAMPLES, WINDOW_SAMPLES, Imaginer, Picture, level_dbfs, live_mel, png
from pipeline.translation.sounds import MEL, WINDOW_S, TranslateError, clip_log_mel, load_sound, window_starts

PAGE_DIR = Path(__file__).with_name("listen_page")
PAGE_FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/listen.js": ("listen.js", "text/javascript; charset=utf-8"),
    "/capture.js": ("capture.js", "text/javascript; charset=utf-8"),
    "/listen.css": ("listen.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
WINDOW_BYTES = 2 * WINDOW_SAMPLES
FILE_CHUNK_WINDOWS = 16  # file windows per model job (live windows run between chunks)
FRAME_FPS = 2.0  # video frames decoded per second; a window shows the frame at its centre
log = logging.getLogger("s2i.listen")


@dataclass
class Limits:
    max_upload_bytes: int = 100 * 2**20
    max_file_seconds: float = 600.0
    max_live_clients: int = 16
    max_file_jobs: int = 2
    windows_per_second: float = 1.5  # a client's sustained rate; the page sends 1 per second
    burst_windows: int = 4
    max_unanswered: int = 3  # a client's windows in flight; more are answered "skipped"
    quiet_dbfs: float = -50.0  # windows below this RMS level are "quiet", not imagined


class PlainError(Exception):
    """An answer for the person: an HTTP status and one plain sentence."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


MESSAGES = {
    "busy_files": "The server is busy with other files; please try again in a minute.",
    "busy_live": "The server is busy with other listeners; please try again in a minute.",
    "not_media": "This file is not a sound or video file that can be read.",
    "no_audio": "This file has no sound in it.",
    "empty": "The file is empty.",
    "failed": "The server could not imagine this file.",
    "window_size": f"Each message must hold one window of {WINDOW_SAMPLES} 16-bit samples.",
    "too_fast": "Too many windows: the page sends one each second.",
    "behind": "The server is behind; this second was not imagined.",
    "origin": "This page may only be used from its own address.",
}


def data_url(png_bytes: bytes | None) -> str | None:
    return None if png_bytes is None else "data:image/png;base64," + base64.b64encode(png_bytes).decode()


def picture_fields(picture: Picture) -> dict:
    return {"image": data_url(picture.image), "spread": data_url(picture.spread), "spread_mean": picture.spread_mean}


def too_large(limits: Limits) -> str:
    return f"The file is larger than the {limits.max_upload_bytes / 2**20:g} MB this server accepts."


def same_origin(headers) -> bool:
    """Browsers send Origin with WebSockets; it must name this server (other sites may not use it)."""
    origin = headers.get("origin")
    if origin is None:  # not a browser (the load test, curl)
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


class TokenBucket:
    def __init__(self, rate: float, burst: int):
        self.rate, self.burst, self.tokens, self.last = rate, burst, float(burst), time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


@dataclass
class Counters:
    live_clients: int = 0
    file_jobs: int = 0
    windows_received: int = 0
    answered_image: int = 0
    answered_quiet: int = 0
    answered_skipped: int = 0
    files_done: int = 0
    files_refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict:
        with self.lock:
            return {k: v for k, v in vars(self).items() if k != "lock"}


@dataclass
class MediaWindows:
    """A decoded file cut into windows: what the stream of answers needs."""

    starts: list[float]
    mels: np.ndarray
    levels: list[float]
    frames: list[bytes] | None  # PNG of the video frame at each window's centre
    duration_s: float
    padded: bool


def read_media(path: Path, limits: Limits) -> MediaWindows:
    """Probe, decode and cut an uploaded file (the same functions `s2i translate` uses)."""
    try:
        facts = probe(path)
        if facts["audio_streams"] == 0:
            raise PlainError(400, MESSAGES["no_audio"])
        if facts["duration"] > limits.max_file_seconds:
            raise PlainError(400, f"The sound is {facts['duration'] / 60:.1f} minutes long; this server takes files up to {limits.max_file_seconds / 60:g} minutes.")
        audio, info = load_sound(path, pad=True)
    except MediaError as err:
        raise PlainError(400, MESSAGES["no_audio"] if err.code == "no_audio" else MESSAGES["not_media"]) from err
    except TranslateError as err:
        raise PlainError(400, MESSAGES["not_media"]) from err
    if len(audio) > limits.max_file_seconds * MEL.sample_rate + WINDOW_SAMPLES:  # the header lied
        raise PlainError(400, f"The sound is longer than {limits.max_file_seconds / 60:g} minutes, the most this server takes.")
    starts = window_starts(len(audio), 1.0)
    spectrogram = clip_log_mel(audio)
    mels = np.stack([segment_slice(spectrogram, s, MEL) for s in starts])
    firsts = [int(round(s * MEL.sample_rate)) for s in starts]
    levels = [level_dbfs(audio[i : i + WINDOW_SAMPLES]) for i in firsts]
    frames = None
    if facts["video_streams"]:
        try:
            video = decode_frames(path, fps=FRAME_FPS, size=96)
        except MediaError:
            video = np.zeros((0, 96, 96, 3), np.uint8)  # a broken video track: show the sound's images alone
        if len(video):
            centre = [min(len(video) - 1, int(round((s + WINDOW_S / 2) * FRAME_FPS))) for s in starts]
            frames = [png(video[i]) for i in centre]
    return MediaWindows(starts, mels, levels, frames, info["duration_s"], info["padded_to_s"] is not None)


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Slot:
    """A place among the limited file jobs; released once, whichever path ends the job."""

    def __init__(self, counters: Counters):
        self.counters, self.held = counters, True
        counters.add("file_jobs")

    def release(self) -> None:
        if self.held:
            self.held = False
            self.counters.add("file_jobs", -1)


def make_app(imaginer: Imaginer, limits: Limits | None = None, model_info: dict | None = None) -> FastAPI:
    limits = Limits() if limits is None else limits  # each app its own: a default instance would be shared
    counters = Counters()
    work_dir = Path(tempfile.mkdtemp(prefix="s2i-listen-"))
    app = FastAPI(lifespan=stops_on_shutdown(imaginer, work_dir), docs_url=None, redoc_url=None, openapi_url=None)
    app.state.counters, app.state.work_dir, app.state.limits = counters, work_dir, limits
    app.middleware("http")(security_headers)
    add_page_routes(app)
    add_status_route(app, imaginer, counters, limits, model_info or {})
    app.add_api_route("/api/file", FileJobs(imaginer, limits, counters, work_dir).post, methods=["POST"])
    app.add_api_websocket_route("/ws/live", live_route(imaginer, limits, counters))
    return app


def stops_on_shutdown(imaginer: Imaginer, work_dir: Path):
    @asynccontextmanager
    async def lifespan(app):
        yield
        imaginer.stop()
        shutil.rmtree(work_dir, ignore_errors=True)

    return lifespan


async def security_headers(request: Request, call_next):
    response = await call_next(request)
    response.headers.update(SECURITY_HEADERS)
    return response


def add_page_routes(app: FastAPI) -> None:
    for route, (name, content_type) in PAGE_FILES.items():

        def page_file(name=name, content_type=content_type):
            return Response((PAGE_DIR / name).read_bytes(), media_type=content_type, headers={"Cache-Control": "no-cache"})

        app.add_api_route(route, page_file, methods=["GET"], include_in_schema=False)


def add_status_route(app: FastAPI, imaginer: Imaginer, counters: Counters, limits: Limits, model_info: dict) -> None:
    @app.get("/api/status")
    def status():
        return {
            **counters.as_dict(),
            "queued_windows": imaginer.waiting(),
            "batches": imaginer.batches,
            "samples": imaginer.samples,
            "model": model_info,
            "limits": {"max_upload_bytes": limits.max_upload_bytes, "max_file_seconds": limits.max_file_seconds, "quiet_dbfs": limits.quiet_dbfs},
        }


class FileJobs:
    """POST /api/file: take a slot, receive the upload, decode it, then stream one answer line per window."""

    def __init__(self, imaginer: Imaginer, limits: Limits, counters: Counters, work_dir: Path):
        self.imaginer, self.limits, self.counters, self.work_dir = imaginer, limits, counters, work_dir

    async def post(self, request: Request):
        if self.counters.file_jobs >= self.limits.max_file_jobs:
            self.counters.add("files_refused")
            return error_response(503, MESSAGES["busy_files"])
        slot = Slot(self.counters)
        try:
            windows = await self.receive_upload(request)
        except PlainError as err:
            slot.release()
            self.counters.add("files_refused")
            return error_response(err.status, str(err))
        except ClientDisconnect:
            slot.release()
            return Response(status_code=400)
        except BaseException:
            slot.release()
            raise
        return StreamingResponse(self.answer_file(windows, slot), media_type="application/x-ndjson", headers={"Cache-Control": "no-store"})

    async def receive_upload(self, request: Request) -> MediaWindows:
        limits = self.limits
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limits.max_upload_bytes:
            raise PlainError(413, too_large(limits))
        handle = tempfile.NamedTemporaryFile(dir=self.work_dir, prefix="upload-", suffix=".bin", delete=False)
        path = Path(handle.name)
        try:
            size = 0
            with handle:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limits.max_upload_bytes:
                        raise PlainError(413, too_large(limits))
                    handle.write(chunk)
            if size == 0:
                raise PlainError(400, MESSAGES["empty"])
            return await run_in_threadpool(read_media, path, limits)
        finally:
            path.unlink(missing_ok=True)

    async def answer_file(self, media: MediaWindows, slot: Slot):
        loud = [i for i, level in enumerate(media.levels) if level >= self.limits.quiet_dbfs]
        futures = []
        try:
            yield line({"kind": "info", "windows": len(media.starts), "duration_s": media.duration_s, "video": media.frames is not None, "padded": media.padded})
            chunks = [loud[i : i + FILE_CHUNK_WINDOWS] for i in range(0, len(loud), FILE_CHUNK_WINDOWS)]
            futures = [self.imaginer.submit(media.mels[chunk], live=False) for chunk in chunks]
            chunk_of = {index: n for n, chunk in enumerate(chunks) for index in chunk}
            ready: dict[int, Picture] = {}
            for index in range(len(media.starts)):
                if index in chunk_of and index not in ready:
                    n = chunk_of[index]
                    ready.update(zip(chunks[n], await asyncio.wrap_future(futures[n])))
                yield line(file_window(media, index, ready.pop(index, None)))
            self.counters.add("files_done")
            yield line({"kind": "done"})
        except Exception:
            log.exception("file failed")
            yield line({"kind": "error", "message": MESSAGES["failed"]})
        finally:
            for future in futures:
                future.cancel()
            slot.release()


def file_window(media: MediaWindows, index: int, picture: Picture | None) -> dict:
    start = media.starts[index]
    entry = {"kind": "window", "index": index, "start_s": start, "end_s": round(start + WINDOW_S, 4), "quiet": picture is None, "level_db": round(media.levels[index], 1)}
    if picture is not None:
        entry.update(picture_fields(picture))
    if media.frames is not None:
        entry["frame"] = data_url(media.frames[index])
    return entry


def live_route(imaginer: Imaginer, limits: Limits, counters: Counters):
    """WS /ws/live: refuse other sites' pages and clients beyond the limit, then serve one LiveClient."""

    async def live(ws: WebSocket):
        if not same_origin(ws.headers):
            await ws.close(code=1008, reason=MESSAGES["origin"])
            return
        await ws.accept()
        if counters.live_clients >= limits.max_live_clients:
            await ws.send_json({"kind": "error", "message": MESSAGES["busy_live"]})
            await ws.close(code=1013)
            return
        counters.add("live_clients")
        try:
            await LiveClient(ws, imaginer, limits, counters).run()
        finally:
            counters.add("live_clients", -1)

    return live


def line(obj: dict) -> bytes:
    return (json.dumps(obj, separators=(",", ":")) + "\n").encode()


class LiveClient:
    """One WebSocket: windows in, one answer per window out; all its work ends when it goes."""

    def __init__(self, ws: WebSocket, imaginer: Imaginer, limits: Limits, counters: Counters):
        self.ws, self.imaginer, self.limits, self.counters = ws, imaginer, limits, counters
        self.bucket = TokenBucket(limits.windows_per_second, limits.burst_windows)
        self.context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self.tasks: set[asyncio.Task] = set()
        self.send_lock = asyncio.Lock()

    async def run(self) -> None:
        await self.send({"kind": "ready", "sample_rate": MEL.sample_rate, "window_samples": WINDOW_SAMPLES, "format": "s16le", "quiet_dbfs": self.limits.quiet_dbfs})
        seq = 0
        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None or len(data) != WINDOW_BYTES:
                    await self.refuse(1003, MESSAGES["window_size"])
                    break
                if not self.bucket.take():
                    await self.refuse(1008, MESSAGES["too_fast"])
                    break
                seq += 1
                self.counters.add("windows_received")
                window = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
                context, self.context = self.context, window[-CONTEXT_SAMPLES:]
                if len(self.tasks) >= self.limits.max_unanswered:
                    await self.skipped(seq)
                    continue
                task = asyncio.create_task(self.answer(seq, context, window))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)
        except WebSocketDisconnect:
            pass
        finally:
            for task in list(self.tasks):  # the client is gone: its windows leave the model's queue
                task.cancel()

    async def answer(self, seq: int, context: np.ndarray, window: np.ndarray) -> None:
        try:
            reply = await self.imagine(seq, context, window)
            text = json.dumps(reply, separators=(",", ":"))
        except asyncio.CancelledError:
            raise
        except Exception:  # the window still gets its one answer
            log.exception("live window %d failed", seq)
            await self.skipped(seq)
            return
        self.counters.add("answered_quiet" if reply["quiet"] else "answered_image")
        await self.send(text)

    async def imagine(self, seq: int, context: np.ndarray, window: np.ndarray) -> dict:
        level = level_dbfs(window)
        reply = {"kind": "window", "seq": seq, "level_db": round(level, 1), "quiet": level < self.limits.quiet_dbfs}
        if not reply["quiet"]:
            mel = await run_in_threadpool(live_mel, context, window)
            (picture,) = await asyncio.wrap_future(self.imaginer.submit(mel[None], live=True))
            reply.update(picture_fields(picture))
        return reply

    async def skipped(self, seq: int) -> None:
        self.counters.add("answered_skipped")
        await self.send({"kind": "skipped", "seq": seq, "message": MESSAGES["behind"]})

    async def refuse(self, code: int, message: str) -> None:
        """Answer the windows already taken, then say why and close."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=10)
        await self.send({"kind": "error", "message": message})
        await self.ws.close(code=code)

    async def send(self, message: dict | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message, separators=(",", ":"))
        async with self.send_lock:
            if self.ws.application_state != WebSocketState.CONNECTED:
                return
            try:
                await self.ws.send_text(text)
            except (WebSocketDisconnect, RuntimeError, OSError):
                pass  # the client went away; its other work is cancelled by run()
