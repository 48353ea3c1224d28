"""Training the conditional GAN from sound embeddings to 96x96 images: the loop, its snapshots and its
test grid (generators are read back by `s2i_models.rebuild.load_generator`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from s2i_models import (
    Discriminator,
    DiscriminatorSchedule,
    EpochMovingAverage,
    GanConfig,
    WeightAverage,
    discriminator_step,
    enable_fast_kernels,
    generator_step,
    make_optimizer,
    recompute_batchnorm,
)
from s2i_models.rebuild import build_generator
from s2i_models.rng import RandomStream
from s2i_models.speed_levers import SpeedLevers, compile_dense_blocks, place

from pipeline.core import paths
from pipeline.core.figures import save_png, test_grid
from pipeline.dataset.embeddings import load_pairs
from pipeline.dataset.loader import drawing
from pipeline.training.distributed import context
from pipeline.training.epoch_losses import EpochLosses
from pipeline.training.runs import digest, files_digest
from pipeline.training.schedule import lr_factor, translator_snapshots

SHARD_DIR = paths.SHARDS
EMB_DIR = paths.EMBEDDINGS
OUT_DIR = paths.TRANSLATOR
LIVE_DIR = paths.TRANSLATOR_LIVE


def as_pixels(images_u8: torch.Tensor) -> torch.Tensor:
    return images_u8.permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def batches(n: int, size: int, generator: torch.Generator | None = None, device=None):
    """Index batches. In order (no generator): every item once, the last batch may be short. Shuffled: full
    batches only (the remainder waits for another epoch's order), but a set smaller than one batch is one
    shuffled batch of all of it, never an epoch without a step. An empty set gives no batch; a size below 1 is
    a ValueError at once. With `device`, the epoch's order is copied there once and the batches are views of it."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, got {size}")
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    if device is not None:
        order = order.to(device)
    if generator is None:
        starts = range(0, n, size)
    elif n < size:
        starts = range(0, min(n, 1))
    else:
        starts = range(0, n - size + 1, size)
    return (order[i : i + size] for i in starts)


@torch.no_grad()
def pixel_loss(G, emb, images_u8, batch_size=256) -> float:
    G.eval()
    total = torch.zeros((), dtype=torch.float64, device=emb.device)  # summed on the device, read once
    for idx in batches(len(emb), batch_size, device=emb.device):
        total += F.mse_loss(G(emb[idx]), as_pixels(images_u8[idx]), reduction="sum").double()
    return float(total) / (len(emb) * 3 * 96 * 96)


GAN_PARAMS = (
    "lambda_adv", "lambda_pixel", "d_every", "d_unit", "adv_average", "bf16", "d_mismatch",
    "loss", "pixel_scale", "augment", "r1", "lambda_ms", "pixel_best_of", "lambda_fm",
    "lambda_texture",
    "lambda_colour",
)  # fmt: skip


def gan_config(p: dict) -> GanConfig:
    """The GAN's losses and schedule from the translator's params (GanConfig's fields of the same names)."""
    return GanConfig(**{key: p[key] for key in GAN_PARAMS})


@dataclass
class Pairs:
    """The (embedding, image) pairs a run trains and validates on, on the training device."""

    emb: torch.Tensor
    images: torch.Tensor
    val_emb: torch.Tensor
    val_images: torch.Tensor


@dataclass
class GanRun:
    """One training run's networks, optimisers and schedule; `extra` travels with every checkpoint."""

    G: torch.nn.Module
    D: torch.nn.Module
    shown: WeightAverage | None  # the moving average of G's weights people see (None: G itself)
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    cfg: GanConfig
    schedule: DiscriminatorSchedule
    adv_average: EpochMovingAverage
    extra: dict
    emb_dim: int
    first_epoch: int = 1
    G_ddp: torch.nn.Module | None = None
    D_ddp: torch.nn.Module | None = None

    @property
    def G_shown(self) -> torch.nn.Module:
        return self.shown.model if self.shown else self.G

    @property
    def models(self) -> dict[str, torch.nn.Module]:
        return {"generator": self.G, "discriminator": self.D, **({"generator_ema": self.shown.model} if self.shown else {})}

    @property
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"generator": self.opt_g, "discriminator": self.opt_d}


