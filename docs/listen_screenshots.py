"""The README's screenshots of `s2i listen`, taken in headless Chromium with the trained demo model.

    python docs/listen_screenshots.py LIVE_CLIP FILE_CLIP [--model models] [--out docs]

LIVE_CLIP's sound becomes Chromium's fake microphone (looped); FILE_CLIP is chosen in file
mode; a text file named notes.mp4 shows an error. Writes listen_live.png, listen_file.png and
listen_error.png (the browser tests in tests/test_listen.py check the same views).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from listen_process import ListenProcess  # noqa: E402
from pipeline.media.decode import ffmpeg_exe  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("live_clip", type=Path)
    parser.add_argument("file_clip", type=Path)
    parser.add_argument("--model", type=Path, default=Path("models"))
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--seconds", type=int, default=12, help="seconds of live listening before the picture")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wav = tmp / "microphone.wav"
        subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(args.live_clip), "-vn", "-ac", "1", "-ar", "48000", "-c:a", "pcm_s16le", str(wav)], check=True)
        (tmp / "notes.mp4").write_text("shopping list: milk, bread\n")
        listen = ListenProcess(args.model, tmp / "server")
        chromium = shutil.which("chromium") or "/usr/bin/chromium"
        try:
            with sync_playwright() as driver:
                browser = driver.chromium.launch(executable_path=chromium, args=["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"])
                page = browser.new_context(permissions=["microphone"], viewport={"width": 1000, "height": 1000}).new_page()
                page.goto(listen.url)
                page.click("#listen")
                page.wait_for_function(f"() => window.s2i.answers.length >= {args.seconds}", timeout=args.seconds * 3000)
                page.wait_for_function("() => window.s2i.answers[window.s2i.answers.length - 1].quiet === false")
                page.wait_for_timeout(300)  # the level meter moves on
                page.screenshot(path=str(args.out / "listen_live.png"), full_page=False)
                page.click("#listen")
                page.set_input_files("#file", str(args.file_clip))
                page.wait_for_function("() => document.getElementById('file-status').textContent.includes('one row each')", timeout=120000)
                page.evaluate("document.getElementById('file-mode').scrollIntoView()")
                page.screenshot(path=str(args.out / "listen_file.png"))
                page.set_input_files("#file", str(tmp / "notes.mp4"))
                page.wait_for_selector("#file-error:not([hidden])")
                page.locator("#file-mode").screenshot(path=str(args.out / "listen_error.png"))
                browser.close()
        finally:
            listen.stop()
    for name in ("listen_live.png", "listen_file.png", "listen_error.png"):
        print(args.out / name)


if __name__ == "__main__":
    main()
