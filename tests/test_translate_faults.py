"""`s2i translate` on bad input, odd names, existing files and signals (issue 11)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO
from pipeline.commands import cli, translate
from test_translate import encode, save_tiny_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


def run(capsys, *argv) -> tuple[int, str, str]:
    code = cli.main(["translate", *[str(a) for a in argv]])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def test_user_files_at_the_output_name_are_never_replaced(model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    encode(Path("data.wav"), 1.5, rate=16000, channels=1)
    encode(Path("notes.mp3"), 1.5, source="noise", rate=16000, channels=1)
    Path("data").mkdir()
    Path("data/raw.csv").write_text("x\n")
    Path("notes").write_text("n\n")
    code, _, err = run(capsys, "--out", ".", "data.wav", "notes.mp3", "--model", model_dir)
    assert code == 1
    assert Path("data/raw.csv").read_text() == "x\n" and Path("notes").read_text() == "n\n"
    lines = err.strip().splitlines()
    assert len(lines) == 3 and lines[-1] == "s2i translate: 2 of 2 inputs failed"
    for line, name in zip(lines, ("data", "notes")):
        assert line.startswith(f"s2i translate: {name}: exists and is not an earlier translation")
    assert hidden(Path(".")) == []
    # an earlier translation (it holds translation.json) is replaced
    Path("notes").unlink()
    assert run(capsys, "--out", ".", "notes.mp3", "--model", model_dir, "--samples", "2")[0] == 0
    assert run(capsys, "--out", ".", "notes.mp3", "--model", model_dir)[0] == 0
    assert not list(Path("notes").glob("*_sample_02.png")) and Path("notes/translation.json").is_file()


def test_names_that_look_like_urls_or_options_are_plain_files(model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    encode(tmp_path / "pipe:0.wav", 1.2, rate=16000, channels=1)  # absolute: ffmpeg itself needs file: here
    encode(tmp_path / "-rf ü.wav", 1.2, rate=16000, channels=1)
    code, _, err = run(capsys, "pipe:0.wav", "./-rf ü.wav", "--model", model_dir, "--out", "out")
    assert code == 0, err
    assert sorted(p.name for p in Path("out").iterdir()) == ["pipe_0", "rf"]
    assert json.loads(Path("out/pipe_0/translation.json").read_text())["audio"]["duration_s"] == pytest.approx(1.2, abs=0.01)


@pytest.mark.parametrize(
    "flag, value, fragment",
    [
        ("--hop", "inf", "argument --hop: must be a finite number"),
        ("--seed", str(10**23), "argument --seed: must be from 0 to"),
        ("--seed", "-1", "argument --seed: must be from 0 to"),
        ("--out", "a_file", "--out is not a folder"),
        ("--out", "a_file/sub", "--out cannot be created: a_file is not a folder"),
    ],
)
def test_arguments_and_out_are_checked_before_the_model(flag, value, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a_file").write_text("keep me\n")
    code, _, err = run(capsys, "x.wav", flag, value, "--model", tmp_path / "no_model")
    assert code == 2 and fragment in err
    assert "checkpoint not found" not in err and "x.wav" not in err  # neither the model nor the input is blamed
    assert Path("a_file").read_text() == "keep me\n"


def test_many_samples_are_drawn_in_generator_batches(model_dir, tmp_path, capsys, monkeypatch):
    sound = encode(tmp_path / "tone.wav", 2.0, source="noise", rate=16000, channels=1)
    batch_sizes = []
    load_model = translate.load_model

    def spied_model(*args, **kwargs):
        model = load_model(*args, **kwargs)
        model.generator.register_forward_hook(lambda module, inputs, output: batch_sizes.append(len(inputs[0])))
        return model

    monkeypatch.setattr(translate, "IMAGES_PER_BATCH", 8)
    monkeypatch.setattr(translate, "load_model", spied_model)
    out = tmp_path / "out"
    code, _, err = run(capsys, sound, "--model", model_dir, "--out", out, "--samples", "30")
    assert code == 0, err
    assert max(batch_sizes) <= 8 and sum(batch_sizes) == 60
    meta = json.loads((out / "tone" / translate.SIDECAR).read_text())
    for window in meta["windows"]:
        assert len(window["images"]) == 30
        pixels = np.stack([np.asarray(Image.open(out / "tone" / f), np.float64) / 127.5 - 1 for f in window["images"]])
        assert window["spread_mean"] == pytest.approx(pixels.std(axis=0).mean(), abs=0.01)
    sheet = Image.open(out / "tone" / translate.SHEET)
    assert sheet.height < (translate.SHEET_MAX_SAMPLES + 3) * 100  # 8 sample rows shown, not 30


def test_truncated_file_warns(model_dir, tmp_path, capsys):
    whole = encode(tmp_path / "whole.mp3", 6.0, source="noise", rate=44100, channels=1)
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    out = tmp_path / "out"
    code, _, err = run(capsys, cut, whole, "--model", model_dir, "--out", out)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"s2i translate: warning: {cut}: only ")
    assert "the header says 6.0" in lines[0]
    audio = json.loads((out / "cut" / translate.SIDECAR).read_text())["audio"]
    assert audio["truncated"] and audio["header_duration_s"] == pytest.approx(6.0, abs=0.1)
    assert audio["duration_s"] < 4.0
    assert not json.loads((out / "whole" / translate.SIDECAR).read_text())["audio"]["truncated"]


def _start(argv: list, stderr_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    # a user's shell hands Ctrl-C to the command; start it with SIGINT's default disposition, not
    # whatever this test process's runner was started with (an ignored SIGINT is inherited across exec)
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline.commands.cli", "translate", *map(str, argv)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(stderr_path, "w"),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_work_folder(proc: subprocess.Popen, out: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir()):
            return
        assert proc.poll() is None, "translate ended before it started writing"
        time.sleep(0.05)
    raise AssertionError("no work folder appeared")


def test_signals_leave_no_work_folders(model_dir, tmp_path, capsys):
    sound = encode(tmp_path / "long.wav", 120.0, source="noise", rate=16000, channels=1)
    out = tmp_path / "out"
    argv = [sound, "--model", model_dir, "--out", out, "--samples", "8"]
    for sig, code in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        proc = _start(argv, tmp_path / "err.txt")
        _wait_for_work_folder(proc, out)
        proc.send_signal(sig)
        assert proc.wait(60) == code
        err = (tmp_path / "err.txt").read_text()
        assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("s2i translate: ")
        assert "unfinished results removed" in err
        assert list(out.iterdir()) == []
    proc = _start(argv, tmp_path / "err.txt")
    _wait_for_work_folder(proc, out)
    proc.kill()
    proc.wait(60)
    assert len(hidden(out)) == 1  # SIGKILL cannot be caught: the next run removes what it left
    short = encode(tmp_path / "short.wav", 1.0, rate=16000, channels=1)
    assert run(capsys, short, "--model", model_dir, "--out", out)[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["short"]


def test_fault_matrix(model_dir, tmp_path, capsys):
    """Every kind of bad input at once: one line per bad file, the good ones translated, exit 1."""
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(0)
    (src / "empty.wav").write_bytes(b"")
    (src / "random.mp3").write_bytes(rng.integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    (src / "text.mp3").write_text("these are my notes, not a sound\n" * 20)
    (src / "folder.wav").mkdir()
    encode(src / "mute.mp4", 1.5, video=True, audio=False)
    encode(src / "tiny.wav", 0.3, rate=16000, channels=1)
    whole = encode(tmp_path / "whole.mp3", 6.0, source="noise", rate=44100, channels=1)
    (src / "truncated.mp3").write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    encode(src / "hires 8ch.wav", 1.5, source="noise", rate=192000, channels=8)
    encode(src / "pipe:0.wav", 1.2, rate=16000, channels=1)
    encode(src / "-rf ü.wav", 1.2, rate=16000, channels=1)
    encode(src / "clip.mp4", 2.0, video=True)
    bad = {
        "empty.wav": "file is empty",
        "random.mp3": "not a readable media file",
        "text.mp3": "not a readable media file",
        "folder.wav": "is a directory",
        "mute.mp4": "no audio stream",
        "tiny.wav": "shorter than one 1-s window",
        "missing.wav": "no such file",
    }
    warned = {"truncated.mp3": "the header says 6.0"}
    good = {"truncated.mp3": "truncated", "hires 8ch.wav": "hires_8ch", "pipe:0.wav": "pipe_0", "-rf ü.wav": "rf", "clip.mp4": "clip"}
    inputs = sorted(bad) + sorted(good)
    out = tmp_path / "out"
    code, stdout, err = run(capsys, *[src / name for name in inputs], "--model", model_dir, "--out", out)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[-1] == f"s2i translate: {len(bad)} of {len(inputs)} inputs failed"
    assert len(lines) == len(bad) + len(warned) + 1
    for name, reason in {**bad, **warned}.items():
        mine = [ln for ln in lines if f"{src / name}:" in ln]
        assert len(mine) == 1 and reason in mine[0], (name, mine)
    assert sorted(p.name for p in out.iterdir()) == sorted(good.values())  # nothing else, nothing hidden
    for name, folder in good.items():
        meta = json.loads((out / folder / translate.SIDECAR).read_text())
        assert meta["input"] == str(src / name)
        for window in meta["windows"]:
            assert all((out / folder / f).is_file() for f in window["images"])
        assert (out / folder / translate.SHEET).is_file()
    hires = json.loads((out / "hires_8ch" / translate.SIDECAR).read_text())["audio"]
    assert hires["source_sample_rate"] == 192000 and hires["source_channels"] == 8
    assert stdout.count(" windows, ") == len(good)