def train(p: dict, out_dir: Path = OUT_DIR, live_dir: Path = LIVE_DIR, emb_dir: Path = EMB_DIR, shard_dir: Path = SHARD_DIR) -> None:
    out_dir, emb_dir = Path(out_dir), Path(emb_dir)
    lr_factor(1, p["epochs"], p["lr_decay"])  # a bad lr_decay fails before any work
    ctx = context()
    enable_fast_kernels(ctx.device)
    # Weight init, dropout and noise draw from the run's own stream, seeded as torch.manual_seed(seed) was;
    # the caller's random state is left as it was.
    with RandomStream(ctx.rank_seed(p["seed"]), ctx.device):
        pairs = Pairs(*load_pairs("train", ctx.device, emb_dir, shard_dir)[:2], *load_pairs("val", ctx.device, emb_dir, shard_dir)[:2])
        emb_dim = pairs.emb.shape[1]
        settings = {"emb_dim": emb_dim, **p, "data": files_digest(sorted(emb_dir.glob("*.npz")))}
        if p["lr_decay"]:  # the fall depends on the epoch count: a longer run cannot continue a shorter one
            settings["decay_epochs"] = p["epochs"]
        run = start_run(p, emb_dim, digest(settings), out_dir, ctx, live_dir)
        live = ctx.open_live(live_dir, resume=run.first_epoch > 1)
        snapshot_epochs = set(translator_snapshots(p))
        for epoch in range(run.first_epoch, p["epochs"] + 1):
            for opt in run.optimizers.values():
                for group in opt.param_groups:
                    group["lr"] = p["lr"] * lr_factor(epoch, p["epochs"], p["lr_decay"])
            summary = train_epoch(run, pairs, p, epoch, ctx)
            if epoch in snapshot_epochs:  # the shown generator is looked at only here (the last epoch is one)
                summary |= ready_to_show(run, pairs, p)
            for name, value in summary.items():
                live.log_metric(name if "/" in name else f"train/{name}", value)
            print(f"epoch {epoch}: " + "  ".join(f"{k} {v:.4f}" for k, v in summary.items()))
            save_epoch(run, p, epoch, out_dir, ctx, snapshot=epoch in snapshot_epochs)
            live.next_step()
        live.end()
        save_final(run, p, out_dir, ctx)
        if ctx.is_main:
            test_emb, test_images, test_classes = load_pairs("test", ctx.device, emb_dir, shard_dir)
            save_png(test_grid(test_images.cpu().numpy(), test_classes, drawing(run.G_shown, test_emb), seed=p["seed"]), out_dir / "test_grid.png")


