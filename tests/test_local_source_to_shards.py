"""A non-demo source flows through the unchanged downstream stages: local VEGAS layout -> shards."""

import json
import shutil
from pathlib import Path

import pandas as pd
import yaml

from conftest import make_media
from pipeline.dataset.wds import decode_sample, iter_tar
from pipeline.stages import acquire, segment, shards

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ["baby", "dog", "rail_transport", "fireworks", "water_flowing"]


def test_local_vegas_folder_reaches_the_shards(tmp_path, monkeypatch):
    videos = tmp_path / "VEGAS"
    for c, folder in enumerate(FOLDERS):
        (videos / folder).mkdir(parents=True)
        for k in range(3):
            make_media(videos / folder / f"video_{k:05d}.mp4", seconds=2.0, freq=300 + 200 * c)
    (videos / "dog" / "video_00003.mp4").write_text("not a video")
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = "local"
    params["data"]["local"]["folder"] = str(videos)
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(REPO / "data" / "vegas_paper_split.csv", work / "data")
    monkeypatch.chdir(work)
    acquire.main([])
    segment.main()
    shards.main()
    clips = pd.read_parquet("data/raw/clips.parquet")
    assert (clips["status"] == "ok").sum() == 15
    assert set(clips["vegas_video"]) >= {"video_00000", "video_00001", "video_00002"}
    ledger = pd.read_parquet("data/raw/ledger.parquet")
    assert "corrupt" in set(ledger["status"])
    keys = {}
    for tar in sorted(Path("data/shards").glob("*.tar")):
        for key, fields in iter_tar(tar):
            keys[key] = decode_sample(fields)
    assert keys and all(s["mel"].shape == (128, 100) for s in keys.values())
    assert {s["meta"]["class_name"] for s in keys.values()} == {"Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing"}
    summary = json.loads(Path("data/acquire.json").read_text())
    assert summary["source"] == "local" and summary["download"]["ok"] == 15
