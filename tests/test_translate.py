"""`s2i translate` on real encoded files with a tiny random-weight model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.commands import cli, translate
from pipeline.media.decode import ffmpeg_exe
from pipeline.media.features import MelConfig, log_mel
from s2i_models import AudioAutoencoder, DenseGenerator, save_checkpoint

WIDTH = 0.0625
EMB_DIM = 16


def save_tiny_model(root: Path, emb_dim: int = EMB_DIM, generator_emb_dim: int | None = None, claimed_generator_emb_dim: int | None = None, calibrate: bool = True) -> Path:
    """A random-weight encoder + generator in the layout the stages write (models/...).

    BatchNorm statistics are set from a few random batches so the images are not flat grey.
    `claimed_generator_emb_dim` writes metadata that disagrees with the weights.
    """
    torch.manual_seed(0)
    encoder = AudioAutoencoder(emb_dim, WIDTH)
    generator = DenseGenerator(generator_emb_dim or emb_dim, WIDTH)
    calibration = ((encoder, lambda: torch.rand(8, 1, 128, 100) * 2 - 1), (generator, lambda: torch.rand(8, generator.emb_dim) * 2 - 1))
    for model, make_batch in calibration if calibrate else ():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.momentum = None  # cumulative average over the calibration batches
        model.train()
        with torch.no_grad():
            for _ in range(3):
                model(make_batch())
    save_checkpoint(
        root / "autoencoder" / "best.pt",
        models={"autoencoder": encoder},
        emb_dim=emb_dim,
        width=WIDTH,
        epoch=4,
        with_rng=False,
        extra={"settings": "test", "mel_scale": {"centre": -4.0, "half_range": 10.0}, "best_val": 0.1, "best_epoch": 4},
    )
    save_checkpoint(
        root / "translator" / "generator.pt",
        models={"generator": generator},
        emb_dim=claimed_generator_emb_dim or generator.emb_dim,
        width=WIDTH,
        epoch=7,
        with_rng=False,
        extra={"settings": "test", "generator": "dense", "iteration": 70},
    )
    return root


def encode(path: Path, seconds: float, source: str = "sine", rate: int = 48000, channels: int = 2, video: bool = False, audio: bool = True) -> Path:
    """A real encoded file from ffmpeg's lavfi sources; the codec follows the suffix."""
    layout = "mono" if channels == 1 else "stereo"
    sources = {
        "sine": f"sine=frequency=660:sample_rate={rate}:duration={seconds}",
        "noise": f"anoisesrc=sample_rate={rate}:duration={seconds}:seed=1",
        "silence": f"anullsrc=r={rate}:cl={layout}",
    }
    args = [ffmpeg_exe(), "-v", "error", "-y", "-nostdin"]
    if video:
        args += ["-f", "lavfi", "-i", f"testsrc=size=64x48:rate=10:duration={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", sources[source], "-t", str(seconds), "-ac", str(channels), "-ar", str(rate)]
    if video:
        args += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1"]
    args += {".mp3": ["-c:a", "libmp3lame"], ".ogg": ["-c:a", "libvorbis"], ".mp4": ["-c:a", "aac"]}.get(path.suffix, [])
    subprocess.run(args + [str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    root = tmp_path_factory.mktemp("media")
    return {
        "wav": encode(root / "stereo48k.wav", 3.0),
        "mp3": encode(root / "tone.mp3", 2.0, source="noise", rate=44100, channels=1),
        "ogg": encode(root / "noise.ogg", 2.0, source="noise", rate=22050),
        "mp4": encode(root / "clip.mp4", 2.0, video=True),
        "short": encode(root / "half.wav", 0.5, rate=16000, channels=1),
        "long": encode(root / "long.wav", 95.0, source="noise", rate=16000, channels=1),
        "silent": encode(root / "silent.wav", 2.0, source="silence", rate=16000, channels=1),
        "video_only": encode(root / "mute.mp4", 1.5, video=True, audio=False),
    }


def run(capsys, *argv) -> tuple[int, str, str]:
    code = translate.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def sidecar(out: Path, name: str) -> dict:
    return json.loads((out / name / translate.SIDECAR).read_text())


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".")) if out.exists() else []


