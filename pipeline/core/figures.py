"""PNG figures people look at: labelled image grids (uint8 images in, one PNG out), the test grid."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from pipeline.core.tables import CLASSES, atomic_path

PAD, LABEL_W, HEADER_H = 4, 120, 18


def image_grid(rows: list[list[np.ndarray]], row_labels: list[str], title: str = "", column_labels: list[str] | None = None, scale: int = 1) -> Image.Image:
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


def test_grid(images_u8: np.ndarray, classes: np.ndarray, translate: Callable[[np.ndarray], np.ndarray], per_class: int = 6, seed: int = 0) -> Image.Image:
    """Rows = classes, columns = test sounds: ground truth beside the translation. `translate(indices)` gives
    the uint8 translations of those sounds (`pipeline.dataset.loader.drawing` makes one of a generator)."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(len(CLASSES)):
        members = np.flatnonzero(classes == c)
        pick = np.sort(rng.choice(members, size=min(per_class, len(members)), replace=False)) if len(members) else []
        fake = translate(pick) if len(pick) else []
        row = []
        for i, k in enumerate(pick):
            row += [images_u8[k], fake[i]]
        rows.append(row)
    labels = [s for _ in range(per_class) for s in ("truth", "output")]
    return image_grid(rows, CLASSES, "test sounds: ground truth | translation", labels, scale=1)


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")
