"""The audit on small real shards: distinct procedurally generated clips, then injected leaks."""

import io
import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from pipeline.audit import checks
from pipeline.commands import audit
from pipeline.core.tables import CLASSES, CLIP_COLUMNS, SEGMENT_COLUMNS, SPLITS, write_table
from pipeline.dataset import wds
from pipeline.media.decode import decode_audio, decode_frames, ffmpeg_exe
from pipeline.media.features import log_mel

from encode import AAC, ffmpeg

SECONDS = 2
FPS = 10


def render_clip(path: Path, seed: int) -> Path:
    """A 2-s MP4: pink noise with a seed-dependent loudness pattern and beeps, cellular-automaton video."""
    rate, pitch = 0.7 + 0.37 * (seed % 7), 250 + 41 * (seed % 11)
    audio = (
        f"anoisesrc=d={SECONDS}:c=pink:seed={seed + 1}:a=0.3,"
        f"volume='0.2+0.8*abs(sin(2*PI*{rate}*t+{seed}))':eval=frame[n];"
        f"sine=f={pitch}:d={SECONDS},volume='0.4*gt(sin(2*PI*{rate * 1.9}*t+{seed}),0)':eval=frame[s];"
        "[n][s]amix=inputs=2[a]"
    )
    video = f"cellauto=s=128x96:seed={seed + 1}:rule={[30, 90, 110, 150][seed % 4]}:r={FPS},format=yuv420p[v]"
    ffmpeg("-filter_complex", f"{audio};{video}", "-map", "[v]", "-map", "[a]", "-t", SECONDS, "-c:v", "libx264", "-threads", "1", *AAC, path)
    return path


def reencode(src: Path, dst: Path) -> Path:
    subprocess.run(
        [ffmpeg_exe(), "-y", "-v", "error", "-nostdin", "-i", str(src), "-c:v", "libx264", "-crf", "35", "-threads", "1", "-c:a", "aac", "-b:a", "48k", str(dst)], check=True
    )
    return dst


def jpeg(image: np.ndarray, quality: int = 50) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


