"""Paper-scale training speed on a GPU, in one JSON line, within 5 minutes.

    python benchmarks/gpu_paper_scale.py                # width 1.0, emb_dim 512, global batch 64, fp32 and bf16
    python benchmarks/gpu_paper_scale.py --nproc 4      # also 4-GPU DDP scaling efficiency
    python benchmarks/gpu_paper_scale.py --smoke        # a tiny configuration that runs on a CPU in seconds

For each precision (fp32 with TF32 allowed, as training runs; bf16 autocast):
the generator step and the discriminator step (median seconds), peak GPU memory,
FLOPs counted once with FlopCounterMode and the achieved FLOP rate as a fraction
of a large matmul timed in the same process (bf16 on a GPU, fp32 on a CPU); the autoencoder step likewise;
the projected time of one epoch of the paper's 48,945 training pairs (G steps
plus the D pass every 5th epoch, averaged) and of 4,000 epochs. Loaders: log-Mel
batches streamed from shards on local disk (the autoencoder's loader), the
translator's one-off read of the split's images, and its per-step image batches
from device memory, each against the step it feeds. Without shards in
--shards it writes synthetic ones with the project's shard writer into a
temporary folder. With --nproc N it times the G and D steps under torchrun
with DistributedDataParallel and synchronised BatchNorm (per-rank batch 64 / N)
and reports efficiency = one-GPU step time / (N x N-GPU step time).
Speed levers the stages do not use yet (--variants: channels_last, torch.compile,
both) are timed for the bf16 steps, compilation apart.
Sections that would overrun --budget-s are skipped and listed.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from bench_train_step import count_flops, loader_vs_step, matmul_rate, synthetic_shards, sync  # noqa: E402

from pipeline.dataset import wds  # noqa: E402
from pipeline.dataset.loader import MelScale, load_split, stream_mels  # noqa: E402
from s2i_models import (AudioAutoencoder, DenseGenerator, Discriminator, EpochMovingAverage, GanConfig,  # noqa: E402
                        autoencoder_step, discriminator_step, enable_fast_kernels, generator_step, make_optimizer)

PAPER_PAIRS, PAPER_EPOCHS, D_EVERY, GOAL_EPOCH_S = 48_945, 4_000, 5, 10.0
PRECISIONS = {"fp32": False, "bf16": True}
FULL = dict(width=1.0, emb_dim=512, batch=64, warmup=2, steps=5, matmul_size=8192, loader_batches=30)
SMOKE = dict(width=0.0625, emb_dim=32, batch=8, warmup=1, steps=1, matmul_size=256, loader_batches=3)


class Budget:
    def __init__(self, seconds: float):
        self.start, self.seconds, self.skipped = time.monotonic(), seconds, []

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def allows(self, name: str, needs: float) -> bool:
        if self.left() < needs:
            self.skipped.append(name)
            return False
        return True


def timed(fn: Callable[[], object], warmup: int, steps: int, device: torch.device) -> float:
    """Median seconds of `steps` calls after `warmup` calls."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_gib(device: torch.device, fn: Callable[[], object]) -> float | None:
    if device.type != "cuda":
        return None
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    sync(device)
    return torch.cuda.max_memory_allocated(device) / 2**30


def epoch_seconds(g_s: float, d_s: float, batch: int) -> float:
    """One epoch of the paper's pairs: every G step, plus the D pass of every D_EVERY-th epoch spread evenly."""
    steps = PAPER_PAIRS // batch
    return steps * (g_s + d_s / D_EVERY)


def gan_models(cfg: dict, device: torch.device, seed: int = 0, memory_format=torch.contiguous_format):
    torch.manual_seed(seed)
    G = DenseGenerator(cfg["emb_dim"], cfg["width"]).to(device, memory_format=memory_format)
    D = Discriminator(cfg["emb_dim"], cfg["width"]).to(device, memory_format=memory_format)
    return G, D, make_optimizer("generator", G.parameters()), make_optimizer("discriminator", D.parameters())


def gan_batch(cfg: dict, batch: int, device: torch.device):
    return (torch.rand(batch, cfg["emb_dim"], device=device) * 2 - 1,
            torch.rand(batch, 3, 96, 96, device=device) * 2 - 1)


