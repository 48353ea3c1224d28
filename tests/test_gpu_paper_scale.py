"""benchmarks/gpu_paper_scale.py in its --smoke configuration on the CPU: one JSON file, its figures consistent
with each other and with the stages' params. (The paper-scale figures need a GPU: benchmarks/gpu_loan.sh.)"""

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

from s2i_models import GanConfig

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SNAPSHOT_EVERY = yaml.safe_load((BENCHMARKS.parent / "params.yaml").read_text())["translator"]["snapshot_every"]


def load(name):
    sys.path.insert(0, str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_union_of_busy_intervals_counts_overlaps_once_and_clips_to_the_window():
    kernel_time = load("kernel_time")
    intervals = [(5, 7), (0, 2), (1, 3), (6, 6.5), (10, 12)]
    assert kernel_time.union_length(intervals) == 3 + 2 + 2
    assert kernel_time.union_length(kernel_time.clipped(intervals, 1.5, 11)) == 1.5 + 2 + 1
    assert kernel_time.union_length([]) == 0


def paper_values(section: str) -> dict:
    """params.yaml's "paper: X" comments of one section, X read as YAML (the paper's value of that param)."""
    values, inside = {}, False
    for line in (BENCHMARKS.parent / "params.yaml").read_text().splitlines():
        if not line.startswith(" "):
            inside = line.startswith(f"{section}:")
            continue
        found = re.match(r"\s+(\w+):.*#.*?paper: (\"[^\"]*\"|[^\s;(,]+)", line)
        if inside and found:
            values[found[1]] = yaml.safe_load(found[2])
    return values


def test_the_paper_lever_set_holds_the_papers_value_of_every_lever_params_yaml_documents():
    loops = load("paper_scale_loops")
    documented = paper_values("translator")
    scale = {"width", "epochs", "batch_size"}  # the benchmark sets these itself
    assert documented.pop("d_unit") == "ambiguous" and loops.PAPER_TRANSLATOR["d_unit"] == GanConfig().d_unit
    levers = {k: v for k, v in documented.items() if k not in scale}
    assert {k: loops.PAPER_TRANSLATOR[k] for k in levers} == levers
    assert set(loops.PAPER_TRANSLATOR) - set(levers) == {"generator", "d_unit"}
    autoencoder = {k: v for k, v in paper_values("autoencoder").items() if k not in scale}
    assert autoencoder and {k: loops.PAPER_AUTOENCODER[k] for k in autoencoder} == autoencoder
    paper = loops.stage_params("translator", "paper", 1.0, 64, True)
    assert (paper["width"], paper["batch_size"], paper["bf16"], paper["loss"]) == (1.0, 64, True, "mse")


def test_smoke_run_writes_one_consistent_json_with_two_process_scaling(capsys, tmp_path, monkeypatch, one_thread):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("S2I_COMMIT", "0123abc")
    monkeypatch.chdir(tmp_path)  # no data/shards here: the benchmark writes synthetic ones
    bench = load("gpu_paper_scale")
    bench.main(["--smoke", "--device", "cpu", "--nproc", "2", "--budget-s", "240", "--out", "figures.json", "--variants", "plain", "compiled_blocks"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert json.loads((tmp_path / "figures.json").read_text()) == figures
    assert figures["skipped"] == [] and figures["shards"] == "synthetic" and figures["git_commit"] == "0123abc"
    assert figures["stage_levers"] == "plain" and figures["bf16_autocast_active"] is False
    steps = 48_945 // bench.SMOKE["batch"]
    for lever_set in ("demo", "paper"):
        extras = figures["epoch_extras"][lever_set]
        assert ("bn_recompute_s" in extras) == (lever_set == "demo")  # params.yaml's bn_recompute; the paper's off
        # the shown generator is readied (BatchNorm recompute, val loss) at snapshot epochs only; last.pt every epoch
        readied = (extras.get("bn_recompute_s", 0.0) + extras["val_pixel_loss_s"]) / SNAPSHOT_EVERY
        assert extras["total_s"] == pytest.approx(extras["checkpoint_s"] + readied)
        for precision in ("fp32", "bf16"):
            gan = figures["gan"][lever_set][precision]
            d_pass = steps * gan["d_pass_iteration_s"] / 5 if lever_set == "paper" else 0.0  # paper: D every 5th epoch
            assert ("d_pass_iteration_s" in gan) == (lever_set == "paper")
            assert gan["steps_epoch_s"] == pytest.approx(steps * gan["iteration_s"] + d_pass)
            assert gan["epoch_s"] == pytest.approx(gan["steps_epoch_s"] + extras["total_s"])
            assert gan["paper_epochs_h"] == pytest.approx(gan["epoch_s"] * 4000 / 3600)
            assert gan["tflop_per_s"] == pytest.approx(gan["iteration_gflop"] / 1e3 / gan["iteration_s"])
            assert 0 < gan["fraction_of_matmul"] == pytest.approx(gan["tflop_per_s"] / figures["matmul_tflop_per_s"])
            assert 0 <= gan["outside_kernels_fraction"] < 1 and gan["losses_finite"]
            assert "aten operators" in gan["outside_kernels_method"]
            ae = figures["autoencoder"][lever_set][precision]
            assert ae["epoch_s"] == pytest.approx(steps * ae["step_s"]) and ae["losses_finite"]
        # the same weights, batches and RNG: with autocast off on the CPU, bf16 and fp32 are the same loop
        assert figures["gan"][lever_set]["bf16"]["warmup_losses"] == figures["gan"][lever_set]["fp32"]["warmup_losses"]
        verdict, bf16 = figures["verdict"][lever_set], figures["gan"][lever_set]["bf16"]["epoch_s"]
        assert verdict["gan_bf16_epoch_s"] == bf16 and verdict["gan_bf16_meets_goal"] == (bf16 <= 10.0)
        assert verdict["fp32_over_bf16"] == pytest.approx(figures["gan"][lever_set]["fp32"]["epoch_s"] / bf16)
    assert set(figures["gan"]["demo"]["bf16"]["warmup_losses"]) >= {"g_loss", "d_loss"}  # D every iteration
    variants = figures["gan_variants"]["demo.bf16"]
    assert variants["plain"]["same_as"] == "gan.demo.bf16"  # the stages' levers on a CPU
    compiled = variants["compiled_blocks"]
    assert compiled["compiled_blocks"] == {"blocks": 0, "fell_back_to_eager": "not compiled on cpu"}
    assert compiled["warmup_losses"] == variants["plain"]["warmup_losses"] and compiled["warmup_losses_vs_plain"] == 0
    loaders = figures["loaders"]
    assert loaders["mel_stream_loader_over_step"] == pytest.approx(loaders["mel_stream_loader_samples_per_s"] / figures["autoencoder"]["demo"]["fp32"]["samples_per_s"])
    scaling = figures["scaling"]
    assert scaling["per_rank_batch"] == bench.SMOKE["batch"] // 2
    assert scaling["efficiency"] == pytest.approx(figures["gan"]["demo"]["bf16"]["iteration_s"] / (2 * scaling["iteration_s"]))


def test_nproc_must_divide_the_global_batch(capsys):
    with pytest.raises(SystemExit):
        load("gpu_paper_scale").main(["--smoke", "--device", "cpu", "--nproc", "3"])
    assert "divide the global batch 8" in capsys.readouterr().err
