"""Resumable HTTP downloads: Range requests, retries with backoff, timeouts, HTTP 429.

`download(url, part)` appends to `part` from its current size (Range: bytes=N-) until the
body is complete, restarting from zero only when the server ignores the Range. A
`RateLimiter` shared by all workers spaces out requests and pauses everyone after a 429.
"""

from __future__ import annotations

import email.utils
import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from .common import FetchError

USER_AGENT = "s2i-acquire/0.1 (research dataset download)"
CHUNK = 1 << 16


class RateLimiter:
    """At most one request start per `interval` seconds; a 429 pauses all and doubles the interval."""

    def __init__(self, interval: float = 0.0, max_interval: float = 60.0):
        self.interval, self.max_interval = float(interval), float(max_interval)
        self.lock = threading.Lock()
        self.next_start = 0.0

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_start)
            self.next_start = start + self.interval
        if start > now:
            time.sleep(start - now)

    def slow_down(self, pause: float) -> None:
        with self.lock:
            self.interval = min(self.max_interval, max(self.interval * 2, 0.5))
            self.next_start = max(self.next_start, time.monotonic() + pause)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (number or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def http_failure(status_code: int, url: str, reason: str = "", retry_after: str | None = None) -> FetchError:
    message = f"{url}: HTTP {status_code} {reason}".strip()
    if status_code == 429:
        return FetchError("rate_limited", message, retryable=True, retry_after=retry_after_seconds(retry_after))
    if status_code in (404, 410):
        return FetchError("unavailable", message)
    if status_code in (401, 403):
        return FetchError("forbidden", message)
    return FetchError("http_error", message, retryable=status_code >= 500 or status_code == 408)


def with_retries(
    attempt: Callable[[], object], *, retries: int, backoff: float, max_wait: float, limiter: RateLimiter | None = None, progressed: Callable[[], bool] = lambda: False
):
    """Call attempt() until it returns; retry retryable FetchErrors with exponential backoff.

    Returns (result, attempts). A failure after progress (more bytes than before) does not
    count against `retries`, so a long download survives many short interruptions.
    """
    attempts = failures = 0
    while True:
        attempts += 1
        if limiter:
            limiter.wait()
        try:
            return attempt(), attempts
        except FetchError as err:
            err.attempts = attempts
            if not err.retryable:
                raise
            failures = 0 if progressed() else failures + 1
            if failures > retries:
                raise
            delay = backoff * 2 ** (failures - 1) if err.retry_after is None else err.retry_after
            delay = min(max(delay, 0.0), max_wait)
            if err.status == "rate_limited" and limiter:
                limiter.slow_down(delay)
            time.sleep(delay)


def download(
    url: str,
    part: Path,
    *,
    timeout: float = 30.0,
    retries: int = 5,
    backoff: float = 2.0,
    max_wait: float = 300.0,
    limiter: RateLimiter | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[int, int]:
    """Fetch url into `part`, resuming it; returns (size, attempts). Raises FetchError."""
    part = Path(part)
    part.parent.mkdir(parents=True, exist_ok=True)
    size_before = [part.stat().st_size if part.exists() else 0]

    def progressed() -> bool:
        now = part.stat().st_size if part.exists() else 0
        moved, size_before[0] = now > size_before[0], now
        return moved

    _, attempts = with_retries(lambda: _fetch_once(url, part, timeout, on_bytes), retries=retries, backoff=backoff, max_wait=max_wait, limiter=limiter, progressed=progressed)
    return part.stat().st_size, attempts


def _fetch_once(url: str, part: Path, timeout: float, on_bytes) -> None:
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as err:
        with err:
            if err.code == 416 and offset:
                total = _content_range_total(err.headers.get("Content-Range", ""))
                if total == offset:
                    return
                part.unlink()
                raise FetchError("http_error", f"{url}: HTTP 416 for a partial file of {offset} bytes; starting again", retryable=True) from None
            raise http_failure(err.code, url, str(err.reason), err.headers.get("Retry-After")) from None
    except (TimeoutError, socket.timeout) as err:
        raise FetchError("timeout", f"{url}: no answer within {timeout:g} s ({err})", retryable=True) from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, (TimeoutError, socket.timeout)):
            raise FetchError("timeout", f"{url}: no answer within {timeout:g} s", retryable=True) from None
        raise FetchError("http_error", f"{url}: {err.reason}", retryable=True) from None
    except (ConnectionError, http.client.HTTPException) as err:
        raise FetchError("http_error", f"{url}: {type(err).__name__} {err}", retryable=True) from None
    with response:
        if response.status == 206 and offset:
            start = _content_range_start(response.headers.get("Content-Range", ""))
            if start != offset:
                offset = 0
        else:
            offset = 0  # the server sent the whole file: start again
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        _copy_body(response, part, offset, total, url, timeout, on_bytes)


def _copy_body(response, part: Path, offset: int, total: int | None, url: str, timeout: float, on_bytes) -> None:
    written = offset
    with open(part, "r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate()
        try:
            while True:
                block = response.read(CHUNK)
                if not block:
                    break
                out.write(block)
                written += len(block)
                if on_bytes:
                    on_bytes(len(block))
        except (TimeoutError, socket.timeout):
            raise FetchError("timeout", f"{url}: stalled for {timeout:g} s after {written} bytes", retryable=True) from None
        except (http.client.IncompleteRead, ConnectionError) as err:
            raise FetchError("truncated", f"{url}: connection ended after {written} of {total} bytes ({type(err).__name__})", retryable=True) from None
        finally:
            out.flush()
    if total is not None and written != total:
        raise FetchError("truncated", f"{url}: received {written} of {total} bytes", retryable=True)


def _content_range_start(value: str) -> int | None:
    try:
        return int(value.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _content_range_total(value: str) -> int | None:
    try:
        return int(value.rsplit("/", 1)[1])
    except (IndexError, ValueError):
        return None
