"""Sound embeddings: the frozen encoder run over log-Mels, and the data/embeddings arrays read back.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from s2i_models import AudioAutoencoder, load_checkpoint, restore
from s2i_models.rebuild import encoder_for

from pipeline.core.errors import InputFileError
from pipeline.dataset.loader import MelScale
from pipeline.dataset.wds import decode_npy, iter_tar, shard_paths

SHARD_DIR = Path("data/shards")
OUT_DIR = Path("data/embeddings")
CHECKPOINT = Path("models/autoencoder/best.pt")


EMBEDDING_ARRAYS = ("keys", "emb", "class_index")


def load_embeddings(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of one data/embeddings/<split>.npz, read in full; a missing or damaged file is an
    InputFileError naming it and the command that rebuilds it."""
    path = Path(path)
    rebuild = "rebuild it with `dvc repro embed` (or `python -m pipeline.stages.embed`)"
    if not path.is_file():
        raise InputFileError(f"{path}: embeddings missing; {rebuild}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise InputFileError(f"{path}: unreadable embeddings ({type(err).__name__}: {err}); {rebuild}") from None
    missing = [name for name in EMBEDDING_ARRAYS if name not in arrays]
    if missing:
        raise InputFileError(f"{path}: embeddings lack arrays {missing}; {rebuild}")
    return arrays


def load_encoder(path: Path = CHECKPOINT, device=None) -> tuple[AudioAutoencoder, MelScale]:
    ckpt = load_checkpoint(path)
    model = encoder_for(ckpt)
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
