"""Time one generator step + one discriminator step and compare the FLOP rate with a matmul.

    python benchmarks/bench_train_step.py --width 1.0 --batch 64 --steps 2

Prints one "name: value" line per figure. The FLOPs are counted once with
torch.utils.flop_counter.FlopCounterMode; the rates divide them by the median
step time. The matmul rate is a large fp32 matmul timed in the same process
around every step, so "fraction_of_matmul" says how close the convolutions
get to the machine's dense-math peak. With both steps timed, it also times the two
training loaders (streamed log-Mels, in-memory image batches) on data/shards, or on
synthetic shards when there are none, and prints loader samples/s over step samples/s
(goal >= 5).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from s2i_models import DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, discriminator_step, enable_fast_kernels, generator_step, make_optimizer, pick_device

from pipeline.dataset import wds
from pipeline.dataset.loader import MelScale, load_split, stream_mels
from pipeline.training.translator import as_pixels


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def matmul_rate(device: torch.device, size: int, min_seconds: float = 0.3, dtype: torch.dtype = torch.float32) -> float:
    """FLOP/s of repeated size x size matmuls (fp32 unless `dtype`) run for about `min_seconds`."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    a @ b
    sync(device)
    start, count = time.perf_counter(), 0
    while True:
        a @ b
        count += 1
        sync(device)
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds:
            return 2 * size**3 * count / elapsed


def measure(fn: Callable[[], object], flops: int, steps: int, warmup: int, device: torch.device, matmul_size: int, matmul_seconds: float = 0.3) -> dict[str, float]:
    """Median step time, FLOP rate and fraction of the matmul rate.

    The matmul rate is taken right before and after every timed step and the
    fraction computed per step, so that load from other processes on a shared
    machine hits both sides of the ratio alike."""
    for _ in range(warmup):
        fn()
    sync(device)
    times, fractions, peaks = [], [], []
    for _ in range(steps):
        before = matmul_rate(device, matmul_size, matmul_seconds)
        start = time.perf_counter()
        fn()
        sync(device)
        elapsed = time.perf_counter() - start
        peak = (before + matmul_rate(device, matmul_size, matmul_seconds)) / 2
        times.append(elapsed)
        peaks.append(peak)
        fractions.append(flops / elapsed / peak)
    seconds = statistics.median(times)
    return {
        "s": seconds,
        "gflop": flops / 1e9,
        "gflop_per_s": flops / seconds / 1e9,
        "matmul_gflop_per_s": statistics.median(peaks) / 1e9,
        "fraction_of_matmul": statistics.median(fractions),
    }


def loader_vs_step(batches: Iterable, n_batches: int, step_samples_per_s: float) -> dict[str, float]:
    """Samples/s of a data loader (first `n_batches` batches; the first element
    of each batch is taken as the sample tensor) against the training step's rate.
    A ratio below 1 means training would wait on data."""
    start, samples = time.perf_counter(), 0
    for i, batch in enumerate(batches):
        if i == n_batches:
            break
        first = batch[0] if isinstance(batch, (list, tuple)) else batch
        samples += len(first)
    loader_rate = samples / (time.perf_counter() - start)
    return {"loader_samples_per_s": loader_rate, "loader_over_step": loader_rate / step_samples_per_s}


def synthetic_shards(folder: Path, n: int, seed: int = 0) -> str:
    """n random samples in the shards' layout (for a loader timing without `dvc repro`)."""
    rng = np.random.default_rng(seed)
    samples = [
        (
            f"clip{i:05d}_000000",
            {
                "mel.npy": wds.encode_npy(rng.normal(-6, 2, (128, 100)).astype(np.float32)),
                "png": wds.encode_png(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)),
                "json": wds.encode_json({"segment_id": f"clip{i:05d}_000000", "class_index": i % 5}),
            },
        )
        for i in range(n)
    ]
    for k in range(0, n, 500):
        wds.write_tar(folder / f"train-{k // 500:06d}.tar", samples[k : k + 500])
    return str(folder)


