"""PNG figures people look at: labelled image grids (uint8 images in, one PNG out)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.core.tables import atomic_path

PAD, LABEL_W, HEADER_H = 4, 120, 18


def image_grid(rows: list[list[np.ndarray]], row_labels: list[str], title: str = "",
               column_labels: list[str] | None = None, scale: int = 1) -> Image.Image:
    """rows of equally sized H x W x 3 uint8 images (None leaves a cell empty)."""
    h, w = next(img for row in rows for img in row if img is not None).shape[:2]
    h, w = h * scale, w * scale
    ncol = max(len(r) for r in rows)
    top = HEADER_H * (bool(title) + bool(column_labels))
    canvas = Image.new("RGB", (LABEL_W + ncol * (w + PAD) + PAD, top + len(rows) * (h + PAD) + PAD), "white")
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    if title:
        draw.text((PAD, 3), title, fill="black", font=font)
    for j, label in enumerate(column_labels or []):
        draw.text((LABEL_W + j * (w + PAD) + PAD, top - HEADER_H + 3), label, fill="black", font=font)
    for i, (row, label) in enumerate(zip(rows, row_labels)):
        y = top + i * (h + PAD) + PAD
        draw.text((PAD, y + h // 2 - 6), label, fill="black", font=font)
        for j, img in enumerate(row):
            if img is not None:
                tile = Image.fromarray(img).resize((w, h), Image.NEAREST)
                canvas.paste(tile, (LABEL_W + j * (w + PAD) + PAD, y))
    return canvas


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
