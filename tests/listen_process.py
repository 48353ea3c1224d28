"""`s2i listen` as a user starts it (`python -m pipeline.commands.cli listen ...`), for the tests to talk to."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import urllib.request
import wave
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SAMPLE_RATE = 16000


class ListenProcess:
    """The server in its own process on 127.0.0.1 (any free port); TMPDIR is `tmp_dir`, stderr a log file."""

    def __init__(self, model_dir: Path, tmp_dir: Path, *flags: str, timeout: float = 120.0, env: dict[str, str] | None = None):
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir, self.log_path = tmp_dir, tmp_dir.parent / f"{tmp_dir.name}.stderr.log"
        env = {**os.environ, "TMPDIR": str(tmp_dir), "OMP_NUM_THREADS": "1", **(env or {})}
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.commands.cli", "listen", "--model", str(model_dir), "--port", "0", *flags],
            cwd=REPO,
            env=env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        found = re.search(r"open (\S+) in a browser", line)
        if not found:
            self.stop()
            raise RuntimeError(f"s2i listen did not start: {line!r} {self.log_path.read_text()[-2000:]}")
        self.url = found.group(1)
        self.ws_url = re.sub(r"^http", "ws", self.url) + "ws/live"

    def status(self) -> dict:
        with urllib.request.urlopen(self.url + "api/status", timeout=10) as reply:
            return json.load(reply)

    def rss_bytes(self) -> int:
        text = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmRSS:\s+(\d+) kB", text).group(1)) * 1024

    def stop(self) -> int:
        """Ctrl-C, as a person stops it; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def stderr_text(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text()


def tone_and_noise(seconds: float, rate: int = SAMPLE_RATE, seed: int = 0) -> np.ndarray:
    """A sound that is clearly not quiet: a wobbling 440-Hz tone over noise, in [-1, 1]."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    return (0.25 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)) / 1.5 + 0.08 * rng.standard_normal(len(t))).astype(np.float32)


def pcm16(audio: np.ndarray) -> bytes:
    return (np.clip(audio, -1, 1) * 32767).round().astype("<i2").tobytes()


def write_wav(path: Path, audio: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm16(audio))
    return path
