"""The informativity classifiers (one binary net per class) and the 5-way class-match judge: sets,
training, checkpoints, predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from s2i_models import InformativityClassifier, load_checkpoint, make_optimizer
from s2i_models.rebuild import class_match_net, classifier_for, restored
from s2i_models.rng import RandomStream

from pipeline.core import paths
from pipeline.core.errors import S2IError
from pipeline.core.tables import CLASS_CODES, CLASSES, atomic_path, write_text
from pipeline.dataset.loader import image_to_tensor, load_split
from pipeline.demo_world import rater as demo_rater
from pipeline.evaluation import labelsets
from pipeline.training.distributed import context

OUT_DIR = paths.INFORMATIVITY
ACQUIRE = paths.ACQUIRE_SUMMARY
METRICS = paths.INFORMATIVITY_METRICS
SHARD_DIR = paths.SHARDS


# ---- predictions --------------------------------------------------------------------------------


def features_and_predictions(net: InformativityClassifier, images_u8: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Penultimate-layer features (N x hidden) and the most likely class per image, in one eval-mode pass."""
    net.eval()
    feats, preds = [], []
    with torch.no_grad():
        for i in range(0, len(images_u8), batch_size):
            hidden = net.head[:4](net.features(image_to_tensor(images_u8[i : i + batch_size])))
            feats.append(hidden.numpy())
            preds.append(net.head[4:](hidden).argmax(dim=1).numpy())
    if not feats:
        return np.zeros((0, net.head[5].in_features), np.float32), np.zeros(0, np.int64)
    return np.concatenate(feats), np.concatenate(preds)


