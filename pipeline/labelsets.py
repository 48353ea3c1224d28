"""The image pool people (or the demo rater) label, and the per-class classifier sets built from it.

The pool is a deterministic function of the generator snapshots, the val/test
embeddings and the `informativity` params: the label page and the
`informativity` stage rebuild the same images with the same opaque ids, so a
label written by `s2i label` finds its image again. Ids hide model and epoch.

Like the paper: per class, equal numbers of informative and non-informative
images, drawn evenly from several snapshots, split 80/20 into train and test.
"""
from __future__ import annotations

import csv
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .embed import load_embeddings
from .loader import tensor_to_image
from .tables import CLASSES, CLASS_INDEX, check_id

SNAPSHOT_DIR = Path("models/translator/snapshots")
EMB_DIR = Path("data/embeddings")
LABELS_CSV = Path("data/labels/informativity.csv")
POOL_SPLITS = ("val", "test")
SNAPSHOT_NAME = re.compile(r"^generator_(\d{5})\.pt$")

LABEL_COLUMNS = ["image_id", "snapshot", "class_name", "label", "rater", "time"]
LABEL_VALUES = {"informative": 1, "not_informative": 0, "skip": None}


def list_snapshots(folder: str | Path = SNAPSHOT_DIR) -> list[tuple[int, Path]]:
    """(epoch, path) of every generator snapshot, by epoch."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("generator_*.pt") if (m := SNAPSHOT_NAME.match(p.name))]
    if not found:
        raise FileNotFoundError(f"{folder}: no generator snapshots (generator_NNNNN.pt); run `dvc repro translator`")
    return sorted(found)


def pick_evenly(items: list, count: int) -> list:
    """`count` items spread evenly over the list, always including the last one."""
    if count >= len(items):
        return list(items)
    if count < 1:
        raise ValueError(f"need at least one item, asked for {count}")
    picks = np.round(np.linspace(0, len(items) - 1, count)).astype(int) if count > 1 else [len(items) - 1]
    return [items[int(i)] for i in picks]


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def image_id(snapshot_digest: str, key: str, sample: int) -> str:
    """Opaque id of one generated image: tied to the snapshot's bytes, revealing neither model nor epoch."""
    return hashlib.sha1(f"{snapshot_digest}|{key}|{sample}".encode()).hexdigest()[:16]


@torch.no_grad()
def translate(G: torch.nn.Module, emb: np.ndarray | torch.Tensor, seed: int, batch_size: int = 128) -> np.ndarray:
    """uint8 N x 96 x 96 x 3 translations with test-time dropout; the same seed gives the same images."""
    device = next(G.parameters()).device
    emb = torch.as_tensor(np.asarray(emb, np.float32) if not torch.is_tensor(emb) else emb)
    torch.manual_seed(seed)
    out = [tensor_to_image(G(emb[i:i + batch_size].to(device))) for i in range(0, len(emb), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 96, 96, 3), np.uint8)


@dataclass
class Sounds:
    keys: np.ndarray       # N str
    emb: np.ndarray        # N x E float32
    classes: np.ndarray    # N int64


def load_sounds(splits=POOL_SPLITS, emb_dir: str | Path = EMB_DIR) -> Sounds:
    parts = []
    for split in splits:
        parts.append(load_embeddings(Path(emb_dir) / f"{split}.npz"))
    return Sounds(np.concatenate([p["keys"] for p in parts]).astype(str),
                  np.concatenate([p["emb"] for p in parts]).astype(np.float32),
                  np.concatenate([p["class_index"] for p in parts]).astype(np.int64))


