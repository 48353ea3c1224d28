"""Stage `embed`: the frozen encoder's embedding of every segment of every split.

    python -m pipeline.embed

Reads models/autoencoder/best.pt and data/shards; writes
data/embeddings/{train,val,test}.npz with `keys`, `emb` (N x E float32 in
[-1, 1]) and `class_index`, in shard order.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from s2i_models import AudioAutoencoder, load_checkpoint, pick_device, restore

from .loader import MelScale
from .params import load_params
from .tables import SPLITS, atomic_path
from .wds import decode_npy, iter_tar, shard_paths

SHARD_DIR = Path("data/shards")
OUT_DIR = Path("data/embeddings")
CHECKPOINT = Path("models/autoencoder/best.pt")


EMBEDDING_ARRAYS = ("keys", "emb", "class_index")


def load_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of one data/embeddings/<split>.npz, read in full; a missing or damaged file stops
    the stage with one line naming it and the command that rebuilds it."""
    path = Path(path)
    rebuild = "rebuild it with `dvc repro embed` (or `python -m pipeline.embed`)"
    if not path.is_file():
        raise SystemExit(f"{path}: embeddings missing; {rebuild}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise SystemExit(f"{path}: unreadable embeddings ({type(err).__name__}: {err}); {rebuild}") from None
    missing = [name for name in EMBEDDING_ARRAYS if name not in arrays]
    if missing:
        raise SystemExit(f"{path}: embeddings lack arrays {missing}; {rebuild}")
    return arrays


def build_encoder(ckpt: dict) -> AudioAutoencoder:
    """The (untrained) autoencoder a checkpoint's metadata describes."""
    return AudioAutoencoder(ckpt["emb_dim"], ckpt["width"], ckpt["extra"].get("output_bn", True))


def load_encoder(path: Path = CHECKPOINT, device=None) -> tuple[AudioAutoencoder, MelScale]:
    ckpt = load_checkpoint(path)
    model = build_encoder(ckpt)
    restore(ckpt, {"autoencoder": model})
    return model.to(device or "cpu").eval(), MelScale(**ckpt["extra"]["mel_scale"])


@torch.no_grad()
def embed_mels(model: AudioAutoencoder, scale: MelScale, mels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """N x 128 x 100 raw log-Mels -> N x E embeddings."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(mels), batch_size):
        batch = torch.from_numpy(scale.apply(mels[i:i + batch_size])).unsqueeze(1).to(device)
        out.append(model.encode(batch).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.emb_dim), np.float32)


def embed_split(model, scale, split: str, batch_size: int) -> dict[str, np.ndarray]:
    keys, classes, mels = [], [], []
    for path in shard_paths(SHARD_DIR, split):
        for key, fields in iter_tar(path):
            keys.append(key)
            classes.append(json.loads(fields["json"])["class_index"])
            mels.append(decode_npy(fields["mel.npy"]))
    emb = embed_mels(model, scale, np.stack(mels), batch_size)
    return {"keys": np.asarray(keys), "emb": emb.astype(np.float32), "class_index": np.asarray(classes, np.int64)}


def main() -> None:
    main_with(load_params()["embed"])


def main_with(params: dict) -> None:
    model, scale = load_encoder(device=pick_device())
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        arrays = embed_split(model, scale, split, params["batch_size"])
        with atomic_path(OUT_DIR / f"{split}.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        print(f"embed: {split} {arrays['emb'].shape}")


if __name__ == "__main__":
    main()
