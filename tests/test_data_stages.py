"""acquire -> segment -> shards on a small demo world, read back with webdataset."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import webdataset

from pipeline.core.tables import CLASSES
from pipeline.media.features import LOG_FLOOR
from pipeline.stages import shards
from stage_fixtures import build_demo_workspace

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    def edit(params):
        params["data"]["demo"]["clips_per_class"] = 4
        params["segment"]["split"]["ratios"] = {"train": 0.5, "val": 0.25, "test": 0.25}
        params["shards"]["samples_per_shard"] = 40

    return build_demo_workspace(tmp_path_factory.mktemp("demo"), edit)


def digests(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tar"))}


def read_split(root: Path, split: str) -> list[dict]:
    urls = [str(p) for p in sorted((root / "data/shards").glob(f"{split}-*.tar"))]
    return list(webdataset.WebDataset(urls, shardshuffle=False, empty_check=False).decode("rgb8"))


def test_broken_clips_are_rejected_with_one_line_reasons(workspace):
    clips = pd.read_parquet(workspace / "data/raw/clips.parquet")
    rejects = pd.read_parquet(workspace / "data/raw/rejects.parquet")
    assert {"no_audio", "corrupt"} <= set(rejects["reason"])
    assert rejects["message"].map(lambda m: "\n" not in m and m.startswith("data/raw/clips/")).all()
    assert set(rejects["clip_id"]) == set(clips.loc[clips["status"] != "ok", "clip_id"])
    stats = json.loads((workspace / "data/stats.json").read_text())
    assert stats["rejects"]["total"] >= len(rejects)


def test_shards_read_back_with_webdataset(workspace):
    index = pd.read_parquet(workspace / "data/segments/index.parquet")
    total = 0
    for split in ("train", "val", "test"):
        samples = read_split(workspace, split)
        total += len(samples)
        for s in samples:
            assert s["mel.npy"].shape == (128, 100) and s["mel.npy"].dtype == np.float32
            assert np.isfinite(s["mel.npy"]).all() and s["mel.npy"].min() >= np.log(LOG_FLOOR) - 1e-3
            assert s["mel.npy"].max() < 10
            assert s["png"].shape == (96, 96, 3) and s["png"].dtype == np.uint8
            assert s["json"]["split"] == split and "." not in s["__key__"]
            assert s["json"]["class_name"] == CLASSES[s["json"]["class_index"]]
    assert total == len(index)


def test_no_source_video_in_two_splits_and_classes_balanced(workspace):
    videos = {}
    for split in ("train", "val", "test"):
        for s in read_split(workspace, split):
            videos.setdefault(s["json"]["source_video"], set()).add(split)
    assert all(len(v) == 1 for v in videos.values())
    stats = json.loads((workspace / "data/stats.json").read_text())
    for split in ("train", "val", "test"):
        counts = {stats[split][c]["segments"] for c in CLASSES}
        assert len(counts) == 1 and counts.pop() > 0


def test_rerun_gives_byte_identical_shards(workspace, monkeypatch):
    before = digests(workspace / "data/shards")
    monkeypatch.chdir(workspace)
    shards.main()
    assert digests(workspace / "data/shards") == before and len(before) >= 3
