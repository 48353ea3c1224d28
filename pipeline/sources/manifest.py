"""Manifests of YouTube clips: build one from AudioSet segment CSVs, read one for `youtube`.

A manifest is a CSV with columns youtube_id, start, end, class (name or code) and an
optional vegas_video. Build one with `s2i manifest` (pipeline/commands/manifest.py).

Bad lines are reported with their line number and left out; the others go on.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import InputFileError
from pipeline.core.tables import CLASSES, atomic_path
from .common import class_name

YOUTUBE_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")

# AudioSet label ids for the five classes (spec: Data).
DEFAULT_LABELS = {
    "/t/dd00002": "Baby cry",  # Baby cry, infant cry
    "/m/0bt9lr": "Dog",
    "/m/06d_3": "Rail transport",
    "/m/07jdr": "Rail transport",  # Train
    "/m/0g6b5": "Fireworks",
    "/m/0j6m2": "Water flowing",  # Stream
    "/m/0j2kx": "Water flowing",  # Waterfall
    "/m/0838f": "Water flowing",  # Water
}
MANIFEST_COLUMNS = ["youtube_id", "start", "end", "class", "vegas_video"]


@dataclass(frozen=True)
class Clip:
    youtube_id: str
    start: float
    end: float
    class_name: str
    vegas_video: str = ""
    line: int = 0

    @property
    def clip_id(self) -> str:
        return f"yt_{self.youtube_id}_{int(round(self.start * 1000))}"


@dataclass(frozen=True)
class BadLine:
    line: int
    reason: str  # ledger status: invalid_id or invalid_line
    message: str


def check_youtube_id(value: str, where: str) -> str:
    if not YOUTUBE_ID.match(value or ""):
        raise ValueError(f"{where}: invalid YouTube id {value!r} (need 11 chars of [A-Za-z0-9_-])")
    return value


def _times(start: str, end: str, where: str) -> tuple[float, float]:
    try:
        a, b = float(start), float(end)
    except ValueError:
        raise ValueError(f"{where}: start/end {start!r}, {end!r} are not numbers") from None
    if not (math.isfinite(a) and math.isfinite(b) and 0 <= a < b):
        raise ValueError(f"{where}: need 0 <= start < end, got {a:g}, {b:g}")
    return a, b


def read_audioset(path: str | Path, labels: dict[str, str] | None = None) -> tuple[list[Clip], list[BadLine]]:
    """Segments of an AudioSet CSV whose labels map to exactly one of our classes."""
    labels = {k: class_name(v, f"labels[{k!r}]") for k, v in (labels or DEFAULT_LABELS).items()}
    if not Path(path).is_file():
        raise InputFileError(f"{path}: AudioSet segment CSV not found")
    clips, bad = [], []
    with open(path, newline="") as f:
        for number, fields in enumerate(csv.reader(f, skipinitialspace=True), start=1):
            if not fields or fields[0].startswith("#"):
                continue
            where = f"{path} line {number}"
            if len(fields) < 4:
                bad.append(BadLine(number, "invalid_line", f"{where}: expected 4 fields, got {len(fields)}"))
                continue
            found = {labels[x.strip()] for x in fields[3].split(",") if x.strip() in labels}
            if not found:
                continue
            try:
                ytid = check_youtube_id(fields[0].strip(), where)
            except ValueError as err:
                bad.append(BadLine(number, "invalid_id", str(err)))
                continue
            try:
                start, end = _times(fields[1], fields[2], where)
            except ValueError as err:
                bad.append(BadLine(number, "invalid_line", str(err)))
                continue
            if len(found) > 1:
                bad.append(BadLine(number, "ambiguous", f"{where}: labels of several classes {sorted(found)}"))
                continue
            clips.append(Clip(ytid, start, end, found.pop(), line=number))
    return clips, bad


def read_manifest(path: str | Path) -> tuple[list[Clip], list[BadLine]]:
    """The clips of a manifest CSV (header youtube_id,start,end,class[,vegas_video])."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: manifest not found")
    clips, bad, seen = [], [], set()
    with open(path, newline="") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        missing = {"youtube_id", "start", "end", "class"} - set(reader.fieldnames or [])
        if missing:
            raise InputFileError(f"{path}: manifest lacks columns {sorted(missing)}")
        for number, rec in enumerate(reader, start=2):
            where = f"{path} line {number}"
            try:
                ytid = check_youtube_id((rec["youtube_id"] or "").strip(), where)
            except ValueError as err:
                bad.append(BadLine(number, "invalid_id", str(err)))
                continue
            try:
                start, end = _times(rec["start"] or "", rec["end"] or "", where)
                name = class_name(rec["class"] or "", where)
                vegas = (rec.get("vegas_video") or "").strip()
                if vegas and not re.match(r"^video_\d{5}$", vegas):
                    raise ValueError(f"{where}: vegas_video {vegas!r} is not video_NNNNN")
            except ValueError as err:
                bad.append(BadLine(number, "invalid_line", str(err)))
                continue
            clip = Clip(ytid, start, end, name, vegas, number)
            if clip.clip_id in seen:
                bad.append(BadLine(number, "duplicate", f"{where}: repeats {ytid} at {start:g} s"))
                continue
            seen.add(clip.clip_id)
            clips.append(clip)
    return clips, bad


def write_manifest(clips: list[Clip], path: str | Path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(MANIFEST_COLUMNS)
        for c in clips:
            writer.writerow([c.youtube_id, f"{c.start:g}", f"{c.end:g}", c.class_name, c.vegas_video])


def build_manifest(sources: list[str | Path], out: str | Path, labels: dict[str, str] | None = None, max_per_class: int = 0) -> tuple[list[Clip], list[BadLine]]:
    """AudioSet CSVs -> manifest: our classes only, first occurrence of each segment, in file order."""
    kept, bad, seen, per_class = [], [], set(), {name: 0 for name in CLASSES}
    for source in sources:
        clips, rejected = read_audioset(source, labels)
        bad += rejected
        for clip in clips:
            if clip.clip_id in seen or (max_per_class and per_class[clip.class_name] >= max_per_class):
                continue
            seen.add(clip.clip_id)
            per_class[clip.class_name] += 1
            kept.append(clip)
    write_manifest(kept, out)
    return kept, bad
