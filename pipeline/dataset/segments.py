"""Cutting annotated spans into 1-s segments: splits by source video (random or the paper's) and
class balancing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.core import paths
from pipeline.core.errors import SettingError
from pipeline.core.tables import CLASS_INDEX, REJECT_COLUMNS, SEGMENT_COLUMNS, SPLITS

OUT_DIR = paths.SEGMENTS


def cut_segments(clips: pd.DataFrame, seconds: float = 1.0) -> pd.DataFrame:
    """Consecutive non-overlapping segments inside [event_start, min(event_end, duration)]."""
    rows = []
    for clip in clips.itertuples(index=False):
        end = min(clip.event_end, clip.duration)
        n = int(np.floor((end - clip.event_start) / seconds + 1e-6))
        for k in range(max(n, 0)):
            start = round(clip.event_start + k * seconds, 2)
            rows.append(
                {
                    "segment_id": f"{clip.clip_id}_{int(round(start * 1000)):06d}",
                    "clip_id": clip.clip_id,
                    "source_video": clip.source_video,
                    "class_name": clip.class_name,
                    "class_index": CLASS_INDEX[clip.class_name],
                    "start": start,
                    "path": clip.path,
                }
            )
    return pd.DataFrame(rows, columns=[c for c in SEGMENT_COLUMNS if c != "split"])


def split_random(segments: pd.DataFrame, ratios: dict[str, float], seed: int) -> pd.Series:
    """Assign whole source videos of each class to splits in the proportions of `ratios`.

    Video counts per split are rounded from the ratios, but every split gets at
    least one video of a class that has one video per split to give.
    """
    classes_per_video = segments.groupby("source_video")["class_name"].nunique()
    if (classes_per_video > 1).any():
        raise ValueError(f"source videos with several classes: {list(classes_per_video[classes_per_video > 1].index)[:5]}")
    rng = np.random.default_rng(seed)
    video_split = {}
    for class_name in sorted(segments["class_name"].unique()):
        videos = np.sort(segments.loc[segments["class_name"] == class_name, "source_video"].unique())
        videos = videos[rng.permutation(len(videos))]
        for video, split in zip(videos, split_sizes(len(videos), ratios)):
            video_split[video] = split
    return segments["source_video"].map(video_split)


def split_sizes(n: int, ratios: dict[str, float]) -> list[str]:
    """n split names: val and test get round(ratio * n) videos (at least 1 when n >= 3), train the rest."""
    total = sum(ratios[s] for s in SPLITS)
    held_out = {s: int(round(n * ratios[s] / total)) for s in SPLITS[1:]}
    if n >= len(SPLITS):
        held_out = {s: max(1, k) for s, k in held_out.items()}
    while sum(held_out.values()) > n - (1 if n >= 1 else 0):
        largest = max(held_out, key=held_out.get)
        held_out[largest] -= 1
    names = [s for s in SPLITS[1:] for _ in range(held_out[s])]
    return ["train"] * (n - len(names)) + names


def split_paper(segments: pd.DataFrame, clips: pd.DataFrame, split_csv: str | Path) -> pd.Series:
    """The authors' split: VEGAS video name + class code -> split; unknown videos get NaN."""
    table = pd.read_csv(split_csv, dtype=str)
    lookup = dict(zip(zip(table["class_code"], table["vegas_video_name"]), table["split"]))
    per_clip = {c.clip_id: lookup.get((c.class_code, c.vegas_video)) for c in clips.itertuples(index=False)}
    return segments["clip_id"].map(per_clip)


def balance(segments: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Keep the same number of segments for every class within each split (random, seeded)."""
    rng = np.random.default_rng(seed)
    kept = []
    for split in SPLITS:
        part = segments[segments["split"] == split]
        if part.empty:
            continue
        n = part.groupby("class_name").size().reindex(sorted(CLASS_INDEX), fill_value=0).min()
        for _, group in part.groupby("class_name", sort=True):
            kept.append(group.iloc[np.sort(rng.choice(len(group), size=n, replace=False))])
    return pd.concat(kept) if kept else segments.iloc[:0]


def build_index(clips: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    ok = clips[clips["status"] == "ok"]
    segments = cut_segments(ok, params["seconds"])
    split = params["split"]
    if split["method"] == "paper":
        segments["split"] = split_paper(segments, ok, split["paper_csv"])
    elif split["method"] == "random":
        segments["split"] = split_random(segments, split["ratios"], split["seed"])
    else:
        raise SettingError(f"params.yaml: unknown segment.split.method {split['method']!r}")
    unplaced = ok[ok["clip_id"].isin(segments.loc[segments["split"].isna(), "clip_id"])]
    rejects = pd.DataFrame(
        {"clip_id": unplaced["clip_id"], "path": unplaced["path"], "stage": "segment", "reason": "not_in_split", "message": unplaced["path"] + ": video not in the paper split"},
        columns=list(REJECT_COLUMNS),
    )
    segments = segments.dropna(subset=["split"])
    if params["balance"]:
        segments = balance(segments, split["seed"])
    order = segments["split"].map(SPLITS.index)
    segments = segments.assign(_o=order).sort_values(["_o", "clip_id", "start"]).drop(columns="_o")
    return segments, rejects
