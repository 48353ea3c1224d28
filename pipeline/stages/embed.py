"""Stage `embed`: the frozen encoder's embedding of every segment of every split.

    python -m pipeline.stages.embed

Reads models/autoencoder/best.pt and data/shards; writes
data/embeddings/{train,val,test}.npz with `keys`, `emb` (N x E float32 in
[-1, 1]) and `class_index`, in shard order.
"""

from __future__ import annotations

import sys

import numpy as np

from s2i_models import pick_device

from pipeline.core import paths
from pipeline.core.errors import exit_status
from pipeline.core.settings import stage_params
from pipeline.core.tables import SPLITS, atomic_path
from pipeline.dataset.embeddings import embed_split, load_encoder

READS = ("embed",)


def main() -> None:
    main_with(stage_params(READS).embed)


def main_with(params: dict) -> None:
    model, scale = load_encoder(paths.AUTOENCODER_BEST, device=pick_device())
    paths.EMBEDDINGS.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        arrays = embed_split(model, scale, split, params["batch_size"])
        with atomic_path(paths.EMBEDDINGS / f"{split}.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        print(f"embed: {split} {arrays['emb'].shape}")


if __name__ == "__main__":
    sys.exit(exit_status("embed", main))
