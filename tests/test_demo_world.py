"""The demo world: real MP4s, determinism, class-specific sound, the sound-picture tie, the rater."""

import subprocess

import numpy as np
import pandas as pd
import pytest

from pipeline.core.tables import CLASSES, CLIP_COLUMNS, ID_PATTERN
from pipeline.demo_world import DEFECTS, make_plan, rate_image, is_informative, render, render_clip, synthesize
from pipeline.demo_world.sound import class_sound
from pipeline.demo_world.styles import make_style
from pipeline.media.decode import MediaError, decode_audio, decode_frames, ffmpeg_exe, probe

PER_CLASS = 2
SEED = 7
COLUMNS = ["clip_id", "source", "source_video", "vegas_video", "class_name", "class_code", "event_start", "event_end", "path"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "clips"
    table = render(out, clips_per_class=PER_CLASS, seed=SEED, workers=2)
    plans = {p.clip_id: p for p in make_plan(PER_CLASS, SEED)}
    return out, table, plans


def good_rows(table):
    return table[table["defect"] == ""]


def test_table_has_contract_columns_and_safe_ids(world):
    out, table, plans = world
    assert all(c in table.columns for c in COLUMNS)
    assert set(COLUMNS) <= set(CLIP_COLUMNS)
    assert table["clip_id"].is_unique
    assert all(ID_PATTERN.match(x) for col in ("clip_id", "source_video", "vegas_video") for x in table[col])
    assert (table["source"] == "demo").all()
    assert good_rows(table)["class_name"].value_counts().to_dict() == {c: PER_CLASS for c in CLASSES}
    assert sorted(table.loc[table["defect"] != "", "defect"]) == sorted(DEFECTS)
    for row in table.itertuples():
        assert row.path == str(out / row.class_code / f"{row.clip_id}.mp4")
        assert 0 <= row.event_start < row.event_end <= plans[row.clip_id].duration
        assert row.clip_id == f"demo_{row.class_code}_{row.vegas_video}"


def test_plan_has_container_variety_and_two_clip_videos():
    plans = [p for p in make_plan(40, 0) if not p.defect]
    assert len(plans) == 200
    assert {(p.width, p.height) for p in plans} == {(320, 240), (480, 360), (640, 360), (360, 480)}
    assert {p.fps for p in plans} == {25, 30} and {p.sample_rate for p in plans} == {44100, 48000}
    assert {p.channels for p in plans} == {1, 2}
    durations = np.array([p.duration for p in plans])
    assert 0.2 < (durations < 10).mean() < 0.6 and durations.min() >= 3
    videos = pd.Series([p.source_video for p in plans]).value_counts()
    assert (videos == 2).sum() >= 20 and videos.max() == 2
    # the two clips of a video share its look and container but not their content
    first, second = [p for p in plans if p.source_video == videos.index[0]]
    assert make_style(first.class_index, first.style_rng()).keys() == make_style(second.class_index, second.style_rng()).keys()
    assert (first.width, first.height, first.fps) == (second.width, second.height, second.fps)
    assert first.content_rng().random() != second.content_rng().random()


def test_good_clips_are_real_mp4s_with_planned_streams(world):
    _, table, plans = world
    for row in good_rows(table).itertuples():
        proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", row.path, "-f", "null", "-"], capture_output=True, text=True)
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr
        plan, facts = plans[row.clip_id], probe(row.path)
        assert (facts["video_streams"], facts["audio_streams"]) == (1, 1)
        assert (facts["width"], facts["height"]) == (plan.width, plan.height)
        assert facts["fps"] == plan.fps and facts["sample_rate"] == plan.sample_rate
        assert facts["channels"] == plan.channels
        assert abs(facts["duration"] - plan.duration) < 0.15


def test_broken_clips_fail_the_way_they_should(world):
    _, table, _ = world
    path = {d: table.loc[table["defect"] == d, "path"].item() for d in DEFECTS}
    facts = probe(path["no_audio"])
    assert facts["audio_streams"] == 0 and facts["video_streams"] == 1
    proc = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-i", path["no_audio"], "-map", "0:a", "-f", "null", "-"], capture_output=True, text=True)
    assert proc.returncode != 0
    for defect in ("truncated", "garbage", "empty"):
        with pytest.raises(MediaError):
            probe(path[defect])
    assert probe(path["too_short"])["duration"] < 1.0


def test_same_seed_same_bytes_whatever_the_workers(world, tmp_path):
    out, table, plans = world
    # the fixture used a pool of 2 workers; here the cheapest clips are rendered again in this process
    cost = lambda p: p.duration * p.width * p.height
    cheap = sorted((p for p in plans.values() if p.defect in ("", "no_audio")), key=cost)[:3]
    for plan in cheap:
        again = render_clip(plan, tmp_path)
        assert again.read_bytes() == (out / plan.class_code / f"{plan.clip_id}.mp4").read_bytes()
    other = {p.clip_id: p for p in make_plan(PER_CLASS, SEED + 1)}[cheap[0].clip_id]
    assert other.content_rng().random() != cheap[0].content_rng().random()
    first = out / cheap[0].class_code / f"{cheap[0].clip_id}.mp4"
    assert render_clip(other, tmp_path / "seed2").read_bytes() != first.read_bytes()


def test_render_resumes_without_rewriting(world):
    out, table, _ = world
    before = {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.rglob("*.mp4")}
    (out / "c002" / ".demo_c002_video_00000.mp4.dead.tmp").write_bytes(b"left by a killed run")
    again = render(out, clips_per_class=PER_CLASS, seed=SEED, workers=2)
    pd.testing.assert_frame_equal(again, table)
    assert {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.rglob("*.mp4")} == before
    assert not list(out.rglob("*.tmp"))


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="clips_per_class"):
        render(tmp_path, clips_per_class=0)
    with pytest.raises(ValueError, match="workers"):
        render(tmp_path, clips_per_class=1, workers=0)


