"""The ledger: reload, resume rules, summary."""
import pandas as pd
import pytest

from pipeline.core.errors import InputFileError
from pipeline.sources.ledger import Ledger, summarize


def test_record_reload_and_skip_rules(tmp_path):
    path = tmp_path / "ledger.parquet"
    clip = tmp_path / "a.mp4"
    clip.write_bytes(b"1234")
    ledger = Ledger(path)
    ledger.record("a", source="youtube", status="ok", path=str(clip), nbytes=4, duration=2.0, attempts=1)
    ledger.record("b", source="youtube", status="timeout", message="no\nanswer", attempts=3)
    ledger.record("c", source="youtube", status="ok", path=str(tmp_path / "gone.mp4"), nbytes=9)

    again = Ledger(path)                       # every record is on disk at once
    assert again.get("b")["message"] == "no answer" and again.get("b")["attempts"] == 3
    assert again.skip("a", retry_failed=False) and again.skip("a", retry_failed=True)
    assert again.skip("b", retry_failed=False) and not again.skip("b", retry_failed=True)
    assert not again.skip("c", retry_failed=False)   # ok but its file is gone: do it again
    assert not again.skip("new", retry_failed=False)

    summary = summarize(pd.read_parquet(path))
    assert summary == {"items": 3, "ok": 2, "failed": 1, "bytes_ok": 13, "seconds_ok": 2.0,
                       "status": {"ok": 2, "timeout": 1}}


def test_a_damaged_ledger_is_an_input_error_naming_the_file(tmp_path):
    path = tmp_path / "ledger.parquet"
    path.write_bytes(b"PAR1 not really a parquet file")
    with pytest.raises(InputFileError, match=r"ledger.parquet: unreadable ledger \(.*\); move it away to start over$"):
        Ledger(path)
    pd.DataFrame({"item": ["a"], "status": ["ok"]}).to_parquet(path)
    with pytest.raises(InputFileError, match=r"ledger.parquet: ledger lacks columns \['attempts', "):
        Ledger(path)
