"""The audit's pair counts and blank-frame report, run through `s2i audit` (issue 11)."""

import json

import numpy as np

from pipeline.commands import audit
from test_audit import Dataset


def test_pairs_are_counted_one_to_one_and_blank_clips_are_named(tmp_path, rng):
    data = Dataset(tmp_path)
    scene = rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)  # a static scene: every frame the same
    still = np.stack([scene] * 20)
    data.add("still_a", "video_a", "train", 0, rng.normal(-5, 2, (128, 200)).astype(np.float32), still)
    data.add("still_b", "video_b", "test", 0, rng.normal(-5, 2, (128, 200)).astype(np.float32), still)
    black = np.zeros((20, 96, 96, 3), np.uint8)
    data.add("black", "video_c", "val", 1, rng.normal(-5, 2, (128, 200)).astype(np.float32), black)
    assert audit.main(data.write({"fail_on_leak": False})) == 0
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())
    pairs = report["image_pairs"]
    assert [(r["video_a"], r["video_b"]) for r in pairs] == [("video_a", "video_b")]
    assert pairs[0]["matching_segment_pairs"] == 2  # 2 segments each: 2 pairs, not 2 x 2
    assert report["counts"]["blank_frames"] == 2
    assert report["blank_frames"] == [{"clip_id": "black", "split": "val", "blank_segments": 2, "segments": 2}]
