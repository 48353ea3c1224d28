"""The demo world: a small, self-made, VEGAS-like set of real MP4 clips for the five classes, and its rater.
May import pipeline.core and pipeline.media only.

DESCRIPTION below is the summary for the README. `render` writes the clips and
returns their table; `rate_image` / `is_informative` are the demo rater, a
documented stand-in for human informativity labels.
"""

from __future__ import annotations

import multiprocessing
from functools import partial
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from pipeline.core.tables import atomic_path
from .encode import encode_mp4
from .plan import DEFECTS, ClipPlan, make_plan
from .rater import is_informative, rate_image
from .scene import make_scene
from .sound import class_sound, mix
from .styles import make_style

__all__ = ["DESCRIPTION", "DEFECTS", "render", "render_clip", "synthesize", "make_plan", "rate_image", "is_informative"]

DESCRIPTION = """\
The demo world is generated on the spot (no download) so that the whole pipeline runs offline.
It is a VEGAS-like set of real MP4 files (H.264 + AAC, byte-identical for a seed) for the five
classes, `clips_per_class` per class (default 40), named like VEGAS (`<class_code>/video_NNNNN`).
- Sound, per class, with variation inside the class: harmonic baby cries with vibrato and a
  rise-fall melody in bouts; series of short dog barks (bigger dogs bark lower); train rumble
  and motor hum with a double clack each time a coupling passes; firework bangs (click + decaying
  boom, some with a rising whistle or crackle); flowing broadband water noise with bubbles.
  Every clip adds background noise (pink noise, sometimes mains hum and wind) at a random SNR
  (8-30 dB) and, in 60% of clips, a quieter sound of another class at a random time.
- Pictures drawn with numpy, varied in layout, colours, position and background: a baby's face
  in a cot or nursery; a dog on grass under blue, grey or evening sky with trees or a fence; a
  train track across hills; a night sky over a skyline, trees or water; a river or waterfall.
- Sound and picture are tied in time and value: the cry's loudness opens the baby's mouth,
  shuts its eyes and reddens its face; each bark opens the dog's jaws; train cars pass the
  camera in step with the clacks (faster train, faster clacks, louder rumble); each bang is a
  burst whose size follows its loudness and that lights the sky; louder water flows faster
  and foams more. So the picture of a second can only be imagined well from its sound.
- Containers vary like real uploads: 320x240, 480x360, 640x360 and 360x480 (portrait), 25 or
  30 fps, 44.1 or 48 kHz, mono or stereo (stereo pans the source to where it is drawn); 40%
  of clips last 3-9 s, the rest 10 s. Each clip has an annotated event span; outside it there
  is only background sound. A quarter of the source videos give two clips (two time ranges,
  same scene), so splits must be made by `source_video`.
- Five extra broken files (when `broken`): no audio stream, truncated (no index), zero bytes,
  random bytes, and a 0.6-s clip; acquire rejects them.
"""

_PAN_KEY = {0: "face_u", 1: "dog_u", 4: "fall_u"}
# Scenes are drawn at 1/RENDER_SCALE of the container size and scaled up by ffmpeg
# (like an upscaled upload); the 96x96 centre crop still gets >= 120 drawn pixels.
RENDER_SCALE = 2


def clip_path(out_dir: Path, plan: ClipPlan) -> Path:
    return Path(out_dir) / plan.class_code / f"{plan.clip_id}.mp4"


def synthesize(plan: ClipPlan):
    """(scene, int16 audio) of one clip; the scene's frame(t) draws the picture at time t."""
    c, sr = plan.class_index, plan.sample_rate
    style = make_style(c, plan.style_rng())
    rng = plan.content_rng()
    span = (plan.event_start, plan.event_end)
    source = class_sound(c, style, rng, sr, plan.duration, span)
    distractor = distractor_span = None
    if rng.random() < 0.6:
        other = int(rng.choice([k for k in range(5) if k != c]))
        d0 = rng.uniform(0, 0.7 * plan.duration)
        distractor_span = (d0, min(plan.duration, d0 + rng.uniform(0.5, 1.0) * plan.duration))
        distractor = class_sound(other, make_style(other, rng), rng, sr, plan.duration, distractor_span)
    pan = 2 * float(style.get(_PAN_KEY.get(c, ""), 0.0))
    audio = mix(source, span, rng, sr, plan.channels, pan, distractor, distractor_span)
    scene = make_scene(c, style, source, plan.width // RENDER_SCALE, plan.height // RENDER_SCALE, rng, span)
    return scene, audio


def render_clip(plan: ClipPlan, out_dir: Path) -> Path:
    """Write one clip (or its deliberately broken stand-in) unless the file already exists."""
    path = clip_path(out_dir, plan)
    if path.exists():
        return path
    with atomic_path(path) as tmp:
        if plan.defect == "garbage":
            tmp.write_bytes(plan.content_rng().bytes(24_000))
        elif plan.defect != "empty":
            scene, audio = synthesize(plan)
            frames = scene.frames(plan.fps, round(plan.duration * plan.fps))
            encode_mp4(tmp, frames, (scene.geo.w, scene.geo.h), (plan.width, plan.height), plan.fps, None if plan.defect == "no_audio" else audio, plan.sample_rate)
            if plan.defect == "truncated":
                data = tmp.read_bytes()
                tmp.write_bytes(data[: len(data) * 2 // 5])
    return path


def clips_table(plans: list[ClipPlan], out_dir: Path) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "clip_id": p.clip_id,
                "source": "demo",
                "source_video": p.source_video,
                "vegas_video": p.vegas_video,
                "class_name": p.class_name,
                "class_code": p.class_code,
                "event_start": float(p.event_start),
                "event_end": float(p.event_end),
                "path": str(clip_path(out_dir, p)),
                "defect": p.defect,
            }
            for p in plans
        ]
    )


def render(out_dir: Path, clips_per_class: int = 40, seed: int = 0, workers: int = 2, broken: bool = True) -> pd.DataFrame:
    """Render the demo world into out_dir/<class_code>/<clip_id>.mp4; one table row per clip.

    Existing files are kept, so a killed run resumes. The bytes depend only on
    (seed, clips_per_class, broken), not on `workers`.
    """
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"demo world: workers must be a positive integer, got {workers!r}")
    out_dir = Path(out_dir)
    plans = make_plan(clips_per_class, seed, broken)
    for p in plans:  # temp files left by a killed run
        path = clip_path(out_dir, p)
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink()
    todo = sorted((p for p in plans if not clip_path(out_dir, p).exists()), key=lambda p: -p.duration * p.width * p.height * p.fps)  # longest first balances workers
    work = partial(render_clip, out_dir=out_dir)
    with tqdm(total=len(plans), initial=len(plans) - len(todo), desc="demo world", unit="clip") as bar:
        if workers == 1 or len(todo) <= 1:
            for p in todo:
                work(p)
                bar.update()
        else:
            with multiprocessing.get_context("spawn").Pool(min(workers, len(todo))) as pool:
                for _ in pool.imap_unordered(work, todo):
                    bar.update()
    return clips_table(plans, out_dir)
