"""Shards stage vs the bare ffmpeg decode floor of the same clips, in the same process pool.

    python benchmarks/bench_shards.py [--clips-per-class 8] [--workers 2]

Renders demo clips into a temp folder (or uses --clips-dir with an existing
data/raw/clips.parquet), then times (1) decoding every clip's audio (16 kHz mono)
and video frames with ffmpeg alone and (2) the shards stage writing the same
clips. Prints the ratio (goal <= 1.5) and the parent's peak memory growth for
N and 2N clips (goal: flat in the number of clips).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from multiprocessing import get_context
from pathlib import Path


from pipeline import demo_world
from pipeline.dataset.segments import build_index
from pipeline.dataset.shard_writer import ShardConfig, write_shards
from pipeline.media.decode import decode_audio, decode_frames
from pipeline.media.features import MelConfig
from pipeline.sources.acquisition import build_tables

SEGMENT_PARAMS = {"seconds": 1.0, "balance": False, "split": {"method": "random", "ratios": {"train": 0.8, "val": 0.09, "test": 0.11}, "seed": 0}}


def bare_decode(path: str) -> int:
    return decode_audio(path, 16000).size + decode_frames(path, 10.0, 96).size


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clips-per-class", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows = demo_world.render(tmp / "clips", args.clips_per_class, seed=0, workers=args.workers, broken=False)
        clips, _ = build_tables(rows, args.workers)
        index, _ = build_index(clips, SEGMENT_PARAMS)
        paths = sorted(index["path"].unique())
        cfg = ShardConfig(MelConfig())

        t0 = time.perf_counter()
        with get_context("spawn").Pool(args.workers) as pool:
            pool.map(bare_decode, paths, chunksize=1)
        floor = time.perf_counter() - t0

        half = index[index["clip_id"].isin(sorted(index["clip_id"].unique())[: len(paths) // 2])]
        rss0 = peak_rss_mb()
        write_shards(half, tmp / "shards_half", cfg, 1000, args.workers)
        rss_half = peak_rss_mb()
        t0 = time.perf_counter()
        write_shards(index, tmp / "shards", cfg, 1000, args.workers)
        stage = time.perf_counter() - t0
        rss_full = peak_rss_mb()
    print(f"clips: {len(paths)}  segments: {len(index)}  workers: {args.workers}")
    print(f"bare ffmpeg decode: {floor:.2f} s   shards stage: {stage:.2f} s")
    print(f"ratio shards / decode floor: {stage / floor:.2f}  (goal <= 1.5)")
    print(f"parent peak RSS: start {rss0:.0f} MB, after N/2 clips {rss_half:.0f} MB, after N clips {rss_full:.0f} MB")


if __name__ == "__main__":
    main()
