"""The informativity and evaluate stages on a tiny demo-world run.

The tiny world: real demo-world scene frames (per class two source videos for
training, one for test, three for validation), sound embeddings built directly
(class direction + noise, as a good audio encoder would give), and a small dense
generator trained for a few hundred pixel-loss steps, saved as three snapshots.
"""

import functools
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.core.settings import StageParams
from pipeline.core.tables import CLASSES as CLASS_NAMES
from pipeline.dataset import wds
from pipeline.dataset.loader import image_to_tensor, load_split
from pipeline.demo_world import make_plan, synthesize
from pipeline.evaluation import classifiers as informativity, judging as evaluate, labelsets
from pipeline.evaluation.realism import texture_features
from pipeline.stages import evaluate as evaluate_stage, informativity as informativity_stage
from s2i_models import DenseGenerator, save_checkpoint

EMB_DIM, WIDTH, FRAMES = 16, 0.0625, 8
INFO_PARAMS = dict(
    snapshots=3,
    sounds_per_class=24,
    samples_per_sound=2,
    per_class=24,
    test_share=0.2,
    rater_threshold=0.5,
    width=1.0,
    epochs=30,
    batch_size=8,
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-5,
    seed=0,
    nproc=1,
    sync_bn=True,
    class_match=dict(width=1.0, epochs=10, batch_size=16),
)
EVAL_PARAMS = dict(samples_per_sound=2, gallery_size=200, memorisation_sounds=20, window_start=2, window_end=3, ma_window=2, d_after=2, d_before=5, seed=0)
TRANSLATOR = {"d_every": 2, "d_unit": "epoch", "snapshot_every": 1, "epochs": 3}

REPO = Path(__file__).resolve().parents[1]
SPLIT_OF_VIDEO = ["train", "train", "test", "val", "val", "val"]  # the k-th source video of a class


def write_tiny_world(root):
    rng = np.random.default_rng(0)
    samples, videos = {"train": [], "val": [], "test": []}, {}
    for plan in make_plan(8, 0, False):
        known = videos.setdefault(plan.class_index, [])
        if plan.source_video not in known:
            known.append(plan.source_video)
        if len(known) > len(SPLIT_OF_VIDEO) or plan.source_video != known[-1]:
            continue  # one clip per video is enough
        splits = [SPLIT_OF_VIDEO[len(known) - 1]]
        scene, _ = synthesize(replace(plan, width=192, height=192))
        for j, t in enumerate(np.linspace(plan.event_start, plan.event_end, FRAMES, endpoint=False)):
            image = np.asarray(Image.fromarray(scene.frame(t)).resize((96, 96)))
            meta = {"clip_id": plan.clip_id, "source_video": plan.source_video, "class_name": plan.class_name, "class_index": plan.class_index, "start": float(j)}
            for split in splits:
                key = f"{plan.clip_id}_{split}{j:03d}"
                samples[split].append(
                    (
                        key,
                        {
                            "mel.npy": wds.encode_npy(np.full((128, 100), -8.0, np.float32)),
                            "png": wds.encode_png(image),
                            "json": wds.encode_json({**meta, "segment_id": key, "split": split}),
                        },
                    )
                )
    for split, items in samples.items():
        wds.write_tar(root / "data" / "shards" / f"{split}-000000.tar", items)
        classes = np.asarray([json.loads(f["json"])["class_index"] for _, f in items])
        emb = np.eye(5, EMB_DIM)[classes] * 0.8 + rng.normal(0, 0.1, (len(items), EMB_DIM))
        (root / "data" / "embeddings").mkdir(parents=True, exist_ok=True)
        np.savez(root / "data" / "embeddings" / f"{split}.npz", keys=np.asarray([k for k, _ in items]), emb=emb.astype(np.float32), class_index=classes)


