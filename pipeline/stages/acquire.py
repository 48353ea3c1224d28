"""Stage `acquire`: get the clips of `data.source`, probe them, write the clip and rejects tables.

    python -m pipeline.stages.acquire [--retry-failed]

Outputs (under data/raw/): clips/<class_code>/<clip_id>.mp4, clips.parquet (every
clip, with probe facts and `status`), rejects.parquet (the clips whose status is
not ok and the source items that never became a clip, with a one-line message
each), ledger.parquet for downloaded sources; data/acquire.json (counts by status,
a DVC metric). When no clip is usable the tables and summary are still written and
the stage exits 1 with a one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys

from pipeline.core import paths
from pipeline.core.errors import exit_status
from pipeline.core.settings import stage_params
from pipeline.core.tables import CLIP_COLUMNS, REJECT_COLUMNS, write_table, write_text
from pipeline.media.decode import CONTENT_LIMITS
from pipeline.sources.acquisition import build_tables, fetch_rows, reconcile_ledger, summary

READS = ("data",)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retry-failed", action="store_true", help="download items that failed before again")
    args = ap.parse_args(argv)
    params = stage_params(READS)
    retry = args.retry_failed or params.data.retry_failed
    limits = {k: float(params.data[k]) for k in CONTENT_LIMITS}
    rows = fetch_rows(params, paths.RAW, retry, limits)
    clips, rejects = build_tables(rows, params.data.workers, limits)
    rejects = reconcile_ledger(clips, rejects, paths.LEDGER)
    write_table(clips, paths.CLIPS_TABLE, CLIP_COLUMNS)
    write_table(rejects, paths.RAW_REJECTS, REJECT_COLUMNS)
    write_text(json.dumps(summary(params.data.source, clips, paths.RAW), indent=2) + "\n", paths.ACQUIRE_SUMMARY)
    for msg in rejects["message"]:
        print(f"rejected: {msg}")
    ok = int((clips["status"] == "ok").sum())
    print(f"acquire: {ok} clips ok, {len(rejects)} rejected")
    if ok == 0:
        print(f"acquire: error: no usable clip; the reasons are in {paths.RAW_REJECTS}" + (f" and {paths.LEDGER}" if paths.LEDGER.exists() else ""), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(exit_status("acquire", main))
