"""The youtube source against a loopback server: yt-dlp's generic extractor on direct media URLs."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import REPO, make_media
from loopback import Loopback
from pipeline.media.decode import probe
from pipeline.sources import youtube
from pipeline.sources.ledger import TIMING_COLUMNS, Ledger, summarize

GOOD = ["goodAAAAAA1", "good-BBBB_2"]
EXPECTED = {
    "goodAAAAAA1": "ok",
    "good-BBBB_2": "ok",
    "gone0000404": "unavailable",
    "busy0000429": "ok",
    "stall000001": "timeout",
    "trunc000001": "truncated",
    "noaudio0001": "no_audio",
    "corrupt0001": "corrupt",
}
CLASS_OF = {"goodAAAAAA1": "Dog", "good-BBBB_2": "c005"}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    good = make_media(folder / "good.mp4").read_bytes()
    other = make_media(folder / "other.mp4", freq=880, fps=20).read_bytes()
    silent = make_media(folder / "silent.mp4", audio=False).read_bytes()
    return {"good": good, "other": other, "silent": silent, "corrupt": bytes((i * 7919 + 13) % 251 for i in range(20000))}


def serve(web: Loopback, media: dict) -> None:
    web.add("/v/goodAAAAAA1.mp4", media["good"])
    web.add("/v/good-BBBB_2.mp4", media["other"])
    web.add("/v/busy0000429.mp4", media["good"], busy=1, retry_after=1)
    web.add("/v/stall000001.mp4", media["good"], stall=True)
    web.add("/v/trunc000001.mp4", media["good"], cut_at=len(media["good"]) // 2)
    web.add("/v/noaudio0001.mp4", media["silent"])
    web.add("/v/corrupt0001.mp4", media["corrupt"])


def write_manifest(path: Path, ids) -> Path:
    lines = ["youtube_id,start,end,class"]
    lines += [f"{i},0.5,2.5,{CLASS_OF.get(i, 'Fireworks')}" for i in ids]
    lines.insert(3, "bad id!!,0,1,Dog")  # line 4
    path.write_text("\n".join(lines) + "\n")
    return path


def config(web: Loopback, manifest: Path, **extra) -> dict:
    return {"manifest": str(manifest), "url_template": web.url("/v/{id}.mp4"), "timeout": 1, "retries": 1, "backoff": 0.1, "max_wait": 2, "min_interval": 0, **extra}


def test_every_failure_gets_its_status_and_good_clips_come_back(media, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest(tmp_path / "manifest.csv", EXPECTED)
    raw = Path("data/raw")
    with Loopback() as web:
        serve(web, media)
        rows = youtube.fetch(config(web, manifest), raw, workers=2, retry_failed=False)
        busy = web.requests("/v/busy0000429.mp4")
    ledger = pd.read_parquet(raw / "ledger.parquet").set_index("item")
    for ytid, status in EXPECTED.items():
        assert ledger.loc[f"yt_{ytid}_500", "status"] == status, ledger.loc[f"yt_{ytid}_500"].to_dict()
    bad = ledger.loc["manifest:line4"]
    assert bad["status"] == "invalid_id" and "line 4" in bad["message"]
    assert "404" in ledger.loc["yt_gone0000404_500", "message"]
    assert ledger.loc["yt_busy0000429_500", "attempts"] == 2
    assert busy[0][2] == 429 and busy[1][3] - busy[0][3] >= 0.9  # waited for Retry-After: 1
    assert ledger.loc["yt_stall000001_500", "attempts"] == 2  # timeouts are retried
    assert ledger.loc["yt_noaudio0001_500", "attempts"] == 1  # a file without audio is not
    assert summarize(ledger.reset_index())["status"]["ok"] == 3

    assert sorted(rows["clip_id"]) == sorted(f"yt_{i}_500" for i in GOOD + ["busy0000429"])
    rows = rows.set_index("clip_id")
    assert rows.loc["yt_goodAAAAAA1_500", "class_name"] == "Dog"
    assert rows.loc["yt_good-BBBB_2_500", "class_code"] == "c005"
    assert rows.loc["yt_good-BBBB_2_500", "source_video"] == "yt_good-BBBB_2"
    for clip_id, row in rows.iterrows():
        path = Path(row["path"])
        assert path.parts[:3] == ("data", "raw", "clips") and path.is_file()
        facts = probe(path)
        assert abs(facts["duration"] - 2.0) < 0.15  # only the annotated section
        assert facts["audio_streams"] == 1 and facts["video_streams"] == 1
        assert (row["event_start"], row["event_end"]) == (0.0, 2.0)
    assert not any((raw / ".partial").iterdir())


def test_rerun_skips_finished_and_retries_failed_only_when_asked(media, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    manifest = write_manifest(tmp_path / "manifest.csv", ["goodAAAAAA1", "gone0000404"])
    raw = Path("data/raw")
    with Loopback() as web:
        serve(web, media)
        cfg = config(web, manifest)
        youtube.fetch(cfg, raw, workers=1, retry_failed=False)
        first = len(web.log)
        again = youtube.fetch(cfg, raw, workers=1, retry_failed=False)
        assert len(web.log) == first  # nothing fetched again
        assert list(again["clip_id"]) == ["yt_goodAAAAAA1_500"]
        web.add("/v/gone0000404.mp4", media["other"])  # the video came back
        youtube.fetch(cfg, raw, workers=1, retry_failed=True)
        assert {p for p, *_ in web.log[first:]} == {"/v/gone0000404.mp4"}
    ledger = pd.read_parquet(raw / "ledger.parquet").set_index("item")
    assert ledger.loc["yt_gone0000404_500", "status"] == "ok"


FETCH_SCRIPT = """
import json, sys
from pathlib import Path
from pipeline.sources import youtube
cfg = json.loads(sys.argv[1])
youtube.fetch(cfg, Path(sys.argv[2]), workers=1, retry_failed=False)
"""


def test_kill_during_download_then_rerun_matches_an_uninterrupted_run(media, tmp_path, monkeypatch):
    import json

    monkeypatch.chdir(tmp_path)
    ids = ["goodAAAAAA1", "slowSLOW001", "good-BBBB_2", "gone0000404"]
    manifest = write_manifest(tmp_path / "manifest.csv", ids)
    with Loopback() as web:
        serve(web, media)
        web.add("/v/slowSLOW001.mp4", media["good"], rate=len(media["good"]) / 2)  # 2 s per read
        cfg = config(web, manifest, timeout=5)
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        proc = subprocess.Popen(
            [sys.executable, "-c", FETCH_SCRIPT, json.dumps(cfg), "killed/raw"], env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # wait until the slow file is streaming
                if len(web.requests("/v/slowSLOW001.mp4")) >= 2 and any((Path("killed/raw/.partial") / "yt_slowSLOW001_500").glob("*.part")):
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the slow download never started")
            os.killpg(proc.pid, signal.SIGKILL)  # the fetch and its ffmpeg, like a kill -9 of dvc repro
        finally:
            proc.wait(10)
        web.routes["/v/slowSLOW001.mp4"].rate = None
        before = Ledger("killed/raw/ledger.parquet").table().set_index("item")  # the table and the killed run's journal
        assert before.loc["yt_goodAAAAAA1_500", "status"] == "ok"
        assert "yt_slowSLOW001_500" not in before.index  # the item in flight left no row
        assert not (Path("killed/raw/clips/c004") / "yt_slowSLOW001_500.mp4").exists()
        kept = before.loc["yt_goodAAAAAA1_500", "updated"]

        killed_rows = youtube.fetch(cfg, Path("killed/raw"), workers=1, retry_failed=False)
        clean_rows = youtube.fetch(cfg, Path("clean/raw"), workers=1, retry_failed=False)

    killed = pd.read_parquet("killed/raw/ledger.parquet").drop(columns=TIMING_COLUMNS)
    clean = pd.read_parquet("clean/raw/ledger.parquet").drop(columns=TIMING_COLUMNS)
    assert pd.read_parquet("killed/raw/ledger.parquet").set_index("item").loc["yt_goodAAAAAA1_500", "updated"] == kept  # not downloaded twice
    killed["path"] = killed["path"].str.replace("killed/", "", regex=False)
    clean["path"] = clean["path"].str.replace("clean/", "", regex=False)
    pd.testing.assert_frame_equal(killed, clean)
    assert sorted(killed["status"]) == ["invalid_id", "ok", "ok", "ok", "unavailable"]
    files = {p.relative_to("killed"): p.read_bytes() for p in Path("killed/raw/clips").rglob("*.mp4")}
    clean_files = {p.relative_to("clean"): p.read_bytes() for p in Path("clean/raw/clips").rglob("*.mp4")}
    assert len(files) == 3 and files == clean_files
    assert len(killed_rows) == len(clean_rows) == 3
