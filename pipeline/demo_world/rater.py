"""The demo rater: how recognisable a class's demo scene is in a 96x96 image.

A documented stand-in for human informativity labels when none exist. It knows
only what the scene generator knows about each class (palettes, layout, shapes):
  Baby cry       a large skin-coloured face filling the middle of a light room
  Dog            green grass in the lower half, a light sky above, an animal on the grass
  Rail transport horizontal layers: sky, a grey ballast band with a rail across the
                 whole width, a train body (wide, flat rectangle) standing on it
  Fireworks      a dark night sky with a few bright, coloured spots
  Water flowing  blue/teal water over most of the lower half with white foam
Every score is also damped for pixel noise and for flat, structureless images.
Scores are in [0, 1]; `is_informative` thresholds them. `rate` and `label` judge a batch of
images, each against its own class, when `data/labels/informativity.csv` holds no human labels
(only meaningful for the demo world; on real data, label images with `s2i label`).
"""

from __future__ import annotations

import numpy as np

from pipeline.core.tables import CLASSES


def _ramp(x, lo, hi):
    """0 below lo, 1 above hi (or the reverse when lo > hi), linear between."""
    return float(np.clip((x - lo) / (hi - lo), 0.0, 1.0))


def _hsv(img: np.ndarray):
    rgb = img.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2.0 + (b - r) / safe, 4.0 + (r - g) / safe))
    h = np.where(c > 0, (h / 6.0) % 1.0, 0.0)
    return h, s, v


def _check(img) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or min(img.shape[:2]) < 16:
        raise ValueError(f"rate_image: expected a uint8 HxWx3 image, got {img.dtype} {img.shape}")
    return img


def _naturalness(img, v) -> float:
    """Near 0 for pixel noise (large neighbour differences almost everywhere) and for flat images."""
    grey = v
    jitter = float(np.median(np.abs(np.diff(grey, axis=1))))
    return _ramp(jitter, 0.1, 0.04) * _ramp(float(grey.std()), 0.02, 0.07)


def _masks(h, s, v) -> dict:
    return {
        "skin": (h < 0.11) & (s > 0.21) & (s < 0.72) & (v > 0.28),
        "green": (h > 0.16) & (h < 0.42) & (s > 0.25) & (v > 0.2),
        "sky": (v > 0.55) & ((s < 0.3) | ((h > 0.5) & (h < 0.7))),
        "grey": (s < 0.3) & (v > 0.3) & (v < 0.75),
        "blue": (h > 0.45) & (h < 0.7) & (s > 0.2) & (v > 0.25),
        "foam": (s < 0.18) & (v > 0.82),
    }


def _face(m) -> float:
    n = m["skin"].shape[0]
    return float(m["skin"][n // 5 : 4 * n // 5, n // 4 : 3 * n // 4].mean())


def _grass(m, v) -> float:
    """Share of textured green (grass, not a flat green blanket or field) in the lower half."""
    n = v.shape[0]
    green = m["green"][n // 2 :]
    if green.mean() < 0.05:
        return 0.0
    streaks = float(np.abs(np.diff(v[n // 2 :], axis=0))[green[1:] & green[:-1]].mean())
    return float(green.mean()) * _ramp(streaks, 0.0035, 0.007)


def _ballast(m) -> float:
    """The most track-like 4-row band of the lower half: grey across the whole width."""
    n = m["grey"].shape[0]
    rows = m["grey"][n // 2 :].mean(axis=1)
    return float(np.convolve(rows, np.ones(4) / 4, mode="valid").max())


def _baby(m, v) -> float:
    room = ((v > 0.6) & ~m["skin"]).mean()
    return _ramp(_face(m), 0.26, 0.38) * _ramp(room, 0.05, 0.15) * _ramp(_grass(m, v), 0.4, 0.2)


def _dog(m, v) -> float:
    n = v.shape[0]
    animal = (~m["green"][n // 3 :]).mean()
    return _ramp(_grass(m, v), 0.5, 0.7) * _ramp(m["sky"][: n // 4].mean(), 0.2, 0.5) * _ramp(animal, 0.04, 0.08) * _ramp(_ballast(m), 0.6, 0.4)


def _rail(m, v) -> float:
    n = v.shape[0]
    layered = float(np.mean(np.abs(np.diff(v, axis=0))) / (np.mean(np.abs(np.diff(v, axis=1))) + 1e-3))
    return _ramp(_ballast(m), 0.5, 0.8) * _ramp(m["sky"][: n // 6].mean(), 0.2, 0.5) * _ramp(layered, 0.8, 1.1) * _ramp(_face(m), 0.3, 0.15)


def _fireworks(m, v) -> float:
    n = v.shape[0]
    dark = (v[: 2 * n // 3] < 0.35).mean()
    bright = (v > 0.5).mean()
    return _ramp(dark, 0.2, 0.4) * _ramp(float(v.mean()), 0.5, 0.38) * _ramp(bright, 0.0005, 0.003)


def _water(m, v) -> float:
    n = v.shape[0]
    water = m["blue"] | m["foam"]
    return (
        _ramp(water[n // 2 :].mean(), 0.2, 0.4)
        * _ramp(float(m["foam"].mean()), 0.005, 0.03)
        * _ramp(water.mean(), 0.15, 0.3)
        * _ramp(_face(m), 0.25, 0.1)
        * _ramp(m["sky"][: n // 6].mean(), 0.6, 0.4)
    )


_CUES = dict(zip(CLASSES, [_baby, _dog, _rail, _fireworks, _water]))


def rate_image(img: np.ndarray, class_name: str) -> float:
    """Score in [0, 1]: how recognisable `class_name`'s demo scene is in img (uint8 HxWx3, 96x96)."""
    if class_name not in _CUES:
        raise ValueError(f"rate_image: unknown class {class_name!r}; expected one of {CLASSES}")
    img = _check(img)
    h, s, v = _hsv(img)
    return float(np.clip(_CUES[class_name](_masks(h, s, v), v) * _naturalness(img, v), 0.0, 1.0))


def is_informative(img: np.ndarray, class_name: str, threshold: float = 0.5) -> bool:
    return rate_image(img, class_name) >= threshold


RATER = "demo-rater"


def rate(images: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Scores in [0, 1] for N x 96 x 96 x 3 uint8 images, each judged against its own class."""
    if len(images) != len(class_names):
        raise ValueError(f"demo rater: {len(images)} images but {len(class_names)} class names")
    return np.asarray([rate_image(img, name) for img, name in zip(images, class_names)], np.float64)


def label(images: np.ndarray, class_names: list[str], threshold: float = 0.5) -> np.ndarray:
    """1 = informative, 0 = not informative."""
    return (rate(images, class_names) >= threshold).astype(np.int64)
