"""Per-video looks and voices: everything that stays the same across clips cut from one video.

A style is a plain dict drawn from the video's own generator, so two clips of one
source video share the scene layout, the colours and the animal's voice.
Positions are in scene units: u (right) and v (down) measured from the frame centre
in multiples of the frame's shorter side, so (-0.5..0.5)^2 is the centre square
that the pipeline crops.
"""

from __future__ import annotations

import colorsys

import numpy as np


def hsv(h: float, s: float, v: float) -> np.ndarray:
    """RGB colour (float 0..255) from hue, saturation and value in 0..1."""
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v)) * 255.0


def mix(a, b, w: float) -> np.ndarray:
    return np.asarray(a, dtype=float) * (1 - w) + np.asarray(b, dtype=float) * w


SKIN_LIGHT, SKIN_DARK = (250, 214, 186), (112, 72, 48)


def baby_style(rng: np.random.Generator) -> dict:
    return {
        "wall": hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.2), rng.uniform(0.82, 0.97)),
        "pattern": rng.choice(["bars", "dots", "plain"], p=[0.5, 0.3, 0.2]),
        "pattern_color": hsv(rng.uniform(0.05, 0.12), rng.uniform(0.0, 0.45), rng.uniform(0.75, 1.0)),
        "blanket": hsv(rng.uniform(0, 1), rng.uniform(0.2, 0.55), rng.uniform(0.7, 0.95)),
        "skin": mix(SKIN_LIGHT, SKIN_DARK, rng.uniform(0, 1) ** 1.5),
        "hair": hsv(rng.uniform(0.05, 0.11), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.55)),
        "hat": hsv(rng.uniform(0, 1), rng.uniform(0.3, 0.7), rng.uniform(0.7, 0.95)) if rng.random() < 0.35 else None,
        "face_u": rng.uniform(-0.1, 0.1),
        "face_v": rng.uniform(-0.08, 0.06),
        "face_r": rng.uniform(0.2, 0.28),
        # voice: fundamental, vibrato, brightness (harmonic roll-off) and formants
        "cry_f0": rng.uniform(330, 620),
        "vib_rate": rng.uniform(4.5, 8.5),
        "vib_depth": rng.uniform(0.01, 0.05),
        "rolloff": rng.uniform(0.6, 1.3),
        "formants": (rng.uniform(900, 1500), rng.uniform(2600, 3600)),
    }


def dog_style(rng: np.random.Generator) -> dict:
    size = rng.uniform(0.24, 0.44)  # body length in scene units; big dogs bark lower
    coat = [(95, 60, 30), (30, 26, 24), (225, 220, 205), (200, 150, 70), (130, 125, 120), (150, 90, 45)]
    sky_kind = rng.choice(["blue", "overcast", "evening"], p=[0.6, 0.25, 0.15])
    sky = {
        "blue": (hsv(0.58, rng.uniform(0.45, 0.7), 0.85), hsv(0.56, 0.15, 0.97)),
        "overcast": (hsv(0.6, 0.06, 0.72), hsv(0.6, 0.04, 0.88)),
        "evening": (hsv(0.62, 0.45, 0.6), hsv(0.07, 0.45, 0.95)),
    }[sky_kind]
    return {
        "sky_top": sky[0],
        "sky_low": sky[1],
        "horizon": rng.uniform(-0.22, 0.0),
        "grass": hsv(rng.uniform(0.2, 0.33), rng.uniform(0.45, 0.8), rng.uniform(0.45, 0.75)),
        "backdrop": rng.choice(["trees", "fence", "none"], p=[0.45, 0.3, 0.25]),
        "coat": np.array(coat[rng.integers(len(coat))], dtype=float) * rng.uniform(0.85, 1.1),
        "size": size,
        "dog_u": rng.uniform(-0.12, 0.12),
        "facing": rng.choice([-1, 1]),
        "ears": rng.choice(["floppy", "pointy"]),
        "wag_rate": rng.uniform(1.5, 4.0),
        "bark_f0": float(np.clip(520 * (0.34 / size) ** 1.3, 300, 1100) * rng.uniform(0.9, 1.1)),
        "rough": rng.uniform(0.2, 0.6),
        "bark_decay": rng.uniform(1.5, 4.0),
    }


