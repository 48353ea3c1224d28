"""Stage `acquire`: get the clips of `data.source`, probe them, write the clip and rejects tables.

    python -m pipeline.acquire [--retry-failed]

Outputs (under data/raw/): clips/<class_code>/<clip_id>.mp4, clips.parquet (every
clip, with probe facts and `status`), rejects.parquet (the clips whose status is
not ok, with a one-line message each), ledger.parquet for downloaded sources;
data/acquire.json (counts by status, a DVC metric).
"""
from __future__ import annotations

import argparse
import json
import importlib
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .media import MediaError, ffmpeg_exe, probe
from .params import load_params
from .tables import CLASS_CODES, CLASSES, CLIP_COLUMNS, REJECT_COLUMNS, check_id, write_table, write_text

RAW_DIR = Path("data/raw")
SUMMARY_PATH = Path("data/acquire.json")
MIN_SECONDS = 1.0


def verify_clip(row: dict) -> dict:
    """Probe facts plus status: ok, or the reason the clip cannot give a 1-s segment."""
    path = Path(row["path"])
    facts = {"duration": float("nan"), "audio_streams": 0, "video_streams": 0, "sample_rate": 0,
             "channels": 0, "width": 0, "height": 0, "fps": 0.0}
    try:
        check_id(row["clip_id"], "clip id")
        facts.update(probe(path))
        reason, message = _usable(path, facts, row)
    except (MediaError, ValueError) as err:
        reason = getattr(err, "code", "invalid_id")
        message = str(err)
    return {**row, **facts, "status": reason or "ok", "message": message}


def _usable(path: Path, facts: dict, row: dict) -> tuple[str | None, str]:
    if facts["audio_streams"] == 0:
        return "no_audio", f"{path}: no audio stream"
    if facts["video_streams"] == 0:
        return "no_video", f"{path}: no video stream"
    span = min(row["event_end"], facts["duration"]) - row["event_start"]
    if not span >= MIN_SECONDS:
        return "too_short", f"{path}: annotated span {span:.2f} s is shorter than {MIN_SECONDS:.0f} s"
    errors = _decode_errors(path)
    if errors:
        return "corrupt", f"{path}: decode error ({errors})"
    return None, ""


def _decode_errors(path: Path) -> str:
    """First error line of a full decode of both streams ('' when clean): catches truncated files."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "error", "-i", str(path),
                           "-map", "0:a:0", "-map", "0:v:0", "-f", "null", "-"],
                          capture_output=True, text=True, errors="replace")
    lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
    if proc.returncode != 0 or lines:
        return lines[0] if lines else f"ffmpeg exit code {proc.returncode}"
    return ""


def fetch_rows(params: dict, raw_dir: Path, retry_failed: bool) -> pd.DataFrame:
    data = params["data"]
    source = data["source"]
    if source == "demo":
        from . import demo_world

        demo = data["demo"]
        return demo_world.render(raw_dir / "clips", clips_per_class=demo["clips_per_class"],
                                 seed=demo["seed"], workers=data["workers"], broken=demo["broken"])
    try:
        module = importlib.import_module(f"pipeline.sources.{source}")
    except ModuleNotFoundError:
        raise SystemExit(f"params.yaml: unknown data.source {source!r}")
    return module.fetch(data[source], raw_dir, workers=data["workers"], retry_failed=retry_failed)


def build_tables(rows: pd.DataFrame, workers: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = rows.sort_values("clip_id").reset_index(drop=True)
    rows["class_code"] = rows["class_name"].map(dict(zip(CLASSES, CLASS_CODES)))
    with ThreadPoolExecutor(max(1, workers)) as pool:
        checked = list(tqdm(pool.map(verify_clip, rows.to_dict("records")), total=len(rows),
                            desc="probe clips", unit="clip"))
    clips = pd.DataFrame(checked)
    bad = clips[clips["status"] != "ok"].assign(stage="acquire", reason=lambda d: d["status"])
    return clips, bad


def summary(source: str, clips: pd.DataFrame) -> dict:
    """The acquire metric: clip counts by status, plus the download ledger's summary if any."""
    out = {"source": source, "clips": int(len(clips)), "ok": int((clips["status"] == "ok").sum()),
           "status": {str(k): int(v) for k, v in sorted(clips["status"].value_counts().items())}}
    ledger = RAW_DIR / "ledger.parquet"
    if ledger.exists():
        from .sources.ledger import summarize

        out["download"] = summarize(pd.read_parquet(ledger))
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--retry-failed", action="store_true", help="download items that failed before again")
    args = ap.parse_args(argv)
    params = load_params()
    retry = args.retry_failed or bool(params["data"].get("retry_failed", False))
    rows = fetch_rows(params, RAW_DIR, retry)
    clips, rejects = build_tables(rows, params["data"]["workers"])
    write_table(clips, RAW_DIR / "clips.parquet", CLIP_COLUMNS)
    write_table(rejects, RAW_DIR / "rejects.parquet", REJECT_COLUMNS)
    write_text(json.dumps(summary(params["data"]["source"], clips), indent=2) + "\n", SUMMARY_PATH)
    for msg in rejects["message"]:
        print(f"rejected: {msg}")
    print(f"acquire: {int((clips['status'] == 'ok').sum())} clips ok, {len(rejects)} rejected")


if __name__ == "__main__":
    main()
