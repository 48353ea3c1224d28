"""Latency of `s2i listen`: a window's last sample sent -> its image shown (goal: p95 < 250 ms at the demo widths).

    python benchmarks/bench_listen.py [--windows 20] [--samples 4] [--widths demo,1.0] [--threads N]

For each width it saves random-weight models (the speed does not depend on the weights),
starts the server in this process on 127.0.0.1 and opens the page in headless Chromium
(Debian's, through Playwright) whose fake microphone plays a looping wav of tone and noise.
The page itself records, per window, the time from `WebSocket.send` of the window to the
decoded image on screen (`window.s2i.latencies`); the first 2 windows are left out. The floor
is the model's own work for one window (log-Mel excluded: encoder, `samples` generator draws,
PNGs), timed in this process; the ratio says how much the server and the browser add.
Prints one "name: value" line per figure.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from bench_translate import save_random_model  # noqa: E402
from listen_process import tone_and_noise, write_wav  # noqa: E402
from pipeline.commands import translate  # noqa: E402
from pipeline.commands.listen import open_socket  # noqa: E402
from pipeline.core.params import load_params  # noqa: E402
from pipeline.translation.imaginer import Imaginer  # noqa: E402
from pipeline.translation.listen_server import make_app  # noqa: E402

SKIP_FIRST = 2


def model_floor_ms(imaginer: Imaginer, warm: int = 10, repeats: int = 30) -> float:
    mel = np.random.default_rng(0).normal(-6, 2, (1, 128, 100)).astype(np.float32)
    for _ in range(warm):
        imaginer.submit(mel, live=True).result()
    times = []
    for _ in range(repeats):  # through the worker thread, the one that serves the clients
        start = time.perf_counter()
        imaginer.submit(mel, live=True).result()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def start_server(app):
    import uvicorn

    sock = open_socket("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, ws_max_size=64 * 1024))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}/"


def page_latencies(url: str, wav: Path, windows: int) -> list[float]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"])
        page = browser.new_context(permissions=["microphone"]).new_page()
        page.goto(url)
        page.click("#listen")
        page.wait_for_function(f"() => window.s2i.latencies.length >= {windows + SKIP_FIRST}", timeout=(windows + SKIP_FIRST + 30) * 1000)
        latencies = page.evaluate("window.s2i.latencies")
        answers = page.evaluate("window.s2i.answers")
        browser.close()
    assert all(a["kind"] == "window" and not a["quiet"] for a in answers), "a window was skipped or quiet"
    return latencies[SKIP_FIRST : SKIP_FIRST + windows]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=20, help="windows timed per width (each takes 1 s)")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--widths", default="demo,1.0", help="comma list: demo (params.yaml) and/or numbers")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params()
    print(f"device: cpu threads={torch.get_num_threads()}")
    print(f"config: {args.windows} windows of 1 s from Chromium's fake microphone, samples={args.samples}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wav = write_wav(tmp / "microphone.wav", tone_and_noise(12.0, 48000), 48000)
        for width in args.widths.split(","):
            emb_dim = params["emb_dim"]
            if width == "demo":
                ae_w, g_w, kind = params["autoencoder"]["width"], params["translator"]["width"], params["translator"]["generator"]
            else:
                ae_w, g_w, kind = float(width), float(width), "dense"
            tag = f"width_{width}"
            model = translate.load_model(save_random_model(tmp / tag, emb_dim, ae_w, g_w, kind), torch.device("cpu"))
            imaginer = Imaginer(model, samples=args.samples)
            imaginer.warm_up()
            floor = model_floor_ms(imaginer)
            server, thread, url = start_server(make_app(imaginer))
            try:
                latencies = page_latencies(url, wav, args.windows)
            finally:
                server.should_exit = True
                thread.join(timeout=10)
            median, p95 = statistics.median(latencies), float(np.percentile(latencies, 95))
            print(f"{tag}_models: emb_dim={emb_dim} autoencoder={ae_w} generator={kind}@{g_w}")
            print(f"{tag}_model_floor_ms: {floor:.1f}")
            print(f"{tag}_latency_median_ms: {median:.1f}")
            print(f"{tag}_latency_p95_ms: {p95:.1f}")
            print(f"{tag}_latency_median_over_floor: {median / floor:.2f}")


if __name__ == "__main__":
    main()