def test_formats_give_one_sheet_and_all_images(model_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    inputs = [media["wav"], media["mp3"], media["ogg"], media["mp4"]]
    code, stdout, err = run(capsys, *inputs, "--model", model_dir, "--samples", "2", "--out", out)
    assert code == 0, err
    expected_windows = {"stereo48k": 3, "tone": 2, "noise": 2, "clip": 2}
    assert sorted(p.name for p in out.iterdir()) == sorted(expected_windows)
    for name, n_windows in expected_windows.items():
        meta = sidecar(out, name)
        assert len(meta["windows"]) == n_windows
        assert [w["start_s"] for w in meta["windows"]] == [float(k) for k in range(n_windows)]
        assert [w["end_s"] for w in meta["windows"]] == [float(k + 1) for k in range(n_windows)]
        files = sorted(p.name for p in (out / name).iterdir())
        assert files.count(translate.SHEET) == 1
        assert len([f for f in files if "_sample_" in f]) == 2 * n_windows
        assert len([f for f in files if f.endswith("_spread.png")]) == n_windows
        for w in meta["windows"]:
            assert not w["silent"]
            for f in w["images"] + [w["spread"]]:
                assert Image.open(out / name / f).size == (96, 96)
            assert 0.0 <= w["spread_mean"] <= 1.0
        sheet = Image.open(out / name / translate.SHEET)
        assert sheet.width > n_windows * 96 and sheet.height > 3 * 96  # strip + 2 samples + spread rows
    wav = sidecar(out, "stereo48k")
    assert wav["audio"]["source_sample_rate"] == 48000 and wav["audio"]["source_channels"] == 2
    assert wav["audio"]["duration_s"] == pytest.approx(3.0, abs=0.01)
    assert wav["model"]["encoder"] == {"path": str(model_dir / "autoencoder" / "best.pt"), "emb_dim": EMB_DIM, "width": WIDTH, "epoch": 4}
    assert wav["model"]["generator"]["epoch"] == 7 and wav["model"]["generator"]["kind"] == "dense"
    assert wav["params"]["samples"] == 2 and wav["params"]["hop_s"] == 1.0 and wav["params"]["device"] == "cpu"
    assert stdout.count(" windows, ") == 4


def test_short_sound_needs_pad(model_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, media["short"], "--model", model_dir, "--out", out)
    assert code == 1
    first = err.splitlines()[0]
    assert str(media["short"]) in first and "shorter than one 1-s window" in first and "--pad" in first
    assert not (out / "half").exists() and leftovers(out) == []
    code, _, err = run(capsys, media["short"], "--model", model_dir, "--out", out, "--pad")
    assert code == 0, err
    meta = sidecar(out, "half")
    assert len(meta["windows"]) == 1 and meta["audio"]["padded_to_s"] == 1.0
    assert meta["audio"]["duration_s"] == pytest.approx(0.5, abs=0.01)


def test_long_sound_window_count_and_hop(model_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, media["long"], "--model", model_dir, "--out", out)
    assert code == 0, err
    meta = sidecar(out, "long")
    assert len(meta["windows"]) == 95
    assert len(list((out / "long").glob("window_*_sample_01.png"))) == 95
    assert meta["windows"][-1]["start_s"] == 94.0 and meta["sheet_windows"] == list(range(95))
    code, _, err = run(capsys, media["wav"], "--model", model_dir, "--out", out, "--hop", "0.5")
    assert code == 0, err
    assert [w["start_s"] for w in sidecar(out, "stereo48k")["windows"]] == [0.0, 0.5, 1.0, 1.5, 2.0]


@pytest.mark.parametrize("case, reason", [("missing", "no such file"), ("video_only", "no audio stream"), ("text", "not a readable media file"), ("folder", "is a directory")])
def test_bad_inputs_fail_alone(case, reason, model_dir, media, tmp_path, capsys):
    bad = {"missing": tmp_path / "nothing.wav", "video_only": media["video_only"], "text": tmp_path / "notes.mp3", "folder": tmp_path / "folder.wav"}[case]
    if case == "text":
        bad.write_text("this is not audio\n")
    if case == "folder":
        bad.mkdir()
    out = tmp_path / "out"
    code, _, err = run(capsys, bad, media["mp3"], "--model", model_dir, "--out", out)
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"s2i translate: {bad}: ") and reason in lines[0]
    assert lines[-1] == "s2i translate: 1 of 2 inputs failed"
    assert len(lines) == 2  # one line per failure plus the summary
    assert sorted(p.name for p in out.iterdir()) == ["tone"]  # the good input still got done