def _sound_features(class_index, k, sr=16000, duration=6.0):
    """Spectral centroid (Hz), onsets per second and envelope spread of one class source."""
    rng = np.random.default_rng([11, class_index, k])
    sound = class_sound(class_index, make_style(class_index, rng), rng, sr, duration, (0.0, duration))
    spec = np.abs(np.fft.rfft(sound.wave)) ** 2
    centroid = float((np.fft.rfftfreq(len(sound.wave), 1 / sr) * spec).sum() / spec.sum())
    env = sound.env
    onsets = np.sum((env[1:] > 0.3) & (env[:-1] <= 0.3)) / duration
    return centroid, onsets, float(np.std(env) / np.mean(env))


def test_class_sounds_differ_measurably():
    feats = {c: np.array([_sound_features(c, k) for k in range(5)]) for c in range(5)}
    centroid = {CLASSES[c]: np.median(f[:, 0]) for c, f in feats.items()}
    onsets = {CLASSES[c]: np.median(f[:, 1]) for c, f in feats.items()}
    spread = {CLASSES[c]: np.median(f[:, 2]) for c, f in feats.items()}
    # rumbling trains and booming fireworks are dark; cries, barks and water are bright
    assert max(centroid["Rail transport"], centroid["Fireworks"]) < min(centroid["Baby cry"], centroid["Dog"], centroid["Water flowing"])
    # water flows steadily; barks and bangs come and go
    assert spread["Water flowing"] < 0.5 < min(spread["Dog"], spread["Fireworks"])
    assert onsets["Water flowing"] < 0.5 < onsets["Dog"]
    assert onsets["Dog"] > onsets["Baby cry"]
    # and each class varies inside itself
    assert all(np.std(f[:, 0]) / np.mean(f[:, 0]) > 0.05 for f in feats.values())


def _loudness_db(audio, sr, times, window=0.3):
    out = []
    for t in times:
        part = audio[max(int((t - window) * sr), 0) : int(t * sr) + 1]
        out.append(10 * np.log10(np.mean(part**2) + 1e-10))
    return np.array(out)


