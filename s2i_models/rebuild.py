"""Networks rebuilt from a checkpoint's metadata (emb_dim, width, extra): untrained (`generator_for`, ...),
or with the checkpoint's weights restored (`restored_generator`, `restored_encoder`, `load_generator`).
Every trained generator anyone draws with is loaded here.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch
from torch import nn

from .autoencoder import AudioAutoencoder
from .checkpoint import load_checkpoint, restore
from .generator import DenseGenerator, SequentialGenerator
from .informativity import InformativityClassifier

GENERATORS = {
    "dense": lambda emb_dim, width, **kw: DenseGenerator(emb_dim, width, **kw),
    "sequential13": lambda emb_dim, width, **kw: SequentialGenerator(emb_dim, 13, width, **kw),
    "sequential25": lambda emb_dim, width, **kw: SequentialGenerator(emb_dim, 25, width, **kw),
}


def build_generator(kind: str, emb_dim: int, width: float, output_bn: bool = True, upsample: str = "transposed", noise_dim: int = 0) -> torch.nn.Module:
    if kind not in GENERATORS:
        raise ValueError(f"unknown generator {kind!r}; expected one of {sorted(GENERATORS)}")
    return GENERATORS[kind](emb_dim, width, output_bn=output_bn, upsample=upsample, noise_dim=noise_dim)


def generator_for(ckpt: dict) -> torch.nn.Module:
    """The (untrained) generator a checkpoint's metadata describes (older checkpoints: the paper's layers)."""
    extra = ckpt["extra"]
    return build_generator(extra["generator"], ckpt["emb_dim"], ckpt["width"], extra.get("output_bn", True), extra.get("upsample", "transposed"), extra.get("noise_dim", 0))


def encoder_for(ckpt: dict) -> AudioAutoencoder:
    """The (untrained) autoencoder a checkpoint's metadata describes."""
    return AudioAutoencoder(ckpt["emb_dim"], ckpt["width"], ckpt["extra"].get("output_bn", True))


def restored(build: Callable[[dict], nn.Module], ckpt: dict, name: str) -> nn.Module:
    """`build(ckpt)` with the checkpoint's model `name` restored into it. Building draws initial weights from
    torch's global generator that the checkpoint's then replace: those draws must not move the caller's stream."""
    with torch.random.fork_rng(devices=[]):
        net = build(ckpt)
    restore(ckpt, {name: net})
    return net


def restored_generator(ckpt: dict) -> torch.nn.Module:
    """The generator a loaded checkpoint holds, its weights restored (on the CPU, in train mode)."""
    return restored(generator_for, ckpt, "generator")


def restored_encoder(ckpt: dict) -> AudioAutoencoder:
    """The autoencoder a loaded checkpoint holds, its weights restored (on the CPU, in train mode)."""
    return restored(encoder_for, ckpt, "autoencoder")


def load_generator(path: str | os.PathLike, device="cpu", emb_dim: int | None = None) -> torch.nn.Module:
    """A generator checkpoint (final model or snapshot) ready for inference (eval mode; dropout stays on)."""
    return restored_generator(load_checkpoint(path, emb_dim=emb_dim)).to(device).eval()


def class_match_net(width: float, classes: int) -> InformativityClassifier:
    """The informativity network with a `classes`-way output: trained on real frames, judges class match."""
    net = InformativityClassifier(width)
    last = net.head[5]
    net.head[5] = nn.Linear(last.in_features, classes)
    nn.init.xavier_uniform_(net.head[5].weight)
    nn.init.zeros_(net.head[5].bias)
    return net


def classifier_for(ckpt: dict) -> InformativityClassifier:
    """The (untrained) binary informativity classifier a checkpoint's metadata describes."""
    return InformativityClassifier(ckpt["width"])
