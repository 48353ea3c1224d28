import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.media.decode import ffmpeg_exe

REPO = Path(__file__).resolve().parents[1]


def make_media(
    path: Path, seconds: float = 3.0, audio: bool = True, video: bool = True, rate: int = 44100, channels: int = 1, size: str = "160x120", fps: int = 25, freq: int = 440
) -> Path:
    """A real encoded file from ffmpeg's lavfi test sources."""
    args = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc=size={size}:rate={fps}:duration={seconds}"]
    if audio:
        layout = "mono" if channels == 1 else "stereo"
        args += ["-f", "lavfi", "-i", f"sine=frequency={freq}:sample_rate={rate}:duration={seconds}", "-ac", str(channels), "-channel_layout", layout]
    if video:
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1"]
    if audio and path.suffix in (".mp4", ".m4a"):
        args += ["-c:a", "aac"]
    args += [str(path)]
    subprocess.run(args, check=True)
    return path


@pytest.fixture
def media_factory(tmp_path):
    def make(name="clip.mp4", **kw):
        return make_media(tmp_path / name, **kw)

    return make


@pytest.fixture
def one_thread():
    """Small networks run faster on one torch thread (and leave the other core to ffmpeg)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


import sys

sys.path.insert(0, str(Path(__file__).parent))  # test helpers such as stage_fixtures


# ---- a real headless browser: Debian's chromium driven by Playwright (never a downloaded browser) ----
import shutil  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (apt-get install chromium; .ci/run does)")

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def launch_chromium(playwright_driver):
    """launch_chromium(*flags) -> a headless Chromium browser, closed after the test."""
    browsers = []

    def launch(*flags: str):
        browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=list(flags))
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()


@pytest.fixture
def browser(launch_chromium):
    return launch_chromium()
