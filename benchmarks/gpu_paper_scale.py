"""Paper-scale training speed on a GPU through the stages' own training code, in one JSON file.

    python benchmarks/gpu_paper_scale.py --out docs/gpu_paper_scale_h200.json   # width 1.0, emb_dim 512, batch 64
    python benchmarks/gpu_paper_scale.py --nproc 4                              # also 4-GPU DDP scaling
    python benchmarks/gpu_paper_scale.py --smoke --device cpu                   # tiny, runs on a CPU in seconds

What it runs: the translator's and the autoencoder's loop bodies (`paper_scale_loops.py`: the real
`generator_step`, `discriminator_step`, `autoencoder_step`, weight average, schedule, device-resident
uint8 split, the stages' speed levers) on synthetic data of the paper's shapes, for two lever sets,
"demo" (params.yaml) and "paper" (the paper's values of every lever), each in fp32 (TF32 allowed, as
training runs) and bf16 autocast. For each: the seconds per loop iteration (mean over --iterations after
the warm-up, one synchronisation at the end, as the stage's loop runs), the epoch of the paper's 48,945
pairs (764 iterations, plus the D pass of every 5th epoch where D trains in passes, plus the per-epoch
work of the stage: BatchNorm recompute, validation pixel loss, checkpoint), its 4,000 epochs, peak GPU
memory (the resident split included), FLOPs against a large bf16 matmul timed in the same process, and the
share of the loop's wall time the device spends outside kernels (torch.profiler; `kernel_time.py` says
how). Then, with --nproc N, the demo loop under torchrun with DDP and synchronised BatchNorm (efficiency =
one-GPU iteration / (N x N-GPU iteration)); the speed levers for the bf16 demo loop one by one (plain,
channels_last, compiled dense blocks, both; compiling apart, and each one's warm-up losses against the
plain loop's from the same start); the loaders against the steps they feed.
Sections that would overrun --budget-s are skipped and listed. The JSON also holds the device, torch,
CUDA and cuDNN versions, the date and the git commit (S2I_COMMIT when the tree has no git).
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from bench_train_step import count_flops, loader_vs_step, matmul_rate, synthetic_shards, sync  # noqa: E402
from kernel_time import outside_kernels  # noqa: E402
from paper_scale_loops import LEVER_SETS, AutoencoderLoop, GanLoop, resident_split, stage_params  # noqa: E402

from pipeline.dataset import wds  # noqa: E402
from pipeline.dataset.loader import MelScale, load_split, stream_mels  # noqa: E402
from pipeline.training.translator import as_pixels, batches, pixel_loss  # noqa: E402
from s2i_models import enable_fast_kernels, recompute_batchnorm, save_checkpoint  # noqa: E402
from s2i_models import compiled_blocks  # noqa: E402
from s2i_models.speed_levers import SpeedLevers  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAPER_PAIRS, PAPER_VAL_PAIRS, PAPER_EPOCHS = 48_945, 5_575, 4_000
GOALS = {"gan_bf16_epoch_s": 10.0, "gan_bf16_epoch_moonshot_s": 6.0, "fp32_over_bf16": 1.5, "autoencoder_epoch_s": 6.0}
PRECISIONS = {"bf16": True, "fp32": False}  # bf16 first: the goal's figure, and it counts the FLOPs for both
FULL = dict(
    width=1.0, emb_dim=512, batch=64, resident_pairs=PAPER_PAIRS, val_pairs=PAPER_VAL_PAIRS, warmup=3, iterations=20, profile_iterations=5, matmul_size=8192, loader_batches=30
)
SMOKE = dict(width=0.0625, emb_dim=32, batch=8, resident_pairs=32, val_pairs=16, warmup=1, iterations=2, profile_iterations=1, matmul_size=256, loader_batches=3)
# Seconds each section is expected to take at full scale on one GPU (a section starts only if it fits).
NEEDS_S = {"gan": 20, "extras": 15, "autoencoder": 10, "variant": 20, "compiled_variant": 90, "loaders": 25, "scaling": 90}
# In the order they are timed: the stages' own levers (channels_last on CUDA) are the main figures already.
VARIANTS = {
    "plain": SpeedLevers(),
    "channels_last": SpeedLevers(channels_last=True),
    "channels_last+compiled_blocks": SpeedLevers(channels_last=True, compiled_blocks=True),
    "compiled_blocks": SpeedLevers(compiled_blocks=True),
}


class Budget:
    def __init__(self, seconds: float, smoke: bool):
        self.start, self.seconds, self.smoke, self.skipped = time.monotonic(), seconds, smoke, []

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.start)

    def allows(self, name: str, section: str) -> bool:
        if self.left() < (1.0 if self.smoke else NEEDS_S[section]):
            self.skipped.append(name)
            return False
        return True


def seconds_per(run: Callable[[int], None], n: int, device: torch.device) -> float:
    """Mean seconds of one of `n` iterations run back to back (one synchronisation at the end)."""
    sync(device)
    start = time.perf_counter()
    run(n)
    sync(device)
    return (time.perf_counter() - start) / n


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def steps_per_epoch(batch: int) -> int:
    return PAPER_PAIRS // batch


def all_finite(losses: dict[str, float]) -> bool:
    return bool(losses) and all(math.isfinite(v) for v in losses.values())


def warm(loop, cfg: dict, device: torch.device) -> tuple[float, dict[str, float]]:
    """The first iterations (cuDNN autotuning, compiling): their seconds and mean losses."""
    start = time.perf_counter()
    loop.run(cfg["warmup"])
    if isinstance(loop, GanLoop) and loop.d_pass_per_epoch:
        loop.run(cfg["warmup"], d_pass=True)
    sync(device)
    return time.perf_counter() - start, loop.read_losses()


def gan_timing(loop: GanLoop, cfg: dict, device: torch.device) -> dict:
    """Seconds per G-loop iteration (and per D-pass iteration), and the steps' part of an epoch."""
    n, steps = cfg["iterations"], steps_per_epoch(cfg["batch"])
    out = {"iteration_s": seconds_per(loop.run, n, device)}
    out["steps_epoch_s"] = steps * out["iteration_s"]
    if loop.d_pass_per_epoch:
        out["d_pass_iteration_s"] = seconds_per(lambda k: loop.run(k, d_pass=True), n, device)
        out["steps_epoch_s"] += steps * out["d_pass_iteration_s"] / loop.cfg.d_every
    out["losses_finite"] = all_finite(loop.read_losses())
    return out