def gan_steps(cfg: dict, device: torch.device, bf16: bool, memory_format=torch.contiguous_format,
              compile_models: bool = False):
    """One G step and one D step on a fixed batch, as callables."""
    G, D, opt_g, opt_d = gan_models(cfg, device, memory_format=memory_format)
    emb, real = gan_batch(cfg, cfg["batch"], device)
    real = real.contiguous(memory_format=memory_format)
    if compile_models:
        G, D = torch.compile(G), torch.compile(D)
    gan_cfg, average = GanConfig(bf16=bf16), EpochMovingAverage()
    return (lambda: generator_step(G, D, opt_g, emb, real, average, gan_cfg),
            lambda: discriminator_step(G, D, opt_d, emb, real, gan_cfg))


def gan_figures(cfg: dict, device: torch.device, bf16: bool, matmul_peak: float, flops: dict) -> dict:
    g_step, d_step = gan_steps(cfg, device, bf16)
    if not flops:
        flops.update(g=count_flops(g_step), d=count_flops(d_step))
    g_s = timed(g_step, cfg["warmup"], cfg["steps"], device)
    d_s = timed(d_step, cfg["warmup"], cfg["steps"], device)
    rate = (flops["g"] + flops["d"]) / (g_s + d_s)
    epoch = epoch_seconds(g_s, d_s, cfg["batch"])
    return {"g_step_s": g_s, "d_step_s": d_s, "g_plus_d_s": g_s + d_s,
            "peak_gib": peak_gib(device, lambda: (g_step(), d_step())),
            "g_gflop": flops["g"] / 1e9, "d_gflop": flops["d"] / 1e9, "tflop_per_s": rate / 1e12,
            "fraction_of_matmul": rate / matmul_peak, "samples_per_s": cfg["batch"] / (g_s + d_s),
            "epoch_s": epoch, "paper_epochs_h": epoch * PAPER_EPOCHS / 3600}


SPEED_VARIANTS = ("channels_last", "compile", "channels_last+compile")


def gan_variant_figures(cfg: dict, device: torch.device, variant: str) -> dict:
    """The bf16 G and D steps with a speed lever the stages do not use yet: NHWC tensors
    (channels_last) and/or torch.compile. Compilation time is reported apart from the step."""
    memory_format = torch.channels_last if "channels_last" in variant else torch.contiguous_format
    g_step, d_step = gan_steps(cfg, device, True, memory_format, compile_models="compile" in variant)
    start = time.perf_counter()
    g_step(), d_step()
    sync(device)
    first_s = time.perf_counter() - start
    g_s = timed(g_step, cfg["warmup"], cfg["steps"], device)
    d_s = timed(d_step, cfg["warmup"], cfg["steps"], device)
    epoch = epoch_seconds(g_s, d_s, cfg["batch"])
    return {"g_step_s": g_s, "d_step_s": d_s, "first_steps_s": first_s, "epoch_s": epoch,
            "paper_epochs_h": epoch * PAPER_EPOCHS / 3600, "meets_goal": epoch <= GOAL_EPOCH_S}


