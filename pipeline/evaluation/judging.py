"""Judging a trained translator on test sounds: informativity, class match, controls (untrained,
shuffled, ridge), realism against real frames, per-epoch curves and memorisation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from s2i_models import load_checkpoint
from s2i_models.rebuild import generator_for, load_generator
from s2i_models.rng import RandomStream

from pipeline.core import paths
from pipeline.core.errors import SettingError
from pipeline.core.tables import CLASS_CODES, CLASSES, write_text
from pipeline.dataset.embeddings import check_same_samples, load_embeddings
from pipeline.dataset.loader import SplitArrays, load_split
from pipeline.demo_world import rater as demo_rater
from pipeline.evaluation import labelsets, metrics
from pipeline.evaluation.classifiers import ACQUIRE, METRICS as INFORMATIVITY_METRICS, OUT_DIR as CLASSIFIER_DIR
from pipeline.evaluation.classifiers import data_source, features, features_and_predictions, load_binary, load_class_match
from pipeline.evaluation.realism import RealismJudge, blurred, class_match_realism, floor_measures, texture_features, texture_realism
from pipeline.training import schedule
from pipeline.training.ridge import fit_ridge

SHARD_DIR = paths.SHARDS
EMB_DIR = paths.EMBEDDINGS
REPORT_DIR = paths.REPORTS
FLOOR_DRAWS = 5  # draws of real train frames averaged into the realism floor


@dataclass
class Judges:
    """Everything that scores generated images, fixed across snapshots."""

    binary: list  # per class: .predict(images) -> 0/1 and .reason (None: measured)
    class_net: torch.nn.Module  # 5-way classifier trained on real frames
    real_features: np.ndarray  # class_net features of real test frames
    gallery_features: np.ndarray  # ... of real train frames (retrieval gallery)
    gallery_classes: np.ndarray
    realism: RealismJudge | None = None  # FD and KID against real test frames, in class_net's features
    texture: RealismJudge | None = None  # ... in the texture statistics of class_net's first layer
    real_texture: np.ndarray | None = None  # those statistics of real test frames
    gallery_texture: np.ndarray | None = None  # ... and of the gallery's train frames


def load_judges(classifier_dir: Path, test_images: np.ndarray, train: SplitArrays, gallery_size: int, seed: int) -> Judges:
    binary = [load_binary(Path(classifier_dir) / f"{code}.pt") for code in CLASS_CODES]
    class_net = load_class_match(Path(classifier_dir) / "class_match.pt")
    rng = np.random.default_rng(seed)
    gallery = np.sort(rng.choice(len(train.keys), size=min(gallery_size, len(train.keys)), replace=False))
    return Judges(
        binary,
        class_net,
        features(class_net, test_images),
        features(class_net, train.images[gallery]),
        train.class_index[gallery],
        class_match_realism(class_net, test_images, seed),
        texture_realism(class_net, test_images, seed),
        texture_features(class_net, test_images),
        texture_features(class_net, train.images[gallery]),
    )


def informative_hits(judges: Judges, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """1 where the classifier of the image's own (sound) class calls it informative; NaN for unmeasured classes."""
    hits = np.full(len(images), np.nan)
    for c in range(len(CLASSES)):
        rows = np.flatnonzero(classes == c)
        if len(rows) and judges.binary[c].reason is None:
            hits[rows] = judges.binary[c].predict(images[rows])
    return hits


def shares(values: list[float]) -> dict:
    """Per class name and "mean" over the classes that have a value (NaN = not measured)."""
    finite = [v for v in values if np.isfinite(v)]
    return {**dict(zip(CLASSES, values)), "mean": float(np.mean(finite)) if finite else float("nan")}


def judge(judges: Judges, images: np.ndarray, classes: np.ndarray, truth: np.ndarray | None = None) -> tuple[dict, np.ndarray]:
    """Per-class and mean informativity and class match, plus the feature-space measures; and the hits."""
    n = len(CLASSES)
    hits = informative_hits(judges, images, classes)
    fake_features, predicted = features_and_predictions(judges.class_net, images)
    out = {
        "informativity": shares(metrics.class_shares(hits, classes, n)),
        "class_match": shares(metrics.class_shares(predicted == classes, classes, n)),
        "frechet_distance": judges.realism.frechet_distance(images),
        "retrieval_accuracy": metrics.retrieval_accuracy(fake_features, classes, judges.gallery_features, judges.gallery_classes),
    }
    if truth is not None:
        diff = images.astype(np.float64) / 127.5 - truth.astype(np.float64) / 127.5
        out["pixel_loss"] = float(np.mean(diff**2))
    return out, hits


