"""The resumable downloader against the loopback server."""

import time

import pytest

from loopback import Loopback
from pipeline.sources.common import FetchError
from pipeline.sources.http import RateLimiter, download, retry_after_seconds

DATA = bytes(range(256)) * 400  # 102,400 bytes


def fetch(url, part, **kw):
    return download(url, part, **{"timeout": 0.5, "retries": 2, "backoff": 0.05, "max_wait": 3, **kw})


def test_resumes_with_range_after_a_cut_connection(tmp_path):
    with Loopback() as web:
        url = web.add("/big.bin", DATA, cut_at=30000, cuts=1)
        size, attempts = fetch(url, tmp_path / "big.part")
        log = web.requests("/big.bin")
    assert (tmp_path / "big.part").read_bytes() == DATA and size == len(DATA)
    assert attempts == 2
    assert [(r, s) for _, r, s, _ in log] == [("", 200), ("bytes=30000-", 206)]


def test_a_partial_file_from_an_earlier_run_is_continued(tmp_path):
    part = tmp_path / "big.part"
    part.write_bytes(DATA[:5000])
    with Loopback() as web:
        url = web.add("/big.bin", DATA)
        fetch(url, part)
        assert web.requests("/big.bin")[0][1] == "bytes=5000-"
    assert part.read_bytes() == DATA


def test_complete_partial_file_gets_416_and_is_done(tmp_path):
    part = tmp_path / "big.part"
    part.write_bytes(DATA)
    with Loopback() as web:
        size, _ = fetch(web.add("/big.bin", DATA), part)
    assert size == len(DATA) and part.read_bytes() == DATA


@pytest.mark.parametrize(
    "behaviour, status, attempts",
    [
        ({"status": 404}, "unavailable", 1),
        ({"stall": True}, "timeout", 3),
        ({"stall_before_headers": True}, "timeout", 3),
        ({"cut_at": 1000}, "truncated", 4),  # the first cut makes progress, then 3 fail
        ({"busy": 10, "retry_after": 0.1}, "rate_limited", 3),
    ],
)
def test_failures_end_with_their_status(tmp_path, behaviour, status, attempts):
    with Loopback() as web:
        url = web.add("/f.bin", DATA, **behaviour)
        with pytest.raises(FetchError) as err:
            fetch(url, tmp_path / "f.part")
    assert err.value.status == status and err.value.attempts == attempts
    assert "/f.bin" in str(err.value)


def test_429_waits_for_retry_after_and_slows_the_limiter(tmp_path):
    limiter = RateLimiter(0.0)
    with Loopback() as web:
        url = web.add("/b.bin", DATA, busy=1, retry_after=0.6)
        start = time.monotonic()
        _, attempts = fetch(url, tmp_path / "b.part", limiter=limiter)
        elapsed = time.monotonic() - start
    assert attempts == 2 and elapsed >= 0.6 and limiter.interval > 0


def test_rate_limiter_spaces_requests():
    limiter = RateLimiter(0.1)
    start = time.monotonic()
    for _ in range(4):
        limiter.wait()
    assert time.monotonic() - start >= 0.3


def test_retry_after_forms():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert 0 <= retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") <= 0.0 + 1e-9
