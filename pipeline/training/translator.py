"""Training the conditional GAN from sound embeddings to 96x96 images: the loop, its snapshots and its
test grid (generators are read back by `s2i_models.rebuild.load_generator`).
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from s2i_models import (Discriminator, DiscriminatorSchedule, EpochMovingAverage, GanConfig, WeightAverage,
                        discriminator_step, enable_fast_kernels, generator_step, make_optimizer, recompute_batchnorm)
from s2i_models.rebuild import build_generator
from s2i_models.speed_levers import SpeedLevers, compile_dense_blocks, place

from pipeline.core import paths
from pipeline.core.figures import save_png, test_grid
from pipeline.dataset.embeddings import load_pairs
from pipeline.dataset.loader import drawing
from pipeline.training.distributed import context
from pipeline.training.epoch_losses import EpochLosses
from pipeline.training.runs import digest, files_digest, seed_everything
from pipeline.training.schedule import translator_snapshots

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
    return (order[i:i + size] for i in starts)


@torch.no_grad()
def pixel_loss(G, emb, images_u8, batch_size=256) -> float:
    G.eval()
    total = torch.zeros((), dtype=torch.float64, device=emb.device)   # summed on the device, read once
    for idx in batches(len(emb), batch_size, device=emb.device):
        total += F.mse_loss(G(emb[idx]), as_pixels(images_u8[idx]), reduction="sum").double()
    return float(total) / (len(emb) * 3 * 96 * 96)


def gan_config(p: dict) -> GanConfig:
    """The GAN's losses and schedule from the translator's params."""
    return GanConfig(lambda_adv=p["lambda_adv"], lambda_pixel=p["lambda_pixel"], d_every=p["d_every"],
                     d_unit=p["d_unit"], adv_average=p["adv_average"], bf16=p["bf16"],
                     d_mismatch=p["d_mismatch"], loss=p["loss"], pixel_scale=p["pixel_scale"],
                     augment=p["augment"], r1=p["r1"], lambda_ms=p["lambda_ms"],
                     pixel_best_of=p["pixel_best_of"])


def train(p: dict, out_dir: Path = OUT_DIR, live_dir: Path = LIVE_DIR, emb_dir: Path = EMB_DIR,
          shard_dir: Path = SHARD_DIR) -> None:
    out_dir, emb_dir = Path(out_dir), Path(emb_dir)
    ctx = context()
    device = ctx.device
    enable_fast_kernels(device)
    seed_everything(ctx.rank_seed(p["seed"]))
    emb, images, _ = load_pairs("train", device, emb_dir, shard_dir)
    val_emb, val_images, _ = load_pairs("val", device, emb_dir, shard_dir)
    emb_dim = emb.shape[1]
    settings = {"emb_dim": emb_dim, **p, "data": files_digest(sorted(emb_dir.glob("*.npz")))}
    levers = SpeedLevers.automatic(device, ctx.world_size)   # channels_last on CUDA (docs/distributed.md)
    G = place(build_generator(p["generator"], emb_dim, p["width"], p["output_bn"], p["upsample"],
                              p["noise_dim"]), device, levers)
    D = place(Discriminator(emb_dim, p["width"], p["d_dropout"], p["d_projection"], p["d_norm"]), device, levers)
    opt_g = make_optimizer("generator", G.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
    opt_d = make_optimizer("discriminator", D.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
    cfg = gan_config(p)
    schedule, adv_average = DiscriminatorSchedule.from_config(cfg), EpochMovingAverage(cfg.adv_average)
    extra = {"settings": digest(settings), "generator": p["generator"], "output_bn": p["output_bn"],
             "upsample": p["upsample"], "noise_dim": p["noise_dim"], "iteration": 0}
    # The generator people see: an exponential moving average of G's weights when ema_decay > 0 (G itself otherwise).
    shown = WeightAverage(G, p["ema_decay"]) if p["ema_decay"] else None
    models = {"generator": G, "discriminator": D, **({"generator_ema": shown.model} if shown else {})}
    ckpt = ctx.resumable(out_dir / "last.pt", extra["settings"], p["epochs"])
    first = 1
    if ckpt:
        ctx.restore(ckpt, models, {"generator": opt_g, "discriminator": opt_d}, rng=True)
        extra, first = ckpt["extra"], ckpt["epoch"] + 1
    G_shown = shown.model if shown else G
    compile_dense_blocks(G, device, levers)   # after the weight average's copy, which stays eager
    G_ddp, D_ddp = ctx.wrap(G, p["sync_bn"]), ctx.wrap(D, p["sync_bn"])  # G, D themselves where no gradient syncs
    live = ctx.open_live(live_dir, resume=ckpt is not None)
    snapshot_epochs = set(translator_snapshots(p))
    for epoch in range(first, p["epochs"] + 1):
        G.train(), D.train()
        adv_average.reset()
        losses = EpochLosses()   # the steps' losses stay on the device until the epoch ends
        shuffle = torch.Generator().manual_seed(p["seed"] * 7919 + epoch)  # per epoch, so resuming repeats it
        # The split, its uint8 -> [-1, 1] conversion, the index batches and the augmentation all live on
        # the device: no host copy and no host read inside the loop.
        for idx in tqdm(list(batches(len(emb), p["batch_size"], shuffle, device)),
                        desc=f"translator epoch {epoch}/{p['epochs']}", unit="batch", leave=False,
                        disable=not ctx.is_main):
            idx = ctx.local_part(idx)
            real = as_pixels(images[idx])
            losses.add(generator_step(G_ddp, D, opt_g, emb[idx], real, adv_average, cfg))
            if shown:
                shown.update(G)
            extra["iteration"] += 1
            if schedule.after_iteration(extra["iteration"]):
                losses.join_last(discriminator_step(G, D_ddp, opt_d, emb[idx], real, cfg))
        if schedule.after_epoch(epoch):
            for idx in batches(len(emb), p["batch_size"], shuffle, device):
                idx = ctx.local_part(idx)
                losses.add(discriminator_step(G, D_ddp, opt_d, emb[idx], as_pixels(images[idx]), cfg))
        summary = ctx.mean(losses.means())
        if p["bn_recompute"]:
            recompute_batchnorm(G_shown, (emb[idx] for idx in batches(len(emb), p["batch_size"])))
        summary["val/g_pixel"] = pixel_loss(G_shown, val_emb, val_images)
        for name, value in summary.items():
            live.log_metric(name if "/" in name else f"train/{name}", value)
        print(f"epoch {epoch}: " + "  ".join(f"{k} {v:.4f}" for k, v in summary.items()))
        if epoch in snapshot_epochs:
            ctx.save_checkpoint(out_dir / "snapshots" / f"generator_{epoch:05d}.pt", models={"generator": G_shown},
                                emb_dim=emb_dim, width=p["width"], epoch=epoch, extra=extra, with_rng=False)
        ctx.save_checkpoint(out_dir / "last.pt", models=models,
                            optimizers={"generator": opt_g, "discriminator": opt_d},
                            emb_dim=emb_dim, width=p["width"], epoch=epoch, extra=extra)
        live.next_step()
    live.end()
    final = p["epochs"]
    ctx.save_checkpoint(out_dir / "generator.pt", models={"generator": G_shown}, emb_dim=emb_dim, width=p["width"],
                        epoch=final, extra=extra, with_rng=False)
    ctx.save_checkpoint(out_dir / "discriminator.pt", models={"discriminator": D}, emb_dim=emb_dim,
                        width=p["width"], epoch=final, extra=extra, with_rng=False)
    if not ctx.is_main:
        return
    test_emb, test_images, test_classes = load_pairs("test", device, emb_dir, shard_dir)
    save_png(test_grid(test_images.cpu().numpy(), test_classes, drawing(G_shown, test_emb), seed=p["seed"]),
             out_dir / "test_grid.png")
