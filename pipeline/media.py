"""Media probing and decoding with the ffmpeg binary that imageio-ffmpeg ships.

Decoding graphs are built with ffmpeg-python and run as argument lists (no shell).

There is no ffprobe in imageio-ffmpeg, so `probe` reads the stream summary that
`ffmpeg -i` prints. Decoders return numpy arrays and raise `MediaError` with a
one-line reason (and a short reason code) for anything unusable.
"""
from __future__ import annotations

import re
import subprocess
from functools import lru_cache
from pathlib import Path

import ffmpeg
import numpy as np


class MediaError(Exception):
    """A file that cannot be used; `code` is a short reason for the rejects table."""

    def __init__(self, path, code: str, message: str):
        self.path, self.code = str(path), code
        super().__init__(f"{path}: {message}")


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


_DURATION = re.compile(r"Duration: (\d+):(\d+):(\d+(?:\.\d+)?)")
_STREAM = re.compile(r"Stream #\d+:\d+.*?: (Video|Audio): (.*)")
_SIZE = re.compile(r"\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"([\d.]+) fps")
_RATE = re.compile(r"(\d+) Hz")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}


def _last_error_line(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else "ffmpeg failed without a message"


def probe(path: str | Path) -> dict:
    """Container facts: duration, stream counts, sample rate, channels, size, fps."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "missing", "no such file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty", "file is empty")
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True, text=True, errors="replace",
    )
    err = proc.stderr
    info = {"duration": float("nan"), "audio_streams": 0, "video_streams": 0,
            "sample_rate": 0, "channels": 0, "width": 0, "height": 0, "fps": 0.0}
    streams = _STREAM.findall(err)
    if not streams:
        raise MediaError(path, "corrupt", f"not a readable media file ({_last_error_line(err)})")
    m = _DURATION.search(err)
    if m:
        h, mi, s = m.groups()
        info["duration"] = int(h) * 3600 + int(mi) * 60 + float(s)
    for kind, desc in streams:
        if kind == "Video":
            info["video_streams"] += 1
            if info["video_streams"] == 1:
                size, fps = _SIZE.search(desc), _FPS.search(desc)
                if size:
                    info["width"], info["height"] = int(size.group(1)), int(size.group(2))
                if fps:
                    info["fps"] = float(fps.group(1))
        else:
            info["audio_streams"] += 1
            if info["audio_streams"] == 1:
                rate = _RATE.search(desc)
                info["sample_rate"] = int(rate.group(1)) if rate else 0
                info["channels"] = _channels(desc)
    return info


def _channels(desc: str) -> int:
    m = re.search(r"(\d+) channels", desc)
    if m:
        return int(m.group(1))
    for layout, n in _LAYOUT_CHANNELS.items():
        if re.search(rf"\b{re.escape(layout)}\b", desc):
            return n
    return 0


def _run_decoder(path: Path, output, stream: str) -> bytes:
    """stdout of the ffmpeg-python graph `output`, which decodes the first `stream` (audio | video) of path."""
    if not path.is_file():
        raise MediaError(path, "missing", "no such file")
    cmd = output.global_args("-hide_banner", "-nostdin", "-v", "error").compile(cmd=ffmpeg_exe())
    proc = subprocess.run(cmd, capture_output=True)
    err = proc.stderr.decode(errors="replace")
    if "matches no streams" in err or (proc.returncode == 0 and not proc.stdout):
        raise MediaError(path, f"no_{stream}", f"no {stream} stream")
    if proc.returncode != 0:
        raise MediaError(path, "corrupt", f"decode failed ({_last_error_line(err)})")
    return proc.stdout


def decode_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """The first audio track, downmixed to mono, resampled, float32 in [-1, 1]."""
    path = Path(path)
    audio = ffmpeg.input(str(path))["a:0"]
    out = ffmpeg.output(audio, "pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate)
    return np.frombuffer(_run_decoder(path, out, "audio"), dtype="<f4").astype(np.float32)


def decode_frames(path: str | Path, fps: float = 10.0, size: int = 96) -> np.ndarray:
    """Frames sampled at `fps` (frame k shows time k/fps), centre square crop, size x size RGB uint8."""
    path = Path(path)
    video = (ffmpeg.input(str(path))["v:0"]
             .filter("fps", fps=fps)
             .filter("crop", "min(iw,ih)", "min(iw,ih)")
             .filter("scale", size, size, flags="area"))
    out = ffmpeg.output(video, "pipe:", format="rawvideo", pix_fmt="rgb24")
    return np.frombuffer(_run_decoder(path, out, "video"), dtype=np.uint8).reshape(-1, size, size, 3)
