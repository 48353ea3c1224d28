"""AudioSet segment CSVs -> manifest, and reading manifests with bad lines."""

import os
import subprocess
import sys

import pytest

from conftest import REPO
from pipeline.core.errors import InputFileError
from pipeline.sources.manifest import build_manifest, read_audioset, read_manifest

AUDIOSET = """# Segments csv created Sun Mar  5 10:54:31 2017
# num_ytids=6, num_segs=6, num_unique_labels=527, num_positive_labels=9
# YTID, start_seconds, end_seconds, positive_labels
--PJHxphWEs, 30.000, 40.000, "/m/09x0r,/t/dd00002"
-0RWZT-miFs, 420.000, 430.000, "/m/0bt9lr,/m/068hy"
bad.id.here, 10.000, 20.000, "/m/0bt9lr"
0_vEaaXBoHo, 10.000, 20.000, "/m/04rlf"
0FbLhTGe2Ak, 5.000, 15.000, "/m/07jdr,/m/06d_3"
1zZ-fOAd01w, 0.000, 10.000, "/m/0j6m2"
2Ak3xTeHCyE, 30.000, 40.000, "/m/0g6b5,/m/0bt9lr"
3Xfb1ivKjzk, 20.000, 10.000, "/m/0g6b5"
"""


def test_audioset_rows_filtered_to_our_labels(tmp_path):
    path = tmp_path / "segments.csv"
    path.write_text(AUDIOSET)
    clips, bad = read_audioset(path)
    assert [(c.youtube_id, c.start, c.end, c.class_name, c.line) for c in clips] == [
        ("--PJHxphWEs", 30.0, 40.0, "Baby cry", 4),
        ("-0RWZT-miFs", 420.0, 430.0, "Dog", 5),
        ("0FbLhTGe2Ak", 5.0, 15.0, "Rail transport", 8),
        ("1zZ-fOAd01w", 0.0, 10.0, "Water flowing", 9),
    ]
    assert [(b.line, b.reason) for b in bad] == [(6, "invalid_id"), (10, "ambiguous"), (11, "invalid_line")]
    assert "line 6" in bad[0].message and "'bad.id.here'" in bad[0].message


def test_build_then_read_round_trip_with_cap(tmp_path):
    path = tmp_path / "segments.csv"
    path.write_text(AUDIOSET)
    out = tmp_path / "m" / "manifest.csv"
    kept, _ = build_manifest([path, path], out, max_per_class=1)
    assert len(kept) == 4  # repeats of the second file dropped
    clips, bad = read_manifest(out)
    assert bad == [] and [c.clip_id for c in clips] == [c.clip_id for c in kept]
    assert clips[0].clip_id == "yt_--PJHxphWEs_30000"


def test_manifest_bad_lines_are_rejected_with_line_numbers(tmp_path):
    path = tmp_path / "manifest.csv"
    path.write_text(
        "youtube_id,start,end,class,vegas_video\n"
        "abcdefghijk,0,10,Dog,\n"
        "abc;rm -rf,0,10,Dog,\n"
        "abcdefghij2,5,1,Dog,\n"
        "abcdefghij3,0,10,Cat,\n"
        "abcdefghij4,0,10,c003,video_00012\n"
        "abcdefghijk,0,10,Dog,\n"
    )
    clips, bad = read_manifest(path)
    assert [c.youtube_id for c in clips] == ["abcdefghijk", "abcdefghij4"]
    assert clips[1].class_name == "Rail transport" and clips[1].vegas_video == "video_00012"
    assert [(b.line, b.reason) for b in bad] == [(3, "invalid_id"), (4, "invalid_line"), (5, "invalid_line"), (7, "duplicate")]
    assert all(f"line {b.line}" in b.message for b in bad)


def test_manifest_without_columns_fails_clearly(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("id,start\n")
    with pytest.raises(InputFileError, match=r"m.csv: manifest lacks columns \['class', 'end', 'youtube_id'\]$"):
        read_manifest(path)
    with pytest.raises(InputFileError, match="none.csv: manifest not found$"):
        read_manifest(tmp_path / "none.csv")


def test_s2i_manifest_command_writes_the_manifest_and_reports_rejects(tmp_path, capsys):
    from pipeline.commands import cli

    path = tmp_path / "segments.csv"
    path.write_text(AUDIOSET)
    out = tmp_path / "youtube.csv"
    assert cli.main(["manifest", str(path), "--out", str(out)]) == 0
    clips, bad = read_manifest(out)
    assert bad == [] and [c.youtube_id for c in clips] == ["--PJHxphWEs", "-0RWZT-miFs", "0FbLhTGe2Ak", "1zZ-fOAd01w"]
    printed = capsys.readouterr().out
    assert printed.count("rejected: ") == 3 and "manifest: 4 clips" in printed and "3 lines rejected" in printed


def test_s2i_manifest_names_a_missing_input_in_one_line_and_exits_2(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.commands.cli", "manifest", str(tmp_path / "none.csv"), "--out", str(tmp_path / "youtube.csv")],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"s2i manifest: {tmp_path / 'none.csv'}: AudioSet segment CSV not found"]
    assert not (tmp_path / "youtube.csv").exists()
