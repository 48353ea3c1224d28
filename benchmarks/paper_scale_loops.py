"""The translator's and the autoencoder's training loops as the stages run them, on synthetic data of
the paper's shapes: what benchmarks/gpu_paper_scale.py times.

Each loop is built from the stages' own pieces (params as `params.yaml` gives them, `gan_config`,
`build_generator`, `place` with the stages' speed levers, `generator_step`, `discriminator_step`,
`autoencoder_step`, `EpochLosses`, the translator's device-resident uint8 split and index batches,
the autoencoder's pinned host-to-device copies) and runs the body of the stage's loop; only the data
is synthetic. Two lever sets: "demo" (params.yaml's translator and autoencoder sections) and "paper"
(the paper's value of every lever the demo moves); both at the width, embedding size and batch given.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import torch

from pipeline.core.params import load_params
from pipeline.training.autoencoder import to_device
from pipeline.training.epoch_losses import EpochLosses
from pipeline.training.translator import as_pixels, batches, gan_config
from s2i_models import (
    AudioAutoencoder,
    Discriminator,
    DiscriminatorSchedule,
    EpochMovingAverage,
    WeightAverage,
    autoencoder_step,
    discriminator_step,
    generator_step,
    make_optimizer,
)
from s2i_models.rebuild import build_generator
from s2i_models.speed_levers import SpeedLevers, as_input, compile_dense_blocks, place

REPO = Path(__file__).resolve().parents[1]
LEVER_SETS = ("demo", "paper")
# The paper's value of every translator lever (params.yaml's "paper:" comments; docs/experiments.md).
PAPER_TRANSLATOR = {
    "generator": "dense",
    "optimizer": "sgd",
    "lr": 0.1,
    "lr_decay": 0.0,
    "momentum": 0.5,
    "lambda_pixel": 1.0,
    "lambda_adv": 0.1,
    "adv_average": "epoch",
    "output_bn": True,
    "upsample": "transposed",
    "ema_decay": 0.0,
    "bn_recompute": False,
    "d_dropout": 0.5,
    "d_mismatch": False,
    "d_projection": False,
    "d_every": 5,
    "d_unit": "epoch",
    "d_norm": "batch",
    "loss": "mse",
    "noise_dim": 0,
    "lambda_ms": 0.0,
    "pixel_best_of": 1,
    "lambda_fm": 0.0,
    "lambda_texture": 0.0,
    "lambda_colour": 0.0,
    "pixel_scale": 1,
    "augment": "",
    "r1": 0.0,
}
PAPER_AUTOENCODER = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "output_bn": True}


def stage_params(stage: str, lever_set: str, width: float, batch: int, bf16: bool) -> dict:
    """A stage's params for `lever_set`, at the given width and batch and precision."""
    if lever_set not in LEVER_SETS:
        raise ValueError(f"lever set must be one of {LEVER_SETS}, got {lever_set!r}")
    params = dict(load_params(REPO / "params.yaml")[stage])
    if lever_set == "paper":
        params.update(PAPER_TRANSLATOR if stage == "translator" else PAPER_AUTOENCODER)
    return {**params, "width": width, "batch_size": batch, "bf16": bf16}


def resident_split(pairs: int, emb_dim: int, device: torch.device, seed: int = 0):
    """Embeddings (pairs x E float) and images (pairs x 96 x 96 x 3 uint8) on the device, as `load_pairs` holds them."""
    g = torch.Generator(device=device).manual_seed(seed)
    emb = torch.rand(pairs, emb_dim, device=device, generator=g) * 2 - 1
    images = torch.randint(0, 256, (pairs, 96, 96, 3), device=device, generator=g, dtype=torch.uint8)
    return emb, images