def loader_figures(shard_dir: str, batch: int, n_batches: int, step_samples_per_s: float) -> dict[str, float]:
    """Both stages' loaders against the step: streamed log-Mels (autoencoder) and
    in-memory image batches (translator: index, uint8 -> [-1, 1] pixels)."""
    paths = wds.shard_paths(shard_dir, "train")
    out = {f"mel_stream_{k}": v for k, v in loader_vs_step(stream_mels(paths, batch, MelScale(), seed=0, buffer=1000), n_batches, step_samples_per_s).items()}
    images = torch.from_numpy(load_split(shard_dir, "train").images)
    order = torch.randperm(len(images))
    pixel_batches = (as_pixels(images[order[i : i + batch]]) for i in range(0, len(images) - batch + 1, batch))
    out.update({f"image_batches_{k}": v for k, v in loader_vs_step(pixel_batches, n_batches, step_samples_per_s).items()})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--emb-dim", type=int, default=512)
    parser.add_argument("--steps", type=int, default=2, help="timed steps (median)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--channels-last", action="store_true", help="channels_last memory format")
    parser.add_argument("--no-fast-kernels", action="store_true", help="skip cudnn.benchmark / mkldnn switches")
    parser.add_argument("--bf16", action="store_true", help="bf16 autocast (CUDA only)")
    parser.add_argument("--matmul-size", type=int, default=2048)
    parser.add_argument("--matmul-seconds", type=float, default=0.3, help="matmul timing before/after each step")
    parser.add_argument("--parts", default="g_fwd_bwd,g_step,d_step", help="comma list of g_fwd_bwd (G forward+backward alone), g_step, d_step")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shards", default="data/shards", help="shards for the loader timing (synthetic ones when missing)")
    parser.add_argument("--loader-batches", type=int, default=20)
    args = parser.parse_args(argv)

    device = pick_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.no_fast_kernels:
        enable_fast_kernels(device)
    torch.manual_seed(args.seed)
    fmt = torch.channels_last if args.channels_last else torch.contiguous_format

    G = DenseGenerator(args.emb_dim, args.width).to(device, memory_format=fmt)
    D = Discriminator(args.emb_dim, args.width).to(device, memory_format=fmt)
    g_opt = make_optimizer("generator", G.parameters())
    d_opt = make_optimizer("discriminator", D.parameters())
    cfg = GanConfig(bf16=args.bf16)
    avg = EpochMovingAverage()
    emb = torch.rand(args.batch, args.emb_dim, device=device) * 2 - 1
    real = (torch.rand(args.batch, 3, 96, 96, device=device) * 2 - 1).contiguous(memory_format=fmt)

    g_step = lambda: generator_step(G, D, g_opt, emb, real, avg, cfg)
    d_step = lambda: discriminator_step(G, D, d_opt, emb, real, cfg)

    def g_fwd_bwd():
        G.zero_grad(set_to_none=True)
        G(emb).float().square().mean().backward()

    figures = {
        "device": f"{device} threads={torch.get_num_threads()} channels_last={args.channels_last} bf16={args.bf16}",
        "config": f"width={args.width} batch={args.batch} emb_dim={args.emb_dim} steps={args.steps}",
    }
    parts = {"g_fwd_bwd": g_fwd_bwd, "g_step": g_step, "d_step": d_step}
    chosen = args.parts.split(",")
    unknown = set(chosen) - parts.keys()
    if unknown:
        parser.error(f"unknown --parts {sorted(unknown)}; choose from {sorted(parts)}")
    for name in chosen:
        fn = parts[name]
        for key, value in measure(fn, count_flops(fn), args.steps, args.warmup, device, args.matmul_size, args.matmul_seconds).items():
            figures[f"{name}_{key}"] = value
    if {"g_step", "d_step"} <= set(chosen):
        figures["g_plus_d_s"] = figures["g_step_s"] + figures["d_step_s"]
        figures["g_plus_d_gflop_per_s"] = (figures["g_step_gflop"] + figures["d_step_gflop"]) / figures["g_plus_d_s"]
    if "g_step" in chosen:
        figures["g_step_samples_per_s"] = args.batch / figures["g_step_s"]
    if {"g_step", "d_step"} <= set(chosen):
        step_rate = args.batch / figures["g_plus_d_s"]
        with tempfile.TemporaryDirectory() as tmp:
            shard_dir = args.shards if wds.shard_paths(args.shards, "train") else synthetic_shards(Path(tmp), args.batch * (args.loader_batches + 1))
            figures.update(loader_figures(shard_dir, args.batch, args.loader_batches, step_rate))
    for name, value in figures.items():
        print(f"{name}: {value:.4g}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
