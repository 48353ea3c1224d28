"""Audit matching at the paper's scale: 61k segments of 14k videos, random fingerprints, planted leaks.

    python benchmarks/bench_audit.py [--segments 61345] [--videos 14142] [--leaks 40]

Prints segments per second of the image hash matching and clips per second of the
audio matching (feature extraction from shards is not included), and whether every
planted leak was found.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from pipeline.audit import checks as audit


def synthetic_segments(rng, n_segments: int, n_videos: int) -> pd.DataFrame:
    video = np.sort(rng.integers(0, n_videos, n_segments))
    split_of_video = rng.choice(["train", "val", "test"], size=n_videos, p=[0.8, 0.09, 0.11])
    base = rng.integers(0, 2**63, n_videos, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, n_videos).astype(np.uint64)
    # segments of one video look alike: a few bits off the video's hash
    noise = np.zeros(n_segments, dtype=np.uint64)
    for _ in range(3):
        noise |= np.uint64(1) << rng.integers(0, 64, n_segments).astype(np.uint64)
    phash = base[video] ^ noise
    segments = pd.DataFrame(
        {
            "segment_id": [f"s{i}" for i in range(n_segments)],
            "source_video": [f"v{v}" for v in video],
            "split": split_of_video[video],
            "phash": phash,
            "mirror": ~phash,
            "blank": np.zeros(n_segments, bool),
        }
    )
    palettes = rng.integers(0, 256, (n_videos, 8, 8, 3))  # each video its own colours, segments near them
    segments.attrs["thumbnails"] = np.clip(palettes[video] + rng.integers(-4, 5, (n_segments, 8, 8, 3)), 0, 255).astype(np.uint8)
    return segments


def plant_image_leaks(rng, segments: pd.DataFrame, n: int) -> set:
    train = np.flatnonzero(segments["split"].to_numpy() == "train")
    test = np.flatnonzero(segments["split"].to_numpy() == "test")
    src, dst = rng.choice(train, n, replace=False), rng.choice(test, n, replace=False)
    ph, mi = segments["phash"].to_numpy().copy(), segments["mirror"].to_numpy().copy()
    thumbs = segments.attrs["thumbnails"]
    for k, (s, d) in enumerate(zip(src, dst)):
        flips = np.uint64(sum(1 << int(b) for b in rng.choice(64, 4, replace=False)))
        if k % 2:  # a mirrored copy: its mirror hash is near the original
            mi[d], ph[d] = ph[s] ^ flips, ~(ph[s] ^ flips)
            thumbs[d] = thumbs[s][:, ::-1]
        else:
            ph[d], mi[d] = ph[s] ^ flips, ~(ph[s] ^ flips)
            thumbs[d] = thumbs[s]
    segments["phash"], segments["mirror"] = ph, mi
    return {(segments["source_video"][s], segments["source_video"][d]) for s, d in zip(src, dst)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--segments", type=int, default=61345)
    ap.add_argument("--videos", type=int, default=14142)
    ap.add_argument("--leaks", type=int, default=40)
    ap.add_argument("--frames", type=int, default=1000, help="fingerprint frames per clip (10 s)")
    args = ap.parse_args()
    rng = np.random.default_rng(0)

    segments = synthetic_segments(rng, args.segments, args.videos)
    planted = plant_image_leaks(rng, segments, args.leaks)
    t0 = time.perf_counter()
    found = audit.check_images(segments, radius=audit.DEFAULTS["image_radius"], min_pairs=1, colour_tolerance=audit.DEFAULTS["image_colour_tolerance"])
    seconds = time.perf_counter() - t0
    hits = {(r["video_a"], r["video_b"]) for r in found}
    print(
        f"image matching: {len(segments)} segments in {seconds:.2f} s = {len(segments) / seconds:,.0f} segments/s; "
        f"planted {len(planted)}, found {len(planted & hits)}, other pairs {len(hits - planted)}"
    )

    clips = segments.groupby("source_video", sort=False).agg(split=("split", "first"), first_segment=("segment_id", "first")).reset_index()
    clips["clip_id"] = clips["source_video"]
    prints = {}
    for clip_id in clips["clip_id"]:
        words = rng.integers(0, 2**32, args.frames, dtype=np.uint64).astype(np.uint32)
        prints[clip_id] = (words, np.ones(args.frames, bool), rng.normal(size=66))
    train, test = clips[clips["split"] == "train"]["clip_id"], clips[clips["split"] == "test"]["clip_id"]
    audio_planted = set()
    for a, b in zip(train.iloc[: args.leaks], test.iloc[: args.leaks]):
        words, valid, sig = prints[a]
        flips = (rng.random((args.frames, 32)) < 0.15) @ (1 << np.arange(32, dtype=np.uint64))
        prints[b] = (words ^ flips.astype(np.uint32), valid, sig + rng.normal(scale=0.05, size=66))
        audio_planted.add((a, b))
    t0 = time.perf_counter()
    found = audit.check_audio(clips, prints, audit.DEFAULTS["audio_threshold"], 100, audit.DEFAULTS["audio_candidates"])
    seconds = time.perf_counter() - t0
    hits = {(r["clip_a"], r["clip_b"]) for r in found}
    print(
        f"audio matching: {len(clips)} clips in {seconds:.2f} s = {len(clips) / seconds:,.0f} clips/s "
        f"({len(segments) / seconds:,.0f} segments/s); planted {len(audio_planted)}, "
        f"found {len(audio_planted & hits)}, other pairs {len(hits - audio_planted)}"
    )


if __name__ == "__main__":
    main()
