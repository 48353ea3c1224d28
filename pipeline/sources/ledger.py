"""The download ledger: one row per item (clip, archive, archive member), on disk after every item.

`record` appends the item's row as one JSON line to the journal `ledger.parquet.journal` (written and
flushed at once, so a kill -9 loses at most the items in flight); `save` writes the whole table to
`ledger.parquet` atomically (temp file, then rename) and then removes the journal. Each source saves
once at the end of its run, so recording costs the same per item however long the ledger is. Loading
reads `ledger.parquet`, replays the journal that a killed run left (its last line may be cut short)
and saves at once, so every run starts without a journal.
A rerun skips items that are `ok` and whose file exists; items that failed are tried again only when
asked (`retry_failed`).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pandas as pd

from pipeline.core.errors import InputFileError
from pipeline.core.tables import empty_table, write_table

LEDGER_COLUMNS = {
    "item": "string",  # clip id, or the archive / member name
    "source": "string",  # vegas_archive | youtube | local
    "url": "string",  # where it came from (URL, zip member or local file)
    "status": "string",  # ok, or why not: unavailable, private, rate_limited, timeout, ...
    "message": "string",  # the real error, one line ("" when ok)
    "path": "string",  # the verified file, relative to the repository root ("" when none)
    "bytes": "int64",
    "duration": "float64",  # media seconds (NaN when unknown)
    "attempts": "int64",
    "sha256": "string",  # of the file, when it was computed ("" otherwise)
    "elapsed": "float64",  # seconds spent on the item in its last run
    "updated": "string",  # UTC time of the last update
}
TIMING_COLUMNS = ["elapsed", "updated"]


class Ledger:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.journal = self.path.with_name(self.path.name + ".journal")
        self.lock = threading.Lock()
        self.rows: dict[str, dict] = {}
        self._journal_file = None
        if self.path.exists():
            try:
                table = pd.read_parquet(self.path)
            except Exception as err:
                raise InputFileError(f"{self.path}: unreadable ledger ({err}); move it away to start over") from err
            missing = set(LEDGER_COLUMNS) - set(table.columns)
            if missing:
                raise InputFileError(f"{self.path}: ledger lacks columns {sorted(missing)}")
            self.rows = {row["item"]: row for row in table.to_dict("records")}
        if self.journal.exists():  # left by a killed run
            self.rows.update(self._replay())
            self.save()

    def _replay(self) -> dict[str, dict]:
        """The rows of the journal, last one per item; a cut-short last line (a kill mid-write) is dropped."""
        lines = self.journal.read_text(encoding="utf-8", errors="replace").split("\n")
        rows = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                missing = set(LEDGER_COLUMNS) - set(row)
            except ValueError:
                row, missing = None, set()
            if row is None or missing:
                if number == len(lines):  # the last line, cut by a kill: that item was in flight
                    continue
                raise InputFileError(f"{self.journal} line {number}: not a ledger row; move it away to start over")
            rows[row["item"]] = row
        return rows

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

    def record(
        self,
        item: str,
        *,
        source: str,
        url: str = "",
        status: str,
        message: str = "",
        path: str = "",
        nbytes: int = 0,
        duration: float = float("nan"),
        attempts: int = 0,
        sha256: str = "",
        elapsed: float = 0.0,
    ) -> None:
        row = {
            "item": item,
            "source": source,
            "url": url,
            "status": status,
            "message": " ".join(str(message).split()),
            "path": path,
            "bytes": int(nbytes),
            "duration": float(duration),
            "attempts": int(attempts),
            "sha256": sha256,
            "elapsed": round(float(elapsed), 3),
            "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        line = json.dumps(row, ensure_ascii=False) + "\n"
        with self.lock:
            self.rows[item] = row
            if self._journal_file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._journal_file = open(self.journal, "a", encoding="utf-8")
            self._journal_file.write(line)
            self._journal_file.flush()  # in the kernel's hands: survives a kill of this process

    def save(self) -> None:
        """Write the table to `path` (atomically), then drop the journal it now holds."""
        with self.lock:
            if self._journal_file is not None:
                self._journal_file.close()
                self._journal_file = None
            if self.journal.exists():  # there are records since the last save
                write_table(self._frame(), self.path, LEDGER_COLUMNS)
                os.unlink(self.journal)

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
