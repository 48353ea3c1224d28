"""Source `youtube`: the annotated section of each manifest clip, downloaded with yt-dlp.

yt-dlp (Python API) finds the media and its `download_ranges` option makes ffmpeg fetch
only [start, end] of it. Every attempt works in raw_dir/.partial/<clip_id>/ and the
clip is moved into raw_dir/clips/ only after `verify_media` accepted it. No shell, no
exec or post-processor hooks; ffmpeg is imageio-ffmpeg's binary.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pandas as pd

from pipeline.core.errors import SettingError
from pipeline.media.decode import ffmpeg_exe
from .common import CLASS_TO_CODE, CLIP_ROW_COLUMNS, FetchError, clip_path, clip_row, fresh_dir, partial_dir, run_pool, sha256_of, unexpected_error, verify_media
from .http import RateLimiter, retry_after_seconds, with_retries
from .ledger import Ledger, format_summary, summarize
from .manifest import Clip, read_manifest

SOURCE = "youtube"
DEFAULT_URL_TEMPLATE = "https://www.youtube.com/watch?v={id}"
DEFAULT_FORMAT = "bv*[height<=?480]+ba/b[height<=?480]/bv*+ba/b"
MEDIA_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm"}

# yt-dlp message fragments (lower case) -> ledger status, retryable
MESSAGE_STATUS = [
    ("private video", "private", False),
    ("too many requests", "rate_limited", True),
    ("http error 429", "rate_limited", True),
    ("not a bot", "rate_limited", True),
    ("http error 404", "unavailable", False),
    ("http error 410", "unavailable", False),
    ("video unavailable", "unavailable", False),
    ("is not available", "unavailable", False),
    ("no longer available", "unavailable", False),
    ("has been removed", "unavailable", False),
    ("account associated with this video", "unavailable", False),
    ("requested format is not available", "unavailable", False),
    ("confirm your age", "login_required", False),
    ("members-only", "login_required", False),
    ("join this channel", "login_required", False),
    ("sign in", "login_required", False),
    ("http error 403", "forbidden", False),
    ("timed out", "timeout", True),
    ("timeout", "timeout", True),
    ("http error 5", "http_error", True),
    ("unable to download", "http_error", True),
]

# ffmpeg stderr fragments (lower case) -> ledger status, retryable
FFMPEG_STATUS = [
    ("stream ends prematurely", "truncated", True),
    ("server returned 429", "rate_limited", True),
    ("server returned 404", "unavailable", False),
    ("server returned 410", "unavailable", False),
    ("server returned 403", "forbidden", False),
    ("server returned 5", "http_error", True),
    ("moov atom not found", "corrupt", False),
    ("invalid data found", "corrupt", False),
    ("timed out", "timeout", True),
    ("connection refused", "http_error", True),
]


def fetch(cfg: dict, raw_dir: Path, *, workers: int, retry_failed: bool) -> pd.DataFrame:
    raw_dir = Path(raw_dir)
    clips, bad = read_manifest(cfg["manifest"])
    ledger = Ledger(raw_dir / "ledger.parquet")
    for line in bad:
        print(f"rejected: {line.message}")
        ledger.record(f"manifest:line{line.line}", source=SOURCE, url=str(cfg["manifest"]), status=line.reason, message=line.message)
    cookies = str(cfg.get("cookies") or "")
    if cookies and not Path(cookies).is_file():
        raise SettingError(f"params.yaml data.youtube.cookies: {cookies}: no such file")
    limiter = RateLimiter(float(cfg.get("min_interval", 1.0)))
    scratch = partial_dir(raw_dir)
    run_pool(lambda clip: fetch_clip(clip, cfg, raw_dir, scratch, ledger, limiter, retry_failed), clips, workers, desc="youtube clips")
    ledger.save()
    print(format_summary(summarize(ledger.table())))
    rows = []
    for clip in clips:
        if ledger.is_done(clip.clip_id):
            row = ledger.get(clip.clip_id)
            rows.append(
                clip_row(
                    clip_id=clip.clip_id,
                    source=SOURCE,
                    source_video=f"yt_{clip.youtube_id}",
                    vegas_video=clip.vegas_video,
                    name=clip.class_name,
                    event_start=0.0,
                    event_end=clip.end - clip.start,
                    path=row["path"],
                )
            )
    return pd.DataFrame(rows, columns=CLIP_ROW_COLUMNS)


def fetch_clip(clip: Clip, cfg: dict, raw_dir: Path, scratch: Path, ledger: Ledger, limiter: RateLimiter, retry_failed: bool) -> str:
    item = clip.clip_id
    if ledger.skip(item, retry_failed):
        return "skipped"
    url = str(cfg.get("url_template") or DEFAULT_URL_TEMPLATE).format(id=clip.youtube_id)
    work_dir = scratch / item
    started = time.monotonic()
    try:
        (media, duration), attempts = with_retries(
            lambda: download_section(clip, url, fresh_dir(work_dir), cfg),
            limiter=limiter,
            retries=int(cfg.get("retries", 3)),
            backoff=float(cfg.get("backoff", 5)),
            max_wait=float(cfg.get("max_wait", 300)),
        )
        target = clip_path(raw_dir, CLASS_TO_CODE[clip.class_name], item, media.suffix.lower())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(media, target)
        nbytes, digest = target.stat().st_size, sha256_of(target)
    except Exception as err:  # FetchError, or anything else from yt-dlp, ffmpeg or the file system
        failure = unexpected_error(err, url)
        ledger.record(item, source=SOURCE, url=url, status=failure.status, message=str(failure), attempts=getattr(failure, "attempts", 1), elapsed=time.monotonic() - started)
        return failure.status
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    ledger.record(
        item, source=SOURCE, url=url, status="ok", path=str(target), nbytes=nbytes, duration=duration, attempts=attempts, sha256=digest, elapsed=time.monotonic() - started
    )
    return "ok"


def ydl_options(clip: Clip, work_dir: Path, cfg: dict) -> dict:
    from yt_dlp.utils import download_range_func

    timeout = float(cfg.get("timeout", 30))
    options = {
        "quiet": True,
        "no_warnings": True,
        "noprogress": True,
        "logger": _Silent(),
        "noplaylist": True,
        "cachedir": False,
        "overwrites": True,
        "continuedl": False,
        "outtmpl": str(work_dir / "clip.%(ext)s"),
        "format": cfg.get("format") or DEFAULT_FORMAT,
        "merge_output_format": "mp4",
        "download_ranges": download_range_func(None, [(clip.start, clip.end)]),
        "force_keyframes_at_cuts": bool(cfg.get("exact_cuts", True)),
        "socket_timeout": timeout,
        "retries": 1,
        "fragment_retries": 1,
        "extractor_retries": 1,
        "ffmpeg_location": ffmpeg_exe(),
        "fixup": "never",
        # ffmpeg fetches the section: give up on a silent server, and stop at the first read error
        "external_downloader_args": {"ffmpeg_i": ["-rw_timeout", str(int(timeout * 1e6)), "-xerror"]},
    }
    if cfg.get("max_bytes_per_second"):
        options["ratelimit"] = int(cfg["max_bytes_per_second"])
    if cfg.get("cookies"):
        # yt-dlp saves its cookie jar on exit: give each download its own copy
        options["cookiefile"] = str(shutil.copy(cfg["cookies"], work_dir / "cookies.txt"))
    return options


def download_section(clip: Clip, url: str, work_dir: Path, cfg: dict) -> tuple[Path, float]:
    """One attempt: yt-dlp fetches [start, end] into work_dir; returns (file, duration) once verified."""
    import yt_dlp
    from yt_dlp.postprocessor.ffmpeg import FFmpegPostProcessor

    # yt-dlp checks for ffmpeg through this per-thread default before it reads ffmpeg_location
    FFmpegPostProcessor._ffmpeg_location.set(ffmpeg_exe())
    info = None
    try:
        with yt_dlp.YoutubeDL(ydl_options(clip, work_dir, cfg)) as ydl:
            info = ydl.extract_info(url, download=False)
            ydl.process_ie_result(info, download=True)
    except yt_dlp.utils.DownloadError as err:
        raise classify(err, info, clip, float(cfg.get("timeout", 30))) from None
    outputs = [p for p in work_dir.iterdir() if p.name.startswith("clip.") and p.suffix.lower() in MEDIA_SUFFIXES]
    if len(outputs) != 1:
        raise FetchError("download_failed", f"{url}: yt-dlp left {len(outputs)} media files")
    return outputs[0], verify_media(outputs[0], cfg.get("checks"))


def classify(err: Exception, info: dict | None, clip: Clip, timeout: float) -> FetchError:
    message = re.sub(r"^ERROR:\s*", "", str(err)).strip()
    low = message.lower()
    if "ffmpeg exited with code" in low and info:
        return diagnose(info, clip, timeout, message)
    for fragment, status, retryable in MESSAGE_STATUS:
        if fragment in low:
            return FetchError(status, message, retryable=retryable, retry_after=_retry_after(err))
    return FetchError("download_failed", message)


def _retry_after(err: BaseException) -> float | None:
    """The Retry-After header of the HTTP error somewhere in the chain of causes."""
    seen, queue = set(), [err]
    while queue:
        current = queue.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        response = getattr(current, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None and getattr(current, "status", None) == 429:
            return retry_after_seconds(headers.get("Retry-After"))
        exc_info = getattr(current, "exc_info", None)
        queue += [getattr(current, "cause", None), current.__cause__, current.__context__, exc_info[1] if exc_info else None]
    return None


def diagnose(info: dict, clip: Clip, timeout: float, message: str) -> FetchError:
    """yt-dlp hides ffmpeg's messages: read the section again with ffmpeg to say what went wrong."""
    urls = [f.get("url", "") for f in (info.get("requested_formats") or [info])]
    for url in urls:
        if not re.match(r"^https?://", url):
            continue
        started = time.monotonic()
        proc = subprocess.run(
            [
                ffmpeg_exe(),
                "-hide_banner",
                "-nostdin",
                "-v",
                "error",
                "-xerror",
                "-protocol_whitelist",
                "http,https,tcp,tls",
                "-rw_timeout",
                str(int(timeout * 1e6)),
                "-i",
                url,
                "-t",
                f"{clip.end:g}",
                "-map",
                "0",
                "-f",
                "null",
                "-",
            ],
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout * 4 + 60,
        )
        text = " ".join(proc.stderr.split())
        low = text.lower()
        for fragment, status, retryable in FFMPEG_STATUS:
            if fragment in low:
                return FetchError(status, f"{message}: {_short(text)}", retryable=retryable)
        if "input/output error" in low and time.monotonic() - started >= 0.9 * timeout:
            return FetchError("timeout", f"{message}: no data for {timeout:g} s", retryable=True)
        if proc.returncode != 0:
            return FetchError("download_failed", f"{message}: {_short(text)}", retryable=True)
    return FetchError("download_failed", message, retryable=True)


def _short(text: str, limit: int = 300) -> str:
    text = re.sub(r"\[[^\]]*@ 0x[0-9a-f]+\]\s*", "", text)
    return text if len(text) <= limit else text[:limit] + "..."


class _Silent:
    """yt-dlp logger: errors come back as exceptions; keep the console for the progress bar."""

    def debug(self, msg):
        pass

    info = warning = error = debug
