"""Binary informativity classifier for generated images (label 0 = non-informative)."""

from __future__ import annotations

import torch
from torch import nn

from .generator import IMAGE_CHANNELS, IMAGE_SIZE
from .layers import conv_bn_act, scaled, xavier_init

# (out channels, kernel, stride, dropout); spatial sizes 46, 22, 10, 4, 1.
CONV_TABLE = [(12, 5, 2, 0.1), (32, 3, 2, 0.2), (32, 3, 2, 0.3), (32, 3, 2, 0.4), (32, 3, 2, 0.5)]
HIDDEN, HIDDEN_DROPOUT, CLASSES = 32, 0.5, 2


class InformativityClassifier(nn.Module):
    """Image N x 3 x 96 x 96 -> log-probabilities N x 2."""

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = width
        layers, in_ch = [], IMAGE_CHANNELS
        for out, kernel, stride, dropout in CONV_TABLE:
            out = scaled(out, width)
            conv = nn.Conv2d(in_ch, out, kernel, stride, bias=False)
            layers.append(conv_bn_act(conv, out, nn.ReLU(inplace=True), nn.Dropout2d(dropout)))
            in_ch = out
        self.features = nn.Sequential(*layers)
        hidden = scaled(HIDDEN, width)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_ch, hidden, bias=False),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(HIDDEN_DROPOUT),
            nn.Linear(hidden, CLASSES),
            nn.LogSoftmax(dim=1),
        )
        xavier_init(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if image.dim() != 4 or image.shape[1:] != (IMAGE_CHANNELS, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"expected images N x 3 x {IMAGE_SIZE} x {IMAGE_SIZE}, got {tuple(image.shape)}")
        return self.head(self.features(image))