def gan_epoch_extras(loop: GanLoop, cfg: dict, device: torch.device) -> dict:
    """The stage's work besides the steps, timed with its own functions: last.pt written every epoch; the
    BatchNorm recompute over the training split (bn_recompute) and the validation pixel loss at snapshot
    epochs only (`ready_to_show`), so `total_s` counts them once per snapshot_every epochs."""
    out = {}
    shown = loop.shown.model if loop.shown else loop.G
    if loop.p["bn_recompute"]:
        sync(device)
        start = time.perf_counter()
        recompute_batchnorm(shown, (loop.emb[idx] for idx in batches(len(loop.emb), cfg["batch"], device=device)))
        sync(device)
        out["bn_recompute_s"] = time.perf_counter() - start
    val_emb, val_images = resident_split(cfg["val_pairs"], cfg["emb_dim"], device, seed=1)
    start = time.perf_counter()
    pixel_loss(shown, val_emb, val_images)
    out["val_pixel_loss_s"] = time.perf_counter() - start
    models = {"generator": loop.G, "discriminator": loop.D, **({"generator_ema": loop.shown.model} if loop.shown else {})}
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        save_checkpoint(
            Path(tmp) / "last.pt", models=models, optimizers={"generator": loop.opt_g, "discriminator": loop.opt_d}, emb_dim=cfg["emb_dim"], width=cfg["width"], epoch=1, extra={}
        )
        out["checkpoint_s"] = time.perf_counter() - start
    out["total_s"] = out["checkpoint_s"] + (out.get("bn_recompute_s", 0.0) + out["val_pixel_loss_s"]) / loop.p["snapshot_every"]
    return out