def translate_samples(G, emb: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """S x N x 96 x 96 x 3: `samples` dropout samples of every sound."""
    return np.stack([labelsets.translate(G, emb, seed=seed * 1000 + s) for s in range(samples)])


def evaluate_snapshot(G, judges: Judges, emb: np.ndarray, classes: np.ndarray, truth: np.ndarray, p: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """The snapshot's measures, the first dropout sample's images and their informativity hits."""
    samples = translate_samples(G, emb, p["samples_per_sound"], p["seed"])
    result, hits = judge(judges, samples[0], classes, truth)
    result["diversity"] = metrics.diversity(samples.astype(np.float64) / 127.5)
    return result, samples[0], hits


def rater_measures(images: np.ndarray, classes: np.ndarray, hits: np.ndarray, threshold: float) -> dict:
    """The demo rater's informativity of the images, and the classifiers' agreement with it (per class, mean)."""
    said = demo_rater.label(images, [CLASSES[c] for c in classes], threshold)
    agree = np.where(np.isnan(hits), np.nan, hits == said)
    n = len(CLASSES)
    return {"rater_informativity": shares(metrics.class_shares(said, classes, n)), "classifier_rater_agreement": shares(metrics.class_shares(agree, classes, n))}


def control(judged: tuple[dict, np.ndarray, np.ndarray], classes: np.ndarray, threshold: float | None) -> dict:
    """Means of a control translator's (result, images, hits): classifier informativity, class match and
    (demo world) rater informativity."""
    result, images, hits = judged
    out = {"informativity": result["informativity"]["mean"], "class_match": result["class_match"]["mean"]}
    if threshold is not None:
        out["rater_informativity"] = rater_measures(images, classes, hits, threshold)["rater_informativity"]["mean"]
    return out


def memorisation(G, train: SplitArrays, train_emb: np.ndarray, count: int, seed: int, size: int = 32) -> dict:
    """Share of train-sound outputs whose nearest training frame (at size x size) is from the sound's own video."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(train.keys), size=min(count, len(train.keys)), replace=False))
    videos = np.asarray([m["source_video"] for m in train.meta])
    outputs = labelsets.translate(G, train_emb[idx], seed=seed)
    small = lambda imgs: torch.nn.functional.interpolate(torch.from_numpy(np.ascontiguousarray(imgs)).permute(0, 3, 1, 2).float(), size=(size, size), mode="area").numpy()
    share = metrics.memorisation_share(small(outputs), videos[idx], small(train.images), videos)
    chance = float(np.mean([np.mean(videos == v) for v in videos[idx]]))
    return {"same_video_share": share, "chance": chance, "sounds": int(len(idx))}


def realism_measures(judges: Judges, translations: dict[str, np.ndarray], train_images: np.ndarray, classes: np.ndarray, seed: int) -> dict:
    """FD and KID against real test frames of each translator's test images, of as many real train frames (the
    floor: seeded draws of the test set's size, averaged) and of the same draws blurred (the control a realism
    space must score worse than the floor), in two spaces of the class-match classifier: its penultimate
    features (`realism`) and its first layer's texture statistics (`realism_texture`). In the penultimate
    features, the within-class spread of the trained translations and of real test frames; in both, their mean
    distance to the nearest train frame (the gallery)."""
    floors = lambda judge: {
        "real_train_vs_test": floor_measures(judge, train_images, len(classes), FLOOR_DRAWS, seed),
        "blurred_real_train": floor_measures(judge, train_images, len(classes), FLOOR_DRAWS, seed, transform=blurred),
    }
    spaces = {"realism": judges.realism, "realism_texture": judges.texture}
    out = {key: {**{name: judge.measures(images) for name, images in translations.items()}, **floors(judge)} for key, judge in spaces.items()}
    trained = features(judges.class_net, translations["trained"])
    spread = lambda f: shares(metrics.within_class_spread(f, classes, len(CLASSES)))
    nearest = lambda f, gallery: float(np.mean(metrics.nearest_distances(f, gallery)))
    texture = lambda images: texture_features(judges.class_net, images)
    return {
        **out,
        "within_class_spread": {"trained": spread(trained), "real": spread(judges.real_features)},
        "nearest_train_distance": {
            "trained": nearest(trained, judges.gallery_features),
            "ridge": nearest(features(judges.class_net, translations["ridge"]), judges.gallery_features),
            "real_test": nearest(judges.real_features, judges.gallery_features),
        },
        "nearest_train_distance_texture": {
            "trained": nearest(texture(translations["trained"]), judges.gallery_texture),
            "ridge": nearest(texture(translations["ridge"]), judges.gallery_texture),
            "real_test": nearest(judges.real_texture, judges.gallery_texture),
        },
    }


def summaries(epochs: list[int], per_epoch: list[dict], key: str, p: dict, d_epochs: list[int]) -> dict:
    """The paper's two summaries of `key` (per class and mean) over the snapshot series."""
    out = {}
    for name in CLASSES + ["mean"]:
        raw = [r[key][name] for r in per_epoch]
        fixed = metrics.replace_after_d_updates(epochs, raw, d_epochs, p["d_after"], p["d_before"])
        best, at = metrics.max_moving_average(epochs, fixed, p["ma_window"])
        out[name] = {"window_mean": metrics.window_mean(epochs, fixed, p["window_start"], p["window_end"]), "max_moving_average": best, "max_moving_average_end_epoch": at}
    return out


def _nan_to_none(value):
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nan_to_none(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_per_epoch(path: Path, epochs: list[int], per_epoch: list[dict]) -> None:
    columns = ["epoch", "informativity_mean", "class_match_mean", "pixel_loss", "frechet_distance", "retrieval_accuracy", "diversity"] + [f"informativity_{c}" for c in CLASS_CODES]
    lines = ["\t".join(columns)]
    for e, r in zip(epochs, per_epoch):
        values = [e, r["informativity"]["mean"], r["class_match"]["mean"], r["pixel_loss"], r["frechet_distance"], r["retrieval_accuracy"], r["diversity"]] + [
            r["informativity"][c] for c in CLASSES
        ]
        lines.append("\t".join(str(v) if isinstance(v, int) else f"{v:.6g}" for v in values))
    write_text("\n".join(lines) + "\n", path)


def check_samples_per_sound(samples: int) -> None:
    """The within-sound diversity figure compares draws of one sound: fewer than two cannot be judged."""
    if samples < 2:
        raise SettingError(f"params.yaml: evaluate.samples_per_sound: {samples} is below 2 (the diversity figure compares two draws of each test sound)")


@dataclass
class TestSet:
    """The three splits' frames and their embeddings, checked to hold the same samples in the same order."""

    test: SplitArrays
    train: SplitArrays
    val: SplitArrays
    emb: dict[str, np.ndarray]  # split -> embeddings

    @property
    def test_emb(self) -> np.ndarray:
        return self.emb["test"].astype(np.float32)

    @property
    def truth(self) -> tuple:
        return self.test.class_index, self.test.images


def load_test_set(shard_dir, emb_dir, mels: bool) -> TestSet:
    splits = {"test": load_split(shard_dir, "test", mels=mels), "train": load_split(shard_dir, "train"), "val": load_split(shard_dir, "val")}
    emb = {}
    for name, split in splits.items():
        npz = load_embeddings(Path(emb_dir) / f"{name}.npz")
        check_same_samples(npz, split, emb_dir, name)
        emb[name] = npz["emb"]
    return TestSet(**splits, emb=emb)


@dataclass
class SnapshotJudgements:
    epochs: list[int]
    per_epoch: list[dict]
    final: torch.nn.Module  # the last snapshot's generator: the one the controls are measured against
    final_images: np.ndarray
    final_hits: np.ndarray


def judge_snapshots(snapshots, judges: Judges, data: TestSet, p: dict) -> SnapshotJudgements:
    epochs, per_epoch = [], []
    for epoch, path in tqdm(snapshots, desc="evaluate snapshots", unit="snapshot"):
        epochs.append(epoch)
        final = load_generator(path)
        result, final_images, final_hits = evaluate_snapshot(final, judges, data.test_emb, *data.truth, p)
        per_epoch.append(result)
    return SnapshotJudgements(epochs, per_epoch, final, final_images, final_hits)


def judge_controls(judged: SnapshotJudgements, final_checkpoint: Path, judges: Judges, data: TestSet, p: dict, threshold: float | None) -> tuple[dict, dict[str, np.ndarray]]:
    """The untrained generator, the final one on shuffled sounds and a ridge map: their figures, and every
    translation set (trained included) that realism compares."""
    with RandomStream(p["seed"]):  # the untrained control's weights, seeded; the caller's RNG left alone
        untrained = generator_for(load_checkpoint(final_checkpoint)).eval()
    test_emb, classes = data.test_emb, data.test.class_index
    shuffled = np.random.default_rng(p["seed"]).permutation(len(test_emb))
    ridge = fit_ridge(data.emb["train"], data.train.images, data.emb["val"], data.val.images)
    ridge_images = ridge.translate(test_emb)
    ridge_result, ridge_hits = judge(judges, ridge_images, *data.truth)
    untrained_judged = evaluate_snapshot(untrained, judges, test_emb, *data.truth, p)
    shuffled_judged = evaluate_snapshot(judged.final, judges, test_emb[shuffled], *data.truth, p)
    controls = {
        "untrained": control(untrained_judged, classes, threshold),
        "shuffled": control(shuffled_judged, classes, threshold),
        "ridge": {**control((ridge_result, ridge_images, ridge_hits), classes, threshold), "alpha": ridge.alpha, "val_pixel_loss": ridge.val_loss},
    }
    translations = {"trained": judged.final_images, "ridge": ridge_images, "shuffled": shuffled_judged[1], "untrained": untrained_judged[1]}
    return controls, translations


def discriminator_epochs(epochs: list[int], p: dict, translator_p: dict) -> tuple[list[int], list[int]]:
    """The epochs that updated D, and the evaluated epochs the post-update correction drops; says so when the
    snapshot schedule leaves the correction nothing to do."""
    d_epochs = schedule.d_update_epochs(epochs[-1], translator_p["d_every"], translator_p["d_unit"])
    corrected = metrics.corrected_epochs(epochs, d_epochs, p["d_after"], p["d_before"])
    if d_epochs and not corrected:
        print(
            f"evaluate: no evaluated epoch falls within {p['d_after']} epochs after a discriminator update "
            f"(translator.snapshot_every {translator_p['snapshot_every']}, d_every {translator_p['d_every']}): "
            "the post-update correction does nothing"
        )
    return d_epochs, corrected


def classifier_figures(informativity_metrics) -> dict:
    report = json.loads(Path(informativity_metrics).read_text())
    return {
        "classifier_accuracy": {
            **{name: v["accuracy"] for name, v in report["classifiers"].items()},
            "mean": report["mean_accuracy"],
            "class_match_val": report["class_match"]["val_accuracy"],
        },
        "label_source": report["label_source"],
    }


def run(
    p: dict,
    translator_p: dict,
    rater_threshold: float = 0.5,
    snapshot_dir=labelsets.SNAPSHOT_DIR,
    shard_dir=SHARD_DIR,
    emb_dir=EMB_DIR,
    classifier_dir=CLASSIFIER_DIR,
    informativity_metrics=INFORMATIVITY_METRICS,
    report_dir=REPORT_DIR,
    acquire_json=ACQUIRE,
    figures: bool = True,
) -> dict:
    check_samples_per_sound(p["samples_per_sound"])
    report_dir = Path(report_dir)
    demo = data_source(acquire_json) == "demo"
    threshold = rater_threshold if demo else None  # the demo rater knows only the demo world
    data = load_test_set(shard_dir, emb_dir, mels=figures)
    test, classes = data.test, data.test.class_index
    judges = load_judges(Path(classifier_dir), test.images, data.train, p["gallery_size"], p["seed"])
    snapshots = labelsets.run_snapshots(snapshot_dir, translator_p)
    judged = judge_snapshots(snapshots, judges, data, p)
    controls, translations = judge_controls(judged, snapshots[-1][1], judges, data, p, threshold)
    realism = realism_measures(judges, translations, data.train.images, classes, p["seed"])
    d_epochs, corrected = discriminator_epochs(judged.epochs, p, translator_p)
    epochs, per_epoch, last = judged.epochs, judged.per_epoch, judged.per_epoch[-1]
    unmeasured = {c: b.reason for c, b in zip(CLASSES, judges.binary) if b.reason is not None}
    from pipeline.evaluation.attributes import run_correlations  # the demo world's within-class detail

    attribute_sets = {"trained": judged.final_images, "ridge": translations["ridge"], "real": test.images}
    result = {
        "final_epoch": epochs[-1],
        "informativity": last["informativity"],
        "informativity_classes_covered": len(CLASSES) - len(unmeasured),
        "informativity_unmeasured": unmeasured,
        "class_match": last["class_match"],
        **(rater_measures(judged.final_images, classes, judged.final_hits, threshold) if demo else {}),
        **({"attribute_correlation": run_correlations(test.meta, classes, attribute_sets)} if demo else {}),
        **controls,
        "frechet_distance": last["frechet_distance"],
        **realism,
        "retrieval_accuracy": last["retrieval_accuracy"],
        "diversity": last["diversity"],
        "pixel_loss": last["pixel_loss"],
        "memorisation": memorisation(judged.final, data.train, data.emb["train"].astype(np.float32), p["memorisation_sounds"], p["seed"]),
        "informativity_summary": summaries(epochs, per_epoch, "informativity", p, d_epochs),
        "class_match_summary": summaries(epochs, per_epoch, "class_match", p, d_epochs),
        "evaluated_epochs": len(epochs),
        "d_corrected_epochs": len(corrected),
        **classifier_figures(informativity_metrics),
        "data_source": data_source(acquire_json),
        "test_sounds": int(len(data.test_emb)),
    }
    result = _nan_to_none(result)
    write_text(json.dumps(result, indent=2) + "\n", report_dir / "metrics.json")
    write_per_epoch(report_dir / "plots" / "per_epoch.tsv", epochs, per_epoch)
    if figures:
        from pipeline.evaluation import report

        report.write_report(report_dir, result, epochs, per_epoch, judged.final, test, data.test_emb, shard_dir, p["seed"])
    return result
