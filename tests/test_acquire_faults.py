"""The acquire stage on real sources and bad clips, run as `dvc repro` runs it (issue 11)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, make_media
from loopback import Loopback
from pipeline.core.errors import SettingError
from pipeline.sources import acquisition
from pipeline.sources.ledger import Ledger
from pipeline.stages import acquire

from encode import AAC, H264, ffmpeg, lavfi


def workspace(root: Path, source: str, **settings) -> Path:
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["data"]["source"] = source
    params["data"]["workers"] = 1
    for key, value in settings.items():
        if isinstance(value, dict):
            params["data"][key].update(value)
        else:
            params["data"][key] = value
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    return root


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Real files: good, variable frame rate, truncated, silent, black (each a valid container)."""
    folder = tmp_path_factory.mktemp("clips")
    good = make_media(folder / "good.mp4", seconds=2.0)
    vfr = folder / "vfr.mp4"  # one frame repeats its predecessor's time stamp, as phone clips do
    ffmpeg("-i", good, "-c", "copy", "-bsf:v", r"setts=ts=if(eq(N\,10)\,PREV_OUTPTS\,PTS)", vfr)
    faststart = folder / "faststart.mp4"
    ffmpeg("-i", good, "-c", "copy", "-movflags", "+faststart", faststart)
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(faststart.read_bytes()[: faststart.stat().st_size * 2 // 3])
    silent = folder / "silent.mp4"
    ffmpeg(*lavfi("testsrc=size=160x120:rate=25:duration=2", "anullsrc=r=44100:cl=mono"), "-t", "2", *H264, *AAC, silent)
    black = folder / "black.mp4"
    ffmpeg(*lavfi("color=c=black:size=160x120:rate=25:duration=2", "sine=frequency=440:sample_rate=44100:duration=2"), *H264, *AAC, black)
    return {"good": good, "vfr": vfr, "truncated": truncated, "silent": silent, "black": black}


def vegas_folder(root: Path, files: dict[str, Path]) -> Path:
    """A VEGAS-layout folder: dog/video_0000K.mp4 in the order given."""
    (root / "dog").mkdir(parents=True)
    for k, name in enumerate(files):
        (root / "dog" / f"video_{k:05d}.mp4").write_bytes(files[name].read_bytes())
    return root


def run_stage(work: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "pipeline.stages.acquire"], cwd=work, env=env, capture_output=True, text=True, timeout=300)


def status_of(work: Path) -> tuple[dict, dict]:
    clips = pd.read_parquet(work / "data/raw/clips.parquet")
    ledger = pd.read_parquet(work / "data/raw/ledger.parquet")
    return dict(zip(clips["clip_id"], clips["status"])), dict(zip(ledger["item"], ledger["status"]))


# ---- item 2: every source as a user runs it


def dog_and_fireworks_archive(clip: bytes) -> io.BytesIO:
    """A VEGAS-layout zip holding `clip` as one Dog and one Fireworks video."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("VEGAS/dog/video/video_00001.mp4", clip)
        zf.writestr("VEGAS/fireworks/video/video_00002.mp4", clip)
    return archive


def test_every_source_runs_from_params(clips, tmp_path):
    good = clips["good"].read_bytes()
    archive = dog_and_fireworks_archive(good)
    manifest = tmp_path / "youtube.csv"
    manifest.write_text("youtube_id,start,end,class\ngoodAAAAAA1,0.0,1.5,Dog\n")
    folder = vegas_folder(tmp_path / "local_in", {"good": clips["good"]})
    with Loopback() as web:
        settings = {
            "vegas_archive": {"vegas_archive": {"url": web.add("/VEGAS.zip", archive.getvalue(), content_type="application/zip"), "timeout": 5, "retries": 0}},
            "youtube": {"youtube": {"manifest": str(manifest), "url_template": web.url("/v/{id}.mp4"), "timeout": 5, "retries": 0, "min_interval": 0}},
            "local": {"local": {"folder": str(folder)}},
        }
        web.add("/v/goodAAAAAA1.mp4", good)
        for source, expected in (("vegas_archive", 2), ("youtube", 1), ("local", 1)):
            work = workspace(tmp_path / source, source, **settings[source])
            done = run_stage(work)
            assert done.returncode == 0, done.stderr[-2000:]
            table = pd.read_parquet(work / "data/raw/clips.parquet")
            assert (table["status"] == "ok").sum() == expected and set(table["source"]) == {source}
            assert f"acquire: {expected} clips ok, 0 rejected" in done.stdout


def test_an_unexpected_error_in_one_clip_is_recorded_in_ledger_and_rejects_and_the_run_goes_on(clips, tmp_path):
    """Any exception from one clip, not only a FetchError: here the file system refuses the Dog clips' folder
    (data/raw/clips/c002 is a file); the Fireworks clip of each source still arrives (issue 22)."""
    good = clips["good"].read_bytes()
    archive = dog_and_fireworks_archive(good)
    manifest = tmp_path / "youtube.csv"
    manifest.write_text("youtube_id,start,end,class\ngoodAAAAAA1,0.0,1.5,Dog\ngoodAAAAAA2,0.0,1.5,Fireworks\n")
    folder = tmp_path / "local_in"
    for sub, name in (("dog", "video_00001.mp4"), ("fireworks", "video_00002.mp4")):
        (folder / sub).mkdir(parents=True)
        (folder / sub / name).write_bytes(good)
    with Loopback() as web:
        settings = {
            "vegas_archive": (
                {"vegas_archive": {"url": web.add("/VEGAS.zip", archive.getvalue(), content_type="application/zip"), "timeout": 5, "retries": 0}},
                "c002_video_00001",
            ),
            "youtube": ({"youtube": {"manifest": str(manifest), "url_template": web.url("/v/{id}.mp4"), "timeout": 5, "retries": 0, "min_interval": 0}}, "yt_goodAAAAAA1_0"),
            "local": ({"local": {"folder": str(folder)}}, "c002_video_00001"),
        }
        web.add("/v/goodAAAAAA1.mp4", good)
        web.add("/v/goodAAAAAA2.mp4", good)
        for source, (setting, dog) in settings.items():
            work = workspace(tmp_path / source, source, **setting)
            (work / "data/raw/clips").mkdir(parents=True)
            (work / "data/raw/clips/c002").write_text("a file where the Dog clips' folder should be")
            done = run_stage(work)
            assert done.returncode == 0, (source, done.stderr[-2000:])
            clip_status, ledger_status = status_of(work)
            assert list(clip_status.values()) == ["ok"], (source, clip_status)
            assert ledger_status[dog] == "unexpected_error", (source, ledger_status)
            ledger = pd.read_parquet(work / "data/raw/ledger.parquet").set_index("item")
            assert "FileExistsError: [Errno 17] File exists: 'data/raw/clips/c002'" in ledger.loc[dog, "message"]
            rejects = pd.read_parquet(work / "data/raw/rejects.parquet").set_index("clip_id")
            assert rejects.loc[dog, "reason"] == "unexpected_error", (source, rejects)
            assert rejects.loc[dog, "message"] == ledger.loc[dog, "message"]
            assert "acquire: 1 clips ok, 1 rejected" in done.stdout


def test_unknown_source_and_a_missing_dependency_are_told_apart(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(workspace(tmp_path, "vegas"))
    with pytest.raises(SettingError, match="unknown data.source 'vegas' .*'local', 'vegas_archive', 'youtube'"):
        acquire.main([])
    workspace(tmp_path, "youtube")
    real_import = acquisition.importlib.import_module

    def without_dependency(name, *args):
        if name == "pipeline.sources.youtube":
            raise ModuleNotFoundError("No module named 'yt_dlp'", name="yt_dlp")
        return real_import(name, *args)

    monkeypatch.setattr(acquisition.importlib, "import_module", without_dependency)
    with pytest.raises(ModuleNotFoundError, match="yt_dlp"):
        acquire.main([])


def test_a_bad_setting_or_a_damaged_ledger_stops_the_stage_with_one_line(tmp_path):
    """Libraries raise S2IError; the stage prints `acquire: FILE: reason` and exits 1 (issue 22)."""
    done = run_stage(workspace(tmp_path / "unknown", "vegas"))
    assert done.returncode == 1
    assert done.stderr.splitlines() == ["acquire: params.yaml: unknown data.source 'vegas' (expected demo or one of ['local', 'vegas_archive', 'youtube'])"]
    (tmp_path / "videos").mkdir()
    work = workspace(tmp_path / "ledger", "local", local={"folder": str(tmp_path / "videos")})
    (work / "data/raw").mkdir(parents=True)
    (work / "data/raw/ledger.parquet").write_bytes(b"not a ledger")
    done = run_stage(work)
    assert done.returncode == 1 and len(done.stderr.splitlines()) == 1, done.stderr[-2000:]
    assert done.stderr.startswith("acquire: data/raw/ledger.parquet: unreadable ledger (")
    assert done.stderr.rstrip().endswith("); move it away to start over")


def test_only_a_bad_clip_id_is_invalid_id(clips, tmp_path):
    """verify_clip: a BadId is invalid_id; a MediaError keeps its code; any other exception from probing or
    checking one clip is that clip's unexpected_error, never invalid_id, and never stops the others (issue 22)."""
    row = {"clip_id": "c002_good", "path": str(clips["good"]), "event_start": 0.0, "event_end": 2.0}
    assert acquisition.verify_clip(row)["status"] == "ok"
    bad_id = acquisition.verify_clip({**row, "clip_id": "bad id!"})
    assert bad_id["status"] == "invalid_id" and "invalid clip id 'bad id!'" in bad_id["message"]
    assert acquisition.verify_clip({**row, "path": str(tmp_path / "none.mp4")})["status"] == "missing"
    # a ValueError from the content check (a limit given as an array) has nothing to do with the id
    checked = acquisition.verify_clip(row, {"silent_below_db": np.array([-60.0, -50.0]), "blank_std": 2.0})
    assert checked["status"] == "unexpected_error"
    assert checked["message"].startswith(f"{clips['good']}: ValueError: The truth value of an array")
    typed = acquisition.verify_clip({**row, "event_start": "0"})  # not a ValueError at all
    assert typed["status"] == "unexpected_error" and f"{clips['good']}: TypeError: " in typed["message"]


def test_summary_reads_the_ledger_of_the_raw_dir_it_is_given(tmp_path, monkeypatch):
    """Not the ledger under the working directory's data/raw (issue 22)."""
    given, here = tmp_path / "run/raw", tmp_path / "data/raw"
    for folder, item, status in ((given, "a", "timeout"), (here, "b", "ok")):
        ledger = Ledger(folder / "ledger.parquet")
        ledger.record(item, source="local", status=status, path=f"{item}.mp4", nbytes=5)
        ledger.save()
    monkeypatch.chdir(tmp_path)
    clips = pd.DataFrame({"status": ["ok", "corrupt", "ok"]})
    assert acquisition.summary("local", clips, given) == {
        "source": "local",
        "clips": 3,
        "ok": 2,
        "status": {"corrupt": 1, "ok": 2},
        "download": {"items": 1, "ok": 0, "failed": 1, "bytes_ok": 0, "seconds_ok": 0.0, "status": {"timeout": 1}},
    }
    assert "download" not in acquisition.summary("local", clips, tmp_path / "no_ledger")


# ---- item 3: nothing usable


def test_no_usable_clip_still_writes_tables_and_exits_1(tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("file,class\nnothing.mp4,Dog\nother.mp4,Drum\n")
    (tmp_path / "videos").mkdir()
    work = workspace(tmp_path / "work", "local", local={"folder": str(tmp_path / "videos"), "csv": str(listing)})
    done = run_stage(work)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == ("acquire: error: no usable clip; the reasons are in data/raw/rejects.parquet and data/raw/ledger.parquet")
    assert pd.read_parquet(work / "data/raw/clips.parquet").empty
    rejects = pd.read_parquet(work / "data/raw/rejects.parquet")
    assert sorted(rejects["reason"]) == ["invalid_line", "missing"]
    assert (work / "data/acquire.json").is_file()


# ---- items 4, 5, 7: real decode errors only, stable messages, silent and blank clips


@pytest.fixture(scope="module")
def acquired(clips, tmp_path_factory):
    """The clips as a local VEGAS folder, acquired in two workspaces and once more in the first."""
    root = tmp_path_factory.mktemp("acquired")
    folder = vegas_folder(root / "in", clips)
    works = [workspace(root / f"w{i}", "local", local={"folder": str(folder)}) for i in range(2)]
    rejects = []
    with pytest.MonkeyPatch.context() as mp:
        for work in works + works[:1]:
            mp.chdir(work)
            acquire.main([])
            rejects.append((work / "data/raw/rejects.parquet").read_bytes())
    ids = {name: f"c002_video_{k:05d}" for k, name in enumerate(clips)}
    return {"folder": folder, "works": works, "rejects": rejects, "ids": ids}


def test_variable_frame_rate_clip_is_ok_and_ledger_agrees(acquired):
    ids = acquired["ids"]
    clip_status, ledger_status = status_of(acquired["works"][0])
    assert clip_status[ids["vfr"]] == ledger_status[ids["vfr"]] == "ok"
    assert clip_status[ids["good"]] == ledger_status[ids["good"]] == "ok"
    assert ledger_status[ids["truncated"]] == "corrupt" and ids["truncated"] not in clip_status
    reasons = pd.read_parquet(acquired["works"][0] / "data/raw/rejects.parquet").set_index("clip_id")
    assert reasons.loc[ids["truncated"], "reason"] == "corrupt"
    assert "partial file" in reasons.loc[ids["truncated"], "message"]


def test_rejects_are_byte_identical_across_runs(acquired):
    first, *others = acquired["rejects"]
    assert all(other == first for other in others)
    messages = pd.read_parquet(acquired["works"][0] / "data/raw/rejects.parquet")["message"]
    assert len(messages) == 3 and not messages.str.contains(" @ 0x").any()  # no memory addresses
    assert messages.str.startswith(str(acquired["folder"])).all()  # the user's file, not a scratch copy


def test_silent_and_blank_clips_are_rejected_by_params(acquired, tmp_path, monkeypatch):
    ids = acquired["ids"]
    reasons = pd.read_parquet(acquired["works"][0] / "data/raw/rejects.parquet").set_index("clip_id")["reason"]
    assert reasons[ids["silent"]] == "silent_audio" and reasons[ids["black"]] == "blank_video"
    assert status_of(acquired["works"][0])[1][ids["silent"]] == "silent_audio"
    lenient = workspace(tmp_path, "local", local={"folder": str(acquired["folder"])}, blank_std=0.0, silent_below_db=-1000.0)
    monkeypatch.chdir(lenient)
    acquire.main([])
    clip_status, ledger_status = status_of(lenient)
    assert clip_status[ids["black"]] == "ok"
    assert ledger_status[ids["silent"]] == "silent_audio"  # digital zero is below any threshold


# ---- item 12: the local source's line numbers, symlinks and summary


def test_local_source_lines_symlinks_and_summary(clips, tmp_path, capsys, monkeypatch):
    folder = vegas_folder(tmp_path / "in", {"good": clips["good"], "other": clips["vfr"]})
    secret = tmp_path / "private" / "secret.mp4"
    secret.parent.mkdir()
    secret.write_bytes(clips["good"].read_bytes())
    (folder / "dog" / "video_00007.mp4").symlink_to(secret)
    listing = tmp_path / "list.csv"
    listing.write_text(
        "file,class,event_start,event_end\ndog/video_00000.mp4,Dog,0,2\n\ndog/video_00001.mp4,Dog,abc,2\n../private/secret.mp4,Dog,0,1\ndog/video_00001.mp4,Drum,0,1\n"
    )
    monkeypatch.chdir(workspace(tmp_path / "csv", "local", local={"folder": str(folder), "csv": str(listing)}))
    acquire.main([])
    out = capsys.readouterr().out
    assert "acquire: 1 clips ok, 3 rejected" in out
    rejects = pd.read_parquet("data/raw/rejects.parquet").set_index("clip_id")
    assert rejects.loc["csv:line4", "message"] == f"{listing} line 4: event_start 'abc' is not a number of seconds"
    assert "line 5" in rejects.loc["csv:line5", "message"] and "line 6" in rejects.loc["csv:line6", "message"]

    monkeypatch.chdir(workspace(tmp_path / "layout", "local", local={"folder": str(folder)}))
    acquire.main([])
    out = capsys.readouterr().out
    assert "acquire: 2 clips ok, 1 rejected" in out
    rejects = pd.read_parquet("data/raw/rejects.parquet")
    assert list(rejects["reason"]) == ["unsafe_path"] and str(secret) in rejects["message"][0]
    assert not any(p.resolve() == secret or p.read_bytes() == secret.read_bytes() and "00007" in p.name for p in Path("data/raw").rglob("*.mp4"))