def gan_flops(loop: GanLoop) -> dict:
    """FLOPs of one G-loop iteration (and of one D-pass iteration), counted by FlopCounterMode."""
    out = {"iteration_gflop": count_flops(lambda: loop.run(1)) / 1e9}
    if loop.d_pass_per_epoch:
        out["d_pass_iteration_gflop"] = count_flops(lambda: loop.run(1, d_pass=True)) / 1e9
    loop.read_losses()
    return out


def gan_kernel_share(loop: GanLoop, cfg: dict, device: torch.device, timing: dict) -> dict:
    """The profiled share outside kernels, over G-loop iterations and (weighted by their part of the
    epoch) D-pass iterations."""
    k = cfg["profile_iterations"]
    g = outside_kernels(lambda: loop.run(k), device, k)
    if not loop.d_pass_per_epoch:
        loop.read_losses()
        return g
    d = outside_kernels(lambda: loop.run(k, d_pass=True), device, k)
    loop.read_losses()
    g_part = timing["iteration_s"]
    d_part = timing["d_pass_iteration_s"] / loop.cfg.d_every
    share = (g["outside_kernels_fraction"] * g_part + d["outside_kernels_fraction"] * d_part) / (g_part + d_part)
    return {
        **g,
        "outside_kernels_fraction": share,
        "g_loop_outside_kernels_fraction": g["outside_kernels_fraction"],
        "d_pass_outside_kernels_fraction": d["outside_kernels_fraction"],
        "d_pass_profiled_iteration_s": d["profiled_iteration_s"],
    }


def gan_figures(
    cfg: dict, lever_set: str, precision: str, levers: SpeedLevers, device: torch.device, matmul_peak: float, extras: dict | None, detail: bool = True, flops: dict | None = None
) -> tuple[dict, GanLoop]:
    """One lever set's loop in one precision; with `detail`, its FLOP rate (`flops` counted in another
    precision reused: autocast changes no FLOP count) and its share of time outside kernels."""
    p = stage_params("translator", lever_set, cfg["width"], cfg["batch"], PRECISIONS[precision])
    reset_peak(device)
    loop = GanLoop(p, cfg["emb_dim"], cfg["resident_pairs"], device, levers)
    first_s, first_losses = warm(loop, cfg, device)
    out = {"levers": levers.describe(), "first_iterations_s": first_s, "warmup_losses": first_losses, **gan_timing(loop, cfg, device)}
    if levers.compiled_blocks:  # how many blocks ran compiled, and why they ran eagerly if they did
        failure = compiled_blocks.compiled_dense_block_forward(levers.compile_backend).failure if loop.compiled_blocks else f"not compiled on {device.type}"
        out["compiled_blocks"] = {"blocks": loop.compiled_blocks, "fell_back_to_eager": failure}
    if extras is not None:
        out["epoch_extras_s"] = extras["total_s"]
        out["epoch_s"] = out["steps_epoch_s"] + extras["total_s"]
        out["paper_epochs_h"] = out["epoch_s"] * PAPER_EPOCHS / 3600
    out["peak_gib"] = peak_gib(device)
    if detail:
        flops = flops or gan_flops(loop)
        rate = flops["iteration_gflop"] * 1e9 / out["iteration_s"]
        out.update(flops, tflop_per_s=rate / 1e12, fraction_of_matmul=rate / matmul_peak, samples_per_s=cfg["batch"] / out["iteration_s"])
        out.update(gan_kernel_share(loop, cfg, device, out))
    return out, loop