def autoencoder_figures(cfg: dict, device: torch.device, bf16: bool, matmul_peak: float) -> dict:
    torch.manual_seed(0)
    model = AudioAutoencoder(cfg["emb_dim"], cfg["width"]).to(device)
    opt = make_optimizer("autoencoder", model.parameters())
    mel = torch.rand(cfg["batch"], 1, 128, 100, device=device) * 2 - 1
    step = lambda: autoencoder_step(model, opt, mel, bf16=bf16)
    flops = count_flops(step)
    seconds = timed(step, cfg["warmup"], cfg["steps"], device)
    return {"step_s": seconds, "peak_gib": peak_gib(device, step), "gflop": flops / 1e9,
            "tflop_per_s": flops / seconds / 1e12, "fraction_of_matmul": flops / seconds / matmul_peak,
            "samples_per_s": cfg["batch"] / seconds, "epoch_s": PAPER_PAIRS // cfg["batch"] * seconds}


def loader_figures(cfg: dict, device: torch.device, shard_dir: str, gan_samples_per_s: float,
                   ae_samples_per_s: float) -> dict:
    """The training loaders, each against the step it feeds (ratio < 1: training would wait on data)."""
    batch, n = cfg["batch"], cfg["loader_batches"]
    paths = wds.shard_paths(shard_dir, "train")
    out = {f"mel_stream_{k}": v for k, v in loader_vs_step(
        stream_mels(paths, batch, MelScale(), seed=0, buffer=1000), n, ae_samples_per_s).items()}
    start = time.perf_counter()
    images = load_split(shard_dir, "train").images
    out["split_read_samples_per_s"] = len(images) / (time.perf_counter() - start)
    on_device = torch.from_numpy(images).to(device)
    order = torch.randperm(len(images), device=device)

    def pixel_batches():
        for i in range(0, len(images) - batch + 1, batch):
            pixels = on_device[order[i:i + batch]].permute(0, 3, 1, 2).float().div(127.5).sub(1.0)
            sync(device)
            yield pixels
    out.update({f"image_batches_{k}": v for k, v in loader_vs_step(pixel_batches(), n, gan_samples_per_s).items()})
    return out


def ddp_worker(args, cfg: dict) -> None:
    """One rank of the --nproc run (started by torchrun): G and D step times with DDP; rank 0 writes JSON."""
    from pipeline.training.distributed import context

    ctx = context()
    enable_fast_kernels(ctx.device)
    per_rank = cfg["batch"] // ctx.world_size
    G, D, opt_g, opt_d = gan_models(cfg, ctx.device)
    G_ddp, D_ddp = ctx.wrap(G, sync_bn=True), ctx.wrap(D, sync_bn=True)
    emb, real = gan_batch(cfg, per_rank, ctx.device)
    gan_cfg, average = GanConfig(bf16=args.worker_bf16), EpochMovingAverage()
    g_s = timed(lambda: generator_step(G_ddp, D, opt_g, emb, real, average, gan_cfg), cfg["warmup"], cfg["steps"],
                ctx.device)
    d_s = timed(lambda: discriminator_step(G, D_ddp, opt_d, emb, real, gan_cfg), cfg["warmup"], cfg["steps"],
                ctx.device)
    times = ctx.mean({"g": g_s, "d": d_s})   # every rank waits for the slowest inside the all-reduces anyway
    if ctx.is_main:
        Path(args.worker_out).write_text(json.dumps({"g_step_s": times["g"], "d_step_s": times["d"],
                                                     "per_rank_batch": per_rank}))


def scaling_figures(args, single: dict, precision: str, budget: Budget) -> dict:
    """Run this script under torchrun with --nproc ranks; compare with the one-process step."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranks.json"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={args.nproc}",
               str(Path(__file__).resolve()), "--worker-out", str(out)] + (["--smoke"] if args.smoke else [])
        if PRECISIONS[precision]:
            cmd.append("--worker-bf16")
        proc = subprocess.Popen(cmd, start_new_session=True)
        try:
            proc.wait(timeout=max(budget.left(), 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)   # torchrun stops its workers on SIGTERM
            proc.wait()
            return {"error": "timed out"}
        if proc.returncode or not out.exists():
            return {"error": f"torchrun exited with {proc.returncode}"}
        ranks = json.loads(out.read_text())
    n_step = ranks["g_step_s"] + ranks["d_step_s"]
    epoch = epoch_seconds(ranks["g_step_s"], ranks["d_step_s"], args_cfg(args)["batch"])
    return {"nproc": args.nproc, "precision": precision, **ranks, "g_plus_d_s": n_step,
            "efficiency": single["g_plus_d_s"] / (args.nproc * n_step), "epoch_s": epoch,
            "paper_epochs_h": epoch * PAPER_EPOCHS / 3600}


def args_cfg(args) -> dict:
    return dict(SMOKE if args.smoke else FULL)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny widths and batch, one timed step (tests, CPU)")
    parser.add_argument("--nproc", type=int, default=1, help="also time N-GPU DDP steps under torchrun")
    parser.add_argument("--scaling-precision", choices=sorted(PRECISIONS), default="bf16")
    parser.add_argument("--shards", default="data/shards", help="shards for the loader timing (synthetic if none)")
    parser.add_argument("--budget-s", type=float, default=270.0, help="skip sections that would end later")
    parser.add_argument("--variants", nargs="*", choices=SPEED_VARIANTS, default=list(SPEED_VARIANTS),
                        help="bf16 G/D step speed levers to time as well (none: --variants)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--worker-bf16", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cfg = args_cfg(args)
    if args.worker_out:
        ddp_worker(args, cfg)
        return {}
    if args.nproc < 1 or cfg["batch"] % args.nproc:
        parser.error(f"--nproc must be >= 1 and divide the global batch {cfg['batch']}")
    if torch.cuda.is_available() and args.device != "cpu" and args.nproc > torch.cuda.device_count():
        parser.error(f"--nproc {args.nproc} but only {torch.cuda.device_count()} GPUs are visible")

    budget = Budget(args.budget_s)
    figures: dict = {"benchmark": "gpu_paper_scale"}

    def out_of_time(signum, frame):   # a hung kernel or collective: report what was measured, then stop
        print(json.dumps({**figures, "error": f"stopped after {args.budget_s + 25:.0f} s"}), flush=True)
        os._exit(3)
    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.budget_s + 25))
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    enable_fast_kernels(device)
    matmul_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    matmul_peak = matmul_rate(device, cfg["matmul_size"], 0.5 if device.type == "cuda" else 0.05, matmul_dtype)
    figures.update({
        "device": device_name(device), "torch": torch.__version__,
        "cuda": torch.version.cuda, "config": {**cfg, "paper_pairs": PAPER_PAIRS, "paper_epochs": PAPER_EPOCHS,
                                               "d_every": D_EVERY, "smoke": args.smoke},
        "matmul_tflop_per_s": matmul_peak / 1e12, "matmul_dtype": str(matmul_dtype).replace("torch.", ""),
        "bf16_autocast_active": device.type == "cuda", "goal_epoch_s": GOAL_EPOCH_S,
    })
    flops: dict = {}
    for precision, bf16 in PRECISIONS.items():
        if budget.allows(f"gan_{precision}", 20):
            figures[f"gan_{precision}"] = gan_figures(cfg, device, bf16, matmul_peak, flops)
            figures[f"meets_goal_{precision}"] = figures[f"gan_{precision}"]["epoch_s"] <= GOAL_EPOCH_S
        if budget.allows(f"autoencoder_{precision}", 15):
            figures[f"autoencoder_{precision}"] = autoencoder_figures(cfg, device, bf16, matmul_peak)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    if "gan_fp32" in figures and "autoencoder_fp32" in figures and budget.allows("loaders", 30):
        with tempfile.TemporaryDirectory() as tmp:
            shard_dir = args.shards
            if not wds.shard_paths(shard_dir, "train"):
                shard_dir = synthetic_shards(Path(tmp), cfg["batch"] * (cfg["loader_batches"] + 1))
            figures["shards"] = "synthetic" if shard_dir != args.shards else args.shards
            figures["loaders"] = loader_figures(cfg, device, shard_dir, figures["gan_fp32"]["samples_per_s"],
                                                figures["autoencoder_fp32"]["samples_per_s"])
    for variant in args.variants:
        if budget.allows(f"gan_bf16_{variant}", 60):
            variants = figures.setdefault("gan_bf16_variants", {})
            try:
                variants[variant] = gan_variant_figures(cfg, device, variant)
            except Exception as err:   # e.g. no compiler for torch.compile: report it, measure the rest
                variants[variant] = {"error": f"{type(err).__name__}: {err}"[:300]}
    scaling_key = f"gan_{args.scaling_precision}"
    if args.nproc > 1 and scaling_key in figures and budget.allows("scaling", 60):
        figures["scaling"] = scaling_figures(args, figures[scaling_key], args.scaling_precision, budget)
    figures["skipped"] = budget.skipped
    figures["seconds"] = time.monotonic() - budget.start
    signal.alarm(0)
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
