"""Feeding the models from the shards: streamed log-Mel batches and in-memory split arrays.

Log-Mels are mapped to [-1, 1] (the autoencoder's tanh range) by a fixed affine
map stored with the autoencoder, so training, `embed` and `s2i translate` agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from pipeline.dataset import wds


@dataclass(frozen=True)
class MelScale:
    """x -> clip((x - centre) / half_range, -1, 1); log-Mel values live in about [-14, 6]."""

    centre: float = -4.0
    half_range: float = 10.0

    def apply(self, mel: np.ndarray | torch.Tensor):
        out = (mel - self.centre) / self.half_range
        return out.clip(-1, 1) if isinstance(out, np.ndarray) else out.clamp(-1, 1)


def image_to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float N x 3 x H x W in [-1, 1]."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def tensor_to_image(images: torch.Tensor) -> np.ndarray:
    """float N x 3 x H x W in [-1, 1] -> uint8 N x H x W x 3."""
    return images.detach().float().clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def drawing(G: torch.nn.Module, emb: torch.Tensor) -> Callable[[np.ndarray], np.ndarray]:
    """indices -> uint8 images G draws for emb[indices] (G in eval mode, no gradient; dropout as G has it)."""
    G.eval()

    @torch.no_grad()
    def draw(indices: np.ndarray) -> np.ndarray:
        return tensor_to_image(G(emb[torch.as_tensor(indices)]))

    return draw


def stream_mels(paths: list[str], batch_size: int, scale: MelScale, seed: int | None = None, buffer: int = 2000, drop_last: bool = False) -> Iterator[torch.Tensor]:
    """Batches N x 1 x 128 x 100 streamed from shards; with a seed, shards and samples are shuffled."""
    rng = random.Random(seed)
    order = list(paths)
    if seed is not None:
        rng.shuffle(order)
    pool, batch = [], []

    def emit(mel):
        batch.append(scale.apply(mel))
        if len(batch) == batch_size:
            out = torch.from_numpy(np.stack(batch)).unsqueeze(1)
            batch.clear()
            return out
        return None

    for path in order:
        for _, fields in wds.iter_tar(path):
            mel = wds.decode_npy(fields["mel.npy"])
            if seed is None:
                out = emit(mel)
            else:
                pool.append(mel)
                if len(pool) < buffer:
                    continue
                out = emit(pool.pop(rng.randrange(len(pool))))
            if out is not None:
                yield out
    rng.shuffle(pool)
    for mel in pool:
        out = emit(mel)
        if out is not None:
            yield out
    if batch and not drop_last:
        yield torch.from_numpy(np.stack(batch)).unsqueeze(1)


@dataclass
class SplitArrays:
    keys: list[str]
    class_index: np.ndarray  # N int64
    images: np.ndarray  # N x 96 x 96 x 3 uint8
    mels: np.ndarray | None = None  # N x 128 x 100 float32 (raw log-Mel)
    meta: list[dict] | None = None


def load_split(shard_dir: str | Path, split: str, mels: bool = False) -> SplitArrays:
    """Every sample of a split in stored order (the model stages' fixed sample order)."""
    keys, classes, images, mel_list, metas = [], [], [], [], []
    for path in wds.shard_paths(shard_dir, split):
        for key, fields in wds.iter_tar(path):
            sample = wds.decode_sample(fields)
            keys.append(key)
            classes.append(sample["meta"]["class_index"])
            images.append(sample["image"])
            metas.append(sample["meta"])
            if mels:
                mel_list.append(sample["mel"])
    if not keys:
        raise FileNotFoundError(f"{shard_dir}: no {split} shards")
    return SplitArrays(keys, np.asarray(classes, np.int64), np.stack(images), np.stack(mel_list) if mels else None, metas)
