"""Byte-deterministic MP4 encoding (H.264 or MPEG-4 video, AAC audio) through the ffmpeg binary."""

from __future__ import annotations

import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import numpy as np

from pipeline.media.decode import ffmpeg_exe

# Flags that keep the output identical across runs: one thread, no version
# strings or dates, no copied metadata.
DETERMINISTIC = ["-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-map_metadata", "-1"]


PRESET = "ultrafast"


class EncodeError(RuntimeError):
    pass


@lru_cache(maxsize=1)
def video_codec() -> list[str]:
    """libx264 when this ffmpeg build has it, else the built-in MPEG-4 Part 2 encoder."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, text=True)
    if " libx264 " in proc.stdout:
        return ["-c:v", "libx264", "-preset", PRESET, "-crf", "27", "-x264-params", "threads=1:lookahead-threads=1"]
    return ["-c:v", "mpeg4", "-q:v", "5"]


def encode_mp4(path: Path, frames: Iterable[np.ndarray], frame_size: tuple[int, int], size: tuple[int, int], fps: int, audio: np.ndarray | None, sample_rate: int) -> None:
    """Write frames (uint8 HxWx3 of frame_size (w, h)), scaled to `size`, and int16 audio
    (n x channels, or None for no audio track) to `path`."""
    with tempfile.TemporaryDirectory(prefix="demo_audio_") as tmp:
        cmd = [ffmpeg_exe(), "-hide_banner", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "{}x{}".format(*frame_size), "-r", str(fps), "-i", "pipe:0"]
        if audio is not None:
            raw = Path(tmp) / "audio.s16le"
            raw.write_bytes(np.ascontiguousarray(audio, dtype="<i2").tobytes())
            cmd += [
                "-f",
                "s16le",
                "-ar",
                str(sample_rate),
                "-ac",
                str(audio.shape[1]),
                "-i",
                str(raw),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:a",
                "aac",
                "-aac_coder",
                "fast",
                "-b:a",
                f"{64 * audio.shape[1]}k",
            ]
        else:
            cmd += ["-map", "0:v"]
        cmd += ["-vf", "scale={}:{}:flags=bilinear".format(*size)]
        cmd += video_codec() + ["-pix_fmt", "yuv420p"] + DETERMINISTIC + ["-f", "mp4", str(path)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for frame in frames:
                proc.stdin.write(memoryview(np.ascontiguousarray(frame)))
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            last = err.splitlines()[-1] if err else f"exit code {proc.returncode}"
            raise EncodeError(f"{path}: ffmpeg encode failed ({last})")
