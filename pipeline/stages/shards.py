"""Stage `shards`: decode each clip once, write log-Mel + central-frame samples to WebDataset tars.

    python -m pipeline.stages.shards

Reads data/segments/index.parquet and the rejects of earlier stages; writes
data/shards/{train,val,test}-NNNNNN.tar, data/shards/rejects.parquet and
data/stats.json (the paper's Table 1 for this data, a DVC metric).
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from pipeline.core import paths
from pipeline.core.errors import exit_status
from pipeline.core.settings import stage_params
from pipeline.core.tables import SPLITS, read_table, write_text
from pipeline.dataset.shard_writer import EARLIER_REJECTS, ShardConfig, table1, write_shards
from pipeline.media.features import MelConfig

READS = ("shards",)


def main() -> None:
    params = stage_params(READS).shards
    cfg = ShardConfig(MelConfig(params.sample_rate, params.win_ms, params.hop_ms, params.n_mels), params.image_size, params.frame_fps)
    index = read_table(paths.SEGMENT_INDEX)
    index = index.sort_values(["clip_id", "start"]).reset_index(drop=True)
    kept, rejects = write_shards(index, paths.SHARDS, cfg, params.samples_per_shard, params.workers)
    earlier = [read_table(p) for p in EARLIER_REJECTS if p.exists()]
    all_rejects = pd.concat([*earlier, rejects], ignore_index=True)
    stats = table1(kept, all_rejects)
    write_text(json.dumps(stats, indent=2) + "\n", paths.STATS)
    for msg in rejects["message"]:
        print(f"rejected: {msg}")
    print(f"shards: {len(kept)} samples; " + ", ".join(f"{s} {stats[s]['total']['segments']}" for s in SPLITS))


if __name__ == "__main__":
    sys.exit(exit_status("shards", main))
