"""The demo rater: a stand-in for people when `data/labels/informativity.csv` holds no human labels.

It labels generated images with what the demo world's scene generator knows
about each class (`pipeline.demo_world.rate_image`): an image is informative
when its class's scene cues score at least `threshold`. It is only meaningful
for the demo world; on real data, label images with `s2i label`.
"""
from __future__ import annotations

import numpy as np

from .demo_world import rate_image

RATER = "demo-rater"


def rate(images: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Scores in [0, 1] for N x 96 x 96 x 3 uint8 images, each judged against its own class."""
    if len(images) != len(class_names):
        raise ValueError(f"demo rater: {len(images)} images but {len(class_names)} class names")
    return np.asarray([rate_image(img, name) for img, name in zip(images, class_names)], np.float64)


def label(images: np.ndarray, class_names: list[str], threshold: float = 0.5) -> np.ndarray:
    """1 = informative, 0 = not informative."""
    return (rate(images, class_names) >= threshold).astype(np.int64)
