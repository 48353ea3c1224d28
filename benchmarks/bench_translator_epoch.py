"""The translator stage's own training loop with the shown generator readied (BatchNorm recompute, val
pixel loss) only at snapshot epochs, against readying it at every epoch as before, in the same process.

    python benchmarks/bench_translator_epoch.py [--epochs 5] [--threads 2]   # after `make demo`

Both runs train the params.yaml translator on the demo embeddings and shards into temporary folders; the
first keeps a snapshot at every epoch (so it is readied at every epoch: the old cost), the second at
params.yaml's snapshot_every. Prints seconds per epoch of each, their ratio, and whether both ended with the
same generator (they must: readying draws nothing from the training's random stream).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from pipeline.core.params import load_params
from pipeline.training import translator
from s2i_models import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]


def timed_run(p: dict, tmp: Path, name: str) -> tuple[float, dict]:
    start = time.perf_counter()
    translator.train(p, out_dir=tmp / name, live_dir=tmp / f"{name}_live", emb_dir=ROOT / "data/embeddings", shard_dir=ROOT / "data/shards")
    seconds = time.perf_counter() - start
    return seconds, load_checkpoint(tmp / name / "generator.pt")["models"]["generator"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    p = {**load_params(ROOT / "params.yaml")["translator"], "epochs": args.epochs, "nproc": 1}
    with tempfile.TemporaryDirectory() as tmp:
        every, every_end = timed_run({**p, "snapshot_every": 1}, Path(tmp), "every_epoch")
        snaps, snaps_end = timed_run({**p, "snapshot_every": args.epochs}, Path(tmp), "snapshots_only")
    same = all(torch.equal(every_end[k], snaps_end[k]) for k in every_end)
    print(f"readied every epoch (s/epoch): {every / args.epochs:.2f}")
    print(f"readied at snapshots only, here the last epoch (s/epoch): {snaps / args.epochs:.2f}")
    print(f"snapshots only / every epoch: {snaps / every:.2f}")
    print(f"same final generator: {same}")


if __name__ == "__main__":
    main()
