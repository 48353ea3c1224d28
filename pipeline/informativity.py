"""Stage `informativity`: the five per-class binary classifiers, and the 5-way class-match classifier.

    python -m pipeline.informativity

Reads the generator snapshots, data/embeddings/{val,test}.npz, the train/val
frames in data/shards and data/labels/informativity.csv (human labels; when it
has none, the demo rater labels the pool instead). Writes models/informativity/:
<class_code>.pt (binary classifiers), class_match.pt (5-way, real train frames),
sets.csv (which image went where, with its label); models/informativity_metrics.json
(classifier accuracies, a DVC metric).
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

from s2i_models import InformativityClassifier, load_checkpoint, make_optimizer, restore

from . import demo_rater, labelsets
from .distributed import context
from .loader import image_to_tensor, load_split
from .params import load_params
from .tables import CLASS_CODES, CLASSES, atomic_path, write_text

OUT_DIR = Path("models/informativity")
METRICS = Path("models/informativity_metrics.json")   # beside the output folder: DVC metrics cannot live inside an out
SHARD_DIR = Path("data/shards")


# ---- networks -----------------------------------------------------------------------------------

def class_match_net(width: float) -> InformativityClassifier:
    """The informativity network with a 5-way output: trained on real frames, judges class match."""
    net = InformativityClassifier(width)
    last = net.head[5]
    net.head[5] = nn.Linear(last.in_features, len(CLASSES))
    nn.init.xavier_uniform_(net.head[5].weight)
    nn.init.zeros_(net.head[5].bias)
    return net


def features(net: InformativityClassifier, images_u8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Penultimate-layer features (N x hidden) of a classifier in eval mode."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images_u8), batch_size):
            x = net.features(image_to_tensor(images_u8[i:i + batch_size]))
            out.append(net.head[:4](x).numpy())
    return np.concatenate(out) if out else np.zeros((0, net.head[5].in_features), np.float32)


def predict(net: InformativityClassifier, images_u8: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Most likely class per image (eval mode)."""
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(images_u8), batch_size):
            out.append(net(image_to_tensor(images_u8[i:i + batch_size])).argmax(dim=1).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.int64)


def fit(net: nn.Module, images_u8: np.ndarray, targets: np.ndarray, p: dict, desc: str) -> list[float]:
    """Mini-batch SGD (the paper's lr 0.001, momentum 0.9, weight decay 5e-5 unless p overrides); loss per epoch.

    Under torchrun each process trains on its slice of every batch (on its GPU when there is one; one
    process trains on the CPU); a batch that does not split evenly into slices of two or more is skipped.
    """
    ctx = context()
    device = ctx.device if ctx.distributed else torch.device("cpu")
    opt = make_optimizer("informativity", net.parameters(), lr=p["lr"], momentum=p["momentum"],
                         weight_decay=p["weight_decay"])
    trained = ctx.wrap(net.to(device), p["sync_bn"])
    gen = torch.Generator().manual_seed(p["seed"])
    targets_t = torch.as_tensor(targets, dtype=torch.int64)
    losses = []
    for _ in tqdm(range(p["epochs"]), desc=desc, unit="epoch", leave=False, disable=not ctx.is_main):
        net.train()
        order, total = torch.randperm(len(images_u8), generator=gen), 0.0
        for i in range(0, len(order), p["batch_size"]):
            idx = order[i:i + p["batch_size"]]
            if len(idx) < 2 * ctx.world_size or len(idx) % ctx.world_size:   # BatchNorm needs two samples
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
    """A classifier checkpoint; net None saves a constant "not informative" classifier (no labels to learn)."""
    models = {"classifier": net} if net is not None else {}
    context().save_checkpoint(path, models=models, emb_dim=0, width=width, epoch=0, extra=extra, with_rng=False)


class ConstantClassifier:
    """Stands in for a class whose labelled images were all of one kind."""

    def __init__(self, value: int):
        self.value = value

    def predict(self, images_u8: np.ndarray) -> np.ndarray:
        return np.full(len(images_u8), self.value, np.int64)


def load_binary(path: str | Path):
    """An informativity classifier: an object with .predict(images) -> 0/1 per image."""
    ckpt = load_checkpoint(path)
    if ckpt["extra"].get("constant") is not None:
        return ConstantClassifier(int(ckpt["extra"]["constant"]))
    net = InformativityClassifier(ckpt["width"])
    restore(ckpt, {"classifier": net})
    net.eval()
    net.predict = lambda images: predict(net, images)
    return net


def load_class_match(path: str | Path = OUT_DIR / "class_match.pt") -> InformativityClassifier:
    ckpt = load_checkpoint(path)
    net = class_match_net(ckpt["width"])
    restore(ckpt, {"classifier": net})
    return net.eval()


# ---- the stage ----------------------------------------------------------------------------------

