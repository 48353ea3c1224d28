"""The cuda and bf16 paths. They run only where CUDA is present; no CPU test stands in for them
(on a CPU, bf16 autocast is off and these tests are skipped with the reason)."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from s2i_models import (DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, autocast, discriminator_step,
                        generator_step, load_checkpoint, make_optimizer)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="CUDA is not available: the cuda and bf16 paths need a GPU")

REPO = Path(__file__).resolve().parents[1]
CUDA = torch.device("cuda")


def gan(seed=0):
    torch.manual_seed(seed)
    G, D = DenseGenerator(64, 0.25).to(CUDA), Discriminator(64, 0.25).to(CUDA)
    return G, D, make_optimizer("generator", G.parameters()), make_optimizer("discriminator", D.parameters())


def test_bf16_autocast_runs_the_networks_in_bf16_and_steps_agree_with_fp32():
    G, D, _, _ = gan()
    emb = torch.rand(16, 64, device=CUDA) * 2 - 1
    real = torch.rand(16, 3, 96, 96, device=CUDA) * 2 - 1
    with autocast(CUDA, True):
        assert G(emb).dtype == torch.bfloat16
    losses = {}
    for bf16 in (False, True):
        cfg = GanConfig(bf16=bf16)
        # Each step from the same fresh start. A D step after a G step would compare two different
        # Gs: the paper's SGD (lr 0.1) moves an untrained G far, and bf16 rounding sends it elsewhere.
        G, D, opt_g, _ = gan()
        torch.manual_seed(1)   # the same dropout masks for both precisions (checked on an H100)
        g = generator_step(G, D, opt_g, emb, real, EpochMovingAverage(), cfg)
        G, D, _, opt_d = gan()
        torch.manual_seed(1)
        d = discriminator_step(G, D, opt_d, emb, real, cfg)
        assert all(np.isfinite(v) for v in {**g, **d}.values())
        assert all(p.dtype == torch.float32 for p in G.parameters())   # autocast, not bf16 weights
        losses[bf16] = {"g_pixel": g["g_pixel"], "g_adv": g["g_adv"], "d_loss": d["d_loss"]}
    assert losses[True]["g_pixel"] == pytest.approx(losses[False]["g_pixel"], rel=0.01)
    # 12 bf16 convs leave ~4% error in D's score, which its one-channel BatchNorm passes on
    assert losses[True]["g_adv"] == pytest.approx(losses[False]["g_adv"], rel=0.1)
    assert losses[True]["d_loss"] == pytest.approx(losses[False]["d_loss"], rel=0.1)


def test_translator_stage_trains_on_cuda_with_bf16(tmp_path, monkeypatch):
    sys.path.insert(0, str(Path(__file__).parent))
    from stage_fixtures import TRANSLATOR_PARAMS
    from test_distributed import translator_workspace

    from pipeline.training import translator

    translator_workspace(tmp_path, epochs=2)
    monkeypatch.chdir(tmp_path)
    translator.train({**TRANSLATOR_PARAMS, "epochs": 2, "bf16": True})
    last = load_checkpoint("models/translator/last.pt")
    assert last["epoch"] == 2 and "cuda" in last["rng"]
    weights = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
    assert all(t.dtype != torch.bfloat16 and torch.isfinite(t.float()).all() for t in weights.values())


def load_benchmark():
    spec = importlib.util.spec_from_file_location("gpu_paper_scale", REPO / "benchmarks" / "gpu_paper_scale.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_paper_scale_benchmark_smoke_on_cuda(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    figures = load_benchmark().main(["--smoke", "--budget-s", "120", "--variants"])
    assert figures["bf16_autocast_active"] and figures["matmul_dtype"] == "bfloat16"
    for precision in ("fp32", "bf16"):
        assert figures[f"gan_{precision}"]["peak_gib"] > 0
        assert figures[f"autoencoder_{precision}"]["peak_gib"] > 0


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="2-GPU NCCL scaling needs 2 GPUs")
def test_two_gpu_nccl_scaling(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scaling = load_benchmark().main(["--smoke", "--nproc", "2", "--budget-s", "200", "--variants"])["scaling"]
    assert "error" not in scaling and scaling["efficiency"] > 0
