"""ffmpeg for tests that need a real file of a particular kind (lavfi test sources, encoded as phones do)."""

from __future__ import annotations

import subprocess

from pipeline.media.decode import ffmpeg_exe

H264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1")
AAC = ("-c:a", "aac")


def ffmpeg(*args) -> None:
    """Run ffmpeg quietly, overwriting; arguments may be paths."""
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-nostdin", *map(str, args)], check=True)


def lavfi(*sources: str) -> list[str]:
    """Inputs from ffmpeg's lavfi sources: lavfi("testsrc=...", "sine=...") -> -f lavfi -i testsrc=... -f lavfi -i sine=..."""
    return [arg for source in sources for arg in ("-f", "lavfi", "-i", source)]