def rail_style(rng: np.random.Generator) -> dict:
    body = [hsv(0.0, 0.8, 0.8), hsv(0.6, 0.7, 0.6), hsv(0.33, 0.6, 0.5), hsv(0.13, 0.85, 0.95), hsv(0.08, 0.85, 0.9), hsv(0.6, 0.05, 0.78)]
    return {
        "sky_top": hsv(0.58, rng.uniform(0.3, 0.65), rng.uniform(0.75, 0.92)),
        "sky_low": hsv(0.57, rng.uniform(0.05, 0.2), rng.uniform(0.88, 0.98)),
        "hills": hsv(rng.uniform(0.2, 0.45), rng.uniform(0.2, 0.45), rng.uniform(0.35, 0.6)),
        "hill_waves": rng.uniform(0, 2 * np.pi, 3),
        "hill_v": rng.uniform(-0.25, -0.05),
        "ground": hsv(rng.uniform(0.1, 0.3), rng.uniform(0.3, 0.6), rng.uniform(0.45, 0.7)),
        "ballast": hsv(rng.uniform(0.05, 0.12), rng.uniform(0.05, 0.2), rng.uniform(0.45, 0.62)),
        "track_v": rng.uniform(0.12, 0.28),
        "body": body[rng.integers(len(body))] * rng.uniform(0.9, 1.05),
        "stripe": hsv(rng.uniform(0, 1), rng.uniform(0, 0.6), rng.uniform(0.85, 1.0)),
        "train_h": rng.uniform(0.2, 0.32),
        "car_len": rng.uniform(0.5, 0.75),
        "direction": rng.choice([-1, 1]),
        "windows": int(rng.integers(3, 7)),
        "clack_freqs": rng.uniform(1200, 4200, 3),
        "rumble_cut": rng.uniform(150, 450),
        "hum": rng.uniform(45, 120),
    }


def fireworks_style(rng: np.random.Generator) -> dict:
    return {
        "sky_top": hsv(rng.uniform(0.6, 0.78), rng.uniform(0.4, 0.9), rng.uniform(0.03, 0.12)),
        "sky_low": hsv(rng.uniform(0.58, 0.8), rng.uniform(0.3, 0.8), rng.uniform(0.12, 0.28)),
        "ground": rng.choice(["city", "trees", "water"], p=[0.45, 0.35, 0.2]),
        "ground_v": rng.uniform(0.2, 0.38),
        "stars": int(rng.integers(15, 90)),
        "moon": (rng.uniform(-0.4, 0.4), rng.uniform(-0.42, -0.2), rng.uniform(0.03, 0.06)) if rng.random() < 0.3 else None,
        "rate": rng.uniform(0.6, 1.8),  # bangs per second
        "hue_centre": rng.uniform(0, 1),
        "hue_spread": rng.uniform(0.05, 0.5),
    }


def water_style(rng: np.random.Generator) -> dict:
    return {
        "kind": rng.choice(["river", "fall"], p=[0.6, 0.4]),
        "water": hsv(rng.uniform(0.48, 0.62), rng.uniform(0.35, 0.8), rng.uniform(0.45, 0.8)),
        "bank": hsv(rng.uniform(0.18, 0.38), rng.uniform(0.35, 0.7), rng.uniform(0.25, 0.5)),
        "rock": hsv(rng.uniform(0.05, 0.12), rng.uniform(0.05, 0.25), rng.uniform(0.35, 0.6)),
        "bank_v": rng.uniform(-0.35, -0.12),
        "fall_w": rng.uniform(0.18, 0.38),
        "fall_u": rng.uniform(-0.1, 0.1),
        "rocks": int(rng.integers(1, 6)),
        "flow_dir": rng.choice([-1, 1]),
        "force": rng.uniform(0.5, 1.0),
        "tilt": rng.uniform(-4.5, -0.5),
        "bright_cut": rng.uniform(3000, 11000),
    }


STYLE_MAKERS = [baby_style, dog_style, rail_style, fireworks_style, water_style]


def make_style(class_index: int, rng: np.random.Generator) -> dict:
    return STYLE_MAKERS[class_index](rng)
