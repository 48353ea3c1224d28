"""The download ledger: one row per item (clip, archive, archive member), saved after every item.

Each update rewrites `ledger.parquet` atomically (temp file, then rename), so a kill -9
loses at most the items in flight. A rerun skips items that are `ok` and whose file
exists; items that failed are tried again only when asked (`retry_failed`).
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pandas as pd

from pipeline.core.errors import InputFileError
from pipeline.core.tables import empty_table, write_table

LEDGER_COLUMNS = {
    "item": "string",       # clip id, or the archive / member name
    "source": "string",     # vegas_archive | youtube | local
    "url": "string",        # where it came from (URL, zip member or local file)
    "status": "string",     # ok, or why not: unavailable, private, rate_limited, timeout, ...
    "message": "string",    # the real error, one line ("" when ok)
    "path": "string",       # the verified file, relative to the repository root ("" when none)
    "bytes": "int64",
    "duration": "float64",  # media seconds (NaN when unknown)
    "attempts": "int64",
    "sha256": "string",     # of the file, when it was computed ("" otherwise)
    "elapsed": "float64",   # seconds spent on the item in its last run
    "updated": "string",    # UTC time of the last update
}
TIMING_COLUMNS = ["elapsed", "updated"]


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.lock = threading.Lock()
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            try:
                table = pd.read_parquet(self.path)
            except Exception as err:
                raise InputFileError(f"{self.path}: unreadable ledger ({err}); move it away to start over") from err
            missing = set(LEDGER_COLUMNS) - set(table.columns)
            if missing:
                raise InputFileError(f"{self.path}: ledger lacks columns {sorted(missing)}")
            self.rows = {row["item"]: row for row in table.to_dict("records")}

    def get(self, item: str) -> dict | None:
        return self.rows.get(item)

    def is_done(self, item: str) -> bool:
        row = self.rows.get(item)
        return bool(row) and row["status"] == "ok" and bool(row["path"]) and Path(row["path"]).is_file()

    def skip(self, item: str, retry_failed: bool) -> bool:
        """True when the item needs no work now: done, or failed before and not asked to retry."""
        row = self.rows.get(item)
        if row is None:
            return False
        if self.is_done(item):
            return True
        return row["status"] != "ok" and not retry_failed

    def record(self, item: str, *, source: str, url: str = "", status: str, message: str = "",
               path: str = "", nbytes: int = 0, duration: float = float("nan"), attempts: int = 0,
               sha256: str = "", elapsed: float = 0.0) -> None:
        row = {"item": item, "source": source, "url": url, "status": status,
               "message": " ".join(str(message).split()), "path": path, "bytes": int(nbytes),
               "duration": float(duration), "attempts": int(attempts), "sha256": sha256,
               "elapsed": round(float(elapsed), 3),
               "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with self.lock:
            self.rows[item] = row
            write_table(self._frame(), self.path, LEDGER_COLUMNS)

    def table(self) -> pd.DataFrame:
        with self.lock:
            return self._frame()

    def _frame(self) -> pd.DataFrame:
        if not self.rows:
            return empty_table(LEDGER_COLUMNS)
        frame = pd.DataFrame([self.rows[k] for k in sorted(self.rows)])
        return frame[list(LEDGER_COLUMNS)].astype(LEDGER_COLUMNS)


def summarize(ledger: pd.DataFrame) -> dict:
    """Counts per status and bytes: the acquire metric."""
    counts = ledger["status"].value_counts()
    ok = ledger["status"] == "ok"
    return {
        "items": int(len(ledger)),
        "ok": int(ok.sum()),
        "failed": int((~ok).sum()),
        "bytes_ok": int(ledger.loc[ok, "bytes"].sum()),
        "seconds_ok": round(float(ledger.loc[ok, "duration"].fillna(0).sum()), 3),
        "status": {str(k): int(v) for k, v in sorted(counts.items())},
    }


def format_summary(summary: dict) -> str:
    parts = ", ".join(f"{k} {v}" for k, v in summary["status"].items()) or "nothing"
    return f"ledger: {summary['items']} items ({parts}); {summary['bytes_ok'] / 1e6:.1f} MB ok"
