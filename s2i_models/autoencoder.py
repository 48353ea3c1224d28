"""The audio autoencoder: 13 convs down to an E-dim embedding, 13 transposed convs back.

Input and output are log-Mel patches N x 1 x 128 x 100 (128 Mel bands high,
100 frames of 10 ms wide) scaled to [-1, 1]. No padding anywhere.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import as_embedding_map, conv_bn_act, falling_rates, scaled, xavier_init

MEL_BANDS, FRAMES = 128, 100

# (out channels, kernel (h, w), stride); None = the embedding size E.
# Spatial sizes: 61x48, 29x23, 25x21, 21x19, 17x17, 15, 13, 11, 9, 7, 5, 3, 1.
ENCODER = [
    (80, (7, 5), 2),
    (176, (5, 3), 2),
    (192, (5, 3), 1),
    (224, (5, 3), 1),
    (272, (5, 3), 1),
    (304, (3, 3), 1),
    (352, (3, 3), 1),
    (416, (3, 3), 1),
    (512, (3, 3), 1),
    (512, (3, 3), 1),
    (512, (3, 3), 1),
    (512, (3, 3), 1),
    (None, (3, 3), 1),
]

# Mirror of ENCODER: (out channels, kernel, stride); 1 = the Mel image channel.
# A transposed conv gives (in - 1) * stride + kernel, so the last two layers use
# 5x4 and 8x6 kernels to land exactly on 61x48 and 128x100.
DECODER = [
    (512, (3, 3), 1),
    (512, (3, 3), 1),
    (512, (3, 3), 1),
    (512, (3, 3), 1),
    (416, (3, 3), 1),
    (352, (3, 3), 1),
    (304, (3, 3), 1),
    (272, (3, 3), 1),
    (224, (5, 3), 1),
    (192, (5, 3), 1),
    (176, (5, 3), 1),
    (80, (5, 4), 2),
    (1, (8, 6), 2),
]

DECODER_DROPOUT = falling_rates(0.15, 0.05, len(DECODER) - 1)


class AudioAutoencoder(nn.Module):
    """Log-Mel autoencoder; `encode` gives the N x E embedding in [-1, 1].

    `output_bn=False` replaces the output layer's BatchNorm by a conv bias. The
    paper has the BN; over a few hundred SGD steps it pins the reconstruction
    to the batch mean (the loss stays at the data variance), so short CPU runs
    drop it.
    """

    def __init__(self, emb_dim: int = 512, width: float = 1.0, output_bn: bool = True):
        super().__init__()
        self.emb_dim, self.width, self.output_bn = emb_dim, width, output_bn

        encoder, in_ch = [], 1
        for i, (out, kernel, stride) in enumerate(ENCODER):
            last = i == len(ENCODER) - 1
            out = emb_dim if last else scaled(out, width)
            conv = nn.Conv2d(in_ch, out, kernel, stride, bias=False)
            encoder.append(conv_bn_act(conv, out, nn.Tanh() if last else nn.ReLU(inplace=True)))
            in_ch = out
        self.encoder = nn.Sequential(*encoder)

        decoder = []
        for i, (out, kernel, stride) in enumerate(DECODER):
            last = i == len(DECODER) - 1
            out = 1 if last else scaled(out, width)
            if last and not output_bn:
                decoder.append(nn.Sequential(nn.ConvTranspose2d(in_ch, out, kernel, stride), nn.Tanh()))
                continue
            conv = nn.ConvTranspose2d(in_ch, out, kernel, stride, bias=False)
            if last:
                decoder.append(conv_bn_act(conv, out, nn.Tanh()))
            else:
                decoder.append(conv_bn_act(conv, out, nn.ReLU(inplace=True), nn.Dropout2d(DECODER_DROPOUT[i])))
            in_ch = out
        self.decoder = nn.Sequential(*decoder)
        xavier_init(self)

    def _check_input(self, mel: torch.Tensor) -> None:
        if mel.dim() != 4 or mel.shape[1:] != (1, MEL_BANDS, FRAMES):
            raise ValueError(f"expected log-Mel input N x 1 x {MEL_BANDS} x {FRAMES}, got {tuple(mel.shape)}")

    def encode(self, mel: torch.Tensor) -> torch.Tensor:
        self._check_input(mel)
        return self.encoder(mel).flatten(1)

    def decode(self, emb: torch.Tensor) -> torch.Tensor:
        return self.decoder(as_embedding_map(emb, self.emb_dim))

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        self._check_input(mel)
        return self.decoder(self.encoder(mel))