def autoencoder_figures(cfg: dict, lever_set: str, precision: str, levers: SpeedLevers, device: torch.device, matmul_peak: float, detail: bool = True) -> dict:
    p = stage_params("autoencoder", lever_set, cfg["width"], cfg["batch"], PRECISIONS[precision])
    reset_peak(device)
    loop = AutoencoderLoop(p, cfg["emb_dim"], device, levers)
    first_s, first_losses = warm(loop, cfg, device)
    step_s = seconds_per(loop.run, cfg["iterations"], device)
    out = {
        "levers": levers.describe(),
        "first_iterations_s": first_s,
        "warmup_losses": first_losses,
        "step_s": step_s,
        "epoch_s": steps_per_epoch(cfg["batch"]) * step_s,
        "samples_per_s": cfg["batch"] / step_s,
        "losses_finite": all_finite(loop.read_losses()),
        "peak_gib": peak_gib(device),
    }
    if detail:
        gflop = count_flops(lambda: loop.run(1)) / 1e9
        out.update(gflop=gflop, tflop_per_s=gflop / step_s / 1e3, fraction_of_matmul=gflop * 1e9 / step_s / matmul_peak)
        k = cfg["profile_iterations"]
        out.update(outside_kernels(lambda: loop.run(k), device, k))
        loop.read_losses()
    return out


def loader_figures(cfg: dict, device: torch.device, shard_dir: str, gan_samples_per_s: float, ae_samples_per_s: float) -> dict:
    """The stages' loaders, each against the step it feeds (ratio < 1: training would wait on data)."""
    batch, n = cfg["batch"], cfg["loader_batches"]
    paths = wds.shard_paths(shard_dir, "train")
    out = {f"mel_stream_{k}": v for k, v in loader_vs_step(stream_mels(paths, batch, MelScale(), seed=0, buffer=1000), n, ae_samples_per_s).items()}
    start = time.perf_counter()
    images = load_split(shard_dir, "train").images
    out["split_read_samples_per_s"] = len(images) / (time.perf_counter() - start)
    on_device = torch.from_numpy(images).to(device)

    def pixel_batches():
        for idx in batches(len(images), batch, torch.Generator().manual_seed(0), device):
            pixels = as_pixels(on_device[idx])
            sync(device)
            yield pixels

    out.update({f"image_batches_{k}": v for k, v in loader_vs_step(pixel_batches(), n, gan_samples_per_s).items()})
    return out


