"""The list of clips the demo world renders: names, container facts, spans and seeds.

The plan depends only on (seed, clips_per_class, broken). Each class draws its
source videos in order; a video gives one clip or, sometimes, two clips (two time
ranges of the same long video, same look). Clip k of a class always gets the same
content whatever clips_per_class is, apart from how the last video is cut.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.core.tables import CLASS_CODES, CLASSES, check_id

FRAME_SIZES = [(320, 240), (480, 360), (640, 360), (360, 480)]
FRAME_SIZE_WEIGHTS = [0.5, 0.2, 0.15, 0.15]
FRAME_RATES = [25, 30]
SAMPLE_RATES = [44100, 48000]
TWO_CLIP_SHARE = 0.25  # share of source videos that give two clips
SHORT_SHARE = 0.4  # share of clips shorter than 10 s (3..9 s)
# Deliberately broken extra clips, one per class in this order.
DEFECTS = ["no_audio", "truncated", "empty", "garbage", "too_short"]


@dataclass(frozen=True)
class ClipPlan:
    seed: int
    class_index: int
    number: int  # clip number inside the class: the VEGAS video_NNNNN
    video: int  # source video number inside the class
    duration: float
    event_start: float
    event_end: float
    width: int
    height: int
    fps: int
    sample_rate: int
    channels: int
    defect: str = ""

    @property
    def class_name(self) -> str:
        return CLASSES[self.class_index]

    @property
    def class_code(self) -> str:
        return CLASS_CODES[self.class_index]

    @property
    def vegas_video(self) -> str:
        return f"video_{self.number:05d}"

    @property
    def clip_id(self) -> str:
        return check_id(f"demo_{self.class_code}_{self.vegas_video}", "clip id")

    @property
    def source_video(self) -> str:
        return check_id(f"demo_{self.class_code}_v{self.video:04d}", "source video")

    def style_rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, 1, self.class_index, self.video])

    def content_rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, 3, self.class_index, self.number])


def _container(rng) -> dict:
    w, h = FRAME_SIZES[rng.choice(len(FRAME_SIZES), p=FRAME_SIZE_WEIGHTS)]
    return {"width": w, "height": h, "fps": int(rng.choice(FRAME_RATES)), "sample_rate": int(rng.choice(SAMPLE_RATES)), "channels": int(rng.integers(1, 3))}


def _timing(rng, short_ok: bool = True) -> dict:
    """Duration on a 0.2-s grid (whole frames at 25 and 30 fps) and an event span inside it."""
    if short_ok and rng.random() < SHORT_SHARE:
        duration = round(float(rng.integers(15, 46)) * 0.2, 1)
    else:
        duration = 10.0
    span = rng.uniform(0.55, 1.0) * duration
    start = rng.uniform(0, duration - span)
    return {"duration": duration, "event_start": round(start, 2), "event_end": round(min(start + span, duration), 2)}


def make_plan(clips_per_class: int, seed: int, broken: bool = True) -> list[ClipPlan]:
    if not isinstance(clips_per_class, (int, np.integer)) or clips_per_class < 1:
        raise ValueError(f"demo world: clips_per_class must be a positive integer, got {clips_per_class!r}")
    plans = []
    for c in range(len(CLASSES)):
        rng = np.random.default_rng([seed, 0, c])
        number = video = 0
        while number < clips_per_class:
            container = _container(rng)
            takes = 2 if rng.random() < TWO_CLIP_SHARE else 1
            for _ in range(min(takes, clips_per_class - number)):
                timing = _timing(np.random.default_rng([seed, 2, c, number]))
                plans.append(ClipPlan(seed, c, number, video, **timing, **container))
                number += 1
            video += 1
    if broken:
        for c, defect in enumerate(DEFECTS):
            c %= len(CLASSES)
            rng = np.random.default_rng([seed, 4, c])
            number = max(p.number for p in plans if p.class_index == c) + 1
            video = max(p.video for p in plans if p.class_index == c) + 1
            timing = _timing(rng, short_ok=False)
            if defect == "too_short":
                timing = {"duration": 0.6, "event_start": 0.0, "event_end": 0.6}
            plans.append(ClipPlan(seed, c, number, video, **timing, **_container(rng), defect=defect))
    return plans
