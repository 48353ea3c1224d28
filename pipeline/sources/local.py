"""Source `local`: videos already on disk, either in the VEGAS folder layout
(<folder>/.../<class folder>/.../video_NNNNN.mp4) or listed in a CSV.

CSV columns: file (relative to `folder`), class (name or code), and optional
event_start, event_end, vegas_video. Files are hard-linked (or copied) into
raw_dir/clips/ after they pass `verify_media`; files outside `folder` are refused.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
from pathlib import Path

import pandas as pd

from pipeline.core.errors import InputFileError, SettingError
from pipeline.core.tables import check_id
from .common import CLASS_TO_CODE, CLIP_ROW_COLUMNS, FetchError, class_folders, class_name, clip_path, clip_row, partial_dir, place_clip, run_pool, verify_media
from .ledger import Ledger, format_summary, summarize

SOURCE = "local"
VIDEO_FILE = re.compile(r"^(video_\d{5})\.(mp4|mkv|webm|mov|m4v)$", re.IGNORECASE)


def fetch(cfg: dict, raw_dir: Path, *, workers: int, retry_failed: bool) -> pd.DataFrame:
    raw_dir = Path(raw_dir)
    folder = Path(cfg.get("folder") or "")
    if not str(cfg.get("folder") or "") or not folder.is_dir():
        raise SettingError(f"params.yaml data.local.folder: {folder}: not a folder")
    ledger = Ledger(raw_dir / "ledger.parquet")
    if cfg.get("csv"):
        entries, bad = entries_from_csv(Path(cfg["csv"]), folder)
    else:
        entries, bad = entries_from_layout(folder, class_folders(cfg.get("class_folders")))
    for item, status, message in bad:
        print(f"rejected: {message}")
        ledger.record(item, source=SOURCE, url=item, status=status, message=message)
    scratch = partial_dir(raw_dir)
    copy = str(cfg.get("link", "copy")) != "hardlink"
    run_pool(lambda e: take(e, raw_dir, scratch, ledger, retry_failed, copy, cfg.get("checks")), entries, workers, desc="local clips")
    ledger.save()
    print(format_summary(summarize(ledger.table())))
    rows = []
    for e in entries:
        if ledger.is_done(e["clip_id"]):
            row = ledger.get(e["clip_id"])
            end = e["event_end"] if e["event_end"] == e["event_end"] else row["duration"]
            rows.append(
                clip_row(
                    clip_id=e["clip_id"],
                    source=SOURCE,
                    source_video=e["source_video"],
                    vegas_video=e["vegas_video"],
                    name=e["class_name"],
                    event_start=e["event_start"],
                    event_end=end,
                    path=row["path"],
                )
            )
    return pd.DataFrame(rows, columns=CLIP_ROW_COLUMNS)


def _entry(file: Path, name: str, vegas_video: str, clip_id: str, start: float = 0.0, end: float = float("nan")) -> dict:
    return {"file": file, "class_name": name, "vegas_video": vegas_video, "clip_id": clip_id, "source_video": clip_id, "event_start": start, "event_end": end}


def entries_from_layout(folder: Path, folders: dict[str, str]) -> tuple[list[dict], list[tuple]]:
    entries, bad, seen = [], [], set()
    root = folder.resolve()
    for file in sorted(folder.rglob("*")):
        match = VIDEO_FILE.match(file.name)
        if not match or not file.is_file():
            continue
        dirs = file.relative_to(folder).parts[:-1]
        name = next((folders[d.lower()] for d in reversed(dirs) if d.lower() in folders), None)
        if name is None:
            continue
        if not file.resolve().is_relative_to(root):
            bad.append((f"file:{file}", "unsafe_path", f"{file}: links to {file.resolve()}, outside {folder}"))
            continue
        video = match.group(1).lower()
        clip_id = f"{CLASS_TO_CODE[name]}_{video}"
        if clip_id in seen:
            bad.append((f"file:{file}", "duplicate", f"{file}: repeats {clip_id}"))
            continue
        seen.add(clip_id)
        entries.append(_entry(file, name, video, clip_id))
    return entries, bad


def entries_from_csv(path: Path, folder: Path) -> tuple[list[dict], list[tuple]]:
    if not path.is_file():
        raise SettingError(f"params.yaml data.local.csv: {path}: no such file")
    entries, bad, seen = [], [], set()
    root = folder.resolve()
    with open(path, newline="") as f:
        reader = csv.DictReader(f, skipinitialspace=True)
        missing = {"file", "class"} - set(reader.fieldnames or [])
        if missing:
            raise InputFileError(f"{path}: lacks columns {sorted(missing)}")
        for rec in reader:
            number = reader.line_num
            where = f"{path} line {number}"
            try:
                given = (rec["file"] or "").strip()
                file = folder / given
                if not file.resolve().is_relative_to(root) or Path(given).is_absolute():
                    raise ValueError(f"{where}: {rec['file']!r} is outside {folder}")
                name = class_name(rec["class"] or "", where)
                vegas = (rec.get("vegas_video") or "").strip().lower()
                if vegas and not re.match(r"^video_\d{5}$", vegas):
                    raise ValueError(f"{where}: vegas_video {vegas!r} is not video_NNNNN")
                stem = vegas or re.sub(r"[^A-Za-z0-9_-]", "_", file.stem)[:100]
                clip_id = check_id(f"{CLASS_TO_CODE[name]}_{stem}", "clip id")
                start = _seconds(rec.get("event_start"), 0.0, "event_start", where)
                end = _seconds(rec.get("event_end"), float("nan"), "event_end", where)
            except ValueError as err:
                bad.append((f"csv:line{number}", "invalid_line", str(err)))
                continue
            if clip_id in seen:
                bad.append((f"csv:line{number}", "duplicate", f"{where}: repeats {clip_id}"))
                continue
            seen.add(clip_id)
            entries.append(_entry(file, name, vegas, clip_id, start, end))
    return entries, bad


def _seconds(text: str | None, default: float, column: str, where: str) -> float:
    text = (text or "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{where}: {column} {text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {column} {text!r} is not a number of seconds")
    return value


def take(entry: dict, raw_dir: Path, scratch: Path, ledger: Ledger, retry_failed: bool, copy: bool, checks: dict | None = None) -> str:
    item = entry["clip_id"]
    if ledger.skip(item, retry_failed):
        return "skipped"
    source_file = entry["file"]
    target = clip_path(raw_dir, CLASS_TO_CODE[entry["class_name"]], item, source_file.suffix.lower())

    def fill(tmp: Path) -> float:
        if not source_file.is_file():
            raise FetchError("missing", f"{source_file}: no such file")
        _link_or_copy(source_file, tmp, copy)
        return verify_media(tmp, checks)

    return place_clip(ledger, item, source=SOURCE, url=str(source_file), target=target, tmp=scratch / item / target.name, fill=fill, shown_name=str(source_file))


def _link_or_copy(src: Path, dst: Path, copy: bool) -> None:
    if not copy:
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)