def test_fireworks_picture_follows_the_bangs(world):
    """End to end, from the decoded files: the sky is brighter just after loud moments."""
    _, table, _ = world
    correlations = []
    for row in good_rows(table)[lambda d: d["class_name"] == "Fireworks"].itertuples():
        frames = decode_frames(row.path, fps=10)
        audio = decode_audio(row.path, 16000)
        times = np.arange(len(frames)) / 10
        brightness = frames.astype(float).mean(axis=(1, 2, 3))
        correlations.append(np.corrcoef(brightness, _loudness_db(audio, 16000, times))[0, 1])
    assert min(correlations) > 0.4, correlations


def _scene_measure(class_index, measure, number):
    plan = [p for p in make_plan(number + 1, 3, broken=False) if p.class_index == class_index][number]
    scene, _ = synthesize(plan)
    times = np.arange(plan.event_start, plan.event_end, 0.1)
    level = np.array([scene.sound.env_at(t) for t in times])
    return np.corrcoef(level, [measure(scene.frame(t), scene) for t in times])[0, 1]


def test_other_classes_draw_what_they_sound(world):
    def mouth(img, scene):  # the crying baby's open mouth and tongue
        return sum(np.mean(np.all(img == np.array(c, np.uint8), axis=-1)) for c in [(110, 25, 35), (220, 100, 110)])

    def foam(img, scene):  # white water
        return np.mean(img[scene.water[..., 0]].min(axis=1) > 200)

    def jaw(img, scene):  # the dog's open mouth
        return np.mean(np.all(img == np.array([150, 40, 50], np.uint8), axis=-1))

    for number in range(2):
        assert _scene_measure(0, mouth, number) > 0.6
        assert _scene_measure(4, foam, number) > 0.6
        assert _scene_measure(1, jaw, number) > 0.6


def test_train_couplings_pass_the_camera_at_the_clacks():
    plan = [p for p in make_plan(3, 5, broken=False) if p.class_index == 2][0]
    scene, _ = synthesize(plan)
    ev, car = scene.sound.events, scene.style["car_len"]
    centre = scene.geo.w // 2

    def coupling_at_centre(t):
        column = scene.frame(t)[:, centre - 2 : centre + 2]
        return bool(np.all(column == np.array([30, 30, 30], np.uint8), axis=-1).any())

    joints = ev["t_front"] + car / ev["speed"] * np.arange(1, 50)
    joints = joints[joints < ev["t_rear"] - 0.05]
    assert len(joints) >= 2
    # each coupling crosses the centre between its two clacks, and no coupling is there mid-car
    for t in joints:
        assert coupling_at_centre(t)
        assert np.sum(np.abs(ev["clacks"] - t) < 0.11 * car / ev["speed"]) == 2
        assert not coupling_at_centre(t + 0.5 * car / ev["speed"])


def _frames_in_span(row, fps=2.0):
    frames = decode_frames(row.path, fps=fps)
    times = np.arange(len(frames)) / fps
    return frames[(times >= row.event_start) & (times <= row.event_end)]


def test_rater_recognises_its_classes(world):
    _, table, _ = world
    frames = {c: np.concatenate([_frames_in_span(r) for r in good_rows(table)[lambda d: d["class_name"] == c].itertuples()]) for c in CLASSES}
    for c in CLASSES:
        right = np.mean([is_informative(f, c) for f in frames[c]])
        wrong = np.mean([is_informative(f, c) for o in CLASSES if o != c for f in frames[o]])
        assert right > 0.8 and wrong < 0.2, (c, right, wrong)
        assert all(0.0 <= rate_image(f, c) <= 1.0 for f in frames[c][:3])


def test_rater_rejects_noise_and_blank_images():
    rng = np.random.default_rng(0)
    noise = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(5)]
    blank = [np.full((96, 96, 3), c, np.uint8) for c in [(0, 0, 0), (128, 128, 128), (255, 255, 255), (40, 90, 200), (60, 160, 60), (230, 190, 160)]]
    for c in CLASSES:
        assert max(rate_image(img, c) for img in noise + blank) < 0.2


def test_rater_refuses_bad_input():
    img = np.zeros((96, 96, 3), np.uint8)
    with pytest.raises(ValueError, match="unknown class"):
        rate_image(img, "Cat")
    with pytest.raises(ValueError, match="uint8"):
        rate_image(img.astype(np.float32), "Dog")
    with pytest.raises(ValueError, match="uint8"):
        rate_image(img[..., 0], "Dog")
