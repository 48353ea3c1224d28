"""A tiny workspace with synthetic shards, for testing the model stages without the demo world."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.core.params import load_params
from pipeline.dataset import wds

SPLIT_SIZES = {"train": 40, "val": 10, "test": 10}
DEFAULTS = load_params(Path(__file__).resolve().parents[1] / "params.yaml")

# The repository's defaults, made small.
AE_PARAMS = {**DEFAULTS["autoencoder"], **dict(width=0.0625, epochs=2, batch_size=8, optimizer="sgd", lr=0.05, momentum=0.9, shuffle_buffer=16, nproc=1)}
TRANSLATOR_PARAMS = {**DEFAULTS["translator"], **dict(generator="dense", width=0.0625, epochs=3, batch_size=8, d_every=2, d_unit="epoch", snapshot_every=1, nproc=1)}


def synthetic_sample(rng, c: int):
    mel = rng.normal(-8, 1, (128, 100)).astype(np.float32)
    mel[20 * c : 20 * c + 20] += 6  # each class has its own loud band
    image = np.zeros((96, 96, 3), np.uint8)
    image[...] = [(50 * c) % 256, 255 - 40 * c, 120]
    image = np.clip(image + rng.integers(-20, 20, image.shape), 0, 255).astype(np.uint8)
    return mel, image


def write_synthetic_shards(root, seed: int = 0, per_shard: int = 16):
    rng = np.random.default_rng(seed)
    for split, n in SPLIT_SIZES.items():
        samples = []
        for i in range(n):
            c = i % 5
            mel, image = synthetic_sample(rng, c)
            key = f"{split}_clip{i:03d}_000000"
            meta = {
                "segment_id": key,
                "clip_id": f"{split}_clip{i:03d}",
                "source_video": f"{split}_v{i:03d}",
                "class_name": ["Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing"][c],
                "class_index": c,
                "start": 0.0,
                "split": split,
            }
            samples.append((key, {"mel.npy": wds.encode_npy(mel), "png": wds.encode_png(image), "json": wds.encode_json(meta)}))
        for k in range(0, n, per_shard):
            wds.write_tar(root / "data" / "shards" / f"{split}-{k // per_shard:06d}.tar", samples[k : k + per_shard])


class RecordingLive:
    """Stands in for dvclive's Live: keeps what a training loop logs, one dict per dvclive step (epoch)."""

    def __init__(self):
        self.steps: list[dict[str, float]] = [{}]
        self.ended = False

    def log_metric(self, name: str, value: float, plot: bool = True) -> None:
        self.steps[-1][name] = value

    def next_step(self) -> None:
        self.steps.append({})

    def end(self) -> None:
        self.ended = True

    def epochs(self, prefix: str = "train/") -> list[dict[str, float]]:
        """The steps that logged training metrics, each with the prefix taken off their names."""
        return [{k[len(prefix) :]: v for k, v in step.items() if k.startswith(prefix)} for step in self.steps if any(k.startswith(prefix) for k in step)]


def record_live(monkeypatch) -> list[RecordingLive]:
    """Every Live the training loops open from now on is a RecordingLive, appended to the list returned."""
    from pipeline.training import distributed

    opened: list[RecordingLive] = []

    def open_live(live_dir, resume):
        opened.append(RecordingLive())
        return opened[-1]

    monkeypatch.setattr(distributed, "open_live", open_live)
    return opened


def embeddings_workspace(root: Path, emb_dim: int = 32, seed: int = 0) -> Path:
    """Synthetic shards and random embeddings of matching keys under root/data: what the translator reads."""
    from pipeline.dataset.loader import load_split

    write_synthetic_shards(root)
    rng = np.random.default_rng(seed)
    (root / "data" / "embeddings").mkdir(parents=True, exist_ok=True)
    for split in SPLIT_SIZES:
        arrays = load_split(root / "data" / "shards", split)
        np.savez(
            root / "data" / "embeddings" / f"{split}.npz",
            keys=np.asarray(arrays.keys),
            emb=rng.uniform(-1, 1, (len(arrays.keys), emb_dim)).astype(np.float32),
            class_index=arrays.class_index,
        )
    return root


def build_demo_workspace(root: Path, edit) -> Path:
    """acquire -> segment -> shards on the demo world in `root`, with params.yaml edited by `edit(params)`."""
    import shutil

    import pytest
    import yaml

    from pipeline.stages import acquire, segment, shards

    repo = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    edit(params)
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "data").mkdir()
    shutil.copy(repo / "data" / "vegas_paper_split.csv", root / "data")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        acquire.main([])
        segment.main()
        shards.main()
    return root
