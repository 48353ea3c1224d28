"""Ground truth of the demo world's within-class detail: the value the scene draws at a segment's central frame.

The scene of a clip reads its class sound (envelope and events) to draw what moves, so
the drawn detail at time t is a function of the sound alone. `SegmentTruth` re-derives
each clip's plan, style and class sound from the demo world's params (no video, no
background, no mix; one synthesis per clip, cached) and reads, at the time of the frame
that the shards stage stores for a segment:
  Baby cry       the cry's loudness env_at(t): it opens the mouth, shuts the eyes, reddens the face
  Dog            the bark envelope env_at(t) while the jaws are open (above 0.1), else 0
  Rail transport share of the 96x96 centre square covered by the train body (0 when no car is in view)
  Fireworks      the light of the bangs in the sky: sum of amp x glow over the bursts still visible
                 (the scene's own flash, before it is capped at 1.5 for the sky's brightening)
  Water flowing  the water's level env_at(t): louder water foams more
"""

from __future__ import annotations

import math
from functools import lru_cache

from .plan import ClipPlan, make_plan
from .sound import ClassSound, class_sound
from .styles import make_style


def class_source(plan: ClipPlan) -> tuple[dict, ClassSound]:
    """(style, class sound) of a clip: the same draws, in the same order, as `synthesize`."""
    c = plan.class_index
    style = make_style(c, plan.style_rng())
    sound = class_sound(c, style, plan.content_rng(), plan.sample_rate, plan.duration, (plan.event_start, plan.event_end))
    return style, sound


def central_frame_time(start: float, plan: ClipPlan, frame_fps: float) -> float:
    """Scene time of the frame the shards stage stores for the segment starting at `start`.

    The shard writer takes frame k = round((start + 0.5) * frame_fps) of the clip decoded at
    frame_fps, and that frame is the source frame on screen at k / frame_fps (the last one that
    starts at or before it); the scene drew source frame j at j / fps.
    """
    k = int(round((start + 0.5) * frame_fps))
    j = math.floor(k * plan.fps / frame_fps + 1e-6)
    return min(j, round(plan.duration * plan.fps) - 1) / plan.fps


def baby_truth(style: dict, sound: ClassSound, t: float) -> float:
    return sound.env_at(t)


DOG_JAW_OPENS = 0.1  # DogScene.draw opens the jaws once the bark envelope passes this


def dog_truth(style: dict, sound: ClassSound, t: float) -> float:
    e = sound.env_at(t)
    return e if e > DOG_JAW_OPENS else 0.0


def rail_truth(style: dict, sound: ClassSound, t: float) -> float:
    """Share of the centre square (|u|, |v| < 0.5) under the train body, from RailScene.draw's geometry."""
    ev, d = sound.events, style["direction"]
    front = d * ev["speed"] * (t - ev["t_front"])
    length = ev["speed"] * (ev["t_rear"] - ev["t_front"])
    lo, hi = (front - length, front) if d > 0 else (front, front + length)
    width = max(0.0, min(hi, 0.5) - max(lo, -0.5))
    return float(width * (style["train_h"] - 0.005))  # the body spans v in [track_v - 0.02 - h, track_v - 0.025]


def fireworks_truth(style: dict, sound: ClassSound, t: float) -> float:
    light = 0.0
    for b in sound.events["bangs"]:
        age = t - b["t"]
        if 0 <= age < 4 * b["decay"] + 0.4:
            light += b["amp"] * math.exp(-age / (1.5 * b["decay"] + 0.2))
    return light


def water_truth(style: dict, sound: ClassSound, t: float) -> float:
    return sound.env_at(t)


TRUTHS = [baby_truth, dog_truth, rail_truth, fireworks_truth, water_truth]


class SegmentTruth:
    """Ground truth of segments of the demo world rendered with (clips_per_class, seed, broken)."""

    def __init__(self, clips_per_class: int, seed: int, broken: bool = True, frame_fps: float = 10.0, cache_clips: int = 256):
        self.plans = {p.clip_id: p for p in make_plan(clips_per_class, seed, broken) if not p.defect}
        self.frame_fps = float(frame_fps)
        self._source = lru_cache(maxsize=cache_clips)(self._synthesize)

    def _synthesize(self, clip_id: str) -> tuple[dict, ClassSound]:
        return class_source(self.plans[clip_id])

    def plan_of(self, meta: dict) -> ClipPlan:
        """The plan of a segment's clip; KeyError / ValueError when the segment is not one this world cut."""
        plan = self.plans.get(meta["clip_id"])
        if plan is None:
            raise KeyError(f"{meta['clip_id']!r} is not a clip of this demo world")
        start = float(meta["start"])
        if not plan.event_start - 1e-6 <= start <= plan.event_end - 1 + 1e-6 or ("segment_id" in meta and meta["segment_id"] != f"{plan.clip_id}_{int(round(start * 1000)):06d}"):
            raise ValueError(f"segment {meta.get('segment_id', start)!r} is not a 1-s segment of {plan.clip_id}'s event span")
        return plan

    def time_of(self, meta: dict) -> float:
        return central_frame_time(float(meta["start"]), self.plan_of(meta), self.frame_fps)

    def __call__(self, meta: dict) -> float:
        """The drawn detail (see the module docstring) at the segment's central frame."""
        plan = self.plan_of(meta)
        style, sound = self._source(plan.clip_id)
        return TRUTHS[plan.class_index](style, sound, central_frame_time(float(meta["start"]), plan, self.frame_fps))
