import numpy as np
import pandas as pd
import pytest

from pipeline.core.errors import SettingError
from pipeline.core.tables import CLASSES, CLASS_CODES
from pipeline.dataset.segments import balance, build_index, cut_segments, split_paper


def clip_table(videos_per_class=20, clips_per_video=2, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for c, (name, code) in enumerate(zip(CLASSES, CLASS_CODES)):
        for v in range(videos_per_class):
            for k in range(clips_per_video):
                start = float(rng.integers(0, 3))
                rows.append(
                    dict(
                        clip_id=f"{code}_v{v:03d}_{k}",
                        source_video=f"{code}_v{v:03d}",
                        vegas_video=f"video_{v:05d}",
                        class_name=name,
                        class_code=code,
                        event_start=start,
                        event_end=start + float(rng.integers(1, 8)) + 0.5,
                        duration=10.0,
                        path=f"x/{code}_{v}_{k}.mp4",
                        status="ok",
                    )
                )
    return pd.DataFrame(rows)


PARAMS = {"seconds": 1.0, "balance": True, "split": {"method": "random", "ratios": {"train": 0.8, "val": 0.09, "test": 0.11}, "seed": 0, "paper_csv": "data/vegas_paper_split.csv"}}


def test_cut_segments_stay_inside_span():
    clips = clip_table()
    seg = cut_segments(clips)
    merged = seg.merge(clips[["clip_id", "event_start", "event_end"]], on="clip_id")
    assert (merged["start"] >= merged["event_start"]).all()
    assert (merged["start"] + 1.0 <= merged["event_end"] + 1e-9).all()
    expected = np.floor(clips["event_end"] - clips["event_start"]).astype(int).sum()
    assert len(seg) == expected
    assert not seg["segment_id"].str.contains(r"\.").any() and seg["segment_id"].is_unique


def test_random_split_is_by_video_balanced_and_seeded():
    index, rejects = build_index(clip_table(), PARAMS)
    assert rejects.empty
    assert index.groupby("source_video")["split"].nunique().max() == 1
    counts = index.groupby(["split", "class_name"]).size().unstack()
    assert (counts.nunique(axis=1) == 1).all() and counts.shape == (3, 5)
    share = counts.iloc[:, 0] / counts.iloc[:, 0].sum()
    assert 0.65 < share["train"] < 0.9 and share["val"] > 0 and share["test"] > 0
    again, _ = build_index(clip_table(), PARAMS)
    pd.testing.assert_frame_equal(index.reset_index(drop=True), again.reset_index(drop=True))
    other, _ = build_index(clip_table(), {**PARAMS, "split": {**PARAMS["split"], "seed": 1}})
    assert not other["split"].reset_index(drop=True).equals(index["split"].reset_index(drop=True))


def test_balance_cuts_every_class_to_the_smallest():
    sizes = {"Baby cry": 4, "Dog": 5, "Rail transport": 4, "Fireworks": 3, "Water flowing": 6}
    seg = pd.DataFrame({"class_name": [c for c, n in sizes.items() for _ in range(n)], "split": "train"})
    out = balance(seg, seed=0)
    assert out.groupby("class_name").size().eq(3).all()


def test_paper_split_follows_the_authors_csv():
    csv = pd.read_csv("data/vegas_paper_split.csv", dtype=str)
    clips = clip_table(videos_per_class=5, clips_per_video=1)
    seg = cut_segments(clips)
    got = split_paper(seg, clips, "data/vegas_paper_split.csv")
    lookup = csv.set_index(["class_code", "vegas_video_name"])["split"]
    for s, c in zip(got, seg["clip_id"]):
        row = clips.set_index("clip_id").loc[c]
        assert s == lookup[(row["class_code"], row["vegas_video"])]


def test_paper_split_rejects_unknown_videos():
    clips = clip_table(videos_per_class=2, clips_per_video=1)
    clips.loc[0, "vegas_video"] = "video_99999"
    params = {**PARAMS, "split": {**PARAMS["split"], "method": "paper"}}
    index, rejects = build_index(clips, params)
    assert list(rejects["clip_id"]) == [clips.loc[0, "clip_id"]]
    assert rejects["reason"].eq("not_in_split").all()
    assert clips.loc[0, "clip_id"] not in set(index["clip_id"])


def test_unknown_split_method_is_an_error():
    with pytest.raises(SettingError, match="^params.yaml: unknown segment.split.method 'alphabet'$"):
        build_index(clip_table(2, 1), {**PARAMS, "split": {**PARAMS["split"], "method": "alphabet"}})