def features(path: Path, gain: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Whole-clip log-Mel and frames, the way the segment stage sees a clip."""
    return log_mel(decode_audio(path, 16000) * gain), decode_frames(path, fps=FPS)


class Dataset:
    """Clips, their 1-s segments, and shards, as the acquire / segment / shards stages leave them."""

    def __init__(self, root: Path):
        self.root, self.clips, self.segments, self.samples = root, [], [], {s: [] for s in SPLITS}

    def add(self, clip_id, video, split, class_index, mel, frames, path=""):
        self.clips.append(
            {
                "clip_id": clip_id,
                "source": "demo",
                "source_video": video,
                "vegas_video": "",
                "class_name": CLASSES[class_index],
                "class_code": f"c00{class_index + 1}",
                "event_start": 0.0,
                "event_end": float(SECONDS),
                "path": str(path),
                "duration": float(SECONDS),
                "audio_streams": 1,
                "video_streams": 1,
                "sample_rate": 16000,
                "channels": 1,
                "width": 128,
                "height": 96,
                "fps": FPS,
                "status": "ok",
            }
        )
        for start in range(SECONDS):
            seg = f"{clip_id}_{start:03d}"
            meta = {
                "segment_id": seg,
                "clip_id": clip_id,
                "source_video": video,
                "class_name": CLASSES[class_index],
                "class_index": class_index,
                "start": float(start),
                "split": split,
            }
            self.segments.append({**meta, "path": f"{split}-000000.tar"})
            image = frames[int((start + 0.5) * FPS)]
            self.samples[split].append(
                (seg, {"mel.npy": wds.encode_npy(mel[:, start * 100 : start * 100 + 100]), "png": wds.encode_png(np.ascontiguousarray(image)), "json": wds.encode_json(meta)})
            )

    def write(self, params: dict | None = None) -> list[str]:
        write_table(pd.DataFrame(self.clips), self.root / "clips.parquet", CLIP_COLUMNS)
        write_table(pd.DataFrame(self.segments), self.root / "index.parquet", SEGMENT_COLUMNS)
        for split, samples in self.samples.items():
            wds.write_tar(self.root / "shards" / f"{split}-000000.tar", samples)
        (self.root / "params.yaml").write_text(yaml.safe_dump({"audit": params or {}}))
        return [
            "--params",
            str(self.root / "params.yaml"),
            "--index",
            str(self.root / "index.parquet"),
            "--clips",
            str(self.root / "clips.parquet"),
            "--shards",
            str(self.root / "shards"),
            "--out",
            str(self.root / "report"),
        ]


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """15 distinct clips (5 classes x 3 splits) plus the material for three leaks."""
    root = tmp_path_factory.mktemp("audit_media")
    clips = {seed: render_clip(root / f"clip{seed}.mp4", seed) for seed in range(17)}
    reenc = reencode(clips[0], root / "clip0_reencoded.mp4")
    feats = {seed: features(p) for seed, p in clips.items()}
    return {"feats": feats, "reencoded": features(reenc), "gain": features(clips[6], gain=0.25)[0]}


def clean_dataset(root: Path, media) -> Dataset:
    data = Dataset(root)
    for seed in range(15):
        split, class_index = SPLITS[seed // 5], seed % 5
        data.add(f"clip{seed:02d}", f"vid{seed:02d}", split, class_index, *media["feats"][seed])
    return data


def test_clean_set_flags_nothing(tmp_path, media, capsys):
    args = clean_dataset(tmp_path, media).write()
    assert audit.main(args) == 0
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())
    counts = report["counts"]
    assert counts["leaks"] == 0 and counts["imbalanced"] == 0 and counts["outside_span"] == 0
    assert counts["segments"] == 30 and counts["clips"] == 15 and counts["blank_frames"] == 0
    assert report["balance"]["per_class"]["val"] == {c: 2 for c in CLASSES}
    assert "no leak found" in (tmp_path / "report" / "leakage.html").read_text()
    assert "image_pairs 0, audio_pairs 0" in capsys.readouterr().out


def test_injected_leaks_are_all_found(tmp_path, media):
    data = clean_dataset(tmp_path, media)
    feats = media["feats"]
    # 1: train clip 0 re-encoded, under a new id and a new source video, in test
    data.add("leak_reenc", "newvid1", "test", 0, *media["reencoded"])
    # 2: a mirrored, JPEG-recompressed copy of train clip 3's frames, with unrelated audio
    mirrored = np.stack([jpeg(f[:, ::-1]) for f in feats[3][1]])
    data.add("leak_mirror", "newvid2", "test", 3, feats[15][0], mirrored)
    # 3: val clip 6's audio at a quarter of the gain, with unrelated frames, in test
    data.add("leak_gain", "newvid3", "test", 1, media["gain"], feats[16][1])
    assert audit.main(data.write()) == 1
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())

    images = {(r["video_a"], r["split_a"], r["video_b"], r["split_b"]): r for r in report["image_pairs"]}
    assert set(images) == {("vid00", "train", "newvid1", "test"), ("vid03", "train", "newvid2", "test")}
    assert images[("vid03", "train", "newvid2", "test")]["mirrored"] is True
    assert images[("vid00", "train", "newvid1", "test")]["matching_segment_pairs"] >= 2
    assert all(r["distance"] <= 10 for r in images.values())

    sounds = {(r["clip_a"], r["clip_b"]): r for r in report["audio_pairs"]}
    assert set(sounds) == {("clip00", "leak_reenc"), ("clip06", "leak_gain")}
    assert (sounds[("clip06", "leak_gain")]["split_a"], sounds[("clip06", "leak_gain")]["split_b"]) == ("val", "test")
    for r in sounds.values():
        assert r["distance"] < 0.3 and r["offset_s"] == 0 and r["overlap_s"] >= 1.5

    assert report["video_overlap"] == [] and report["clip_overlap"] == []
    assert report["counts"]["leaks"] == 4
    page = (tmp_path / "report" / "leakage.html").read_text()
    assert "LEAK FOUND" in page and page.count("data:image/png;base64,") == 2 * 2 + 2 * 4


def test_fail_on_leak_false_reports_but_exits_zero(tmp_path, media):
    data = clean_dataset(tmp_path, media)
    data.add("clip00", "vid00", "val", 0, *media["feats"][0])  # same clip id and video in val
    assert audit.main(data.write({"fail_on_leak": False})) == 0
    report = json.loads((tmp_path / "report" / "leakage.json").read_text())
    assert report["video_overlap"] == [{"source_video": "vid00", "splits": {"train": 2, "val": 2}}]
    assert report["clip_overlap"] == [{"clip_id": "clip00", "splits": {"train": 2, "val": 2}}]
    assert report["counts"]["imbalanced"] == 1 and report["counts"]["duplicate_segment_ids"] == 2


def test_balance_and_span_checks():
    index = pd.DataFrame(
        {
            "segment_id": list("abcdef"),
            "clip_id": ["k1", "k1", "k2", "k2", "k3", "k3"],
            "class_name": [CLASSES[0], CLASSES[0], CLASSES[1], CLASSES[1], CLASSES[0], CLASSES[1]],
            "start": [0.0, 4.0, 1.0, 2.04, 0.0, 0.0],
            "split": ["train", "train", "train", "train", "val", "val"],
        }
    )
    clips = pd.DataFrame({"clip_id": ["k1", "k2", "k3"], "event_start": [0.0, 1.0, 0.0], "event_end": [10.0, 3.0, 10.0], "duration": [4.5, 10.0, 10.0]})
    balance = checks.check_balance(index, {"train": 2, "val": 2})
    assert balance["per_class"]["train"][CLASSES[0]] == 2 and balance["per_class"]["val"][CLASSES[1]] == 1
    assert balance["problems"] == [
        "train: classes differ: " + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, [2, 2, 0, 0, 0])),
        "train: expected 2 per class, got " + ", ".join(f"{c} 0" for c in CLASSES[2:]),
        "val: classes differ: " + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, [1, 1, 0, 0, 0])),
        "val: expected 2 per class, got " + ", ".join(f"{c} {n}" for c, n in zip(CLASSES, [1, 1, 0, 0, 0])),
    ]
    # b ends past the clip's duration; d ends 0.04 s past event_end (inside the tolerance)
    assert [r["segment_id"] for r in checks.check_spans(index, clips, 0.05)] == ["b"]
    assert [r["segment_id"] for r in checks.check_spans(index, clips, 0.01)] == ["b", "d"]


def test_bad_inputs_give_one_line_errors(tmp_path, capsys):
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"audit": {"image_radius": 99}}))
    assert audit.main(["--params", str(tmp_path / "params.yaml")]) == 2
    assert "audit.image_radius" in capsys.readouterr().err
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"audit": {"radius": 3}}))
    assert audit.main(["--params", str(tmp_path / "params.yaml")]) == 2
    assert "unknown audit params ['radius']" in capsys.readouterr().err
    (tmp_path / "params.yaml").write_text("audit: {}\n")
    assert audit.main(["--params", str(tmp_path / "params.yaml"), "--index", str(tmp_path / "none.parquet")]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.parquet: no such file" in err and len(err.splitlines()) == 1
