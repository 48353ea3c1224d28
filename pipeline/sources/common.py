"""What the sources share: failure type, class names, clip paths, media check, worker pool."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from pipeline.core.tables import CLASS_CODES, CLASSES, CODE_TO_CLASS
from pipeline.media.decode import MediaError, content_problem, decode_audio, decode_errors, probe

CLASS_TO_CODE = dict(zip(CLASSES, CLASS_CODES))
MIN_SECONDS = 1.0
VEGAS_VIDEO = re.compile(r"^video_\d{5}$")

# The class folders of the VEGAS archive (lower case) for the five classes.
DEFAULT_CLASS_FOLDERS = {
    "baby": "Baby cry",
    "baby_cry": "Baby cry",
    "baby_crying": "Baby cry",
    "dog": "Dog",
    "rail_transport": "Rail transport",
    "rail": "Rail transport",
    "train": "Rail transport",
    "fireworks": "Fireworks",
    "firework": "Fireworks",
    "water_flowing": "Water flowing",
    "water": "Water flowing",
}


class FetchError(Exception):
    """An item that could not be fetched: `status` is the ledger code."""

    def __init__(self, status: str, message: str, *, retryable: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.status, self.retryable, self.retry_after = status, retryable, retry_after


def unexpected_error(err: Exception, where: str) -> FetchError:
    """Any other exception from one item (yt-dlp, ffmpeg, zipfile, the file system) as the FetchError that
    the ledger records (`unexpected_error`): the source goes on with the other items."""
    if isinstance(err, FetchError):
        return err
    lines = str(err).splitlines()
    detail = f": {lines[0]}" if lines else ""
    failure = FetchError("unexpected_error", f"{where}: {type(err).__name__}{detail}")
    failure.attempts = getattr(err, "attempts", 1)
    return failure


def class_name(value: str, where: str) -> str:
    """A class given by name (any case) or code -> its canonical name."""
    text = str(value).strip()
    if text in CODE_TO_CLASS:
        return CODE_TO_CLASS[text]
    for name in CLASSES:
        if text.lower() == name.lower():
            return name
    raise ValueError(f"{where}: unknown class {text!r} (expected one of {CLASSES} or {CLASS_CODES})")


def class_folders(mapping: dict | None) -> dict[str, str]:
    """Folder name (lower case) -> class name, checked."""
    mapping = DEFAULT_CLASS_FOLDERS if not mapping else mapping
    return {str(k).lower(): class_name(v, f"class_folders[{k!r}]") for k, v in mapping.items()}


def clip_path(raw_dir: Path, class_code: str, clip_id: str, ext: str = ".mp4") -> Path:
    return Path(raw_dir) / "clips" / class_code / f"{clip_id}{ext}"


def partial_dir(raw_dir: Path) -> Path:
    """Scratch space for downloads in flight; never counted as done."""
    path = Path(raw_dir) / ".partial"
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def verify_media(path: Path, checks: dict | None = None) -> float:
    """Media duration of a usable clip; FetchError(corrupt | no_audio | no_video | too_short) otherwise,
    and with `checks` (acquire's data.silent_below_db, data.blank_std) silent_audio | blank_video too:
    the same judgement as the acquire stage's, so the ledger and clips.parquet agree."""
    try:
        facts = probe(path)
        if facts["audio_streams"] == 0:
            raise FetchError("no_audio", f"{path}: no audio stream")
        if facts["video_streams"] == 0:
            raise FetchError("no_video", f"{path}: no video stream")
        audio = decode_audio(path, 8000)
        errors = decode_errors(path)
        if errors:
            raise FetchError("corrupt", f"{path}: decode error ({errors})")
        problem = content_problem(path, audio, checks) if checks else None
    except MediaError as err:
        raise FetchError("corrupt" if err.code in ("corrupt", "empty", "missing") else err.code, str(err)) from err
    seconds = len(audio) / 8000
    if seconds < MIN_SECONDS:
        raise FetchError("too_short", f"{path}: {seconds:.2f} s of audio, fewer than {MIN_SECONDS:.0f} s")
    if problem:
        raise FetchError(*problem)
    return facts["duration"] if facts["duration"] == facts["duration"] else seconds


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def place_clip(ledger, item: str, *, source: str, url: str, target: Path, tmp: Path, fill: Callable[[Path], float], shown_name: str) -> str:
    """Fill `tmp` (`fill(tmp)` writes the clip and returns its checked duration), move it to `target` and record
    the item's one ledger row. Any error from fill, ffmpeg or the file system is the item's status, its message
    naming `shown_name` instead of the temp path; the temp folder never outlives the call."""
    started = time.monotonic()
    duration, nbytes, digest = float("nan"), 0, ""
    try:
        fresh_dir(tmp.parent)
        duration = fill(tmp)
        nbytes = tmp.stat().st_size
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        digest = sha256_of(target)
    except Exception as err:  # FetchError, or anything else from the reader, ffmpeg or the file system
        failure = unexpected_error(err, shown_name)
        status, message, duration = failure.status, str(failure).replace(str(tmp), shown_name), float("nan")
        nbytes = tmp.stat().st_size if tmp.exists() else 0
    else:
        status, message = "ok", ""
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)
    ledger.record(
        item,
        source=source,
        url=url,
        status=status,
        message=message,
        path=str(target) if status == "ok" else "",
        nbytes=nbytes,
        duration=duration,
        attempts=1,
        sha256=digest,
        elapsed=time.monotonic() - started,
    )
    return status


def run_pool(work: Callable[[object], str], items: Iterable, workers: int, desc: str) -> dict[str, int]:
    """Run work(item) -> status in a thread pool with a progress bar; returns counts per status."""
    items = list(items)
    counts: dict[str, int] = {}
    with ThreadPoolExecutor(max(1, int(workers))) as pool, tqdm(total=len(items), desc=desc, unit="item", dynamic_ncols=True) as bar:
        futures = [pool.submit(work, item) for item in items]
        for future in as_completed(futures):
            status = future.result()
            counts[status] = counts.get(status, 0) + 1
            bar.set_postfix({k: counts[k] for k in sorted(counts)}, refresh=False)
            bar.update()
    return counts


def clip_row(*, clip_id: str, source: str, source_video: str, vegas_video: str, name: str, event_start: float, event_end: float, path: Path | str) -> dict:
    return {
        "clip_id": clip_id,
        "source": source,
        "source_video": source_video,
        "vegas_video": vegas_video,
        "class_name": name,
        "class_code": CLASS_TO_CODE[name],
        "event_start": float(event_start),
        "event_end": float(event_end),
        "path": str(path),
    }


CLIP_ROW_COLUMNS = ["clip_id", "source", "source_video", "vegas_video", "class_name", "class_code", "event_start", "event_end", "path"]
