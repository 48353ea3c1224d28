"""The vegas_archive source: resumable download, checksum, safe extraction of five classes."""

import hashlib
import io
import struct
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from conftest import make_media
from loopback import Loopback
from pipeline.core.errors import SettingError
from pipeline.sources import archive

FOLDERS = {"baby": "c001", "dog": "c002", "rail_transport": "c003", "fireworks": "c004", "Water_Flowing": "c005"}


@pytest.fixture(scope="module")
def vegas_zip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vegas")
    good = make_media(folder / "good.mp4").read_bytes()
    silent = make_media(folder / "silent.mp4", audio=False).read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i, name in enumerate(FOLDERS):
            zf.writestr(f"VEGAS/{name}/video/video_{i:05d}.mp4", good)
        zf.writestr("VEGAS/dog/video/video_00099.mp4", silent)
        zf.writestr("VEGAS/drum/video/video_00000.mp4", good)  # another class
        zf.writestr("VEGAS/dog/../../../evil/video_00007.mp4", good)  # path traversal
        link = zipfile.ZipInfo("VEGAS/dog/video/video_00008.mp4")
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")  # symlink
        zf.writestr("VEGAS/dog/readme.txt", "not a video")
    return buf.getvalue()


def test_download_resumes_extracts_five_classes_and_refuses_unsafe_members(vegas_zip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    raw = Path("work/data/raw")
    with Loopback() as web:
        url = web.add("/VEGAS.zip", vegas_zip, content_type="application/zip", cut_at=len(vegas_zip) // 3, cuts=1)
        cfg = {"url": url, "sha256": hashlib.sha256(vegas_zip).hexdigest(), "size": len(vegas_zip), "timeout": 2, "retries": 2, "backoff": 0.05}
        rows = archive.fetch(cfg, raw, workers=2, retry_failed=False)
        log = web.requests("/VEGAS.zip")
        assert [r for _, r, _, _ in log] == ["", f"bytes={len(vegas_zip) // 3}-"]  # Range resume
        again = archive.fetch(cfg, raw, workers=2, retry_failed=False)
        assert len(web.requests("/VEGAS.zip")) == 2  # nothing fetched again
    pd.testing.assert_frame_equal(rows, again)
    ledger = pd.read_parquet(raw / "ledger.parquet").set_index("item")
    zip_row = ledger.loc["archive:VEGAS.zip"]
    assert zip_row["status"] == "ok" and zip_row["sha256"] == hashlib.sha256(vegas_zip).hexdigest()
    assert zip_row["bytes"] == len(vegas_zip) and zip_row["attempts"] == 2
    assert ledger.loc["c002_video_00099", "status"] == "no_audio"
    unsafe = ledger[ledger["status"] == "unsafe_path"]
    assert sorted(unsafe["url"]) == ["VEGAS/dog/../../../evil/video_00007.mp4", "VEGAS/dog/video/video_00008.mp4"]

    expected = {f"{code}_video_{i:05d}" for i, code in enumerate(FOLDERS.values())}
    assert set(rows["clip_id"]) == expected
    for row in rows.itertuples():
        assert row.source_video == row.clip_id == f"{row.class_code}_{row.vegas_video}"
        assert Path(row.path) == raw / "clips" / row.class_code / f"{row.clip_id}.mp4"
        assert Path(row.path).read_bytes() == make_bytes_of(vegas_zip, row.vegas_video)
        assert row.event_start == 0.0 and abs(row.event_end - 3.0) < 0.1
    written = {p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file()}
    assert all(str(p).startswith("work/data/raw/") for p in written)
    assert not any("evil" in str(p) or "drum" in str(p) for p in written)


def make_bytes_of(zip_bytes: bytes, video: str) -> bytes:
    with zipfile.ZipFile(io.BytesIO(zip_bytes)) as zf:
        name = next(n for n in zf.namelist() if n.endswith(f"{video}.mp4") and ".." not in n)
        return zf.read(name)


def test_checksum_mismatch_is_recorded_and_not_extracted(vegas_zip, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with Loopback() as web:
        cfg = {"url": web.add("/VEGAS.zip", vegas_zip), "sha256": "0" * 64, "timeout": 2, "retries": 0}
        rows = archive.fetch(cfg, Path("raw"), workers=1, retry_failed=False)
    ledger = pd.read_parquet("raw/ledger.parquet")
    assert rows.empty and list(ledger["status"]) == ["checksum_mismatch"]
    assert hashlib.sha256(vegas_zip).hexdigest() in ledger["message"][0]
    assert not Path("raw/clips").exists() and not list(Path("raw/downloads").iterdir())


def test_unknown_archive_name_is_refused(tmp_path):
    with pytest.raises(SettingError, match="^params.yaml data.vegas_archive: unsafe archive file name '../up.zip'$"):
        archive.fetch({"url": "http://127.0.0.1:9/x", "filename": "../up.zip"}, tmp_path, workers=1, retry_failed=False)


def with_compression_method(zip_bytes: bytes, member: str, method: int) -> bytes:
    """The archive with `member`'s compression method in the central directory set to `method`."""
    data, name = bytearray(zip_bytes), member.encode()
    at = data.find(b"PK\x01\x02")
    while at != -1:
        length = struct.unpack("<H", data[at + 28 : at + 30])[0]
        if data[at + 46 : at + 46 + length] == name:
            data[at + 10 : at + 12] = struct.pack("<H", method)
        at = data.find(b"PK\x01\x02", at + 4)
    return bytes(data)


def test_a_member_zipfile_cannot_read_is_recorded_and_the_others_are_extracted(vegas_zip, tmp_path, monkeypatch):
    """zipfile raises NotImplementedError (no FetchError, no OSError) for a compression method it lacks."""
    monkeypatch.chdir(tmp_path)
    good = make_bytes_of(vegas_zip, "video_00001")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("VEGAS/dog/video/video_00001.mp4", good)
        zf.writestr("VEGAS/fireworks/video/video_00002.mp4", good)
    data = with_compression_method(buf.getvalue(), "VEGAS/dog/video/video_00001.mp4", 99)
    with Loopback() as web:
        cfg = {"url": web.add("/VEGAS.zip", data, content_type="application/zip"), "timeout": 2, "retries": 0}
        rows = archive.fetch(cfg, Path("raw"), workers=1, retry_failed=False)
    assert list(rows["clip_id"]) == ["c004_video_00002"]
    ledger = pd.read_parquet("raw/ledger.parquet").set_index("item")
    failed = ledger.loc["c002_video_00001"]
    assert failed["status"] == "unexpected_error" and failed["path"] == ""
    assert failed["message"] == ("raw/downloads/VEGAS.zip:VEGAS/dog/video/video_00001.mp4: NotImplementedError: That compression method is not supported")
    assert ledger.loc["c004_video_00002", "status"] == "ok"
    assert not any(Path("raw/.partial").iterdir())
