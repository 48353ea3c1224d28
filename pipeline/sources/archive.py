"""Source `vegas_archive`: the official VEGAS zip, downloaded with HTTP Range resume, then
only the five classes' `video_NNNNN.mp4` members extracted and verified.

Output files are named from checked parts (class code, video number) and never from the
member path, so nothing is written outside `raw_dir`; members with `..`, absolute paths
or symlinks are refused and recorded as `unsafe_path`.
"""

from __future__ import annotations

import os
import re
import stat
import shutil
import threading
import time
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urlparse

import pandas as pd
from tqdm import tqdm

from pipeline.core.errors import SettingError
from pipeline.core.tables import check_id
from .common import CLASS_TO_CODE, FetchError, class_folders, clip_path, clip_row, partial_dir, place_clip, run_pool, sha256_of, unexpected_error, verify_media, CLIP_ROW_COLUMNS
from .http import RateLimiter, download
from .ledger import Ledger, format_summary, summarize

SOURCE = "vegas_archive"
DEFAULT_URL = "http://bvision11.cs.unc.edu/bigpen/yipin/visual2sound_webpage/VEGAS.zip"
MEMBER_NAME = re.compile(r"^(video_\d{5})\.mp4$", re.IGNORECASE)
SAFE_FILE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")


def fetch(cfg: dict, raw_dir: Path, *, workers: int, retry_failed: bool) -> pd.DataFrame:
    raw_dir = Path(raw_dir)
    ledger = Ledger(raw_dir / "ledger.parquet")
    archive = get_archive(cfg, raw_dir, ledger, retry_failed)
    rows = []
    if archive is not None:
        rows = extract(archive, cfg, raw_dir, ledger, workers=workers, retry_failed=retry_failed)
        if not cfg.get("keep_archive", True):
            archive.unlink()
    ledger.save()
    print(format_summary(summarize(ledger.table())))
    return pd.DataFrame(rows, columns=CLIP_ROW_COLUMNS)


def archive_name(cfg: dict) -> str:
    name = cfg.get("filename") or PurePosixPath(urlparse(cfg["url"]).path).name or "archive.zip"
    if not SAFE_FILE.match(name):
        raise SettingError(f"params.yaml data.vegas_archive: unsafe archive file name {name!r}")
    return name


def get_archive(cfg: dict, raw_dir: Path, ledger: Ledger, retry_failed: bool) -> Path | None:
    """The verified archive under raw_dir/downloads/, downloading (or resuming) it when needed."""
    name = archive_name(cfg)
    item = f"archive:{name}"
    archive = Path(cfg.get("download_dir") or raw_dir / "downloads") / name
    if ledger.is_done(item):
        return archive
    if ledger.skip(item, retry_failed):
        print(f"{item}: failed before ({ledger.get(item)['message']}); rerun with --retry-failed")
        return None
    part = archive.with_name(name + ".part")
    started, url = time.monotonic(), cfg["url"]
    expected_size = int(cfg.get("size") or 0)
    try:
        with tqdm(
            desc=f"download {name}",
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            initial=part.stat().st_size if part.exists() else 0,
            total=expected_size or None,
            dynamic_ncols=True,
        ) as bar:
            size, attempts = download(
                url,
                part,
                timeout=float(cfg.get("timeout", 60)),
                retries=int(cfg.get("retries", 5)),
                backoff=float(cfg.get("backoff", 2)),
                max_wait=float(cfg.get("max_wait", 300)),
                limiter=RateLimiter(),
                on_bytes=bar.update,
            )
        if expected_size and size != expected_size:
            part.unlink()
            raise FetchError("size_mismatch", f"{url}: {size} bytes, expected {expected_size}")
        digest = sha256_of(part)
        wanted = str(cfg.get("sha256") or "").lower()
        if wanted and digest != wanted:
            part.unlink()
            raise FetchError("checksum_mismatch", f"{url}: sha256 {digest}, expected {wanted}")
        if not zipfile.is_zipfile(part):
            part.unlink()
            raise FetchError("corrupt", f"{url}: not a zip archive")
        os.replace(part, archive)
    except Exception as err:  # FetchError, or anything else from the download or the file system
        err = unexpected_error(err, url)
        ledger.record(item, source=SOURCE, url=url, status=err.status, message=str(err), attempts=getattr(err, "attempts", 1), elapsed=time.monotonic() - started)
        print(f"{item}: {err.status}: {err}")
        return None
    ledger.record(item, source=SOURCE, url=url, status="ok", path=str(archive), nbytes=size, attempts=attempts, sha256=digest, elapsed=time.monotonic() - started)
    return archive


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if stat.S_ISLNK(info.external_attr >> 16):
        return "symlink member"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "'..' in path"
    return None


