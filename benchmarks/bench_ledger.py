"""What the download ledger costs a run of VEGAS size: 28,000 items recorded, against the file work of the run.

    python benchmarks/bench_ledger.py [--items 28000] [--floor-items 2000] [--clip-kb 1024]

Recording: one `Ledger.record` per item into one ledger (the whole run, all 28,000 items, each as the
sources record it), then the `save` at the end of the run and a reload, as a rerun does.
Floor: the per-item work that every source does anyway on a clip's file, without downloading or ffmpeg:
a fresh scratch folder, the clip written there (`--clip-kb`), moved into clips/, its SHA-256, the scratch
folder removed. It is measured on `--floor-items` items and scaled to `--items` (items are independent;
the ffmpeg checks of a real run, about 0.1 s a clip, are left out, so the ratio is an upper bound).
Prints the ratio recording / floor (goal < 0.05) and the recording time per item at the start and at the
end of the run (the same when recording does not grow with the ledger).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from pipeline.sources.common import fresh_dir, sha256_of
from pipeline.sources.ledger import Ledger


def record_all(path: Path, items: int) -> tuple[float, float, float]:
    """Seconds for recording `items` items plus the save and a reload; seconds per item of the first
    and of the last 1,000 records."""
    ledger = Ledger(path)
    tenth = max(1, min(1000, items // 10))
    laps = []
    started = time.perf_counter()
    for k in range(items):
        if k % tenth == 0:
            laps.append(time.perf_counter())
        ledger.record(
            f"c002_video_{k:05d}",
            source="vegas_archive",
            url=f"VEGAS/dog/video/video_{k:05d}.mp4",
            status="ok" if k % 7 else "corrupt",
            message="" if k % 7 else "decode error (partial file)",
            path=f"data/raw/clips/c002/c002_video_{k:05d}.mp4",
            nbytes=1_500_000 + k,
            duration=10.0,
            attempts=1,
            sha256=f"{k:064x}",
            elapsed=0.5,
        )
    laps.append(time.perf_counter())
    ledger.save()
    assert len(Ledger(path).table()) == items
    total = time.perf_counter() - started
    return total, (laps[1] - laps[0]) / tenth, (laps[-1] - laps[-2]) / tenth


def floor_per_item(root: Path, items: int, clip_kb: int) -> float:
    """Seconds per item of the file work a source does on each clip anyway."""
    payload = os.urandom(clip_kb * 1024)
    scratch, clips = root / ".partial", root / "clips" / "c002"
    clips.mkdir(parents=True)
    started = time.perf_counter()
    for k in range(items):
        work = fresh_dir(scratch / f"c002_video_{k:05d}")
        tmp = work / "clip.mp4"
        tmp.write_bytes(payload)
        target = clips / f"c002_video_{k:05d}.mp4"
        os.replace(tmp, target)
        sha256_of(target)
        shutil.rmtree(work)
        target.unlink()  # keeps the disk footprint at one clip
    return (time.perf_counter() - started) / items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=28000)
    ap.add_argument("--floor-items", type=int, default=2000)
    ap.add_argument("--clip-kb", type=int, default=1024, help="size of the clip file of the floor")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        recording, first, last = record_all(root / "ledger.parquet", args.items)
        floor = floor_per_item(root / "raw", args.floor_items, args.clip_kb) * args.items
    print(
        f"ledger of {args.items} items: recording + save + reload {recording:.2f} s "
        f"({first * 1e6:.0f} us per record at the start, {last * 1e6:.0f} us at the end); "
        f"floor (file work of {args.items} clips of {args.clip_kb} kB) {floor:.1f} s; "
        f"ratio {recording / floor:.4f} (goal < 0.05)"
    )


if __name__ == "__main__":
    main()
