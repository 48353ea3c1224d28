"""`s2i manifest`: build a YouTube manifest for the `youtube` source from AudioSet segment CSVs.

    s2i manifest balanced_train_segments.csv [more.csv ...] --out data/manifests/youtube.csv [--max-per-class 500]

Bad lines are reported with their line number and left out; the others go on.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.core.errors import exit_status
from pipeline.core.tables import CLASSES
from pipeline.sources.manifest import build_manifest


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="Build a YouTube manifest from AudioSet segment CSVs.")
    ap.add_argument("audioset_csv", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-per-class", type=int, default=0, help="0: keep all")
    args = ap.parse_args(argv)
    kept, bad = build_manifest(args.audioset_csv, args.out, max_per_class=args.max_per_class)
    for b in bad:
        print(f"rejected: {b.message}")
    counts = {name: sum(c.class_name == name for c in kept) for name in CLASSES}
    print(f"manifest: {len(kept)} clips {counts} -> {args.out}; {len(bad)} lines rejected")


if __name__ == "__main__":
    sys.exit(exit_status("s2i manifest", main, error_status=2))
