"""Getting the clips of `data.source`: fetch, probe and verify each clip, build the clip and rejects
tables and reconcile them with the download ledger.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.core import paths
from pipeline.core.errors import SettingError
from pipeline.core.tables import CLASS_CODES, CLASSES, CLIP_COLUMNS, REJECT_COLUMNS, BadId, check_id, empty_table
from pipeline.media.decode import CONTENT_LIMITS, MediaError, content_problem, decode_audio, decode_errors, probe
from pipeline.sources.common import unexpected_error

RAW_DIR = paths.RAW
SUMMARY_PATH = paths.ACQUIRE_SUMMARY
MIN_SECONDS = 1.0
SOURCE_MODULES = {"vegas_archive": "archive", "youtube": "youtube", "local": "local"}  # pipeline/sources/*.py


def verify_clip(row: dict, limits: dict = CONTENT_LIMITS) -> dict:
    """Probe facts plus status: ok, or the reason the clip cannot give a 1-s segment (invalid_id only for a
    bad clip id, a MediaError's own code, unexpected_error for any other exception from this clip)."""
    path = Path(row["path"])
    facts = {"duration": float("nan"), "audio_streams": 0, "video_streams": 0, "sample_rate": 0, "channels": 0, "width": 0, "height": 0, "fps": 0.0}
    try:
        check_id(row["clip_id"], "clip id")
        facts.update(probe(path))
        reason, message = _usable(path, facts, row, limits)
    except BadId as err:
        reason, message = "invalid_id", str(err)
    except MediaError as err:
        reason, message = err.code, str(err)
    except Exception as err:  # anything else from probing or checking this clip: its own row, the others go on
        failure = unexpected_error(err, str(path))
        reason, message = failure.status, str(failure)
    return {**row, **facts, "status": reason or "ok", "message": message}


def _usable(path: Path, facts: dict, row: dict, limits: dict) -> tuple[str | None, str]:
    if facts["audio_streams"] == 0:
        return "no_audio", f"{path}: no audio stream"
    if facts["video_streams"] == 0:
        return "no_video", f"{path}: no video stream"
    span = min(row["event_end"], facts["duration"]) - row["event_start"]
    if not span >= MIN_SECONDS:
        return "too_short", f"{path}: annotated span {span:.2f} s is shorter than {MIN_SECONDS:.0f} s"
    errors = decode_errors(path)
    if errors:
        return "corrupt", f"{path}: decode error ({errors})"
    return content_problem(path, decode_audio(path, 8000), limits) or (None, "")


def fetch_rows(params: dict, raw_dir: Path, retry_failed: bool, limits: dict = CONTENT_LIMITS) -> pd.DataFrame:
    data = params["data"]
    source = data["source"]
    if source == "demo":
        from pipeline import demo_world

        demo = data["demo"]
        return demo_world.render(raw_dir / "clips", clips_per_class=demo["clips_per_class"], seed=demo["seed"], workers=data["workers"], broken=demo["broken"])
    if source not in SOURCE_MODULES:
        raise SettingError(f"params.yaml: unknown data.source {source!r} (expected demo or one of {sorted(SOURCE_MODULES)})")
    # import errors inside a source (a missing dependency) surface as themselves, not as "unknown source"
    module = importlib.import_module(f"pipeline.sources.{SOURCE_MODULES[source]}")
    # the source checks each clip as this stage does, so that its ledger and clips.parquet agree
    return module.fetch({**data[source], "checks": limits}, raw_dir, workers=data["workers"], retry_failed=retry_failed)


def build_tables(rows: pd.DataFrame, workers: int, limits: dict = CONTENT_LIMITS) -> tuple[pd.DataFrame, pd.DataFrame]:
    checked = []
    if not rows.empty:
        rows = rows.sort_values("clip_id").reset_index(drop=True)
        rows["class_code"] = rows["class_name"].map(dict(zip(CLASSES, CLASS_CODES)))
        with ThreadPoolExecutor(max(1, workers)) as pool:
            checked = list(tqdm(pool.map(partial(verify_clip, limits=limits), rows.to_dict("records")), total=len(rows), desc="probe clips", unit="clip"))
    clips = pd.DataFrame(checked) if checked else empty_table({**CLIP_COLUMNS, "message": "string"})
    bad = clips[clips["status"] != "ok"].assign(stage="acquire", reason=lambda d: d["status"])
    return clips, bad


def reconcile_ledger(clips: pd.DataFrame, rejects: pd.DataFrame, ledger_path: Path) -> pd.DataFrame:
    """Make the download ledger and the clip table agree, and list every item that gave no clip.

    A clip the ledger calls ok but this stage rejects gets this stage's verdict in the ledger;
    ledger items that never became a clip (bad manifest lines, failed downloads) join the rejects.
    """
    if not ledger_path.exists():
        return rejects
    from pipeline.sources.ledger import Ledger

    ledger = Ledger(ledger_path)
    for clip in clips[clips["status"] != "ok"].itertuples():
        row = ledger.get(clip.clip_id)
        if row is not None and row["status"] == "ok":
            ledger.record(
                clip.clip_id,
                source=row["source"],
                url=row["url"],
                status=clip.status,
                message=clip.message,
                path=row["path"],
                nbytes=row["bytes"],
                duration=row["duration"],
                attempts=row["attempts"],
                sha256=row["sha256"],
            )
    ledger.save()
    table = ledger.table()
    missing = table[(table["status"] != "ok") & ~table["item"].isin(set(clips["clip_id"]))]
    paths = missing["path"].where(missing["path"] != "", missing["url"])
    unfetched = pd.DataFrame({"clip_id": missing["item"], "path": paths, "stage": "acquire", "reason": missing["status"], "message": missing["message"]})
    return pd.concat([rejects[list(REJECT_COLUMNS)], unfetched], ignore_index=True)


def summary(source: str, clips: pd.DataFrame, raw_dir: Path) -> dict:
    """The acquire metric: clip counts by status, plus the summary of raw_dir's download ledger if any."""
    out = {
        "source": source,
        "clips": int(len(clips)),
        "ok": int((clips["status"] == "ok").sum()),
        "status": {str(k): int(v) for k, v in sorted(clips["status"].value_counts().items())},
    }
    ledger = Path(raw_dir) / "ledger.parquet"
    if ledger.exists():
        from pipeline.sources.ledger import Ledger, summarize

        out["download"] = summarize(Ledger(ledger).table())
    return out
