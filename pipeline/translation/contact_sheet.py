"""The contact sheet of one translated sound: time runs left to right, samples top to bottom.

Each column is one 1-s window: its timestamp, the log-Mel strip the encoder saw
(low frequencies at the bottom), the N sampled images, and (for N > 1) the
per-pixel spread of the samples as a heat map. Long inputs wrap into bands of
`columns` windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

PAD, LABEL_W, TEXT_H, STRIP_H = 4, 64, 14, 48

# A dark-to-light colour ramp (black, purple, red, orange, pale yellow) for heat maps.
_RAMP_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
_RAMP_COLOURS = np.array([[0, 0, 4], [80, 18, 123], [182, 54, 121], [251, 136, 97], [252, 253, 191]], np.float64)
_RAMP = np.stack([np.interp(np.linspace(0, 1, 256), _RAMP_STOPS, _RAMP_COLOURS[:, c]) for c in range(3)], 1)
RAMP = _RAMP.round().astype(np.uint8)  # 256 x 3


def heat_map(values: np.ndarray) -> np.ndarray:
    """H x W values in [0, 1] (clipped) -> H x W x 3 uint8 on the colour ramp."""
    levels = np.clip(np.nan_to_num(values, nan=0.0), 0.0, 1.0) * 255
    return RAMP[levels.round().astype(np.int64)]


def spectrogram_tile(scaled_mel: np.ndarray, width: int = 96, height: int = STRIP_H) -> np.ndarray:
    """A 128 x 100 log-Mel scaled to [-1, 1] -> height x width x 3 uint8, low bands at the bottom."""
    rgb = heat_map((np.asarray(scaled_mel)[::-1] + 1.0) / 2.0)
    return np.asarray(Image.fromarray(rgb).resize((width, height), Image.BILINEAR))


@dataclass
class SheetColumn:
    label: str  # e.g. "12.0-13.0 s"
    strip: np.ndarray  # STRIP_H x W x 3 uint8
    samples: list[np.ndarray]  # N images, H x W x 3 uint8
    spread: np.ndarray | None  # H x W x 3 uint8 heat map, or None for one sample


def draw_contact_sheet(columns: list[SheetColumn], title: str, columns_per_band: int = 12) -> Image.Image:
    if not columns:
        raise ValueError("a contact sheet needs at least one window")
    h, w = columns[0].samples[0].shape[:2]
    n_samples = len(columns[0].samples)
    with_spread = columns[0].spread is not None
    row_labels = ["sound"] + [f"sample {j + 1}" for j in range(n_samples)] + (["spread"] if with_spread else [])
    row_heights = [STRIP_H] + [h] * (n_samples + with_spread)
    band_h = TEXT_H + sum(rh + PAD for rh in row_heights) + PAD
    n_bands = -(-len(columns) // columns_per_band)
    ncol = min(len(columns), columns_per_band)
    canvas = Image.new("RGB", (LABEL_W + ncol * (w + PAD) + PAD, TEXT_H + PAD + n_bands * band_h), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    draw.text((PAD, 2), title, fill="black", font=font)
    for b in range(n_bands):
        top = TEXT_H + PAD + b * band_h
        y = top + TEXT_H
        for label, rh in zip(row_labels, row_heights):
            draw.text((PAD, y + rh // 2 - 6), label, fill="black", font=font)
            y += rh + PAD
        for j, col in enumerate(columns[b * columns_per_band : (b + 1) * columns_per_band]):
            x = LABEL_W + j * (w + PAD) + PAD
            draw.text((x, top + 1), col.label, fill="black", font=font)
            tiles = [col.strip, *col.samples] + ([col.spread] if with_spread else [])
            y = top + TEXT_H
            for tile, rh in zip(tiles, row_heights):
                canvas.paste(Image.fromarray(tile), (x, y))
                y += rh + PAD
    return canvas
