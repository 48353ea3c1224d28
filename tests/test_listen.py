"""`s2i listen`: the page in headless Chromium (fake microphone playing a wav), the server's limits.

The server runs as a user starts it (`python -m pipeline.commands.cli listen`) with a tiny random-weight
model. Each browser test ends with a screenshot of what it checked (the README's come from
docs/listen_screenshots.py, with the trained demo model and demo clips).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import statistics
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from listen_process import SAMPLE_RATE, ListenProcess, pcm16, tone_and_noise, write_wav
from pipeline.commands.translate import clip_log_mel
from pipeline.translation.imaginer import CONTEXT_SAMPLES, live_mel
from test_translate import encode, save_tiny_model

REPO = Path(__file__).resolve().parents[1]
MAX_UPLOAD_MB, MAX_FILE_MINUTES, MAX_CLIENTS = 1, 0.5, 3


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    listen = ListenProcess(
        model_dir, tmp_path_factory.mktemp("listen") / "tmp", "--max-upload-mb", str(MAX_UPLOAD_MB), "--max-file-minutes", str(MAX_FILE_MINUTES), "--max-clients", str(MAX_CLIENTS)
    )
    yield listen
    work_dirs = list(listen.tmp_dir.iterdir())
    assert listen.stop() == 0
    assert not list(listen.tmp_dir.iterdir()), "the server left files behind"
    assert [p.name for p in work_dirs if p.name.startswith("s2i-listen-")], "uploads had no work folder"
    assert "Traceback" not in listen.stderr_text()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    sound = np.concatenate([tone_and_noise(3.0, 48000), np.zeros(3 * 48000, np.float32)])
    (root / "notes.mp4").write_text("shopping list: milk, bread\n")  # named like a video, it is not one
    return {
        "microphone": write_wav(root / "microphone.wav", sound, 48000),  # 3 s of sound, 3 s of silence, looped
        "mp4": encode(root / "street.mp4", 3.0, video=True),
        "video_only": encode(root / "mute.mp4", 2.0, video=True, audio=False),
        "long": write_wav(root / "long.wav", tone_and_noise(40.0, 8000), 8000),
        "not_media": root / "notes.mp4",
    }


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    with Image.open(path) as image:
        assert image.size[0] > 300
    return path


def answers(page) -> list[dict]:
    return page.evaluate("window.s2i.answers")


def test_live_microphone_shows_an_image_every_second(server, launch_chromium, media, tmp_path):
    browser = launch_chromium("--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={media['microphone']}")
    page = browser.new_context(permissions=["microphone"], viewport={"width": 1000, "height": 1300}).new_page()
    page.goto(server.url)
    page.keyboard.press("Tab")  # keyboard only: the first stop is the one button
    assert page.evaluate("document.activeElement.id") == "listen"
    page.keyboard.press("Enter")
    assert page.get_attribute("#listen", "aria-pressed") == "true"
    page.wait_for_function("() => +document.getElementById('level').getAttribute('aria-valuenow') > 40")  # sound heard
    strip_sizes = []
    page.wait_for_function("() => window.s2i.answers.filter(a => a.kind === 'window' && !a.quiet).length >= 1")
    for _ in range(3):  # the strip grows by one each second
        strip_sizes.append(page.locator("#strip li").count())
        page.wait_for_function(f"() => document.querySelectorAll('#strip li').length > {strip_sizes[-1]}", timeout=5000)
    page.wait_for_function("() => window.s2i.answers.some(a => a.quiet) && window.s2i.answers.filter(a => a.kind === 'window' && !a.quiet).length >= 3", timeout=15000)
    page.wait_for_function("() => !window.s2i.answers[window.s2i.answers.length - 1].quiet", timeout=10000)
    got = answers(page)
    assert [a["seq"] for a in got] == list(range(1, len(got) + 1))  # every window answered, in order
    assert all(a["kind"] == "window" for a in got)  # none skipped
    assert page.evaluate("window.s2i.windowsSent") - len(got) <= 1  # at most the one in flight
    gaps = np.diff([a["arrived"] for a in got]) / 1000
    assert 0.8 < statistics.median(gaps) < 1.2, gaps  # one per second
    assert strip_sizes[1] == strip_sizes[0] + 1 and strip_sizes[2] == strip_sizes[1] + 1
    newest = page.locator("#newest")
    assert newest.is_visible() and page.evaluate("document.getElementById('newest').naturalWidth") == 96
    assert newest.bounding_box()["width"] >= 300  # large
    assert "Picture imagined from the sound at" in newest.get_attribute("alt")
    assert page.locator("#spread").is_visible()
    assert page.locator("#strip li .tile", has_text="quiet").count() >= 1  # silence: the calm quiet tile
    screenshot(page, tmp_path, "listen_live.png")

    page.wait_for_function("() => window.s2i.answers[window.s2i.answers.length - 1].quiet", timeout=10000)
    assert page.locator("#quiet").is_visible() and not newest.is_visible()
    assert not page.locator("#spread-figure").is_visible()
    assert page.inner_text("#quiet").startswith("Quiet")

    page.keyboard.press("Space")  # the same button stops
    assert page.get_attribute("#listen", "aria-pressed") == "false"
    assert page.inner_text("#status").startswith("Stopped")
    deadline = time.monotonic() + 10
    while server.status()["live_clients"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert server.status()["live_clients"] == 0
    assert page.evaluate("document.querySelectorAll('audio, video').length") == 0  # no sound is ever played


def test_refused_microphone_is_said_plainly(server, launch_chromium):
    browser = launch_chromium("--use-fake-device-for-media-stream")  # no permission given: headless refuses
    page = browser.new_page()
    page.goto(server.url)
    page.click("#listen")
    page.wait_for_selector("#live-error:not([hidden])")
    assert page.inner_text("#live-error").startswith("The browser did not allow the microphone.")
    assert page.get_attribute("#live-error", "role") == "alert"
    assert page.get_attribute("#listen", "aria-pressed") == "false"


def test_video_file_gives_a_timeline_with_its_frames(server, browser, media, tmp_path):
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(server.url)
    page.set_input_files("#file", str(media["mp4"]))
    page.wait_for_function("() => document.getElementById('file-status').textContent.includes('one row each')")
    rows = page.locator("#timeline li")
    assert rows.count() == 3
    assert [rows.nth(i).locator(".time").inner_text() for i in range(3)] == ["0:00–0:01", "0:01–0:02", "0:02–0:03"]
    for i in range(3):
        pictures = rows.nth(i).locator("img")
        assert [pictures.nth(k).get_attribute("alt").split(" at ")[0] for k in range(pictures.count())] == ["Video frame", "Imagined from the sound", "Spread"]
        assert page.evaluate("(row) => [...row.querySelectorAll('img')].every(i => i.complete && i.naturalWidth === 96)", rows.nth(i).element_handle())
    # the frame beside each image is the video's own frame at the window's centre (testsrc moves)
    frames = page.evaluate("[...document.querySelectorAll('#timeline li figure:first-of-type img')].map(i => i.src)")
    assert len(set(frames)) == 3
    assert page.locator("#file-error").is_hidden()
    screenshot(page, tmp_path, "listen_file.png")

    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#listen").bounding_box()["width"] >= 300


def test_a_file_that_is_not_media_gets_one_sentence(server, browser, media, tmp_path):
    page = browser.new_page(viewport={"width": 900, "height": 700})
    page.goto(server.url)
    page.set_input_files("#file", str(media["not_media"]))
    page.wait_for_selector("#file-error:not([hidden])")
    assert page.inner_text("#file-error") == "This file is not a sound or video file that can be read."
    assert page.locator("#timeline li").count() == 0
    page.locator("#file-error").scroll_into_view_if_needed()
    screenshot(page, tmp_path, "listen_error.png")


def post(url: str, body, headers: dict | None = None) -> tuple[int, bytes]:
    """POST and read the answer, also when the server answers (413) before the body is all sent,
    as a browser does; urllib would raise BrokenPipeError there, depending on timing."""
    parts, headers = urlsplit(url), headers or {}
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        try:
            conn.request("POST", parts.path, body=body, headers=headers, encode_chunked=headers.get("Transfer-Encoding") == "chunked")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = conn.getresponse()
        return reply.status, reply.read()
    finally:
        conn.close()


def test_uploads_are_judged_by_content_and_size(server, media):
    url = server.url + "api/file"
    too_big = os.urandom(MAX_UPLOAD_MB * 2**20 + 1)
    for headers, body in (({}, too_big), ({"Transfer-Encoding": "chunked"}, iter([too_big[: 2**20], too_big[2**20 :]]))):
        code, text = post(url, body, headers)
        assert code == 413 and json.loads(text) == {"error": f"The file is larger than the {MAX_UPLOAD_MB} MB this server accepts."}
    assert post(url, media["video_only"].read_bytes()) == (400, b'{"error":"This file has no sound in it."}')
    assert post(url, b"") == (400, b'{"error":"The file is empty."}')
    code, text = post(url, media["long"].read_bytes())
    assert code == 400 and json.loads(text)["error"] == f"The sound is 0.7 minutes long; this server takes files up to {MAX_FILE_MINUTES:g} minutes."
    # the content decides, not the name or the type the client claims
    code, text = post(url, media["mp4"].read_bytes(), {"Content-Type": "text/plain"})
    lines = [json.loads(line) for line in text.decode().splitlines()]
    assert code == 200 and lines[0] == {"kind": "info", "windows": 3, "duration_s": lines[0]["duration_s"], "video": True, "padded": False}
    assert [w["index"] for w in lines[1:-1]] == [0, 1, 2] and lines[-1] == {"kind": "done"}
    for window in lines[1:-1]:
        for key in ("image", "spread", "frame"):
            assert data_image(window[key]).size == (96, 96)
    assert not [p for d in server.tmp_dir.glob("s2i-listen-*") for p in d.iterdir()]  # uploads removed
    status = server.status()
    assert status["file_jobs"] == 0 and status["files_refused"] >= 5


def test_busy_file_slots_and_abandoned_uploads(server):
    """Two uploads that never finish hold both file slots: a third is told the server is busy;
    when their clients vanish, the slots and the partial temp files are freed."""
    host, port = urlsplit(server.url).hostname, urlsplit(server.url).port
    stalled = []
    for _ in range(2):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.putrequest("POST", "/api/file")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        conn.send(b"10\r\n" + b"x" * 16 + b"\r\n")
        stalled.append(conn)
    deadline = time.monotonic() + 10
    while server.status()["file_jobs"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert post(server.url + "api/file", b"RIFF") == (503, b'{"error":"The server is busy with other files; please try again in a minute."}')
    assert len([p for d in server.tmp_dir.glob("s2i-listen-*") for p in d.iterdir()]) == 2
    for conn in stalled:
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
    deadline = time.monotonic() + 10
    while server.status()["file_jobs"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.status()["file_jobs"] == 0
    assert not [p for d in server.tmp_dir.glob("s2i-listen-*") for p in d.iterdir()]


def data_image(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def window_bytes(audio: np.ndarray) -> bytes:
    return pcm16(audio[:SAMPLE_RATE])


def receive(ws) -> dict:
    return json.loads(ws.recv(timeout=30))


def test_live_protocol_one_answer_per_window(server):
    with connect(server.ws_url, max_size=2**22) as ws:
        ready = receive(ws)
        assert ready["kind"] == "ready" and ready["window_samples"] == SAMPLE_RATE and ready["format"] == "s16le"
        sound = tone_and_noise(2.0)
        for chunk in (sound[:SAMPLE_RATE], np.zeros(SAMPLE_RATE, np.float32), sound[SAMPLE_RATE:]):
            ws.send(window_bytes(chunk))
        replies = sorted((receive(ws) for _ in range(3)), key=lambda r: r["seq"])
        assert [(r["seq"], r["kind"], r["quiet"]) for r in replies] == [(1, "window", False), (2, "window", True), (3, "window", False)]
        for reply in (replies[0], replies[2]):
            image = data_image(reply["image"])
            assert image.size == (96, 96) and image.mode == "RGB"
            assert reply["spread_mean"] > 0  # 4 samples differ (dropout stays on)
        assert replies[1]["level_db"] == -120.0 and "image" not in replies[1]


@pytest.mark.parametrize(
    "message, code, error",
    [(b"\0" * 1000, 1003, "Each message must hold one window of 16000 16-bit samples."), ("hello", 1003, "Each message must hold one window of 16000 16-bit samples.")],
)
def test_live_refuses_malformed_windows(server, message, code, error):
    with connect(server.ws_url) as ws:
        receive(ws)
        ws.send(message)
        assert receive(ws) == {"kind": "error", "message": error}
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == code


def test_live_limits_size_rate_clients_and_origin(server):
    with connect(server.ws_url) as ws:  # larger than any window: uvicorn closes at once
        receive(ws)
        ws.send(b"\0" * 100_000)
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009
    with connect(server.ws_url, max_size=2**22) as ws:  # faster than 1 window a second, beyond the burst
        receive(ws)
        kinds = []
        try:
            for _ in range(20):
                ws.send(window_bytes(np.zeros(SAMPLE_RATE, np.float32)))
        except ConnectionClosed:  # the server may close before all 20 are out
            pass
        with pytest.raises(ConnectionClosed) as closed:
            while True:  # what came before the close is still read
                kinds.append(receive(ws)["kind"])
        burst = 4  # Limits.burst_windows: each of them is answered first
        assert closed.value.rcvd.code == 1008 and kinds[-1] == "error" and burst <= len(kinds) - 1 <= burst + 1
        assert set(kinds[:-1]) <= {"window", "skipped"} and kinds.count("window") >= 3
    with pytest.raises(InvalidStatus) as refused:  # another site's page may not use the server
        connect(server.ws_url, origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with ExitStack() as stack:
        for _ in range(MAX_CLIENTS):
            assert receive(stack.enter_context(connect(server.ws_url)))["kind"] == "ready"
        with connect(server.ws_url) as extra:
            assert receive(extra) == {"kind": "error", "message": "The server is busy with other listeners; please try again in a minute."}


def test_a_client_that_vanishes_frees_its_work(server):
    before = server.status()
    with connect(server.ws_url) as ws:
        receive(ws)
        sound = tone_and_noise(3.0)
        for k in range(3):
            ws.send(window_bytes(sound[k * SAMPLE_RATE :]))
        ws.socket.shutdown(socket.SHUT_RDWR)  # gone without a closing handshake
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        status = server.status()
        if status["live_clients"] == 0 and status["queued_windows"] == 0:
            break
        time.sleep(0.1)
    assert status["live_clients"] == 0 and status["queued_windows"] == 0
    assert status["windows_received"] == before["windows_received"] + 3


def test_live_log_mel_is_the_one_translate_computes():
    """A window's log-Mel, given the previous window's tail, equals `s2i translate`'s slice of the recording."""
    sound = tone_and_noise(3.0, seed=4)
    reference = clip_log_mel(sound)[:, 100:200]  # translate's frames of the second window
    mel = live_mel(sound[SAMPLE_RATE - CONTEXT_SAMPLES : SAMPLE_RATE], sound[SAMPLE_RATE : 2 * SAMPLE_RATE])
    assert mel.shape == (128, 100)
    np.testing.assert_allclose(mel[:, :99], reference[:, :99], atol=1e-4)  # the last frame lacks the next window
    assert np.abs(mel[:, 99] - reference[:, 99]).mean() < 1.0


def self_signed(folder: Path) -> tuple[Path, Path]:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return folder / "cert.pem", folder / "key.pem"


def test_https_and_bad_arguments(model_dir, tmp_path):
    import ssl

    cert, key = self_signed(tmp_path)
    listen = ListenProcess(model_dir, tmp_path / "tmp", "--certfile", str(cert), "--keyfile", str(key))
    try:
        assert listen.url.startswith("https://127.0.0.1:")
        context = ssl.create_default_context(cafile=str(cert))
        with urllib.request.urlopen(listen.url, context=context, timeout=10) as page:
            assert b"Start listening" in page.read()
    finally:
        assert listen.stop() == 0
    for args, message in (
        (["--certfile", str(cert)], "s2i listen: --certfile and --keyfile go together"),
        (["--model", str(tmp_path / "nothing")], f"s2i listen: {tmp_path / 'nothing'}/autoencoder/best.pt"),
    ):
        done = subprocess.run([sys.executable, "-m", "pipeline.commands.cli", "listen", *args], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 2 and done.stderr.startswith(message) and len(done.stderr.splitlines()) == 1