def test_failure_while_writing_leaves_nothing(model_dir, media, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert run(capsys, media["mp3"], "--model", model_dir, "--out", out)[0] == 0
    before = {p.name: p.read_bytes() for p in (out / "tone").iterdir()}

    def broken_sheet(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(translate, "draw_contact_sheet", broken_sheet)
    code, _, err = run(capsys, media["mp3"], media["ogg"], "--model", model_dir, "--out", out, "--samples", "3")
    assert code == 1 and "disk full" in err
    assert sorted(p.name for p in out.iterdir()) == ["tone"] and leftovers(out) == []
    assert {p.name: p.read_bytes() for p in (out / "tone").iterdir()} == before  # the earlier result is intact


def test_rerun_replaces_result(model_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    assert run(capsys, media["wav"], "--model", model_dir, "--out", out, "--samples", "2")[0] == 0
    assert run(capsys, media["wav"], "--model", model_dir, "--out", out)[0] == 0
    assert not list((out / "stereo48k").glob("*_sample_02.png")) and leftovers(out) == []


def test_samples_differ_and_seed_repeats(model_dir, media, tmp_path, capsys):
    def images(out, seed):
        assert run(capsys, media["mp3"], "--model", model_dir, "--out", out, "--samples", "2", "--seed", seed)[0] == 0
        return [np.asarray(Image.open(out / "tone" / f), np.int16) for f in ("window_0000_sample_01.png", "window_0000_sample_02.png")]

    first, second = images(tmp_path / "a", 5)
    assert np.abs(first - second).max() > 0
    assert first.std() > 5  # a calibrated random model makes images, not flat grey
    again = images(tmp_path / "b", 5)
    assert all(np.array_equal(x, y) for x, y in zip((first, second), again))
    other = images(tmp_path / "c", 6)
    assert not np.array_equal(first, other[0])


def test_silence_warns_and_is_flagged(model_dir, media, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, err = run(capsys, media["silent"], "--model", model_dir, "--out", out)
    assert code == 0
    assert err.count("warning") == 1 and "digital silence" in err and str(media["silent"]) in err
    meta = sidecar(out, "silent")
    assert meta["audio"]["silent"] and [w["silent"] for w in meta["windows"]] == [True, True]
    code, _, err = run(capsys, media["short"], "--model", model_dir, "--out", out, "--pad")
    assert "warning" not in err and not sidecar(out, "half")["windows"][0]["silent"]


@pytest.mark.parametrize(
    "layout, flag, where, reason",
    [
        ("mismatch", [], "translator/generator.pt", "generator was trained with emb_dim 8, but the encoder"),
        ("lying", [], "translator/generator.pt", "weights do not fit the emb_dim 16"),
        ("good", ["--emb-dim", "32"], "autoencoder/best.pt", "encoder was trained with emb_dim 16, but --emb-dim 32"),
        ("empty", [], "autoencoder/best.pt", "checkpoint not found"),
    ],
)
def test_model_errors(layout, flag, where, reason, model_dir, media, tmp_path, capsys):
    models = {"good": model_dir, "empty": tmp_path / "none"}.get(layout)
    if layout == "mismatch":
        models = save_tiny_model(tmp_path / "m", emb_dim=16, generator_emb_dim=8, calibrate=False)
    if layout == "lying":
        models = save_tiny_model(tmp_path / "m", emb_dim=16, generator_emb_dim=8, claimed_generator_emb_dim=16, calibrate=False)
    out = tmp_path / "out"
    code, _, err = run(capsys, media["mp3"], "--model", models, "--out", out, *flag)
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"s2i translate: {models / where}: ") and reason in err
    assert not out.exists()


def test_same_stem_gets_distinct_folders_and_cli_dispatch(model_dir, media, tmp_path, capsys):
    copy = tmp_path / "x" / "tone.mp3"
    copy.parent.mkdir()
    copy.write_bytes(media["mp3"].read_bytes())
    out = tmp_path / "out"
    code = cli.main(["translate", str(media["mp3"]), str(copy), "--model", str(model_dir), "--out", str(out)])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["tone", "tone_2"]
    assert sidecar(out, "tone_2")["input"] == str(copy)


@pytest.mark.parametrize("argv", [["--samples", "0"], ["--hop", "0"], ["--hop", "nan"], []])
def test_bad_arguments_exit_2(argv, model_dir, tmp_path, capsys):
    inputs = [] if not argv else [str(tmp_path / "a.wav")]
    assert translate.main(inputs + argv + ["--model", str(model_dir)]) == 2
    assert "usage: s2i translate" in capsys.readouterr().err


def test_window_starts_and_chunked_log_mel(rng):
    sr = MelConfig().sample_rate
    assert translate.window_starts(95 * sr, 1.0) == [float(k) for k in range(95)]
    assert translate.window_starts(int(0.995 * sr), 1.0) == [0.0]  # one frame short is codec padding
    assert translate.window_starts(sr // 2, 1.0) == []
    assert translate.window_starts(int(2.5 * sr), 0.5) == [0.0, 0.5, 1.0, 1.5]
    assert translate.window_starts(3 * sr, 0.25) == [k / 4 for k in range(9)]
    assert translate.window_starts(3 * sr, 0.125)[:3] == [0.0, 0.12, 0.25]  # snapped to the 10-ms frame grid
    audio = rng.normal(0, 0.1, int(2.37 * sr)).astype(np.float32)
    whole = log_mel(audio)
    chunked = translate.clip_log_mel(audio, chunk_frames=37)
    assert chunked.shape == whole.shape
    np.testing.assert_allclose(chunked, whole, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message for a machine without CUDA")
def test_cuda_without_gpu_is_one_line_error(model_dir, media, tmp_path, capsys):
    code, _, err = run(capsys, media["mp3"], "--model", model_dir, "--out", tmp_path / "out", "--device", "cuda")
    assert code == 2 and err.strip().count("\n") == 0 and "CUDA is not available" in err
