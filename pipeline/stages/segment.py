"""Stage `segment`: cut annotated spans into 1-s segments, split by source video, balance classes.

    python -m pipeline.stages.segment

Reads data/raw/clips.parquet; writes data/segments/index.parquet (one row per
segment, SEGMENT_COLUMNS) and data/segments/rejects.parquet (clips that the
chosen split cannot place).
"""

from __future__ import annotations

import sys

from pipeline.core import paths
from pipeline.core.errors import exit_status
from pipeline.core.settings import stage_params
from pipeline.core.tables import REJECT_COLUMNS, SEGMENT_COLUMNS, read_table, write_table
from pipeline.dataset.segments import build_index

READS = ("segment",)


def main() -> None:
    params = stage_params(READS).segment
    clips = read_table(paths.CLIPS_TABLE)
    index, rejects = build_index(clips, params)
    write_table(index, paths.SEGMENT_INDEX, SEGMENT_COLUMNS)
    write_table(rejects, paths.SEGMENT_REJECTS, REJECT_COLUMNS)
    counts = index.groupby(["split", "class_name"]).size().unstack(fill_value=0)
    print(f"segment: {len(index)} segments\n{counts}")


if __name__ == "__main__":
    sys.exit(exit_status("segment", main))