def train_tiny_generator(root, steps=180, snapshots=3):
    train = load_split(root / "data" / "shards", "train")
    emb = torch.from_numpy(np.load(root / "data" / "embeddings" / "train.npz")["emb"])
    pixels = image_to_tensor(train.images)
    torch.manual_seed(0)
    G = DenseGenerator(EMB_DIM, WIDTH)
    opt = torch.optim.Adam(G.parameters(), 2e-3)
    for step in range(1, steps + 1):
        idx = torch.randint(0, len(pixels), (8,))
        G.train()
        loss = ((G(emb[idx]) - pixels[idx]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % (steps // snapshots) == 0:
            epoch = step // (steps // snapshots)
            save_checkpoint(
                root / "models" / "translator" / "snapshots" / f"generator_{epoch:05d}.pt",
                models={"generator": G},
                emb_dim=EMB_DIM,
                width=WIDTH,
                epoch=epoch,
                extra={"generator": "dense"},
                with_rng=False,
            )


@functools.cache
def pool_records(root):
    """The pool the informativity stage labelled (rebuilt: it is a deterministic function of its inputs)."""
    sounds = labelsets.load_sounds(emb_dir=root / "data/embeddings", shard_dir=root / "data/shards")
    snapshots = labelsets.run_snapshots(root / "models/translator/snapshots", TRANSLATOR)
    return labelsets.build_pool(snapshots, sounds, INFO_PARAMS).records


CALLER_RNG: dict[str, bool] = {}  # tiny_run: did the judging leave the caller's torch generator as it was?


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny_world")
    old = os.getcwd()
    os.chdir(root)
    try:
        write_tiny_world(root)
        (root / "data" / "acquire.json").write_text(json.dumps({"source": "demo"}))
        train_tiny_generator(root)
        # as the stages pass them: reading a param a stage does not declare (READS, dvc.yaml) raises
        given = {"informativity": INFO_PARAMS, "evaluate": EVAL_PARAMS, "translator": TRANSLATOR}
        info, judged = (StageParams(given, stage.READS) for stage in (informativity_stage, evaluate_stage))
        classifiers = informativity.run(info.informativity, info.translator)
        torch.manual_seed(1234)
        caller_state = torch.get_rng_state()
        result = evaluate.run(judged.evaluate, judged.translator)
        CALLER_RNG["kept by evaluate"] = torch.equal(torch.get_rng_state(), caller_state)
        yield root, classifiers, result
    finally:
        os.chdir(old)


def test_trained_translator_beats_untrained_and_shuffled_controls(tiny_run):
    _, classifiers, result = tiny_run
    assert classifiers["label_source"] == "demo-rater"
    for control in ("untrained", "shuffled"):
        assert result["class_match"]["mean"] > result[control]["class_match"], control
        assert result["rater_informativity"]["mean"] > result[control]["rater_informativity"], control
    assert result["informativity"]["mean"] > result["untrained"]["informativity"]
    # the class-match classifier must have learned the scenes; from two training videos per class it reaches
    # about 0.7 on the validation videos (chance 0.2)
    assert classifiers["class_match"]["val_accuracy"] >= 0.5


def test_judging_leaves_the_callers_random_stream_alone(tiny_run):
    """evaluate.run seeds the untrained control from a stream of its own, not by reseeding the process."""
    assert CALLER_RNG == {"kept by evaluate": True}


def test_pool_holds_validation_sounds_only(tiny_run):
    root, _, _ = tiny_run
    import pandas as pd

    val = np.load(root / "data/embeddings/val.npz")
    val_keys = set(val["keys"].astype(str))
    test_keys = set(np.load(root / "data/embeddings/test.npz")["keys"].astype(str))
    pool = pool_records(root)
    assert set(pool["key"]) <= val_keys and not set(pool["key"]) & test_keys
    per_class = pool.groupby("class_index")["key"].nunique()
    assert list(per_class) == [min(INFO_PARAMS["sounds_per_class"], int(np.sum(val["class_index"] == c))) for c in range(5)]
    sets = pd.read_csv(root / "models/informativity/sets.csv")
    used = pool.set_index("image_id").loc[sets["image_id"], "key"]
    assert set(used) <= val_keys and not set(used) & test_keys
    with pytest.raises(ValueError, match="never holds test sounds"):
        labelsets.load_sounds(("val", "test"), emb_dir=root / "data/embeddings", shard_dir=root / "data/shards")


def test_classifier_sets_split_by_source_video_and_balanced(tiny_run):
    root, classifiers, _ = tiny_run
    import pandas as pd

    sets = pd.read_csv(root / "models/informativity/sets.csv")
    keys = pool_records(root).set_index("image_id")["key"]
    sets["key"] = keys.loc[sets["image_id"]].to_numpy()
    measured = [name for name, v in classifiers["classifiers"].items() if v["measured"]]
    assert measured, "the tiny run should measure at least one class"
    for name, part in sets.groupby("class_name"):
        sides = part.groupby("part")
        assert not set(sides.get_group("train")["source_video"]) & set(sides.get_group("test")["source_video"]), name
        assert not set(sides.get_group("train")["key"]) & set(sides.get_group("test")["key"]), name  # dropout twins
        for side, rows in sides:
            assert (rows["label"] == 1).sum() == (rows["label"] == 0).sum() > 0, (name, side)
        entry = classifiers["classifiers"][name]
        assert entry["train"] + entry["test"] == len(part)
    assert sets["epoch"].nunique() >= 2
    assert not sets["image_id"].duplicated().any()


def test_unmeasured_classes_are_null_with_a_reason_and_the_mean_says_its_coverage(tiny_run):
    root, classifiers, result = tiny_run
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    unmeasured = {n: v["unmeasured"] for n, v in classifiers["classifiers"].items() if not v["measured"]}
    assert metrics["informativity_unmeasured"] == unmeasured
    assert metrics["informativity_classes_covered"] == 5 - len(unmeasured)
    values = {c: v for c, v in metrics["informativity"].items() if c != "mean"}
    for name, value in values.items():
        assert (value is None) == (name in unmeasured), name
        assert metrics["informativity_summary"][name]["window_mean"] is None or name not in unmeasured
    assert metrics["informativity"]["mean"] == pytest.approx(np.mean([v for v in values.values() if v is not None]))
    html = (root / "reports" / "report.html").read_text()
    assert f"covers <b>{5 - len(unmeasured)} of 5</b> classes" in html
    for name, reason in unmeasured.items():
        assert reason and f"{name}: not measured: " in html


def test_rater_figures_match_the_demo_rater_on_the_final_translations(tiny_run):
    root, _, result = tiny_run
    from pipeline.demo_world import rater as demo_rater
    from s2i_models.rebuild import load_generator

    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    test = load_split(root / "data/shards", "test")
    emb = np.load(root / "data/embeddings/test.npz")["emb"]
    G = load_generator(root / "models/translator/snapshots/generator_00003.pt")
    images = labelsets.translate(G, emb, seed=EVAL_PARAMS["seed"] * 1000)  # evaluate's first dropout sample
    said = demo_rater.label(images, [CLASS_NAMES[c] for c in test.class_index], INFO_PARAMS["rater_threshold"])
    for c, name in enumerate(CLASS_NAMES):
        assert metrics["rater_informativity"][name] == pytest.approx(said[test.class_index == c].mean()), name
    assert metrics["rater_informativity"]["mean"] == pytest.approx(np.mean([said[test.class_index == c].mean() for c in range(5)]))
    for key in ("shuffled", "ridge", "untrained"):
        for measure in ("rater_informativity", "class_match", "informativity"):
            assert 0 <= metrics[key][measure] <= 1, (key, measure)
    assert metrics["ridge"]["alpha"] > 0 and 0 <= metrics["classifier_rater_agreement"]["mean"] <= 1
    assert metrics["data_source"] == "demo"


def test_attribute_correlation_is_null_without_the_demo_worlds_ground_truth(tiny_run):
    # the tiny world draws demo scenes but cuts its own segments (made-up starts and keys) and has no
    # params.yaml, so no sound's ground truth is known (tests/test_attributes.py measures real segments)
    root, _, result = tiny_run
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert "attribute_correlation" in metrics and metrics["attribute_correlation"] is None
    assert result["attribute_correlation"] is None


def test_evaluate_applies_the_post_update_correction_to_the_snapshots_after_a_d_update(tiny_run):
    root, _, _ = tiny_run
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    # d_every 2: D trains after epoch 2, so epoch 3 (evaluated) takes the mean of epochs 1 and 2
    assert metrics["evaluated_epochs"] == 3 and metrics["d_corrected_epochs"] == 1
    rows = [r.split("\t") for r in (root / "reports/plots/per_epoch.tsv").read_text().splitlines()]
    raw = {int(r[0]): float(r[2]) for r in rows[1:]}  # class_match_mean per epoch
    expected = (raw[2] + (raw[1] + raw[2]) / 2) / 2  # window [2, 3]
    assert metrics["class_match_summary"]["mean"]["window_mean"] == pytest.approx(expected, abs=1e-5)


def test_outputs_metrics_plots_and_report(tiny_run):
    root, _, result = tiny_run
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert set(metrics["informativity"]) == set(CLASS_NAMES) | {"mean"}
    assert 0 <= metrics["memorisation"]["same_video_share"] <= 1 and metrics["diversity"] > 0
    rows = (root / "reports" / "plots" / "per_epoch.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:2] == ["epoch", "informativity_mean"]
    assert [int(r.split("\t")[0]) for r in rows[1:]] == [1, 2, 3]
    html = (root / "reports" / "report.html").read_text()
    for name in ("fig05_strip", "per_epoch", "fig15_by_class", "fig16_truth_vs_translation"):
        assert f'src="figures/{name}.png"' in html
        with Image.open(root / "reports" / "figures" / f"{name}.png") as img:
            assert img.size[0] > 200 and img.size[1] > 90
    assert "demo rater" in html and "ridge regression" in html


def psd_sqrt(matrix):
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(values.clip(0))) @ vectors.T


def test_realism_block_covers_every_control_and_the_real_floor(tiny_run):
    root, _, _ = tiny_run
    from scipy.spatial.distance import cdist, pdist
    from s2i_models.rebuild import load_generator

    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    realism = metrics["realism"]
    for space in (metrics["realism"], metrics["realism_texture"]):
        assert list(space) == ["trained", "ridge", "shuffled", "untrained", "real_train_vs_test", "blurred_real_train"]
        floor, untrained = space["real_train_vs_test"], space["untrained"]
        for draws in (floor, space["blurred_real_train"]):
            assert set(draws) == {"frechet_distance", "kid_mean", "kid_std", "frechet_distance_std", "draws"}
            assert draws["draws"] == evaluate.FLOOR_DRAWS and draws["frechet_distance_std"] > 0
        for name, measures in space.items():
            assert set(measures) >= {"frechet_distance", "kid_mean", "kid_std"}, name
            assert measures["frechet_distance"] >= 0 and measures["kid_std"] >= 0, name
        assert floor["frechet_distance"] < untrained["frechet_distance"] and floor["kid_mean"] < untrained["kid_mean"]
    # the texture space sees blur: the floor's train frames, blurred, are further from the test frames
    texture = metrics["realism_texture"]
    assert texture["blurred_real_train"]["frechet_distance"] > texture["real_train_vs_test"]["frechet_distance"]

    # the trained translator's FD is the closed form on the class-match features of its first dropout sample
    net = informativity.load_class_match(root / "models/informativity/class_match.pt")
    test, train = load_split(root / "data/shards", "test"), load_split(root / "data/shards", "train")
    G = load_generator(root / "models/translator/snapshots/generator_00003.pt")
    images = labelsets.translate(G, np.load(root / "data/embeddings/test.npz")["emb"], seed=EVAL_PARAMS["seed"] * 1000)
    fake, real = (informativity.features(net, x).astype(np.float64) for x in (images, test.images))
    cov_fake, cov_real = np.cov(fake, rowvar=False), np.cov(real, rowvar=False)
    root_fake = psd_sqrt(cov_fake)  # dead ReLU features make the covariances singular: symmetric roots
    closed_form = ((fake.mean(0) - real.mean(0)) ** 2).sum() + np.trace(cov_fake + cov_real - 2 * psd_sqrt(root_fake @ cov_real @ root_fake))
    assert realism["trained"]["frechet_distance"] == pytest.approx(closed_form, rel=1e-6)
    last_row = (root / "reports/plots/per_epoch.tsv").read_text().splitlines()[-1].split("\t")
    assert float(last_row[4]) == pytest.approx(metrics["frechet_distance"], rel=1e-5)
    assert metrics["frechet_distance"] == realism["trained"]["frechet_distance"]

    spread = metrics["within_class_spread"]
    for c, name in enumerate(CLASS_NAMES):
        rows = test.class_index == c
        assert spread["real"][name] == pytest.approx(pdist(real[rows]).mean(), rel=1e-5), name
        assert spread["trained"][name] == pytest.approx(pdist(fake[rows]).mean(), rel=1e-5), name
    assert spread["real"]["mean"] == pytest.approx(np.mean([spread["real"][n] for n in CLASS_NAMES]))
    gallery = evaluate.load_judges(root / "models/informativity", test.images, train, EVAL_PARAMS["gallery_size"], EVAL_PARAMS["seed"]).gallery_features
    nearest = metrics["nearest_train_distance"]
    assert nearest["real_test"] == pytest.approx(cdist(real, gallery).min(axis=1).mean(), rel=1e-5)
    assert nearest["trained"] == pytest.approx(cdist(fake, gallery).min(axis=1).mean(), rel=1e-5)

    # the texture statistics by hand: per channel of the first conv layer, spatial mean and std
    judges = evaluate.load_judges(root / "models/informativity", test.images, train, EVAL_PARAMS["gallery_size"], EVAL_PARAMS["seed"])
    with torch.no_grad():
        maps = net.features[0].eval()(image_to_tensor(images))
    by_hand = torch.cat([maps.mean((2, 3)), maps.std((2, 3))], 1).double().numpy()
    assert np.allclose(texture_features(net, images), by_hand)
    nearest = metrics["nearest_train_distance_texture"]
    assert nearest["trained"] == pytest.approx(cdist(by_hand, judges.gallery_texture).min(axis=1).mean(), rel=1e-5)
    assert set(nearest) == {"trained", "ridge", "real_test"}


def test_pool_is_reproducible_and_ids_are_blind(tiny_run):
    root, _, _ = tiny_run
    snaps = labelsets.list_snapshots(root / "models" / "translator" / "snapshots")
    sounds = labelsets.load_sounds(emb_dir=root / "data" / "embeddings", shard_dir=root / "data" / "shards")
    params = {**INFO_PARAMS, "snapshots": 2, "sounds_per_class": 2, "samples_per_sound": 1}
    a = labelsets.build_pool(snaps, sounds, params)
    b = labelsets.build_pool(snaps, sounds, params)
    assert np.array_equal(a.images, b.images)
    assert list(a.records["image_id"]) == list(b.records["image_id"])
    assert len(a.records) == 2 * 5 * 2 and a.records["image_id"].is_unique
    for image_id in a.records["image_id"]:
        assert "generator" not in image_id and len(image_id) == 16


def test_evaluate_refuses_embeddings_of_other_shards(tiny_run, tmp_path):
    root, _, _ = tiny_run
    emb_dir = tmp_path / "emb"
    emb_dir.mkdir()
    for split in ("train", "test"):
        arrays = dict(np.load(root / "data" / "embeddings" / f"{split}.npz"))
        arrays["keys"] = arrays["keys"][::-1]
        np.savez(emb_dir / f"{split}.npz", **arrays)
    with pytest.raises(RuntimeError, match="does not match the test shards"):
        evaluate.run(
            EVAL_PARAMS,
            TRANSLATOR,
            snapshot_dir=root / "models/translator/snapshots",
            shard_dir=root / "data/shards",
            emb_dir=emb_dir,
            classifier_dir=root / "models/informativity",
            informativity_metrics=root / "models/informativity_metrics.json",
            report_dir=tmp_path / "r",
        )


def test_missing_snapshots_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no generator snapshots"):
        labelsets.list_snapshots(tmp_path)


def test_evaluate_uses_every_snapshot_of_the_run_and_names_a_missing_one(tmp_path):
    for epoch in (1, 2, 4, 5, 6, 7):  # 7: a stale snapshot of a longer earlier run
        (tmp_path / f"generator_{epoch:05d}.pt").write_bytes(b"")
    d_each_step = {"d_every": 1, "d_unit": "iteration"}
    picked = labelsets.run_snapshots(tmp_path, {"snapshot_every": 2, "epochs": 6, **d_each_step})
    assert [e for e, _ in picked] == [2, 4, 6]
    with pytest.raises(FileNotFoundError, match=r"no snapshot of epoch\(s\) \[3\] .*snapshot_every 1, epochs 5"):
        labelsets.run_snapshots(tmp_path, {"snapshot_every": 1, "epochs": 5, **d_each_step})
    assert [e for e, _ in labelsets.run_snapshots(tmp_path, {"snapshot_every": 4, "epochs": 5, **d_each_step})] == [4, 5]
    # D passes after epochs 2, 4, 6: the epochs after them (3, 5) belong to the run too
    with pytest.raises(FileNotFoundError, match=r"no snapshot of epoch\(s\) \[3\] .*snapshot_every 2, epochs 6"):
        labelsets.run_snapshots(tmp_path, {"snapshot_every": 2, "epochs": 6, "d_every": 2, "d_unit": "epoch"})


def link_workspace(root, work, source: str) -> None:
    """A workspace sharing the tiny run's data and models, whose acquire.json names `source`."""
    for part in ("data/shards", "data/embeddings", "models/translator"):
        (work / part).parent.mkdir(parents=True, exist_ok=True)
        (work / part).symlink_to(root / part)
    (work / "data/acquire.json").write_text(json.dumps({"source": source}))


def test_informativity_stage_refuses_the_demo_rater_on_real_data(tiny_run, tmp_path):
    root, _, _ = tiny_run
    link_workspace(root, tmp_path, "vegas_archive")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")  # the stage checks every section strictly
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.stages.informativity"], cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert lines[-1] == (
        "informativity: data/acquire.json: data source is 'vegas_archive', and the demo rater only "
        "knows the demo world; label the pool with `s2i label` (writes "
        "data/labels/informativity.csv)"
    ), proc.stderr[-2000:]
    assert not (tmp_path / "models/informativity").exists()


def test_real_data_with_human_labels_is_measured_without_the_rater(tiny_run, tmp_path, monkeypatch):
    root, _, _ = tiny_run
    import csv

    from pipeline.demo_world import rater as demo_rater

    link_workspace(root, tmp_path, "local")
    monkeypatch.chdir(tmp_path)
    pool = labelsets.build_pool(labelsets.run_snapshots(labelsets.SNAPSHOT_DIR, TRANSLATOR), labelsets.load_sounds(), INFO_PARAMS)
    said = demo_rater.label(pool.images, list(pool.records["class_name"]))  # a person who agrees with it
    (tmp_path / "data/labels").mkdir()
    with open(tmp_path / "data/labels/informativity.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=labelsets.LABEL_COLUMNS)
        writer.writeheader()
        for rec, label in zip(pool.records.itertuples(), said):
            writer.writerow(
                {
                    "image_id": rec.image_id,
                    "snapshot": rec.snapshot,
                    "class_name": rec.class_name,
                    "label": "informative" if label else "not_informative",
                    "rater": "ann",
                    "time": "t",
                }
            )
    report = informativity.run({**INFO_PARAMS, "epochs": 5, "class_match": dict(width=1.0, epochs=2, batch_size=16)}, TRANSLATOR)
    assert report["label_source"] == "people"
    result = evaluate.run(EVAL_PARAMS, TRANSLATOR, figures=False)
    assert result["data_source"] == "local"
    assert "rater_informativity" not in result and "classifier_rater_agreement" not in result
    assert "attribute_correlation" not in result
    for control in ("untrained", "shuffled", "ridge"):
        assert "rater_informativity" not in result[control] and 0 <= result[control]["class_match"] <= 1


class FixedVerdicts:
    """A stand-in binary classifier answering a fixed list in order."""

    reason = None

    def __init__(self, verdicts):
        self.verdicts = np.asarray(verdicts)

    def predict(self, images):
        assert len(images) == len(self.verdicts)
        return self.verdicts


def test_unmeasured_class_is_nan_and_left_out_of_the_mean(monkeypatch):
    from pipeline.demo_world import rater as demo_rater

    classes = np.array([0, 0, 1, 1, 1, 2, 3, 4])
    judges = evaluate.Judges(
        binary=[informativity.Unmeasured("too few labels"), FixedVerdicts([1, 0, 1]), FixedVerdicts([1]), informativity.Unmeasured("constant"), FixedVerdicts([0])],
        class_net=None,
        real_features=None,
        gallery_features=None,
        gallery_classes=None,
    )
    hits = evaluate.informative_hits(judges, np.zeros((8, 96, 96, 3), np.uint8), classes)
    assert np.isnan(hits[[0, 1, 6]]).all() and list(hits[[2, 3, 4, 5, 7]]) == [1, 0, 1, 1, 0]
    shares = evaluate.shares(evaluate.metrics.class_shares(hits, classes, 5))
    # Dog 2/3, Rail 1, Water 0; the mean over those three: (2/3 + 1 + 0) / 3 = 5/9
    assert np.isnan(shares["Baby cry"]) and np.isnan(shares["Fireworks"])
    assert [shares["Dog"], shares["Rail transport"], shares["Water flowing"]] == pytest.approx([2 / 3, 1, 0])
    assert shares["mean"] == pytest.approx(5 / 9)
    assert np.isnan(evaluate.shares([float("nan")] * 5)["mean"])

    said = np.array([0, 1, 1, 1, 0, 1, 1, 0])
    monkeypatch.setattr(demo_rater, "label", lambda images, names, threshold: said)
    rated = evaluate.rater_measures(np.zeros((8, 96, 96, 3), np.uint8), classes, hits, 0.5)
    # rater: Baby 1/2, Dog 2/3, Rail 1, Fireworks 1, Water 0 -> mean (0.5 + 2/3 + 1 + 1 + 0) / 5
    assert rated["rater_informativity"]["mean"] == pytest.approx((0.5 + 2 / 3 + 2) / 5)
    # agreement (measured classes only): Dog (1 = 1, 0 != 1, 1 != 0) 1/3, Rail 1, Water 1 -> 7/9
    agreement = rated["classifier_rater_agreement"]
    assert np.isnan(agreement["Baby cry"]) and np.isnan(agreement["Fireworks"])
    assert agreement["Dog"] == pytest.approx(1 / 3) and agreement["mean"] == pytest.approx(7 / 9)


def test_a_constant_classifier_is_saved_as_unmeasured(tmp_path, monkeypatch):
    import pandas as pd

    # Dog: videos a and b, each 2 informative + 2 not. per_class 8 -> 4 per label, 1 of them test:
    # test {a}: 1 + 1 images, train {b}: 2 + 2 -> a balanced set of 6 images
    records = pd.DataFrame({"image_id": [f"i{k}" for k in range(8)], "epoch": 1, "class_index": 1, "source_video": ["a"] * 4 + ["b"] * 4})
    pool = labelsets.Pool(records, np.zeros((8, 96, 96, 3), np.uint8))
    labels = np.array([1, 1, 0, 0] * 2)
    monkeypatch.setattr(informativity, "fit", lambda net, images, targets, p, desc: [0.5])
    monkeypatch.setattr(informativity, "predict", lambda net, images: np.zeros(len(images), np.int64))
    p = {**INFO_PARAMS, "per_class": 8, "width": 0.0625}
    report, sets = informativity.train_binary_classifiers(pool, labels, p, tmp_path)
    reason = "the classifier says not informative for all 6 images of its balanced set"
    assert report["Dog"]["unmeasured"] == reason and report["Dog"]["accuracy"] == 0.5
    assert not report["Dog"]["measured"] and len(sets) == 6
    loaded = informativity.load_binary(tmp_path / "c002.pt")
    assert isinstance(loaded, informativity.Unmeasured) and loaded.reason == reason
    baby = informativity.load_binary(tmp_path / "c001.pt")
    assert baby.reason == "0 informative and 0 not-informative labelled images"


def test_report_page_shows_coverage_and_controls_in_a_browser(tiny_run, browser):
    root, classifiers, result = tiny_run
    unmeasured = result["informativity_unmeasured"]
    page = browser.new_page()
    page.goto((root / "reports" / "report.html").as_uri())
    coverage = page.wait_for_function("document.querySelector('p.coverage') && document.querySelector('p.coverage').innerText").json_value()
    rows = page.evaluate("[...document.querySelectorAll('table')[1].rows].map(r => r.innerText)")
    page.wait_for_function("[...document.images].every(i => i.complete)")
    images = page.evaluate("[...document.images].filter(i => i.complete && i.naturalWidth > 200).length")
    lines = coverage.splitlines()
    assert lines[0] == f"The informativity mean covers {5 - len(unmeasured)} of 5 classes."
    assert lines[1:] == [f"{name}: not measured: {reason}" for name, reason in unmeasured.items()]
    shuffled = result["shuffled"]
    assert rows[2].split("\t") == [
        "the final generator on shuffled sounds",
        f"{shuffled['informativity']:.3f}",
        f"{shuffled['class_match']:.3f}",
        f"{shuffled['rater_informativity']:.3f}",
    ]
    assert images >= 4


@pytest.mark.parametrize("samples", [0, 1])
def test_evaluate_rejects_fewer_than_two_samples_per_sound_before_any_work(tmp_path, samples):
    from pipeline.core.errors import SettingError
    from pipeline.evaluation import judging

    missing = tmp_path / "nothing-here"  # the check comes first: no file is opened
    with pytest.raises(SettingError, match=rf"evaluate.samples_per_sound: {samples} is below 2"):
        judging.run(
            {**EVAL_PARAMS, "samples_per_sound": samples},
            {},
            0.5,
            snapshot_dir=missing,
            shard_dir=missing,
            emb_dir=missing,
            classifier_dir=missing,
            informativity_metrics=missing / "m.json",
            report_dir=missing,
            acquire_json=missing / "a.json",
        )
