"""Training the audio autoencoder on train-split log-Mels (best val epoch kept), and the linear probe
of its embedding.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from tqdm import tqdm

from s2i_models import AudioAutoencoder, autoencoder_step, enable_fast_kernels, make_optimizer
from s2i_models.rng import RandomStream
from s2i_models.speed_levers import SpeedLevers, as_input, place

from pipeline.core import paths
from pipeline.core.tables import CLASSES, SPLITS
from pipeline.dataset.embeddings import embed_mels, load_encoder
from pipeline.dataset.loader import MelScale, load_split, stream_mels
from pipeline.dataset.wds import shard_paths
from pipeline.training.distributed import context
from pipeline.training.epoch_losses import EpochLosses
from pipeline.training.ridge import class_probe
from pipeline.training.runs import digest, files_digest

SHARD_DIR = paths.SHARDS
OUT_DIR = paths.AUTOENCODER
LIVE_DIR = paths.AUTOENCODER_LIVE


def to_device(batch: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A streamed host batch on `device`: through pinned memory and without waiting on CUDA (the copy
    overlaps the step before it), a plain `.to` elsewhere."""
    if device.type == "cuda":
        return batch.pin_memory().to(device, non_blocking=True)
    return batch.to(device)


@torch.no_grad()
def mean_loss(model, batches, device) -> float:
    model.eval()
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0  # summed on the device, read once
    for mel in batches:
        mel = to_device(mel, device)
        total += torch.nn.functional.mse_loss(model(mel), mel, reduction="sum").double()
        count += mel.numel()
    return float(total) / max(count, 1)


def train(emb_dim: int, p: dict) -> None:
    ctx = context()
    enable_fast_kernels(ctx.device)
    # Weight init draws from the run's own stream, seeded as torch.manual_seed(seed) was; the caller's
    # random state is left as it was.
    with RandomStream(ctx.rank_seed(p["seed"]), ctx.device):
        train_epochs(emb_dim, p, ctx)


def train_epochs(emb_dim: int, p: dict, ctx) -> None:
    device = ctx.device
    train_paths, val_paths = shard_paths(SHARD_DIR, "train"), shard_paths(SHARD_DIR, "val")
    settings = {"emb_dim": emb_dim, **p, "data": files_digest(train_paths + val_paths)}
    scale = MelScale(p["mel_centre"], p["mel_half_range"])
    levers = SpeedLevers.automatic(device, ctx.world_size)  # channels_last on CUDA (docs/distributed.md)
    model = place(AudioAutoencoder(emb_dim, p["width"], p["output_bn"]), device, levers)
    opt = make_optimizer("autoencoder", model.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
    extra = {"settings": digest(settings), "mel_scale": dataclasses.asdict(scale), "output_bn": p["output_bn"], "best_val": float("inf"), "best_epoch": 0}
    ckpt = ctx.resumable(OUT_DIR / "last.pt", extra["settings"], p["epochs"], LIVE_DIR)
    first = 1
    if ckpt:
        ctx.restore(ckpt, {"autoencoder": model}, {"autoencoder": opt}, rng=True)
        extra, first = ckpt["extra"], ckpt["epoch"] + 1
    trained = ctx.wrap(model, p["sync_bn"])
    live = ctx.open_live(LIVE_DIR, resume=ckpt is not None)
    for epoch in range(first, p["epochs"] + 1):
        model.train()
        losses = EpochLosses()  # the steps' losses stay on the device until the epoch ends
        batches = stream_mels(train_paths, p["batch_size"], scale, seed=p["seed"] * 100003 + epoch, buffer=p["shuffle_buffer"], drop_last=True)
        for mel in tqdm(batches, desc=f"autoencoder epoch {epoch}/{p['epochs']}", unit="batch", leave=False, disable=not ctx.is_main):
            mel = as_input(to_device(ctx.local_part(mel), device), levers)
            losses.add(autoencoder_step(trained, opt, mel, bf16=p["bf16"]))
        val = mean_loss(model, stream_mels(val_paths, 256, scale), device)
        steps = losses.floats().get("ae_loss", [])
        train_loss = ctx.mean({"mse": sum(steps) / max(len(steps), 1)})["mse"]
        print(f"epoch {epoch}: train mse {train_loss:.5f}  val mse {val:.5f}")
        live.log_metric("train/mse", train_loss)
        live.log_metric("val/mse", val)
        if val < extra["best_val"]:
            extra = {**extra, "best_val": val, "best_epoch": epoch}
            ctx.save_checkpoint(OUT_DIR / "best.pt", models={"autoencoder": model}, emb_dim=emb_dim, width=p["width"], epoch=epoch, extra=extra, with_rng=False)
        live.log_metric("best/val_mse", extra["best_val"], plot=False)
        live.log_metric("best/epoch", extra["best_epoch"], plot=False)
        ctx.save_checkpoint(OUT_DIR / "last.pt", models={"autoencoder": model}, optimizers={"autoencoder": opt}, emb_dim=emb_dim, width=p["width"], epoch=epoch, extra=extra)
        live.next_step()
    if ctx.is_main:
        probe = embedding_probe(OUT_DIR / "best.pt", device)
        for split in SPLITS:
            live.log_metric(f"probe/{split}_accuracy", probe[f"{split}_accuracy"], plot=False)
        print("linear probe of the embedding (ridge, one-hot classes): " + "  ".join(f"{k} {v:.3f}" for k, v in probe.items()))
    live.end()


def embedding_probe(checkpoint: Path, device) -> dict:
    """Does the embedding carry the sound's class? A ridge classifier trained on train
    embeddings (alpha picked on val), scored on val and test."""
    model, scale = load_encoder(checkpoint, device)
    splits = {s: load_split(SHARD_DIR, s, mels=True) for s in SPLITS}
    emb = {s: embed_mels(model, scale, d.mels) for s, d in splits.items()}
    return class_probe(emb["train"], splits["train"].class_index, emb["val"], splits["val"].class_index, emb["test"], splits["test"].class_index, len(CLASSES))
