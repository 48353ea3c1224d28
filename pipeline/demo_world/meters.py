"""Attribute meters: how much of a class's sound-driven detail one 96x96 frame shows, as a scalar.

Where the demo rater asks "is this the class's scene?", a meter asks "how loud does the
picture look?". Each reads a frame as the shards store it (centre square of the clip's
frame, 96x96 uint8 RGB) with colour masks in HSV (h, s, v in 0..1, as in rater.py) and
knows only what the scene generator draws (scene.py):
  Baby cry       mouth opening: pixels of the dark red open mouth (110, 25, 35) over the squared
                 width of the face on the mouth's row (the mouth's area grows with the cry's
                 loudness; dividing by the face's width squared takes out the baby's size)
  Dog            jaw opening: share of the frame in the red of the open jaws (150, 40, 50), drawn
                 while a bark is louder than 0.1 and taller the louder it is
  Rail transport train body: share of the frame in one of the six body colours of the trains (red,
                 blue, green, yellow, orange, light grey: hue within 0.03, saturation within 0.1,
                 brightness 0.85-1.1 of the colour's); the stripe and windows take a fixed share of a
                 car's side, so it follows the share of the frame under the train (about 0.6 of it)
  Fireworks      sky light: 2nd percentile of v; every bang lifts all levels (x (1 + 0.08 f) + 20 f
                 for flash f) and the darkest pixels (ground, upper sky) show it without the bursts'
                 clutter
  Water flowing  foam share: near-white foam over foam plus blue/teal water; louder water lowers
                 the texture level above which the water foams
`truth.SegmentTruth` holds the values each meter is validated against.
"""

from __future__ import annotations

import numpy as np

from pipeline.core.tables import CLASSES

from .rater import _check, _hsv

MOUTH_SEARCH_PX = 12  # a full cry's mouth is about 16 px tall at 96 x 96
# (h, s, v) of the six train bodies (styles.rail_style), each drawn at 0.9 to 1.05 of its brightness
TRAIN_BODIES = [(0.0, 0.8, 0.8), (0.6, 0.7, 0.6), (0.33, 0.6, 0.5), (0.13, 0.85, 0.95), (0.08, 0.85, 0.9), (0.6, 0.05, 0.78)]


def _mouth(h, s, v):
    # hue > 0.92 leaves out the reddish-brown hair (0.05-0.11); v < 0.62 the pink tongue and cheeks
    return (h > 0.92) & (s > 0.55) & (v > 0.15) & (v < 0.62)


def _face(h, s, v):
    """Skin, blush, mouth and tongue: everything on the face is red to orange."""
    return ((h < 0.11) | (h > 0.9)) & (s > 0.15) & (v > 0.25)


def _run_width(row: np.ndarray, x: int) -> int:
    """Length of the run of True in row that holds x (0 when row[x] is False)."""
    if not row[x]:
        return 0
    left = np.flatnonzero(~row[:x])
    right = np.flatnonzero(~row[x + 1 :])
    x0 = left[-1] + 1 if len(left) else 0
    x1 = x + right[0] if len(right) else len(row) - 1
    return int(x1 - x0 + 1)


def mouth_opening(img: np.ndarray) -> float:
    h, s, v = _hsv(_check(img))
    ys, xs = np.nonzero(_mouth(h, s, v))
    if len(ys) < 2:
        return 0.0
    cy, cx = int(np.median(ys)), int(np.median(xs))
    area = np.sum((np.abs(ys - cy) <= MOUTH_SEARCH_PX) & (np.abs(xs - cx) <= MOUTH_SEARCH_PX))
    width = _run_width(_face(h, s, v)[cy], cx)
    return float(area / max(width, 1) ** 2)


def jaw_opening(img: np.ndarray) -> float:
    h, s, v = _hsv(_check(img))
    return float((((h > 0.92) | (h < 0.03)) & (s > 0.45) & (v > 0.3) & (v < 0.8)).mean())


def train_body(img: np.ndarray) -> float:
    h, s, v = _hsv(_check(img))
    body = np.zeros(h.shape, bool)
    for ph, ps, pv in TRAIN_BODIES:
        hue = np.abs((h - ph + 0.5) % 1.0 - 0.5) < 0.03 if ps > 0.2 else True  # a grey's hue means nothing
        body |= hue & (np.abs(s - ps) < 0.1) & (v > 0.85 * pv) & (v < 1.1 * pv)
    return float(body.mean())


def sky_light(img: np.ndarray) -> float:
    _, _, v = _hsv(_check(img))
    return float(np.percentile(v, 2))


def foam_share(img: np.ndarray) -> float:
    h, s, v = _hsv(_check(img))
    foam = (s < 0.2) & (v > 0.78)
    water = (h > 0.42) & (h < 0.72) & (s > 0.1) & (v > 0.2) & ~foam
    total = int(foam.sum() + water.sum())
    return float(foam.sum() / total) if total else 0.0


METERS = dict(zip(CLASSES, [mouth_opening, jaw_opening, train_body, sky_light, foam_share]))


def measure(img: np.ndarray, class_name: str) -> float:
    """The meter of `class_name` on one uint8 HxWx3 frame."""
    if class_name not in METERS:
        raise ValueError(f"meters: unknown class {class_name!r}; expected one of {CLASSES}")
    return METERS[class_name](img)


def measure_all(images: np.ndarray, class_names: list[str]) -> np.ndarray:
    """Each image's meter of its own class (N x 96 x 96 x 3 uint8 and N class names)."""
    if len(images) != len(class_names):
        raise ValueError(f"meters: {len(images)} images but {len(class_names)} class names")
    return np.asarray([measure(img, name) for img, name in zip(images, class_names)], np.float64)
