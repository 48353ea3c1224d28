"""The local source: a VEGAS-layout folder, or a folder plus CSV."""

from pathlib import Path

import pandas as pd
import pytest

from conftest import make_media
from pipeline.core.errors import InputFileError, SettingError
from pipeline.sources import local


@pytest.fixture
def videos(tmp_path):
    root = tmp_path / "vegas"
    for sub in ("Dog/video", "fireworks", "drum"):
        (root / sub).mkdir(parents=True)
    make_media(root / "Dog/video/video_00003.mp4")
    make_media(root / "fireworks/video_00010.mp4", seconds=2.0)
    make_media(root / "drum/video_00001.mp4")
    (root / "fireworks/video_00011.mp4").write_bytes(b"not a video at all")
    return root


def test_vegas_layout(videos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = local.fetch({"folder": str(videos)}, Path("raw"), workers=2, retry_failed=False)
    assert sorted(rows["clip_id"]) == ["c002_video_00003", "c004_video_00010"]
    row = rows.set_index("clip_id").loc["c004_video_00010"]
    assert row["vegas_video"] == "video_00010" and row["source_video"] == "c004_video_00010"
    assert abs(row["event_end"] - 2.0) < 0.1 and Path(row["path"]).read_bytes() == (videos / "fireworks/video_00010.mp4").read_bytes()
    ledger = pd.read_parquet("raw/ledger.parquet").set_index("item")
    assert ledger.loc["c004_video_00011", "status"] == "corrupt"
    assert (videos / "fireworks/video_00010.mp4").exists()  # the user's copy stays


def test_csv_with_times_and_a_path_outside_the_folder(videos, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outside.mp4").write_bytes(b"x")
    csv = tmp_path / "clips.csv"
    csv.write_text("file,class,event_start,event_end\nDog/video/video_00003.mp4,Dog,0.5,2.5\n../outside.mp4,Dog,0,1\ndrum/video_00001.mp4,Drum,0,1\n")
    rows = local.fetch({"folder": str(videos), "csv": str(csv)}, Path("raw"), workers=1, retry_failed=False)
    assert list(rows["clip_id"]) == ["c002_video_00003"]
    assert (rows["event_start"][0], rows["event_end"][0]) == (0.5, 2.5)
    ledger = pd.read_parquet("raw/ledger.parquet").set_index("item")
    assert "outside" in ledger.loc["csv:line3", "message"] and ledger.loc["csv:line3", "status"] == "invalid_line"
    assert "line 4" in ledger.loc["csv:line4", "message"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(SettingError, match="^params.yaml data.local.folder: .*/nope: not a folder$"):
        local.fetch({"folder": str(tmp_path / "nope")}, tmp_path / "raw", workers=1, retry_failed=False)


def test_missing_or_incomplete_csv_is_a_clear_error(videos, tmp_path):
    with pytest.raises(SettingError, match="^params.yaml data.local.csv: .*/none.csv: no such file$"):
        local.fetch({"folder": str(videos), "csv": str(tmp_path / "none.csv")}, tmp_path / "raw", workers=1, retry_failed=False)
    listing = tmp_path / "clips.csv"
    listing.write_text("path,label\nDog/video/video_00003.mp4,Dog\n")
    with pytest.raises(InputFileError, match=r"clips.csv: lacks columns \['class', 'file'\]$"):
        local.fetch({"folder": str(videos), "csv": str(listing)}, tmp_path / "raw", workers=1, retry_failed=False)


def test_a_file_system_error_on_one_file_is_recorded_and_the_others_go_on(videos, tmp_path, monkeypatch):
    """Not only FetchErrors: an OSError from one file (here a name too long to stat) is that file's status."""
    monkeypatch.chdir(tmp_path)
    too_long = "x" * 300 + ".mp4"
    listing = tmp_path / "clips.csv"
    listing.write_text(f"file,class\n{too_long},Fireworks\nDog/video/video_00003.mp4,Dog\n")
    rows = local.fetch({"folder": str(videos), "csv": str(listing)}, Path("raw"), workers=1, retry_failed=False)
    assert list(rows["clip_id"]) == ["c002_video_00003"]
    ledger = pd.read_parquet("raw/ledger.parquet").set_index("item")
    failed = ledger.loc["c004_" + "x" * 100]
    assert failed["status"] == "unexpected_error" and failed["path"] == ""
    assert failed["message"].startswith(f"{videos / too_long}: OSError: [Errno 36] File name too long")
    assert ledger.loc["c002_video_00003", "status"] == "ok"