def ddp_worker(args, cfg: dict) -> None:
    """One rank of the --nproc run (started by torchrun): the demo loop with DDP; rank 0 writes JSON."""
    from pipeline.training.distributed import context

    ctx = context()
    enable_fast_kernels(ctx.device)
    levers = SpeedLevers.automatic(ctx.device, ctx.world_size)
    p = stage_params("translator", args.worker_lever_set, cfg["width"], cfg["batch"], args.worker_bf16)
    loop = GanLoop(p, cfg["emb_dim"], cfg["resident_pairs"], ctx.device, levers, ctx=ctx)
    loop.run(cfg["warmup"])
    iteration_s = seconds_per(loop.run, cfg["iterations"], ctx.device)
    loop.read_losses()
    times = ctx.mean({"iteration_s": iteration_s})  # every rank waits for the slowest in the all-reduces anyway
    if ctx.is_main:
        Path(args.worker_out).write_text(json.dumps({**times, "per_rank_batch": cfg["batch"] // ctx.world_size, "levers": levers.describe()}))


def scaling_figures(args, single: dict, budget: Budget) -> dict:
    """Run this script under torchrun with --nproc ranks; compare with the one-process loop."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "ranks.json"
        cmd = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            f"--nproc-per-node={args.nproc}",
            str(Path(__file__).resolve()),
            "--worker-out",
            str(out),
            "--worker-lever-set",
            args.scaling_lever_set,
        ]
        cmd += (["--smoke"] if args.smoke else []) + (["--worker-bf16"] if PRECISIONS[args.scaling_precision] else [])
        proc = subprocess.Popen(cmd, start_new_session=True)
        try:
            proc.wait(timeout=max(budget.left(), 1))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)  # torchrun stops its workers on SIGTERM
            proc.wait()
            return {"error": "timed out"}
        if proc.returncode or not out.exists():
            return {"error": f"torchrun exited with {proc.returncode}"}
        ranks = json.loads(out.read_text())
    return {
        "nproc": args.nproc,
        "lever_set": args.scaling_lever_set,
        "precision": args.scaling_precision,
        **ranks,
        "efficiency": single["iteration_s"] / (args.nproc * ranks["iteration_s"]),
        "steps_epoch_s": steps_per_epoch(args_cfg(args)["batch"]) * ranks["iteration_s"],
    }


def largest_relative_difference(a: dict[str, float], b: dict[str, float]) -> float:
    """max |a - b| / max(|b|, 1e-3) over the names both hold (two loops' losses from the same start)."""
    return max((abs(a[k] - b[k]) / max(abs(b[k]), 1e-3) for k in a.keys() & b.keys()), default=float("nan"))


def compare_variants(table: dict, reference: dict | None) -> None:
    """Each variant's warm-up losses against the plain loop's (same weights, batches and RNG state: only
    the lever differs, so this is the lever's rounding, or a bug)."""
    if not reference or "warmup_losses" not in reference:
        return
    for result in table.values():
        if "warmup_losses" in result:
            result["warmup_losses_vs_plain"] = largest_relative_difference(result["warmup_losses"], reference["warmup_losses"])


def verdicts(figures: dict) -> dict:
    """The issue's goals against each lever set's figures (where they were measured)."""
    out = {}
    for lever_set in LEVER_SETS:
        gan, ae = figures.get("gan", {}).get(lever_set, {}), figures.get("autoencoder", {}).get(lever_set, {})
        bf16, fp32 = gan.get("bf16", {}).get("epoch_s"), gan.get("fp32", {}).get("epoch_s")
        ae_epoch = ae.get("bf16", {}).get("epoch_s")
        out[lever_set] = {
            "gan_bf16_epoch_s": bf16,
            "gan_bf16_meets_goal": None if bf16 is None else bf16 <= GOALS["gan_bf16_epoch_s"],
            "gan_bf16_meets_moonshot": None if bf16 is None else bf16 <= GOALS["gan_bf16_epoch_moonshot_s"],
            "fp32_over_bf16": None if bf16 is None or fp32 is None else fp32 / bf16,
            "fp32_meets_goal": None if bf16 is None or fp32 is None else fp32 / bf16 <= GOALS["fp32_over_bf16"],
            "autoencoder_bf16_epoch_s": ae_epoch,
            "autoencoder_meets_goal": None if ae_epoch is None else ae_epoch <= GOALS["autoencoder_epoch_s"],
        }
    return out


def git_commit() -> dict:
    """The commit measured: S2I_COMMIT if set (a copied tree without .git), else git's HEAD and whether
    tracked files differ from it."""
    if os.environ.get("S2I_COMMIT"):
        return {"git_commit": os.environ["S2I_COMMIT"], "git_dirty": None, "git_commit_from": "S2I_COMMIT"}
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO, capture_output=True, text=True, check=True)
        return {"git_commit": head.stdout.strip(), "git_dirty": bool(dirty.stdout.strip()), "git_commit_from": "git"}
    except (OSError, subprocess.CalledProcessError):
        return {"git_commit": "unknown", "git_dirty": None, "git_commit_from": "none"}


def args_cfg(args) -> dict:
    return dict(SMOKE if args.smoke else FULL)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"


def write(figures: dict, out: str | None) -> None:
    print(json.dumps(figures), flush=True)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(figures, indent=1) + "\n")


def parse(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny widths and batch, two timed iterations (tests, CPU)")
    parser.add_argument("--out", help="write the JSON here too (e.g. docs/gpu_paper_scale_h200.json)")
    parser.add_argument("--nproc", type=int, default=1, help="also time N-GPU DDP iterations under torchrun")
    parser.add_argument("--scaling-precision", choices=sorted(PRECISIONS), default="bf16")
    parser.add_argument("--scaling-lever-set", choices=LEVER_SETS, default="demo")
    parser.add_argument("--shards", default="data/shards", help="shards for the loader timing (synthetic if none)")
    parser.add_argument("--budget-s", type=float, default=300.0, help="skip sections that would end later")
    parser.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), default=list(VARIANTS), help="speed levers to time for the bf16 demo loop (none: --variants)")
    parser.add_argument("--variant-lever-sets", nargs="*", choices=LEVER_SETS, default=["demo"])
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
    parser.add_argument("--worker-out", help=argparse.SUPPRESS)
    parser.add_argument("--worker-bf16", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--worker-lever-set", default="demo", help=argparse.SUPPRESS)
    return parser, parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    parser, args = parse(argv)
    cfg = args_cfg(args)
    if args.worker_out:
        ddp_worker(args, cfg)
        return {}
    if args.nproc < 1 or cfg["batch"] % args.nproc:
        parser.error(f"--nproc must be >= 1 and divide the global batch {cfg['batch']}")
    if torch.cuda.is_available() and args.device != "cpu" and args.nproc > torch.cuda.device_count():
        parser.error(f"--nproc {args.nproc} but only {torch.cuda.device_count()} GPUs are visible")

    budget = Budget(args.budget_s, args.smoke)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    levers = SpeedLevers.automatic(device)
    figures: dict = {
        "benchmark": "gpu_paper_scale",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        **git_commit(),
        "device": device_name(device),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
        "python": platform.python_version(),
        "stage_levers": levers.describe(),
        "config": {**cfg, "paper_pairs": PAPER_PAIRS, "paper_epochs": PAPER_EPOCHS, "steps_per_epoch": steps_per_epoch(cfg["batch"]), "smoke": args.smoke},
        "goals": GOALS,
    }

    def out_of_time(signum, frame):  # a hung kernel or collective: write what was measured, then stop
        write({**figures, "error": f"stopped after {args.budget_s + 60:.0f} s", "skipped": budget.skipped}, args.out)
        os._exit(3)

    signal.signal(signal.SIGALRM, out_of_time)
    signal.alarm(int(args.budget_s + 60))
    enable_fast_kernels(device)
    matmul_dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    matmul_peak = matmul_rate(device, cfg["matmul_size"], 0.5 if device.type == "cuda" else 0.05, matmul_dtype)
    figures.update({"matmul_tflop_per_s": matmul_peak / 1e12, "matmul_dtype": str(matmul_dtype).replace("torch.", ""), "bf16_autocast_active": device.type == "cuda"})

    extras: dict[str, dict] = {}
    for lever_set in LEVER_SETS:
        flops = None
        for precision in PRECISIONS:
            name = f"gan.{lever_set}.{precision}"
            if not budget.allows(name, "gan"):
                continue
            gan, loop = gan_figures(cfg, lever_set, precision, levers, device, matmul_peak, None, flops=flops)
            flops = {k: gan[k] for k in ("iteration_gflop", "d_pass_iteration_gflop") if k in gan}
            if lever_set not in extras and budget.allows(f"epoch_extras.{lever_set}", "extras"):
                extras[lever_set] = gan_epoch_extras(loop, cfg, device)
                figures.setdefault("epoch_extras", {})[lever_set] = extras[lever_set]
            del loop
            if lever_set in extras:
                gan["epoch_extras_s"] = extras[lever_set]["total_s"]
                gan["epoch_s"] = gan["steps_epoch_s"] + gan["epoch_extras_s"]
                gan["paper_epochs_h"] = gan["epoch_s"] * PAPER_EPOCHS / 3600
            figures.setdefault("gan", {}).setdefault(lever_set, {})[precision] = gan
        for precision in PRECISIONS:
            if budget.allows(f"autoencoder.{lever_set}.{precision}", "autoencoder"):
                figures.setdefault("autoencoder", {}).setdefault(lever_set, {})[precision] = autoencoder_figures(cfg, lever_set, precision, levers, device, matmul_peak)
    figures["verdict"] = verdicts(figures)

    single = figures.get("gan", {}).get(args.scaling_lever_set, {}).get(args.scaling_precision)
    if args.nproc > 1 and single and budget.allows("scaling", "scaling"):
        figures["scaling"] = scaling_figures(args, single, budget)

    for lever_set in args.variant_lever_sets:
        for name in args.variants:
            variant = VARIANTS[name]
            if variant == levers and lever_set in figures.get("gan", {}) and "bf16" in figures["gan"][lever_set]:
                table = figures.setdefault("gan_variants", {}).setdefault(f"{lever_set}.bf16", {})
                main_figures = figures["gan"][lever_set]["bf16"]  # the stages' levers: timed above
                table[name] = {
                    "same_as": f"gan.{lever_set}.bf16",
                    **{k: main_figures[k] for k in ("levers", "first_iterations_s", "warmup_losses", "iteration_s", "steps_epoch_s", "epoch_s", "peak_gib") if k in main_figures},
                }
                continue
            if not budget.allows(f"gan_variants.{lever_set}.bf16.{name}", "compiled_variant" if variant.compiled_blocks else "variant"):
                continue
            table = figures.setdefault("gan_variants", {}).setdefault(f"{lever_set}.bf16", {})
            try:
                result, loop = gan_figures(cfg, lever_set, "bf16", variant, device, matmul_peak, extras.get(lever_set), detail=False)
                del loop
                table[name] = result
            except Exception as err:  # e.g. a compiler missing: report it, measure the rest
                table[name] = {"error": f"{type(err).__name__}: {err}"[:300]}
        table = figures.get("gan_variants", {}).get(f"{lever_set}.bf16", {})
        compare_variants(table, table.get("plain"))
        for name in ("plain", "channels_last"):
            if VARIANTS[name] == levers:
                continue  # the stages' levers: the autoencoder's main figures
            if name in args.variants and budget.allows(f"autoencoder_variants.{lever_set}.bf16.{name}", "autoencoder"):
                figures.setdefault("autoencoder_variants", {}).setdefault(f"{lever_set}.bf16", {})[name] = autoencoder_figures(
                    cfg, lever_set, "bf16", VARIANTS[name], device, matmul_peak, detail=False
                )

    gan_demo, ae_demo = figures.get("gan", {}).get("demo", {}), figures.get("autoencoder", {}).get("demo", {})
    if "fp32" in gan_demo and "fp32" in ae_demo and budget.allows("loaders", "loaders"):
        reset_peak(device)
        with tempfile.TemporaryDirectory() as tmp:
            shard_dir = args.shards
            if not wds.shard_paths(shard_dir, "train"):
                shard_dir = synthetic_shards(Path(tmp), cfg["batch"] * (cfg["loader_batches"] + 1))
            figures["shards"] = "synthetic" if shard_dir != args.shards else args.shards
            figures["loaders"] = loader_figures(cfg, device, shard_dir, gan_demo["fp32"]["samples_per_s"], ae_demo["fp32"]["samples_per_s"])
    figures["skipped"] = budget.skipped
    figures["seconds"] = time.monotonic() - budget.start
    signal.alarm(0)
    write(figures, args.out)
    return figures


if __name__ == "__main__":
    main()