def pool_labels(pool: labelsets.Pool, labels_csv: Path, threshold: float) -> tuple[np.ndarray, str]:
    """1 / 0 / -1 (unlabelled) per pool image, and where the labels came from."""
    human = labelsets.resolved_labels(labelsets.read_labels(labels_csv), exclude_rater=demo_rater.RATER)
    if human:
        ids = pool.records["image_id"].to_numpy()
        found = np.asarray([human.get(i, -1) for i in ids], np.int64)
        unmatched = len(set(human) - set(ids))
        if unmatched:
            print(f"{labels_csv}: {unmatched} labelled images are not in the current pool (other models?); ignored")
        if (found >= 0).sum() == 0:
            raise RuntimeError(f"{labels_csv}: none of its human labels matches an image of the current pool; "
                               "label the current models with `s2i label`")
        return found, "people"
    print(f"{labels_csv}: no human labels; the demo rater labels the pool (a stand-in for people)")
    return demo_rater.label(pool.images, list(pool.records["class_name"]), threshold), demo_rater.RATER


def train_binary_classifiers(pool: labelsets.Pool, labels: np.ndarray, p: dict, out_dir: Path) -> tuple[dict, pd.DataFrame]:
    sets = labelsets.balanced_sets(pool.records, labels, p["per_class"], p["test_share"], p["seed"])
    report, rows = {}, []
    for c, name in enumerate(CLASSES):
        train, test = sets[name]["train"], sets[name]["test"]
        for part, idx in (("train", train), ("test", test)):
            for i in idx:
                rows.append({"image_id": pool.records["image_id"].iat[i], "class_name": name, "part": part,
                             "label": int(labels[i]), "epoch": int(pool.records["epoch"].iat[i])})
        class_labels = labels[pool.records["class_index"].to_numpy() == c]
        entry = {"informative_in_pool": int((class_labels == 1).sum()),
                 "not_informative_in_pool": int((class_labels == 0).sum()),
                 "train": int(len(train)), "test": int(len(test))}
        path = out_dir / f"{CLASS_CODES[c]}.pt"
        if len(train) < 2:
            # one kind of label only: a constant classifier saying the majority label
            constant = int((class_labels == 1).sum() > (class_labels == 0).sum())
            save_classifier(path, None, p["width"], {"class_name": name, "constant": constant})
            entry.update(accuracy=None, constant=constant)
            print(f"{name}: too few labels of both kinds; constant classifier ({constant})")
        else:
            torch.manual_seed(context().rank_seed(p["seed"] + c))
            net = InformativityClassifier(p["width"])
            losses = fit(net, pool.images[train], labels[train], p, desc=f"informativity {name}")
            entry.update(accuracy=accuracy(net, pool.images[test], labels[test]),
                         train_accuracy=accuracy(net, pool.images[train], labels[train]), final_loss=losses[-1])
            save_classifier(path, net, p["width"], {"class_name": name, "constant": None})
            shown = "n/a" if entry["accuracy"] is None else f"{entry['accuracy']:.3f}"
            print(f"{name}: test accuracy {shown} on {len(test)} images")
        report[name] = entry
    return report, pd.DataFrame(rows, columns=["image_id", "class_name", "part", "label", "epoch"])


def train_class_match(p: dict, out_dir: Path, shard_dir: Path = SHARD_DIR) -> dict:
    """5-way classifier on real train frames; its accuracy on real val frames."""
    train, val = load_split(shard_dir, "train"), load_split(shard_dir, "val")
    torch.manual_seed(context().rank_seed(p["seed"]))
    net = class_match_net(p["width"])
    fit(net, train.images, train.class_index, p, desc="class-match classifier")
    save_classifier(out_dir / "class_match.pt", net, p["width"], {"classes": CLASSES})
    return {"val_accuracy": accuracy(net, val.images, val.class_index),
            "train_accuracy": accuracy(net, train.images, train.class_index)}


def run(p: dict, snapshot_dir=labelsets.SNAPSHOT_DIR, emb_dir=labelsets.EMB_DIR,
        labels_csv=labelsets.LABELS_CSV, out_dir=OUT_DIR, shard_dir=SHARD_DIR, metrics_path=METRICS) -> dict:
    from .translator import load_generator

    ctx = context()   # under torchrun: joins the process group, quiets other ranks' stdout
    out_dir = Path(out_dir)
    torch.manual_seed(p["seed"])
    pool = labelsets.build_pool(labelsets.list_snapshots(snapshot_dir), labelsets.load_sounds(emb_dir=emb_dir),
                                p, load_generator)
    labels, source = pool_labels(pool, Path(labels_csv), p["rater_threshold"])
    per_class, sets = train_binary_classifiers(pool, labels, p, out_dir)
    class_match = train_class_match({**p, **p["class_match"]}, out_dir, Path(shard_dir))
    accuracies = [v["accuracy"] for v in per_class.values() if v["accuracy"] is not None]
    report = {"label_source": source, "pool_images": int(len(pool.records)),
              "informative_share_of_pool": float(np.mean(labels[labels >= 0])) if (labels >= 0).any() else None,
              "classifiers": per_class,
              "mean_accuracy": float(np.mean(accuracies)) if accuracies else None,
              "class_match": class_match}
    if ctx.is_main:
        with atomic_path(out_dir / "sets.csv") as tmp:
            sets.to_csv(tmp, index=False)
        write_text(json.dumps(report, indent=2) + "\n", metrics_path)
    return report


def main() -> None:
    report = run(load_params()["informativity"])
    print(json.dumps({k: report[k] for k in ("label_source", "mean_accuracy", "class_match")}, indent=1))


if __name__ == "__main__":
    main()
