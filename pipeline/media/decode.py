"""Media probing and decoding with the ffmpeg binary that imageio-ffmpeg ships.

Decoding graphs are built with ffmpeg-python and run as argument lists (no shell).

There is no ffprobe in imageio-ffmpeg, so `probe` reads the stream summary that
`ffmpeg -i` prints. Decoders return numpy arrays and raise `MediaError` with a
one-line reason (and a short reason code) for anything unusable. Local files
reach ffmpeg as `file:` + absolute path, so a name such as `pipe:0.wav` or
`http:x.mp4` is read as a file, never as a protocol; messages lose ffmpeg's
memory addresses so that the same input gives the same reject row.
"""

from __future__ import annotations

import math
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


_ADDRESS = re.compile(r" @ 0x[0-9a-fA-F]+\]")
# Lines of the null output's muxer (e.g. "non monotonically increasing dts" of a variable-frame-rate
# clip) say nothing about the input; decoders and demuxers report real damage under their own tags.
_OUTPUT_TAGS = ("[null]", "[out#")


def local_url(path: str | Path) -> str:
    """The ffmpeg input for a local file: `file:` + absolute path (no protocol is guessed from the name)."""
    return "file:" + str(Path(path).absolute())


def ffmpeg_lines(stderr: str, path: str | Path | None = None) -> list[str]:
    """Non-empty stderr lines without memory addresses, the file: URL shown as the plain path."""
    lines = []
    for line in stderr.splitlines():
        line = _ADDRESS.sub("]", line.strip())
        if path is not None:
            line = line.replace(local_url(path), str(path))
        if line:
            lines.append(line)
    return lines


def _last_error_line(stderr: str, path: str | Path | None = None) -> str:
    lines = ffmpeg_lines(stderr, path)
    return lines[-1] if lines else "ffmpeg failed without a message"


def decode_errors(path: str | Path) -> str:
    """First real error of a full decode of the first audio and video streams ('' when clean).

    Judged by ffmpeg's exit status and by what demuxers and decoders report (a truncated
    file decodes with exit status 0 but says "partial file"), not by the null output's muxer.
    """
    # repeat+: every message on its own tagged line, never "Last message repeated n times"
    proc = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "repeat+error", "-i", local_url(path), "-map", "0:a:0", "-map", "0:v:0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        errors="replace",
    )
    lines = [ln for ln in ffmpeg_lines(proc.stderr, path) if not ln.startswith(_OUTPUT_TAGS)]
    if lines:
        return root_error(lines)
    return f"ffmpeg exit code {proc.returncode}" if proc.returncode != 0 else ""


def root_error(lines: list[str]) -> str:
    """The demuxer's first error (the cause, e.g. "partial file"), else the first decoder error in sorted order.

    ffmpeg decodes audio and video in threads of their own, so their messages interleave in no fixed
    order; taking the first line made a reject's message (and its table's bytes) differ between runs.
    """
    demuxer = [ln for ln in lines if ln.startswith("[in#")]
    return demuxer[0] if demuxer else sorted(lines)[0]


def probe(path: str | Path) -> dict:
    """Container facts: duration, stream counts, sample rate, channels, size, fps."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "missing", "no such file")
    if path.stat().st_size == 0:
        raise MediaError(path, "empty", "file is empty")
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", local_url(path)], capture_output=True, text=True, errors="replace")
    err = proc.stderr
    info = {"duration": float("nan"), "audio_streams": 0, "video_streams": 0, "sample_rate": 0, "channels": 0, "width": 0, "height": 0, "fps": 0.0}
    streams = _STREAM.findall(err)
    if not streams:
        raise MediaError(path, "corrupt", f"not a readable media file ({_last_error_line(err, path)})")
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
        raise MediaError(path, "corrupt", f"decode failed ({_last_error_line(err, path)})")
    return proc.stdout


def decode_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """The first audio track, downmixed to mono, resampled, float32 in [-1, 1]."""
    path = Path(path)
    audio = ffmpeg.input(local_url(path))["a:0"]
    out = ffmpeg.output(audio, "pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=sample_rate)
    return np.frombuffer(_run_decoder(path, out, "audio"), dtype="<f4").astype(np.float32)


def decode_frames(path: str | Path, fps: float = 10.0, size: int = 96) -> np.ndarray:
    """Frames sampled at `fps`, centre square crop, size x size RGB uint8.

    Frame k is the source frame on screen at time k/fps: the last one starting at or before it
    (round=up gives each tick the last frame whose timestamp rounds up to it; the default
    rounding would take a frame up to one source frame after the tick).
    """
    path = Path(path)
    video = ffmpeg.input(local_url(path))["v:0"].filter("fps", fps=fps, round="up").filter("crop", "min(iw,ih)", "min(iw,ih)").filter("scale", size, size, flags="area")
    out = ffmpeg.output(video, "pipe:", format="rawvideo", pix_fmt="rgb24")
    return np.frombuffer(_run_decoder(path, out, "video"), dtype=np.uint8).reshape(-1, size, size, 3)


CONTENT_LIMITS = {"silent_below_db": -60.0, "blank_std": 2.0}  # defaults of the data.* params of that name


def content_problem(path: str | Path, audio: np.ndarray, limits: dict = CONTENT_LIMITS) -> tuple[str, str] | None:
    """(silent_audio | blank_video, message) for a clip there is nothing to learn from, else None.

    silent_audio: no sample of `audio` (the decoded clip, any rate) reaches `silent_below_db` dBFS;
    blank_video: every frame, one per second, is flatter than `blank_std` (grey std, 0-255).
    """
    peak = float(np.max(np.abs(audio), initial=0.0))
    peak_db = 20 * math.log10(peak) if peak > 0 else -math.inf
    if peak_db < limits["silent_below_db"]:
        return "silent_audio", (f"{path}: silent audio (peak {peak_db:.1f} dBFS, below data.silent_below_db {limits['silent_below_db']:g})")
    frames = decode_frames(path, fps=1.0, size=32)
    flatness = frames.astype(np.float32).mean(axis=3).std(axis=(1, 2))
    if len(flatness) and float(flatness.max()) < limits["blank_std"]:
        return "blank_video", (f"{path}: blank video (no frame's grey std reaches {flatness.max():.2f}; data.blank_std is {limits['blank_std']:g})")
    return None