class GanLoop:
    """The translator stage's loop body over a resident synthetic split; `ctx` (a distributed Context)
    wraps G and D in DDP and slices each global batch as the stage does."""

    def __init__(self, p: dict, emb_dim: int, pairs: int, device: torch.device, levers: SpeedLevers, ctx=None, seed: int = 0):
        torch.manual_seed(seed)
        self.p, self.device, self.levers, self.ctx = p, device, levers, ctx
        self.G = place(build_generator(p["generator"], emb_dim, p["width"], p["output_bn"], p["upsample"], p["noise_dim"]), device, levers)
        self.D = place(Discriminator(emb_dim, p["width"], p["d_dropout"], p["d_projection"], p["d_norm"]), device, levers)
        self.opt_g = make_optimizer("generator", self.G.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
        self.opt_d = make_optimizer("discriminator", self.D.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
        self.cfg = gan_config(p)
        self.schedule = DiscriminatorSchedule.from_config(self.cfg)
        self.average = EpochMovingAverage(self.cfg.adv_average)
        self.shown = WeightAverage(self.G, p["ema_decay"]) if p["ema_decay"] else None
        self.compiled_blocks = compile_dense_blocks(self.G, device, levers)
        self.G_train = ctx.wrap(self.G, p["sync_bn"]) if ctx else self.G
        self.D_train = ctx.wrap(self.D, p["sync_bn"]) if ctx else self.D
        self.emb, self.images = resident_split(pairs, emb_dim, device, seed)
        self.losses, self.iteration = EpochLosses(), 0
        epochs = itertools.count(1)
        self._batches = itertools.chain.from_iterable(batches(pairs, p["batch_size"], torch.Generator().manual_seed(epoch), device) for epoch in epochs)

    @property
    def d_pass_per_epoch(self) -> bool:
        """Does D train in passes of its own after every d_every-th epoch (unit "epoch")?"""
        return self.cfg.d_unit == "epoch"

    def _next(self) -> torch.Tensor:
        idx = next(self._batches)
        return self.ctx.local_part(idx) if self.ctx else idx

    def run(self, iterations: int, d_pass: bool = False) -> None:
        """`iterations` of the stage's G loop (a G step, the weight average, a D step when the schedule
        says), or with d_pass of its D pass (a D step each)."""
        for _ in range(iterations):
            idx = self._next()
            real = as_pixels(self.images[idx])
            if d_pass:
                self.losses.add(discriminator_step(self.G, self.D_train, self.opt_d, self.emb[idx], real, self.cfg))
                continue
            self.losses.add(generator_step(self.G_train, self.D, self.opt_g, self.emb[idx], real, self.average, self.cfg))
            if self.shown:
                self.shown.update(self.G)
            self.iteration += 1
            if self.schedule.after_iteration(self.iteration):
                self.losses.join_last(discriminator_step(self.G, self.D_train, self.opt_d, self.emb[idx], real, self.cfg))

    def read_losses(self) -> dict[str, float]:
        """The means of the losses logged since the last read (one host copy, as at the stage's epoch end)."""
        means, self.losses = self.losses.means(), EpochLosses()
        return means


class AutoencoderLoop:
    """The autoencoder stage's loop body: host batches (as the shard stream yields them) copied through
    pinned memory, then `autoencoder_step`."""

    def __init__(self, p: dict, emb_dim: int, device: torch.device, levers: SpeedLevers, host_batches: int = 8, seed: int = 0):
        torch.manual_seed(seed)
        self.p, self.device, self.levers = p, device, levers
        self.model = place(AudioAutoencoder(emb_dim, p["width"], p["output_bn"]), device, levers)
        self.opt = make_optimizer("autoencoder", self.model.parameters(), p["optimizer"], lr=p["lr"], momentum=p["momentum"])
        g = torch.Generator().manual_seed(seed)
        self.host = [torch.rand(p["batch_size"], 1, 128, 100, generator=g) * 2 - 1 for _ in range(host_batches)]
        self.losses, self._cycle = EpochLosses(), itertools.cycle(self.host)

    def run(self, iterations: int) -> None:
        for _ in range(iterations):
            mel = as_input(to_device(next(self._cycle), self.device), self.levers)
            self.losses.add(autoencoder_step(self.model, self.opt, mel, bf16=self.p["bf16"]))

    def read_losses(self) -> dict[str, float]:
        means, self.losses = self.losses.means(), EpochLosses()
        return means
