"""Conditional discriminator: (image, embedding) -> RC-score in [-1, 1] per image.

The score measures realness and coherence with the sound: the embedding,
reshaped to (E/4) x 2 x 2, joins the image features after conv12.
"""

from __future__ import annotations

import torch
from torch import nn

from .generator import IMAGE_CHANNELS, IMAGE_SIZE
from .layers import conv_bn_act, scaled, xavier_init

# (out channels, kernel, stride); spatial sizes 46, 22, 20 ... 2. No padding.
CONV_TABLE = [(96, 5, 2), (192, 3, 2), (192, 3, 1), (208, 3, 1), (224, 3, 1), (240, 3, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1), (256, 3, 1)]
DROPOUT = 0.5  # the paper's, after every conv; at small widths it drowns the score in noise (README)
SCORE_KERNEL = 2
NORMS = ("batch", "spectral")


class Discriminator(nn.Module):
    """`projection` (not in the paper) adds <V emb, sum of the conv12 features> to the score before
    its BatchNorm, as in projection discriminators (Miyato & Koyama 2018). The paper's D joins the
    sound only in its last, linear conv, so its score is f(image) + g(sound) and cannot depend on
    whether image and sound belong together; the inner product can.

    `norm="spectral"` (not in the paper; for the hinge loss) replaces every BatchNorm by spectral
    normalisation of the conv weights (Miyato et al. 2018) and leaves the score unbounded (no BN,
    no tanh): each image's score then depends on that image alone, not on the batch it came in."""

    def __init__(self, emb_dim: int = 512, width: float = 1.0, dropout: float = DROPOUT, projection: bool = False, norm: str = "batch"):
        super().__init__()
        if emb_dim % 4:
            raise ValueError(f"emb_dim must be divisible by 4 (reshaped to E/4 x 2 x 2), got {emb_dim}")
        if norm not in NORMS:
            raise ValueError(f"discriminator norm must be one of {NORMS}, got {norm!r}")
        self.emb_dim, self.width, self.norm = emb_dim, width, norm
        layers, in_ch = [], IMAGE_CHANNELS
        for out, kernel, stride in CONV_TABLE:
            out = scaled(out, width)
            drop = nn.Dropout2d(dropout) if dropout else None
            if norm == "batch":
                layers.append(conv_bn_act(nn.Conv2d(in_ch, out, kernel, stride, bias=False), out, nn.ReLU(inplace=True), drop))
            else:
                conv = nn.Conv2d(in_ch, out, kernel, stride)
                layers.append(nn.Sequential(conv, nn.LeakyReLU(0.2), *([drop] if drop else [])))
            in_ch = out
        self.features = nn.Sequential(*layers)
        conv = nn.Conv2d(in_ch + emb_dim // 4, 1, SCORE_KERNEL, bias=False)
        self.score = conv_bn_act(conv, 1, nn.Tanh()) if norm == "batch" else nn.Sequential(conv)
        self.project = nn.Linear(emb_dim, in_ch, bias=False) if projection else None
        xavier_init(self)
        if self.project is not None:
            nn.init.zeros_(self.project.weight)  # starts as the paper's D; the pairing term is learnt
        if norm == "spectral":  # the convs only: the projection starts at zero, whose norm is 0
            for module in self.modules():
                if isinstance(module, nn.Conv2d):
                    nn.utils.parametrizations.spectral_norm(module)

    def feature_maps(self, image: torch.Tensor) -> list[torch.Tensor]:
        """The output of each of the 12 convs' layers (after the activation) with the dropout left out: the
        features G's feature-matching term compares (`s2i_models.gan.feature_matching`)."""
        maps, x = [], image
        for layer in self.features:
            for module in layer:
                if not isinstance(module, nn.Dropout2d):
                    x = module(x)
            maps.append(x)
        return maps

    def forward(self, image: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        n = image.shape[0]
        if image.dim() != 4 or image.shape[1:] != (IMAGE_CHANNELS, IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(f"expected images N x 3 x {IMAGE_SIZE} x {IMAGE_SIZE}, got {tuple(image.shape)}")
        if emb.numel() != n * self.emb_dim:
            raise ValueError(f"expected {n} embeddings of size {self.emb_dim}, got {tuple(emb.shape)}")
        cond = emb.reshape(n, self.emb_dim // 4, 2, 2)
        x = self.features(image)
        score = self.score[0](torch.cat([x, cond.to(x.dtype)], 1))
        if self.project is not None:
            pairing = (x.sum((2, 3)) * self.project(emb.reshape(n, -1).to(x.dtype))).sum(1)
            score = score + pairing.reshape(n, 1, 1, 1)
        return self.score[1:](score).flatten()
