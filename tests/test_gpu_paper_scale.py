"""benchmarks/gpu_paper_scale.py in its --smoke configuration on the CPU: one JSON line, consistent figures.
(The paper-scale figures need a GPU; see test_cuda.py.)"""
import importlib.util
import json
from pathlib import Path

import pytest

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_paper_scale.py"


def load_benchmark():
    spec = importlib.util.spec_from_file_location("gpu_paper_scale", PATH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_smoke_run_prints_one_json_line_with_projections_and_two_process_scaling(capsys, tmp_path, monkeypatch,
                                                                                   one_thread):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(tmp_path)   # no data/shards here: the benchmark writes synthetic ones
    bench = load_benchmark()
    bench.main(["--smoke", "--device", "cpu", "--nproc", "2", "--budget-s", "240", "--variants", "channels_last"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert figures["skipped"] == [] and figures["shards"] == "synthetic"
    batch = bench.SMOKE["batch"]
    for precision in ("fp32", "bf16"):
        gan = figures[f"gan_{precision}"]
        steps = 48_945 // batch
        assert gan["epoch_s"] == pytest.approx(steps * (gan["g_step_s"] + gan["d_step_s"] / 5))
        assert gan["paper_epochs_h"] == pytest.approx(gan["epoch_s"] * 4000 / 3600)
        assert gan["tflop_per_s"] == pytest.approx((gan["g_gflop"] + gan["d_gflop"]) / 1e3 / gan["g_plus_d_s"])
        assert 0 < gan["fraction_of_matmul"] == pytest.approx(gan["tflop_per_s"] / figures["matmul_tflop_per_s"])
        assert figures[f"meets_goal_{precision}"] == (gan["epoch_s"] <= 10.0)
        assert figures[f"autoencoder_{precision}"]["epoch_s"] == pytest.approx(
            steps * figures[f"autoencoder_{precision}"]["step_s"])
    assert figures["bf16_autocast_active"] is False and figures["matmul_dtype"] == "float32"
    variant = figures["gan_bf16_variants"]["channels_last"]
    assert variant["epoch_s"] == pytest.approx(steps * (variant["g_step_s"] + variant["d_step_s"] / 5))
    assert variant["meets_goal"] == (variant["epoch_s"] <= 10.0)
    loaders = figures["loaders"]
    assert loaders["mel_stream_loader_over_step"] == pytest.approx(
        loaders["mel_stream_loader_samples_per_s"] / figures["autoencoder_fp32"]["samples_per_s"])
    scaling = figures["scaling"]
    assert scaling["per_rank_batch"] == batch // 2
    assert scaling["efficiency"] == pytest.approx(
        figures["gan_bf16"]["g_plus_d_s"] / (2 * (scaling["g_step_s"] + scaling["d_step_s"])))


def test_nproc_must_divide_the_global_batch(capsys):
    with pytest.raises(SystemExit):
        load_benchmark().main(["--smoke", "--device", "cpu", "--nproc", "3"])
    assert "divide the global batch 8" in capsys.readouterr().err
