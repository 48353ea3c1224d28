"""Sound embeddings: the frozen encoder run over log-Mels, and the data/embeddings arrays read back,
alone or as (embedding, image) pairs with the frames of the same samples.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import torch

from s2i_models import AudioAutoencoder, load_checkpoint
from s2i_models.rebuild import restored_encoder

from pipeline.core import paths
from pipeline.core.errors import InputFileError
from pipeline.dataset.loader import MelScale, SplitArrays, load_split
from pipeline.dataset.wds import decode_npy, iter_tar, shard_paths

SHARD_DIR = paths.SHARDS
OUT_DIR = paths.EMBEDDINGS
CHECKPOINT = paths.AUTOENCODER_BEST


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


def check_same_samples(arrays: dict[str, np.ndarray], images: SplitArrays, emb_dir: str | Path, split: str) -> None:
    """The embeddings of emb_dir/<split>.npz must be those of the split's shard samples, in the same order."""
    if list(arrays["keys"]) != images.keys:
        raise RuntimeError(f"{emb_dir}/{split}.npz does not match the {split} shards; rerun `dvc repro embed`")


def load_pairs(split: str, device, emb_dir: str | Path = OUT_DIR, shard_dir: str | Path = SHARD_DIR) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Embeddings (N x E float) and real images (N x 96 x 96 x 3 uint8, kept compact) on device."""
    arrays = load_embeddings(Path(emb_dir) / f"{split}.npz")
    images = load_split(shard_dir, split)
    check_same_samples(arrays, images, emb_dir, split)
    return (torch.from_numpy(arrays["emb"]).to(device), torch.from_numpy(images.images).to(device), arrays["class_index"])


def load_encoder(path: Path = CHECKPOINT, device=None) -> tuple[AudioAutoencoder, MelScale]:
    ckpt = load_checkpoint(path)
    model = restored_encoder(ckpt)
    return model.to(device or "cpu").eval(), MelScale(**ckpt["extra"]["mel_scale"])


@torch.no_grad()
def embed_mels(model: AudioAutoencoder, scale: MelScale, mels: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """N x 128 x 100 raw log-Mels -> N x E embeddings."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(mels), batch_size):
        batch = torch.from_numpy(scale.apply(mels[i : i + batch_size])).unsqueeze(1).to(device)
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
