"""The ledger: reload, resume rules, summary, the journal that makes recording incremental."""

import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import REPO

from pipeline.core.errors import InputFileError
from pipeline.core.tables import write_table
from pipeline.sources.ledger import LEDGER_COLUMNS, Ledger, summarize


def test_record_reload_and_skip_rules(tmp_path):
    path = tmp_path / "ledger.parquet"
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"1234")
    ledger = Ledger(path)
    ledger.record("a", source="youtube", status="ok", path=str(clip), nbytes=4, duration=2.0, attempts=1)
    ledger.record("b", source="youtube", status="timeout", message="no\nanswer", attempts=3)
    ledger.record("c", source="youtube", status="ok", path=str(tmp_path / "gone.mp4"), nbytes=9)

    again = Ledger(path)  # every record is on disk at once
    assert again.get("b")["message"] == "no answer" and again.get("b")["attempts"] == 3
    assert again.skip("a", retry_failed=False) and again.skip("a", retry_failed=True)
    assert again.skip("b", retry_failed=False) and not again.skip("b", retry_failed=True)
    assert not again.skip("c", retry_failed=False)  # ok but its file is gone: do it again
    assert not again.skip("new", retry_failed=False)

    summary = summarize(pd.read_parquet(path))  # loading saved the journal the first ledger left
    assert summary == {"items": 3, "ok": 2, "failed": 1, "bytes_ok": 13, "seconds_ok": 2.0, "status": {"ok": 2, "timeout": 1}}


def test_a_damaged_ledger_is_an_input_error_naming_the_file(tmp_path):
    path = tmp_path / "ledger.parquet"
    path.write_bytes(b"PAR1 not really a parquet file")
    with pytest.raises(InputFileError, match=r"ledger.parquet: unreadable ledger \(.*\); move it away to start over$"):
        Ledger(path)
    pd.DataFrame({"item": ["a"], "status": ["ok"]}).to_parquet(path)
    with pytest.raises(InputFileError, match=r"ledger.parquet: ledger lacks columns \['attempts', "):
        Ledger(path)


def row_args(k: int) -> dict:
    return {
        "source": "local",
        "url": f"in/{k}.mp4",
        "status": "ok" if k % 3 else "corrupt",
        "message": "" if k % 3 else f"in/{k}.mp4: decode error",
        "path": f"clips/{k}.mp4" if k % 3 else "",
        "nbytes": 1000 + k,
        "duration": 2.5 if k % 3 else float("nan"),
        "attempts": 1,
        "sha256": f"{k:064x}",
    }


def test_record_appends_one_line_and_save_writes_the_table_once(tmp_path):
    path = tmp_path / "ledger.parquet"
    ledger = Ledger(path)
    for k in range(5):
        ledger.record(f"item{k}", **row_args(k))
    journal = tmp_path / "ledger.parquet.journal"
    assert not path.exists()  # no table rewritten per item
    assert len(journal.read_text().splitlines()) == 5  # one line per item
    ledger.record("item0", **{**row_args(0), "status": "ok", "message": ""})
    assert len(journal.read_text().splitlines()) == 6
    ledger.save()
    assert not journal.exists()
    table = pd.read_parquet(path)
    assert list(table["item"]) == [f"item{k}" for k in range(5)] and table["status"].eq("ok").sum() == 4
    pd.testing.assert_frame_equal(table, ledger.table())
    pd.testing.assert_frame_equal(Ledger(path).table(), ledger.table())  # the saved table round-trips


KILLED_RUN = """
import os, signal, sys
from pipeline.sources.ledger import Ledger
sys.path.insert(0, sys.argv[2])
from test_sources_ledger import row_args
ledger = Ledger(sys.argv[1])
for k in range(int(sys.argv[3]), int(sys.argv[4])):
    ledger.record(f"item{k}", **row_args(k))
os.kill(os.getpid(), signal.SIGKILL)   # no save: a kill -9 in the middle of a run
"""


def killed_run(path, first: int, stop: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, str(path), str(REPO / "tests"), str(first), str(stop)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def test_a_killed_run_resumes_without_loss(tmp_path):
    path = tmp_path / "ledger.parquet"
    killed_run(path, 0, 40)
    with open(tmp_path / "ledger.parquet.journal", "a") as journal:
        journal.write('{"item": "item40", "source": "lo')  # the record in flight, cut short
    resumed = Ledger(path)
    assert sorted(resumed.rows) == sorted(f"item{k}" for k in range(40))
    assert path.exists() and not (tmp_path / "ledger.parquet.journal").exists()  # recovered and saved at once
    killed_run(path, 40, 60)  # killed again: on top of the table
    table = Ledger(path).table().set_index("item")
    assert len(table) == 60 and table.loc["item59", "bytes"] == 1059
    assert table.loc["item3", "status"] == "corrupt" and table.loc["item3", "message"] == "in/3.mp4: decode error"
    assert pd.isna(table.loc["item3", "duration"]) and table.loc["item4", "duration"] == 2.5


def test_a_damaged_journal_line_is_an_input_error(tmp_path):
    path = tmp_path / "ledger.parquet"
    (tmp_path / "ledger.parquet.journal").write_text('not json\n{"item": "a"}\n')
    with pytest.raises(InputFileError, match=r"ledger.parquet.journal line 1: not a ledger row; move it away"):
        Ledger(path)


def seconds_for_records(ledger: Ledger, count: int) -> float:
    best = float("inf")
    for repeat in range(3):
        started = time.perf_counter()
        for k in range(count):
            ledger.record(f"new{repeat}_{k}", **row_args(k))
        best = min(best, time.perf_counter() - started)
    return best


def test_recording_costs_the_same_however_long_the_ledger_is(tmp_path):
    """Recording was a rewrite of the whole table per item (quadratic); benchmarks/bench_ledger.py has the figure."""
    rows = [{"item": f"old{k}", **{key: value for key, value in row_args(k).items()}} for k in range(20000)]
    long = pd.DataFrame(rows).rename(columns={"nbytes": "bytes"}).assign(elapsed=0.5, updated="2026-01-01T00:00:00Z")
    write_table(long, tmp_path / "long.parquet", LEDGER_COLUMNS)
    short = seconds_for_records(Ledger(tmp_path / "short.parquet"), 300)
    on_long = seconds_for_records(Ledger(tmp_path / "long.parquet"), 300)
    assert on_long < 5 * short + 0.05, (on_long, short)