def features(net: InformativityClassifier, images_u8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate-layer features (N x hidden) of a classifier in eval mode."""
    return features_and_predictions(net, images_u8, batch_size)[0]


def predict(net: InformativityClassifier, images_u8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Most likely class per image (eval mode)."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images_u8), batch_size):
            out.append(net(image_to_tensor(images_u8[i : i + batch_size])).argmax(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def training_device() -> torch.device:
    """Where `fit` trains: this rank's device under torchrun, else the CPU."""
    ctx = context()
    return ctx.device if ctx.distributed else torch.device("cpu")


def seeded_stream(seed: int) -> RandomStream:
    """This rank's random stream for building and training one classifier (weight init, dropout), seeded as
    torch.manual_seed(rank_seed(seed)) was, without reseeding the process."""
    return RandomStream(context().rank_seed(seed), training_device())


def fit(net: nn.Module, images_u8: np.ndarray, targets: np.ndarray, p: dict, desc: str) -> list[float]:
    """Mini-batch SGD (the paper's lr 0.001, momentum 0.9, weight decay 5e-5 unless p overrides); loss per epoch.

    Under torchrun each process trains on its slice of every batch (on its GPU when there is one; one
    process trains on the CPU); a batch that does not split evenly into slices of two or more is skipped.
    """
    ctx = context()
    device = training_device()
    opt = make_optimizer("informativity", net.parameters(), lr=p["lr"], momentum=p["momentum"], weight_decay=p["weight_decay"])
    trained = ctx.wrap(net.to(device), p["sync_bn"])
    gen = torch.Generator().manual_seed(p["seed"])
    targets_t = torch.as_tensor(targets, dtype=torch.int64)
    losses = []
    for _ in tqdm(range(p["epochs"]), desc=desc, unit="epoch", leave=False, disable=not ctx.is_main):
        net.train()
        order, total = torch.randperm(len(images_u8), generator=gen), 0.0
        for i in range(0, len(order), p["batch_size"]):
            idx = order[i : i + p["batch_size"]]
            if len(idx) < 2 * ctx.world_size or len(idx) % ctx.world_size:  # BatchNorm needs two samples
                continue
            mine = ctx.local_part(idx)
            loss = F.nll_loss(trained(image_to_tensor(images_u8[mine.numpy()]).to(device)), targets_t[mine].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(ctx.mean({"loss": total / max(1, len(order))})["loss"])
    net.cpu()
    return losses


def accuracy(net, images_u8, targets) -> float | None:
    return float(np.mean(predict(net, images_u8) == np.asarray(targets))) if len(targets) else None


# ---- saving and loading -------------------------------------------------------------------------


def save_classifier(path: Path, net: nn.Module | None, width: float, extra: dict) -> None:
    """A classifier checkpoint; net None (an unmeasured class) saves only `extra`, which holds the reason."""
    models = {"classifier": net} if net is not None else {}
    context().save_checkpoint(path, models=models, emb_dim=0, width=width, epoch=0, extra=extra, with_rng=False)


class Unmeasured:
    """Stands in for the classifier of a class that cannot be measured; `reason` says why."""

    def __init__(self, reason: str):
        self.reason = reason

    def predict(self, images_u8: np.ndarray) -> np.ndarray:
        raise RuntimeError(f"this class cannot be measured: {self.reason}")


def load_binary(path: str | Path):
    """An informativity classifier: .predict(images) -> 0/1 per image, .reason None; or an Unmeasured."""
    ckpt = load_checkpoint(path)
    reason = ckpt["extra"].get("unmeasured")
    if reason is not None:
        return Unmeasured(reason)
    net = restored(classifier_for, ckpt, "classifier")
    net.eval()
    net.predict = lambda images: predict(net, images)
    net.reason = None
    return net


def load_class_match(path: str | Path = OUT_DIR / "class_match.pt") -> InformativityClassifier:
    ckpt = load_checkpoint(path)
    return restored(lambda c: class_match_net(c["width"], len(CLASSES)), ckpt, "classifier").eval()


# ---- the stage ----------------------------------------------------------------------------------


class LabelSourceError(S2IError):
    """The pool cannot be labelled: no usable human labels, and the demo rater does not apply."""


def data_source(acquire_json: str | Path = ACQUIRE) -> str:
    """The data source acquire recorded (`demo`, `vegas_archive`, ...)."""
    path = Path(acquire_json)
    if not path.is_file():
        raise LabelSourceError(f"{path}: missing, so the data source is unknown; run `dvc repro acquire`")
    source = json.loads(path.read_text()).get("source")
    if not source:
        raise LabelSourceError(f"{path}: has no 'source' field; run `dvc repro acquire`")
    return str(source)


def require_demo_world(acquire_json: str | Path = ACQUIRE) -> None:
    """The demo rater knows only the demo world's scenes: refuse anything else."""
    source = data_source(acquire_json)
    if source != "demo":
        raise LabelSourceError(
            f"{acquire_json}: data source is {source!r}, and the demo rater only knows the demo world; label the pool with `s2i label` (writes {labelsets.LABELS_CSV})"
        )


def human_labels(labels_csv: Path, acquire_json: str | Path = ACQUIRE) -> dict[str, int]:
    """image_id -> 1/0 from people; empty when there are none and the demo rater may label (demo world only)."""
    human = labelsets.resolved_labels(labelsets.read_labels(labels_csv), exclude_rater=demo_rater.RATER)
    if not human:
        require_demo_world(acquire_json)
    return human


def pool_labels(pool: labelsets.Pool, human: dict[str, int], labels_csv: Path, threshold: float) -> tuple[np.ndarray, str]:
    """1 / 0 / -1 (unlabelled) per pool image, and where the labels came from."""
    if human:
        ids = pool.records["image_id"].to_numpy()
        found = np.asarray([human.get(i, -1) for i in ids], np.int64)
        unmatched = len(set(human) - set(ids))
        if unmatched:
            print(f"{labels_csv}: {unmatched} labelled images are not in the current pool (other models?); ignored")
        if (found >= 0).sum() == 0:
            raise LabelSourceError(f"{labels_csv}: none of its human labels matches an image of the current pool; label the current models with `s2i label`")
        return found, "people"
    print(f"{labels_csv}: no human labels; the demo rater labels the pool (a stand-in for people)")
    return demo_rater.label(pool.images, list(pool.records["class_name"]), threshold), demo_rater.RATER


def train_binary_classifiers(pool: labelsets.Pool, labels: np.ndarray, p: dict, out_dir: Path) -> tuple[dict, pd.DataFrame]:
    sets = labelsets.balanced_sets(pool.records, labels, p["per_class"], p["test_share"], p["seed"])
    report, rows = {}, []
    for c, name in enumerate(CLASSES):
        cs = sets[name]
        for part, idx in (("train", cs.train), ("test", cs.test)):
            for i in idx:
                rows.append(
                    {
                        "image_id": pool.records["image_id"].iat[i],
                        "class_name": name,
                        "part": part,
                        "label": int(labels[i]),
                        "epoch": int(pool.records["epoch"].iat[i]),
                        "source_video": pool.records["source_video"].iat[i],
                    }
                )
        class_labels = labels[pool.records["class_index"].to_numpy() == c]
        entry = {
            "informative_in_pool": int((class_labels == 1).sum()),
            "not_informative_in_pool": int((class_labels == 0).sum()),
            "train": int(len(cs.train)),
            "test": int(len(cs.test)),
            "test_videos": len(cs.test_videos),
            "accuracy": None,
            "measured": False,
            "unmeasured": cs.reason,
        }
        path = out_dir / f"{CLASS_CODES[c]}.pt"
        net = None
        if cs.reason is None:
            with seeded_stream(p["seed"] + c):
                net = InformativityClassifier(p["width"])
                losses = fit(net, pool.images[cs.train], labels[cs.train], p, desc=f"informativity {name}")
                said = predict(net, pool.images[np.concatenate([cs.train, cs.test])])
                entry.update(
                    accuracy=accuracy(net, pool.images[cs.test], labels[cs.test]), train_accuracy=accuracy(net, pool.images[cs.train], labels[cs.train]), final_loss=losses[-1]
                )
            if len(np.unique(said)) == 1:
                entry["unmeasured"] = f"the classifier says {'not ' * (1 - int(said[0]))}informative for all {len(said)} images of its balanced set"
                net = None
        entry["measured"] = entry["unmeasured"] is None
        save_classifier(path, net, p["width"], {"class_name": name, "unmeasured": entry["unmeasured"]})
        if entry["measured"]:
            print(f"{name}: test accuracy {entry['accuracy']:.3f} on {len(cs.test)} images of {len(cs.test_videos)} held-out videos")
        else:
            print(f"{name}: cannot be measured: {entry['unmeasured']}")
        report[name] = entry
    columns = ["image_id", "class_name", "part", "label", "epoch", "source_video"]
    return report, pd.DataFrame(rows, columns=columns)


def train_class_match(p: dict, out_dir: Path, shard_dir: Path = SHARD_DIR) -> dict:
    """5-way classifier on real train frames; its accuracy on real val frames."""
    train, val = load_split(shard_dir, "train"), load_split(shard_dir, "val")
    with seeded_stream(p["seed"]):
        net = class_match_net(p["width"], len(CLASSES))
        fit(net, train.images, train.class_index, p, desc="class-match classifier")
    save_classifier(out_dir / "class_match.pt", net, p["width"], {"classes": CLASSES})
    return {"val_accuracy": accuracy(net, val.images, val.class_index), "train_accuracy": accuracy(net, train.images, train.class_index)}


def run(
    p: dict,
    translator_p: dict,
    snapshot_dir=labelsets.SNAPSHOT_DIR,
    emb_dir=labelsets.EMB_DIR,
    labels_csv=labelsets.LABELS_CSV,
    out_dir=OUT_DIR,
    shard_dir=SHARD_DIR,
    metrics_path=METRICS,
    acquire_json=ACQUIRE,
) -> dict:
    ctx = context()  # under torchrun: joins the process group, quiets other ranks' stdout
    out_dir = Path(out_dir)
    human = human_labels(Path(labels_csv), acquire_json)
    sounds = labelsets.load_sounds(emb_dir=emb_dir, shard_dir=shard_dir)
    pool = labelsets.build_pool(labelsets.run_snapshots(snapshot_dir, translator_p), sounds, p)
    labels, source = pool_labels(pool, human, Path(labels_csv), p["rater_threshold"])
    per_class, sets = train_binary_classifiers(pool, labels, p, out_dir)
    class_match = train_class_match({**p, **p["class_match"]}, out_dir, Path(shard_dir))
    accuracies = [v["accuracy"] for v in per_class.values() if v["measured"]]
    report = {
        "label_source": source,
        "pool_images": int(len(pool.records)),
        "pool_splits": list(labelsets.POOL_SPLITS),
        "informative_share_of_pool": float(np.mean(labels[labels >= 0])) if (labels >= 0).any() else None,
        "classifiers": per_class,
        "mean_accuracy": float(np.mean(accuracies)) if accuracies else None,
        "classes_measured": len(accuracies),
        "class_match": class_match,
    }
    if ctx.is_main:
        with atomic_path(out_dir / "sets.csv") as tmp:
            sets.to_csv(tmp, index=False)
        write_text(json.dumps(report, indent=2) + "\n", metrics_path)
    return report