def plan_members(archive: Path, folders: dict[str, str]) -> tuple[list[dict], list[tuple[str, str]]]:
    """The members to extract (class, video) and the refused ones (name, reason)."""
    wanted, refused, seen = [], [], set()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            if info.is_dir():
                continue
            reason = unsafe_reason(info)
            if reason:
                refused.append((info.filename, f"{archive}: member {info.filename!r} refused: {reason}"))
                continue
            *dirs, base = PurePosixPath(info.filename).parts
            match = MEMBER_NAME.match(base)
            name = next((folders[d.lower()] for d in reversed(dirs) if d.lower() in folders), None)
            if not match or name is None:
                continue
            video = match.group(1).lower()
            clip_id = check_id(f"{CLASS_TO_CODE[name]}_{video}", "clip id")
            if clip_id in seen:
                refused.append((info.filename, f"{archive}: member {info.filename!r} duplicates {clip_id}"))
                continue
            seen.add(clip_id)
            wanted.append({"member": info.filename, "class_name": name, "vegas_video": video, "clip_id": clip_id})
    return wanted, refused


def copy_and_verify(zf: zipfile.ZipFile, name: str, tmp: Path, member: str, checks: dict | None) -> float:
    """Copy one member to `tmp` and verify it; FetchError (named by `member`, not by the scratch copy) when
    the member cannot be read (corrupt) or is not a usable clip."""
    try:
        with zf.open(name) as src, open(tmp, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    except (zipfile.BadZipFile, OSError) as err:
        raise FetchError("corrupt", f"{member}: {err}") from err
    try:
        return verify_media(tmp, checks)
    except FetchError as err:
        raise FetchError(err.status, str(err).replace(str(tmp), member)) from err


def extract(archive: Path, cfg: dict, raw_dir: Path, ledger: Ledger, *, workers: int, retry_failed: bool) -> list[dict]:
    wanted, refused = plan_members(archive, class_folders(cfg.get("class_folders")))
    for member, message in refused:
        ledger.record(f"member:{member}", source=SOURCE, url=member, status="duplicate" if "duplicates" in message else "unsafe_path", message=message)
        print(message)
    scratch = partial_dir(raw_dir)
    local, handles = threading.local(), []

    def work(entry: dict) -> str:
        item = entry["clip_id"]
        if ledger.skip(item, retry_failed):
            return "skipped"
        if not hasattr(local, "zip"):
            local.zip = zipfile.ZipFile(archive)  # one handle per thread: ZipFile reads are not thread-safe
            handles.append(local.zip)
        target = clip_path(raw_dir, CLASS_TO_CODE[entry["class_name"]], item)
        member = f"{archive}:{entry['member']}"
        return place_clip(
            ledger,
            item,
            source=SOURCE,
            url=entry["member"],
            target=target,
            tmp=scratch / item / target.name,
            fill=lambda tmp: copy_and_verify(local.zip, entry["member"], tmp, member, cfg.get("checks")),
            shown_name=member,
        )

    try:
        run_pool(work, wanted, workers, desc="extract clips")
    finally:
        for handle in handles:
            handle.close()
    rows = []
    for entry in wanted:
        if ledger.is_done(entry["clip_id"]):
            row = ledger.get(entry["clip_id"])
            rows.append(
                clip_row(
                    clip_id=entry["clip_id"],
                    source=SOURCE,
                    source_video=entry["clip_id"],
                    vegas_video=entry["vegas_video"],
                    name=entry["class_name"],
                    event_start=0.0,
                    event_end=row["duration"],
                    path=row["path"],
                )
            )
    return rows