def choose_sounds(classes: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of up to `per_class` sounds of every class, seeded, in index order."""
    rng = np.random.default_rng(seed)
    picks = []
    for c in range(len(CLASSES)):
        members = np.flatnonzero(classes == c)
        picks.append(rng.choice(members, size=min(per_class, len(members)), replace=False))
    return np.sort(np.concatenate(picks))


@dataclass
class Pool:
    records: pd.DataFrame   # image_id, snapshot, epoch, key, class_name, class_index, sample
    images: np.ndarray      # uint8 N x 96 x 96 x 3, row-aligned with records


def build_pool(snapshots: list[tuple[int, Path]], sounds: Sounds, p: dict, load_generator) -> Pool:
    """Translate the chosen sounds with each chosen snapshot, `samples_per_sound` dropout samples each."""
    chosen = pick_evenly(snapshots, p["snapshots"])
    idx = choose_sounds(sounds.classes, p["sounds_per_class"], p["seed"])
    rows, images = [], []
    for epoch, path in chosen:
        G, digest = load_generator(path), file_digest(path)
        for sample in range(p["samples_per_sound"]):
            imgs = translate(G, sounds.emb[idx], seed=p["seed"] * 100_003 + epoch * 101 + sample)
            images.append(imgs)
            for k in idx:
                key = str(sounds.keys[k])
                rows.append({"image_id": image_id(digest, key, sample), "snapshot": path.name, "epoch": epoch,
                             "key": key, "class_name": CLASSES[sounds.classes[k]],
                             "class_index": int(sounds.classes[k]), "sample": sample})
    return Pool(pd.DataFrame(rows), np.concatenate(images))


# ---- labels CSV -------------------------------------------------------------------------------

def read_labels(path: str | Path = LABELS_CSV) -> pd.DataFrame:
    """The labels CSV in file order (empty table when the file is missing)."""
    path = Path(path)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype="string") for c in LABEL_COLUMNS})
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in LABEL_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: labels CSV lacks columns {missing}")
        numbered = [(reader.line_num, row) for row in reader]  # line_num counts blank lines too
    rows = [row for _, row in numbered]
    for n, row in numbered:
        if None in row or None in row.values():  # DictReader files extra fields under None, fills missing with None
            more_or_fewer = "more" if None in row else "fewer"
            raise ValueError(f"{path}: line {n}: {more_or_fewer} fields than the {len(reader.fieldnames)} of the header")
        if row["label"] not in LABEL_VALUES:
            raise ValueError(f"{path}: line {n}: label {row['label']!r} is not one of {sorted(LABEL_VALUES)}")
        if row["class_name"] not in CLASS_INDEX:
            raise ValueError(f"{path}: line {n}: unknown class {row['class_name']!r}")
        check_id(row["image_id"], f"image_id on line {n} of {path}")
    return pd.DataFrame(rows, columns=LABEL_COLUMNS).astype("string")


def resolved_labels(labels: pd.DataFrame, exclude_rater: str | None = None) -> dict[str, int]:
    """image_id -> 1/0 from the latest non-skip row of each image (optionally ignoring one rater)."""
    out: dict[str, int] = {}
    for row in labels.itertuples(index=False):
        if exclude_rater is not None and row.rater == exclude_rater:
            continue
        value = LABEL_VALUES[row.label]
        if value is not None:
            out[row.image_id] = value
    return out


# ---- classifier sets ----------------------------------------------------------------------------

def balanced_sets(records: pd.DataFrame, labels: np.ndarray, per_class: int, test_share: float,
                  seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Per class name: {"train": row indices, "test": row indices} into `records`.

    labels: 1 / 0 per row, or -1 for unlabelled rows (left out). Each class gets
    k = min(per_class // 2, informative, non-informative) images of each label,
    taken round-robin over snapshots (so evenly drawn from them), each label split
    into test (round(k * test_share), at least 1 when k >= 2) and train.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    sets = {}
    for c, name in enumerate(CLASSES):
        of_class = records["class_index"].to_numpy() == c
        candidates = {v: np.flatnonzero(of_class & (labels == v)) for v in (0, 1)}
        k = min(per_class // 2, len(candidates[0]), len(candidates[1]))
        train, test = [], []
        for v in (0, 1):
            picked = _round_robin(candidates[v], records["epoch"].to_numpy(), k, rng)
            n_test = min(k - 1, max(1, round(k * test_share))) if k >= 2 else 0
            test += list(picked[:n_test])
            train += list(picked[n_test:])
        sets[name] = {"train": np.sort(np.asarray(train, np.int64)), "test": np.sort(np.asarray(test, np.int64))}
    return sets


def _round_robin(rows: np.ndarray, epochs: np.ndarray, k: int, rng) -> np.ndarray:
    """k rows taken in turn from each snapshot's shuffled rows, then shuffled."""
    groups = [rng.permutation(rows[epochs[rows] == e]) for e in np.unique(epochs[rows])]
    picked, depth = [], 0
    while len(picked) < k:
        for g in groups:
            if depth < len(g) and len(picked) < k:
                picked.append(g[depth])
        depth += 1
    return rng.permutation(np.asarray(picked, np.int64))
