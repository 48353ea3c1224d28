"""Building blocks shared by the S2I networks: channel scaling, init, dropout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def scaled(channels: int, width: float) -> int:
    """Inner channel count for a width multiplier (1.0 = the paper's network)."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(1, round(channels * width))


def falling_rates(first: float, last: float, count: int) -> list[float]:
    """`count` dropout rates falling evenly from `first` to `last`."""
    if count == 1:
        return [first]
    step = (first - last) / (count - 1)
    return [round(first - i * step, 4) for i in range(count)]


class AlwaysDropout2d(nn.Module):
    """Dropout2d that also drops channels in eval mode while `at_inference` is set.

    The S2I generator is meant to be stochastic at test time: one embedding gives
    a different image each call. Set `at_inference = False` (or use
    `set_inference_dropout(model, False)`) for deterministic eval outputs; in
    training mode it always drops.
    """

    def __init__(self, p: float, at_inference: bool = True):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p}")
        self.p = p
        self.at_inference = at_inference

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout2d(x, self.p, training=self.training or self.at_inference)

    def extra_repr(self) -> str:
        return f"p={self.p}, at_inference={self.at_inference}"


def set_inference_dropout(model: nn.Module, on: bool) -> None:
    """Switch test-time dropout of every AlwaysDropout2d inside `model`."""
    for module in model.modules():
        if isinstance(module, AlwaysDropout2d):
            module.at_inference = on


def xavier_init(model: nn.Module) -> None:
    """Xavier-uniform weights for every conv/linear layer, zero biases (paper 5.2)."""
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def as_embedding_map(emb: torch.Tensor, emb_dim: int) -> torch.Tensor:
    """Accept N x E or N x E x 1 x 1; return N x E x 1 x 1 (clear error otherwise)."""
    if emb.dim() == 2:
        emb = emb[:, :, None, None]
    if emb.dim() != 4 or emb.shape[1:] != (emb_dim, 1, 1):
        raise ValueError(f"expected embeddings N x {emb_dim} (or N x {emb_dim} x 1 x 1), got {tuple(emb.shape)}")
    return emb


def conv_bn_act(conv: nn.Module, channels: int, act: nn.Module, dropout: nn.Module | None = None) -> nn.Sequential:
    """conv -> BatchNorm -> activation [-> dropout]; the conv carries no bias (BN's shift replaces it)."""
    layers = [conv, nn.BatchNorm2d(channels), act]
    if dropout is not None:
        layers.append(dropout)
    return nn.Sequential(*layers)
