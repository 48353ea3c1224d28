"""A colour target that says how much of each colour an image holds, not where: the distribution of its
pixels along fixed directions of RGB space (red, green, blue, grey), compared as sorted values (a sliced
Wasserstein distance; the histogram loss of Risser et al. 2017, one dimension per direction).

The pooled pixel loss fixes each 8x8 cell's mean colour. Where the sound leaves open where the foam or the
sparks are, that mean is a pale blend, and its nearest image has no white and no bright spot at all. A
real frame with 11% white foam asks for 11% white pixels here, wherever G puts them. Images are compared
at half size (2x2 means), a quarter of the sorting; foam bands and sparks are wider than 2 pixels.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

DIRECTIONS = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1 / math.sqrt(3)] * 3])
POOL = 2


def colour_quantiles(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) images -> (N, 4, H * W / POOL^2): each image's 2x2 means projected on each direction, sorted."""
    small = F.avg_pool2d(images.float(), POOL)
    projected = torch.einsum("dc,nchw->ndhw", DIRECTIONS.to(small.device), small)
    return projected.flatten(2).sort(dim=2).values


def colour_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean |difference| between the sorted projections of each of G's images and of its own sound's real frame."""
    return (colour_quantiles(fake) - colour_quantiles(real).detach()).abs().mean()
