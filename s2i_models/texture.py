"""A texture target that no trained network defines: per-channel statistics of a fixed bank of random,
zero-mean filters at three scales (random shallow features carry texture: Ulyanov et al. 2016).

Zero-mean filters answer edges and grain, not colour, which the pooled pixel loss already fixes; the
spatial mean and standard deviation of their rectified responses say how much grain an image holds,
not where. A blurred image answers them weakly; the same grain at other places answers them alike.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F

SCALES = (1, 2, 4)
CHANNELS = 32
KERNEL = 5
SEED = 0
EPS = 1e-6


@functools.lru_cache(maxsize=None)
def _filters(device: torch.device) -> torch.Tensor:
    """The fixed bank, drawn from its own generator (the global RNG, hence training, is untouched)."""
    g = torch.Generator().manual_seed(SEED)
    w = torch.randn(CHANNELS, 3, KERNEL, KERNEL, generator=g)
    w = w - w.mean((1, 2, 3), keepdim=True)
    return (w / w.flatten(1).norm(dim=1)[:, None, None, None]).to(device)


def texture_statistics(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) images in [-1, 1] -> (N, 2 * CHANNELS * len(SCALES)): per scale and filter, the spatial
    mean and std of the rectified response."""
    w, images = _filters(images.device), images.float()
    stats = []
    for scale in SCALES:
        r = F.relu(F.conv2d(F.avg_pool2d(images, scale), w, padding=KERNEL // 2))  # pool 1: the image itself
        stats += [r.mean((2, 3)), (r.var((2, 3)) + EPS).sqrt()]  # eps: a channel that never fires has a finite gradient
    return torch.cat(stats, 1)


def texture_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """L1 between the texture statistics of each of G's images and of its own sound's real frame."""
    return (texture_statistics(fake) - texture_statistics(real).detach()).abs().mean()
