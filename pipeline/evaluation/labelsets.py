"""The image pool people (or the demo rater) label, and the per-class classifier sets built from it.

The pool is a deterministic function of the generator snapshots, the val
embeddings and the `informativity` params: the label page and the
`informativity` stage rebuild the same images with the same opaque ids, so a
label written by `s2i label` finds its image again. Ids hide model and epoch.

Like the paper: the pool holds translations of validation sounds only (the
test sounds are what `evaluate` judges), and per class the classifier set has
equal numbers of informative and non-informative images, drawn evenly from
several snapshots. Its train/test split goes by source video: all images of
one video's sounds (dropout twins and snapshots alike) land on one side.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from s2i_models.rebuild import load_generator
from s2i_models.rng import RandomStream

from pipeline.core import paths
from pipeline.core.tables import CLASSES, CLASS_INDEX, check_id
from pipeline.dataset import wds
from pipeline.dataset.embeddings import load_embeddings
from pipeline.dataset.loader import tensor_to_image
from pipeline.training import schedule

SNAPSHOT_DIR = paths.SNAPSHOTS
EMB_DIR = paths.EMBEDDINGS
SHARD_DIR = paths.SHARDS
LABELS_CSV = paths.LABELS_CSV
POOL_SPLITS = ("val",)  # never "test": evaluate judges the test sounds with these classifiers
SNAPSHOT_NAME = re.compile(r"^generator_(\d{5})\.pt$")

LABEL_COLUMNS = ["image_id", "snapshot", "class_name", "label", "rater", "time"]
LABEL_VALUES = {"informative": 1, "not_informative": 0, "skip": None}


def list_snapshots(folder: str | Path = SNAPSHOT_DIR) -> list[tuple[int, Path]]:
    """(epoch, path) of every generator snapshot, by epoch."""
    found = [(int(m.group(1)), p) for p in Path(folder).glob("generator_*.pt") if (m := SNAPSHOT_NAME.match(p.name))]
    if not found:
        raise FileNotFoundError(f"{folder}: no generator snapshots (generator_NNNNN.pt); run `dvc repro translator`")
    return sorted(found)


def run_snapshots(snapshot_dir: str | Path, translator_p: dict) -> list[tuple[int, Path]]:
    """The snapshots the translator params describe (`schedule.snapshot_epochs`), all present."""
    every, last = translator_p["snapshot_every"], translator_p["epochs"]
    wanted = schedule.translator_snapshots(translator_p)
    found = dict(list_snapshots(snapshot_dir))
    missing = [e for e in wanted if e not in found]
    if missing:
        raise FileNotFoundError(
            f"{snapshot_dir}: no snapshot of epoch(s) {missing[:5]}{' ...' * (len(missing) > 5)} (translator.snapshot_every {every}, epochs {last}); run `dvc repro translator`"
        )
    return [(e, found[e]) for e in wanted]


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
    with RandomStream(seed, device):  # the dropout draws of this call only
        out = [tensor_to_image(G(emb[i : i + batch_size].to(device))) for i in range(0, len(emb), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, 96, 96, 3), np.uint8)


@dataclass
class Sounds:
    keys: np.ndarray  # N str
    emb: np.ndarray  # N x E float32
    classes: np.ndarray  # N int64
    videos: np.ndarray  # N str: the source video of each sound


def shard_videos(shard_dir: str | Path, split: str) -> dict[str, str]:
    """key -> source video of every sample of a split (reads only the shards' json)."""
    out = {}
    for path in wds.shard_paths(shard_dir, split):
        for key, fields in wds.iter_tar(path):
            out[key] = json.loads(fields["json"])["source_video"]
    return out


def load_sounds(splits=POOL_SPLITS, emb_dir: str | Path = EMB_DIR, shard_dir: str | Path = SHARD_DIR) -> Sounds:
    if "test" in splits:
        raise ValueError("the classifier pool never holds test sounds (evaluate judges them)")
    parts, videos = [], []
    for split in splits:
        path = Path(emb_dir) / f"{split}.npz"
        parts.append(load_embeddings(path))
        by_key = shard_videos(shard_dir, split)
        missing = [str(k) for k in parts[-1]["keys"] if str(k) not in by_key]
        if missing:
            raise RuntimeError(f"{path}: {len(missing)} keys (e.g. {missing[0]}) are not in the {split} shards of {shard_dir}; rerun `dvc repro embed`")
        videos += [by_key[str(k)] for k in parts[-1]["keys"]]
    return Sounds(
        np.concatenate([p["keys"] for p in parts]).astype(str),
        np.concatenate([p["emb"] for p in parts]).astype(np.float32),
        np.concatenate([p["class_index"] for p in parts]).astype(np.int64),
        np.asarray(videos, dtype=str),
    )


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
    records: pd.DataFrame  # image_id, snapshot, epoch, key, source_video, class_name, class_index, sample
    images: np.ndarray  # uint8 N x 96 x 96 x 3, row-aligned with records


def build_pool(snapshots: list[tuple[int, Path]], sounds: Sounds, p: dict) -> Pool:
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
                rows.append(
                    {
                        "image_id": image_id(digest, key, sample),
                        "snapshot": path.name,
                        "epoch": epoch,
                        "key": key,
                        "source_video": str(sounds.videos[k]),
                        "class_name": CLASSES[sounds.classes[k]],
                        "class_index": int(sounds.classes[k]),
                        "sample": sample,
                    }
                )
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


@dataclass
class ClassSet:
    """One class's classifier set: row indices into the pool, or why the class cannot be measured."""

    train: np.ndarray
    test: np.ndarray
    test_videos: list[str]
    reason: str | None = None  # None: measurable


def balanced_sets(records: pd.DataFrame, labels: np.ndarray, per_class: int, test_share: float, seed: int) -> dict[str, ClassSet]:
    """Per class name, its classifier set, split into train and test by source video.

    labels: 1 / 0 per row, or -1 for unlabelled rows (left out). The class's
    videos are split so that both sides hold both kinds of label, as close to
    `test_share` of a balanced set of `per_class` images as the videos allow;
    each side then takes equal numbers of informative and non-informative
    images, round-robin over snapshots (so evenly drawn from them). A class
    with no such split gets empty sets and a reason.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    videos, epochs = records["source_video"].to_numpy().astype(str), records["epoch"].to_numpy()
    half = per_class // 2
    want_test = min(half - 1, max(1, round(half * test_share)))
    sets = {}
    for c, name in enumerate(CLASSES):
        of_class = records["class_index"].to_numpy() == c
        rows = {v: np.flatnonzero(of_class & (labels == v)) for v in (0, 1)}
        test_videos, reason = split_videos(videos, rows, want_test, half - want_test, rng)
        train, test = [], []
        if reason is None:
            in_test = np.isin(videos, test_videos)
            for side, want, out in ((True, want_test, test), (False, half - want_test, train)):
                side_rows = {v: rows[v][in_test[rows[v]] == side] for v in (0, 1)}
                k = min(want, len(side_rows[0]), len(side_rows[1]))
                for v in (0, 1):
                    out += list(_round_robin(side_rows[v], epochs, k, rng))
        sets[name] = ClassSet(np.sort(np.asarray(train, np.int64)), np.sort(np.asarray(test, np.int64)), test_videos, reason)
    return sets


def split_videos(videos: np.ndarray, rows: dict[int, np.ndarray], want_test: int, want_train: int, rng, max_tries: int = 4096) -> tuple[list[str], str | None]:
    """The test videos of one class, or ([], why no split works).

    Every subset of the class's videos is tried (`max_tries` seeded random ones
    when there are too many): first wanted, both sides hold both labels; then
    the most images in the balanced set of (want_test, want_train) per label;
    then the smallest test side.
    """
    n_labels = {v: len(rows[v]) for v in (0, 1)}
    if min(n_labels.values()) == 0:
        return [], f"{n_labels[1]} informative and {n_labels[0]} not-informative labelled images"
    names = sorted(set(videos[rows[0]]) | set(videos[rows[1]]))
    if len(names) < 2:
        return [], f"all labelled images come from one source video ({names[0]}); a split by video needs two"
    count = {v: {name: int(np.sum(videos[rows[v]] == name)) for name in names} for v in (0, 1)}
    if len(names) <= 12:
        subsets = [s for r in range(1, len(names)) for s in itertools.combinations(names, r)]
    else:
        subsets = [tuple(n for n, keep in zip(names, rng.random(len(names)) < 0.5) if keep) for _ in range(max_tries)]
        subsets = [s for s in subsets if 0 < len(s) < len(names)]
    best, best_score = None, None
    for subset in subsets:
        test = [sum(count[v][n] for n in subset) for v in (0, 1)]
        train = [n_labels[v] - test[v] for v in (0, 1)]
        k_test, k_train = min(want_test, *test), min(want_train, *train)
        score = (k_test > 0 and k_train > 0, k_test + k_train, -sum(test))
        if best_score is None or score > best_score:
            best, best_score = subset, score
    if not best_score[0]:
        per_video = ", ".join(f"{n}: {count[1][n]}/{count[0][n]}" for n in names)
        return [], f"no split by source video has both labels on both sides (informative/not per video: {per_video})"
    return sorted(best), None


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
