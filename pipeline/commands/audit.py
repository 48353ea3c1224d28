"""`s2i audit`: check the splits of a run for leakage (source videos, near-duplicate frames and audio).

    s2i audit [--params params.yaml] [--index ...] [--clips ...] [--shards ...] [--out ...]

The checks of the `audit` stage (`pipeline.audit.checks`) on any run's tables and shards;
the defaults are the stage's paths. Exit status: 0, 1 when a leak is found and
`audit.fail_on_leak` is true, 2 when an input cannot be read.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.audit.checks import run
from pipeline.core import paths
from pipeline.core.params import PARAMS_FILE


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default=str(PARAMS_FILE))
    ap.add_argument("--index", default=str(paths.SEGMENT_INDEX))
    ap.add_argument("--clips", default=str(paths.CLIPS_TABLE))
    ap.add_argument("--shards", default=str(paths.SHARDS))
    ap.add_argument("--out", default=str(paths.AUDIT_DIR))
    args = ap.parse_args(argv)
    return run(args.params, args.index, args.clips, args.shards, args.out)


if __name__ == "__main__":
    sys.exit(main())
