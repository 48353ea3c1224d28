"""Generators: embedding N x E -> image N x 3 x 96 x 96 in [-1, 1].

`DenseGenerator` is the paper's 25-layer DenseNet-inspired translator;
`SequentialGenerator` gives the two baselines of the paper's Fig. 6.
Dropout after transitions is an `AlwaysDropout2d`: on in eval mode too, so one
embedding gives a different image on every call (switch off with
`set_inference_dropout(G, False)` for deterministic checks).
With `noise_dim` > 0 (not in the paper) a Gaussian noise vector joins the embedding
at the input, drawn on every call unless given: the sound fixes what it can, the
noise chooses among the scenes it leaves open.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .compiled_blocks import compiled_dense_block_forward, dense_block_forward
from .layers import AlwaysDropout2d, as_embedding_map, conv_bn_act, falling_rates, scaled, xavier_init

IMAGE_CHANNELS, IMAGE_SIZE = 3, 96

# Rows: ("transition", out channels, kernel, stride, padding, dropout after) or
# ("block", (c1, c2, c3)) = three ConvTranspose k3 s1 p1 layers.
# Spatial sizes: 2, 4, 6, 12, 24, 48, 96. The last transition is the output layer.
DENSE_TABLE = [
    ("transition", 512, 2, 1, 0, 0.15),
    ("block", (512, 512, 512)),
    ("transition", 512, 3, 1, 0, 0.13),
    ("block", (512, 416, 352)),
    ("transition", 352, 3, 1, 0, 0.11),
    ("block", (304, 256, 224)),
    ("transition", 224, 4, 2, 1, 0.09),
    ("block", (192, 176, 160)),
    ("transition", 160, 4, 2, 1, 0.07),
    ("block", (144, 128, 112)),
    ("transition", 112, 4, 2, 1, 0.05),
    ("block", (96, 80, 64)),
    ("transition", IMAGE_CHANNELS, 4, 2, 1, None),
]

# 13-layer sequential baseline, shaped like the audio decoder (same channel
# widths, E -> 512 ... 80 -> 3) but routed to 96x96: five k3 s1 p0 layers grow
# 1 -> 11, one k2 layer reaches 12, then three k4 s2 p1 doublings (12 -> 96)
# interleaved with k3 s1 p1 layers that keep the size.
# Rows: (out channels, kernel, stride, padding).
SEQUENTIAL_13 = [
    (512, 3, 1, 0),  # 3
    (512, 3, 1, 0),  # 5
    (512, 3, 1, 0),  # 7
    (512, 3, 1, 0),  # 9
    (416, 3, 1, 0),  # 11
    (352, 2, 1, 0),  # 12
    (304, 3, 1, 1),  # 12
    (272, 3, 1, 1),  # 12
    (224, 4, 2, 1),  # 24
    (192, 3, 1, 1),  # 24
    (176, 4, 2, 1),  # 48
    (80, 3, 1, 1),  # 48
    (IMAGE_CHANNELS, 4, 2, 1),  # 96, output
]
SEQUENTIAL_13_DROPOUT = falling_rates(0.15, 0.05, len(SEQUENTIAL_13) - 1)


UPSAMPLES = ("transposed", "resize")

# For one axis, the taps of a k3 conv over a nearest-x2 upsampled signal fold into two taps over the
# signal itself, by the output's parity: even outputs read (i-1, i, i) -> [w0, w1 + w2] at (i-1, i),
# odd ones (i, i, i+1) -> [w0 + w1, w2] at (i, i+1). Rows: parity, tap; columns: the k3 taps.
_PARITY_TAPS = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])


class NearestUpConv(nn.Sequential):
    """Nearest-neighbour x2 upsampling then a k3 s1 p1 conv, computed as four k2 convs on the small
    input (one per output parity) interleaved: the same function and parameters (the children are the
    Upsample and the Conv2d, so checkpoints load either way), at 4/9 of the multiply-adds and without
    the upsampled tensor (2 to 4 times faster on the CPU). `plain_forward` is the textbook order."""

    def __init__(self, in_ch: int, out_ch: int, bias: bool):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(in_ch, out_ch, 3, 1, 1, bias=bias))

    def plain_forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = self[1]
        n, _, h, w = x.shape
        taps = _PARITY_TAPS.to(conv.weight)
        kernels = torch.einsum("apk,bql,oikl->aboipq", taps, taps, conv.weight).flatten(0, 2)
        y = F.conv2d(F.pad(x, (1, 1, 1, 1)), kernels).unflatten(1, (2, 2, conv.out_channels))
        rows = [torch.stack([y[:, a, b, :, a : a + h, b : b + w] for b in (0, 1)], -1) for a in (0, 1)]
        out = torch.stack(rows, 3).flatten(4).flatten(2, 3)
        return out if conv.bias is None else out + conv.bias.view(1, -1, 1, 1)


def up_conv(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int, bias: bool, upsample: str = "transposed") -> nn.Module:
    """ConvTranspose2d (the paper's), or for a doubling layer with upsample="resize": nearest-neighbour
    x2 then a k3 conv, which cannot paint the checkerboard a k4 s2 transposed conv leaves (Odena et al. 2016)."""
    if upsample not in UPSAMPLES:
        raise ValueError(f"upsample must be one of {UPSAMPLES}, got {upsample!r}")
    if upsample == "resize" and stride == 2:
        if (kernel, padding) != (4, 1):
            raise ValueError(f"resize upsampling replaces k4 s2 p1 layers only, got k{kernel} s{stride} p{padding}")
        return NearestUpConv(in_ch, out_ch, bias)
    return nn.ConvTranspose2d(in_ch, out_ch, kernel, stride, padding, bias=bias)


def up_layer(in_ch: int, out_ch: int, kernel: int, stride: int, padding: int, dropout: float | None = None, upsample: str = "transposed") -> nn.Sequential:
    """ConvTranspose2d (or its resize replacement) -> BN -> ReLU [-> test-time dropout]."""
    conv = up_conv(in_ch, out_ch, kernel, stride, padding, False, upsample)
    drop = AlwaysDropout2d(dropout) if dropout else None
    return conv_bn_act(conv, out_ch, nn.ReLU(inplace=True), drop)


def output_layer(in_ch: int, kernel: int, stride: int, padding: int, bn: bool = True, upsample: str = "transposed") -> nn.Sequential:
    """ConvTranspose2d -> BN -> tanh to the RGB image (the paper's), or, with bn=False,
    ConvTranspose2d with a bias -> tanh: the output BatchNorm ties every image's mean
    colour to the batch's, which over short runs desaturates the scenes."""
    if not bn:
        return nn.Sequential(up_conv(in_ch, IMAGE_CHANNELS, kernel, stride, padding, True, upsample), nn.Tanh())
    conv = up_conv(in_ch, IMAGE_CHANNELS, kernel, stride, padding, False, upsample)
    return conv_bn_act(conv, IMAGE_CHANNELS, nn.Tanh())


class Block(nn.Module):
    """Three k3 s1 p1 layers. Dense: layer 3 sees cat(x1, x2), output is cat(x1, x2, x3).
    Sequential: a plain chain, output x3.

    `compile_backend` (None: eager), set by `s2i_models.speed_levers.compile_dense_blocks`, runs a
    dense block's training forward (training mode, gradients on) through torch.compile, eagerly
    where compiling fails; evaluation and gradient-free passes stay eager. It is a plain
    attribute: no state_dict key, and a deep copy keeps the setting but not a compiled function."""

    def __init__(self, in_ch: int, widths: tuple[int, int, int], dense: bool):
        super().__init__()
        c1, c2, c3 = widths
        self.dense = dense
        self.layer1 = up_layer(in_ch, c1, 3, 1, 1)
        self.layer2 = up_layer(c1, c2, 3, 1, 1)
        self.layer3 = up_layer(c1 + c2 if dense else c2, c3, 3, 1, 1)
        self.out_channels = c1 + c2 + c3 if dense else c3
        self.compile_backend: str | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.dense:
            return self.layer3(self.layer2(self.layer1(x)))
        if self.compile_backend is not None and self.training and torch.is_grad_enabled():
            return compiled_dense_block_forward(self.compile_backend)(self.layer1, self.layer2, self.layer3, x)
        return dense_block_forward(self.layer1, self.layer2, self.layer3, x)


def build_from_dense_table(emb_dim: int, width: float, dense: bool, output_bn: bool, upsample: str = "transposed") -> nn.Sequential:
    stages, in_ch = [], emb_dim
    for row in DENSE_TABLE:
        if row[0] == "block":
            block = Block(in_ch, tuple(scaled(c, width) for c in row[1]), dense)
            stages.append(block)
            in_ch = block.out_channels
            continue
        _, out, kernel, stride, padding, dropout = row
        if out == IMAGE_CHANNELS:
            stages.append(output_layer(in_ch, kernel, stride, padding, output_bn, upsample))
        else:
            stages.append(up_layer(in_ch, scaled(out, width), kernel, stride, padding, dropout, upsample))
            in_ch = scaled(out, width)
    return nn.Sequential(*stages)


class Generator(nn.Module):
    """Common shell: validates/reshapes the embedding, joins the noise (if any) and runs `self.net`."""

    net: nn.Sequential

    def __init__(self, emb_dim: int, width: float, output_bn: bool, upsample: str = "transposed", noise_dim: int = 0):
        super().__init__()
        if noise_dim < 0:
            raise ValueError(f"noise_dim must be >= 0, got {noise_dim}")
        self.emb_dim, self.width, self.output_bn, self.upsample = emb_dim, width, output_bn, upsample
        self.noise_dim = noise_dim

    def noise(self, n: int, like: torch.Tensor) -> torch.Tensor:
        """n noise vectors (N x noise_dim) from the global RNG, on `like`'s device and dtype."""
        return torch.randn(n, self.noise_dim, device=like.device, dtype=like.dtype)

    def forward(self, emb: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        x = as_embedding_map(emb, self.emb_dim)
        if self.noise_dim:
            noise = self.noise(x.shape[0], x) if noise is None else noise
            if noise.shape != (x.shape[0], self.noise_dim):
                raise ValueError(f"expected noise {x.shape[0]} x {self.noise_dim}, got {tuple(noise.shape)}")
            x = torch.cat([x, noise.to(x.dtype)[:, :, None, None]], 1)
        elif noise is not None:
            raise ValueError("this generator takes no noise (noise_dim 0)")
        return self.net(x)


class DenseGenerator(Generator):
    """The paper's 25-layer dense translator (7 transitions + 6 three-layer blocks)."""

    def __init__(self, emb_dim: int = 512, width: float = 1.0, output_bn: bool = True, upsample: str = "transposed", noise_dim: int = 0):
        super().__init__(emb_dim, width, output_bn, upsample, noise_dim)
        self.net = build_from_dense_table(emb_dim + noise_dim, width, dense=True, output_bn=output_bn, upsample=upsample)
        xavier_init(self)


class SequentialGenerator(Generator):
    """Fig. 6 baselines.

    depth=25: the dense table with the concatenations removed: the same 25
    layers, kernels, sizes and dropout positions, but every layer sees only the
    layer before it (transitions take the block's last output).
    depth=13: SEQUENTIAL_13, the audio decoder's channel widths routed to
    3 x 96 x 96, with test-time dropout after every inner layer falling
    0.15 -> 0.05 as in the audio decoder.
    """

    def __init__(self, emb_dim: int = 512, depth: int = 25, width: float = 1.0, output_bn: bool = True, upsample: str = "transposed", noise_dim: int = 0):
        super().__init__(emb_dim, width, output_bn, upsample, noise_dim)
        if depth == 25:
            self.net = build_from_dense_table(emb_dim + noise_dim, width, dense=False, output_bn=output_bn, upsample=upsample)
        elif depth == 13:
            layers, in_ch = [], emb_dim + noise_dim
            for i, (out, kernel, stride, padding) in enumerate(SEQUENTIAL_13):
                if i == len(SEQUENTIAL_13) - 1:
                    layers.append(output_layer(in_ch, kernel, stride, padding, output_bn, upsample))
                else:
                    out = scaled(out, width)
                    layers.append(up_layer(in_ch, out, kernel, stride, padding, SEQUENTIAL_13_DROPOUT[i], upsample))
                    in_ch = out
            self.net = nn.Sequential(*layers)
        else:
            raise ValueError(f"SequentialGenerator depth must be 13 or 25, got {depth}")
        self.depth = depth
        xavier_init(self)
