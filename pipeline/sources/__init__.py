"""Where clips come from (`vegas_archive`, `youtube`, `local`, the demo world), and the acquisition that tables them.
May import pipeline.core, pipeline.media and pipeline.demo_world.

Each source module has `fetch(cfg, raw_dir, *, workers, retry_failed) -> DataFrame`
(one row per clip that is downloaded and verified) and keeps `raw_dir/ledger.parquet`
(one row per item, see `ledger.py`) so that a rerun resumes where the last one stopped.
"""
