"""The artifact paths that dvc.yaml names, relative to the repository root (where stages and commands run).

`STAGE_OUTPUTS` are exactly dvc.yaml's outs, metrics and plots (`tests/test_paths_module.py` checks
both ways); every other path here lies inside one of them or is an input that dvc.yaml lists as a dep.
Libraries take these as defaults and write files under the folders they are given.
"""

from __future__ import annotations

from pathlib import Path

DATA, MODELS, REPORTS = Path("data"), Path("models"), Path("reports")


def live_plots(live_dir: Path) -> Path:
    """The folder of per-step plots that dvclive writes inside a logger folder."""
    return Path(live_dir) / "plots" / "metrics"


# ---- stage outputs (dvc.yaml outs, metrics and plots), in DAG order ----------------------------------
RAW = DATA / "raw"  # acquire
ACQUIRE_SUMMARY = DATA / "acquire.json"
SEGMENTS = DATA / "segments"  # segment
SHARDS = DATA / "shards"  # shards
STATS = DATA / "stats.json"
AUDIT_HTML = REPORTS / "audit" / "leakage.html"  # audit
AUDIT_METRICS = REPORTS / "audit" / "leakage.json"
AUTOENCODER = MODELS / "autoencoder"  # autoencoder
AUTOENCODER_LIVE = MODELS / "autoencoder_live"  # dvclive writes plots/metrics and metrics.json
AUTOENCODER_PLOTS = live_plots(AUTOENCODER_LIVE)
AUTOENCODER_METRICS = AUTOENCODER_LIVE / "metrics.json"
EMBEDDINGS = DATA / "embeddings"  # embed
TRANSLATOR = MODELS / "translator"  # translator
TRANSLATOR_LIVE = MODELS / "translator_live"
TRANSLATOR_PLOTS = live_plots(TRANSLATOR_LIVE)
TRANSLATOR_METRICS = TRANSLATOR_LIVE / "metrics.json"
INFORMATIVITY = MODELS / "informativity"  # informativity
INFORMATIVITY_METRICS = MODELS / "informativity_metrics.json"  # beside the folder: a DVC metric cannot lie inside an out
FIGURES = REPORTS / "figures"  # evaluate
REPORT_HTML = REPORTS / "report.html"
METRICS = REPORTS / "metrics.json"
PER_EPOCH_PLOT = REPORTS / "plots" / "per_epoch.tsv"

STAGE_OUTPUTS = (
    RAW,
    ACQUIRE_SUMMARY,
    SEGMENTS,
    SHARDS,
    STATS,
    AUDIT_HTML,
    AUDIT_METRICS,
    AUTOENCODER,
    AUTOENCODER_PLOTS,
    AUTOENCODER_METRICS,
    EMBEDDINGS,
    TRANSLATOR,
    TRANSLATOR_PLOTS,
    TRANSLATOR_METRICS,
    INFORMATIVITY,
    INFORMATIVITY_METRICS,
    FIGURES,
    REPORT_HTML,
    METRICS,
    PER_EPOCH_PLOT,
)

# ---- inside the outputs ------------------------------------------------------------------------------
RAW_CLIPS = RAW / "clips"
CLIPS_TABLE = RAW / "clips.parquet"
RAW_REJECTS = RAW / "rejects.parquet"
LEDGER = RAW / "ledger.parquet"
SEGMENT_INDEX = SEGMENTS / "index.parquet"
SEGMENT_REJECTS = SEGMENTS / "rejects.parquet"
AUDIT_DIR = AUDIT_METRICS.parent
AUTOENCODER_BEST = AUTOENCODER / "best.pt"
SNAPSHOTS = TRANSLATOR / "snapshots"

# ---- inputs that no stage writes (git-tracked) ---------------------------------------------------------
LABELS_CSV = DATA / "labels" / "informativity.csv"  # written by people via `s2i label`
PAPER_SPLIT_CSV = DATA / "vegas_paper_split.csv"  # params.yaml segment.split.paper_csv