def start_run(p: dict, emb_dim: int, settings_digest: str, out_dir: Path, ctx, live_dir: Path) -> GanRun:
    """G, D and their optimisers, fresh or resumed from out_dir/last.pt when it was written under the same
    settings and live_dir still holds the logs of its epochs; wrapped for the run's processes."""
    device = ctx.device
    levers = SpeedLevers.automatic(device, ctx.world_size)  # channels_last on CUDA (docs/distributed.md)
    G = place(build_generator(p["generator"], emb_dim, p["width"], p["output_bn"], p["upsample"], p["noise_dim"]), device, levers)
    D = place(Discriminator(emb_dim, p["width"], p["d_dropout"], p["d_projection"], p["d_norm"]), device, levers)
    opt_g = make_optimizer("generator", G.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
    opt_d = make_optimizer("discriminator", D.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
    cfg = gan_config(p)
    extra = {"settings": settings_digest, "generator": p["generator"], "output_bn": p["output_bn"], "upsample": p["upsample"], "noise_dim": p["noise_dim"], "iteration": 0}
    shown = WeightAverage(G, p["ema_decay"]) if p["ema_decay"] else None
    run = GanRun(G, D, shown, opt_g, opt_d, cfg, DiscriminatorSchedule.from_config(cfg), EpochMovingAverage(cfg.adv_average), extra, emb_dim)
    ckpt = ctx.resumable(out_dir / "last.pt", extra["settings"], p["epochs"], live_dir)
    if ckpt:
        ctx.restore(ckpt, run.models, run.optimizers, rng=True)
        run.extra, run.first_epoch = ckpt["extra"], ckpt["epoch"] + 1
    compile_dense_blocks(G, device, levers)  # after the weight average's copy, which stays eager
    run.G_ddp, run.D_ddp = ctx.wrap(G, p["sync_bn"]), ctx.wrap(D, p["sync_bn"])  # G, D where no gradient syncs
    return run


def train_epoch(run: GanRun, pairs: Pairs, p: dict, epoch: int, ctx) -> dict[str, float]:
    """One epoch of G steps (with D steps as the schedule says); the epoch's mean losses."""
    device, emb, images = ctx.device, pairs.emb, pairs.images
    run.G.train(), run.D.train()
    run.adv_average.reset()
    losses = EpochLosses()  # the steps' losses stay on the device until the epoch ends
    shuffle = torch.Generator().manual_seed(p["seed"] * 7919 + epoch)  # per epoch, so resuming repeats it
    # The split, its uint8 -> [-1, 1] conversion, the index batches and the augmentation all live on
    # the device: no host copy and no host read inside the loop.
    for idx in tqdm(list(batches(len(emb), p["batch_size"], shuffle, device)), desc=f"translator epoch {epoch}/{p['epochs']}", unit="batch", leave=False, disable=not ctx.is_main):
        idx = ctx.local_part(idx)
        real = as_pixels(images[idx])
        losses.add(generator_step(run.G_ddp, run.D, run.opt_g, emb[idx], real, run.adv_average, run.cfg))
        if run.shown:
            run.shown.update(run.G)
        run.extra["iteration"] += 1
        if run.schedule.after_iteration(run.extra["iteration"]):
            losses.join_last(discriminator_step(run.G, run.D_ddp, run.opt_d, emb[idx], real, run.cfg))
    if run.schedule.after_epoch(epoch):
        for idx in batches(len(emb), p["batch_size"], shuffle, device):
            idx = ctx.local_part(idx)
            losses.add(discriminator_step(run.G, run.D_ddp, run.opt_d, emb[idx], as_pixels(images[idx]), run.cfg))
    return ctx.mean(losses.means())


def ready_to_show(run: GanRun, pairs: Pairs, p: dict) -> dict[str, float]:
    """Readies the shown generator for a snapshot or the end (its BatchNorm statistics recomputed over the
    training sounds, with `bn_recompute`) and returns its val pixel loss. Only those epochs need it: the weight
    average copies G's BatchNorm buffers at every step, so a recompute in between would be overwritten
    unseen (about 5% of a demo epoch, benchmarks/bench_translator_epoch.py). Neither draws from the training's
    random stream, so how often a run is shown does not change how it trains."""
    if p["bn_recompute"]:
        recompute_batchnorm(run.G_shown, (pairs.emb[idx] for idx in batches(len(pairs.emb), p["batch_size"])))
    with RandomStream(p["seed"], pairs.val_emb.device):  # test-time dropout: the same draws at every epoch
        return {"val/g_pixel": pixel_loss(run.G_shown, pairs.val_emb, pairs.val_images)}


def save_epoch(run: GanRun, p: dict, epoch: int, out_dir: Path, ctx, snapshot: bool) -> None:
    """The epoch's snapshot of the shown generator (when asked) and the resumable out_dir/last.pt."""
    if snapshot:
        ctx.save_checkpoint(
            out_dir / "snapshots" / f"generator_{epoch:05d}.pt",
            models={"generator": run.G_shown},
            emb_dim=run.emb_dim,
            width=p["width"],
            epoch=epoch,
            extra=run.extra,
            with_rng=False,
        )
    ctx.save_checkpoint(out_dir / "last.pt", models=run.models, optimizers=run.optimizers, emb_dim=run.emb_dim, width=p["width"], epoch=epoch, extra=run.extra)


def save_final(run: GanRun, p: dict, out_dir: Path, ctx) -> None:
    for name, model in (("generator", run.G_shown), ("discriminator", run.D)):
        ctx.save_checkpoint(out_dir / f"{name}.pt", models={name: model}, emb_dim=run.emb_dim, width=p["width"], epoch=p["epochs"], extra=run.extra, with_rng=False)
