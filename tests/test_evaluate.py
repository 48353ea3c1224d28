"""The informativity and evaluate stages on a tiny demo-world run.

The tiny world: real demo-world scene frames (two clips per class for training,
one for test/val), sound embeddings built directly (class direction + noise, as
a good audio encoder would give), and a small dense generator trained for a few
hundred pixel-loss steps, saved as three snapshots.
"""
import json
import os
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline import evaluate, informativity, labelsets, wds
from pipeline.demo_world import make_plan, synthesize
from pipeline.loader import image_to_tensor, load_split
from s2i_models import DenseGenerator, save_checkpoint

EMB_DIM, WIDTH, FRAMES = 16, 0.0625, 8
INFO_PARAMS = dict(snapshots=3, sounds_per_class=8, samples_per_sound=2, per_class=24, test_share=0.2,
                   rater_threshold=0.5, width=1.0, epochs=30, batch_size=8, lr=0.01, momentum=0.9,
                   weight_decay=5e-5, seed=0, nproc=1, sync_bn=True, class_match=dict(width=1.0, epochs=10, batch_size=16))
EVAL_PARAMS = dict(samples_per_sound=2, gallery_size=200, memorisation_sounds=20, window_start=2, window_end=3,
                   ma_window=2, d_after=2, d_before=5, seed=0)
TRANSLATOR = {"d_every": 5, "d_unit": "epoch"}


def write_tiny_world(root):
    rng = np.random.default_rng(0)
    samples, seen = {"train": [], "val": [], "test": []}, {}
    for plan in make_plan(3, 0, False):
        k = seen[plan.class_index] = seen.get(plan.class_index, -1) + 1
        splits = ["train"] if k < 2 else ["test", "val"]
        scene, _ = synthesize(replace(plan, width=192, height=192))
        for j, t in enumerate(np.linspace(plan.event_start, plan.event_end, FRAMES, endpoint=False)):
            image = np.asarray(Image.fromarray(scene.frame(t)).resize((96, 96)))
            meta = { "clip_id": plan.clip_id, "source_video": plan.source_video,
                    "class_name": plan.class_name, "class_index": plan.class_index, "start": float(j)}
            for split in splits:
                key = f"{plan.clip_id}_{split}{j:03d}"
                samples[split].append((key, {"mel.npy": wds.encode_npy(np.full((128, 100), -8.0, np.float32)),
                                             "png": wds.encode_png(image),
                                             "json": wds.encode_json({**meta, "segment_id": key, "split": split})}))
    for split, items in samples.items():
        wds.write_tar(root / "data" / "shards" / f"{split}-000000.tar", items)
        classes = np.asarray([json.loads(f["json"])["class_index"] for _, f in items])
        emb = np.eye(5, EMB_DIM)[classes] * 0.8 + rng.normal(0, 0.1, (len(items), EMB_DIM))
        (root / "data" / "embeddings").mkdir(parents=True, exist_ok=True)
        np.savez(root / "data" / "embeddings" / f"{split}.npz", keys=np.asarray([k for k, _ in items]),
                 emb=emb.astype(np.float32), class_index=classes)


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
            save_checkpoint(root / "models" / "translator" / "snapshots" / f"generator_{epoch:05d}.pt",
                            models={"generator": G}, emb_dim=EMB_DIM, width=WIDTH, epoch=epoch,
                            extra={"generator": "dense"}, with_rng=False)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("tiny_world")
    old = os.getcwd()
    os.chdir(root)
    try:
        write_tiny_world(root)
        train_tiny_generator(root)
        classifiers = informativity.run(INFO_PARAMS)
        result = evaluate.run(EVAL_PARAMS, TRANSLATOR)
        yield root, classifiers, result
    finally:
        os.chdir(old)


def test_trained_translator_beats_untrained_and_shuffled_controls(tiny_run):
    _, classifiers, result = tiny_run
    assert classifiers["label_source"] == "demo-rater"
    for control in ("untrained", "shuffled_sounds"):
        assert result["informativity"]["mean"] > result["controls"][control]["informativity"], control
        assert result["class_match"]["mean"] > result["controls"][control]["class_match"], control
    # the class-match classifier sees real frames of distinct scenes: it must have learned them
    assert classifiers["class_match"]["val_accuracy"] >= 0.8


def test_classifier_sets_are_balanced_and_drawn_from_every_snapshot(tiny_run):
    root, classifiers, _ = tiny_run
    import pandas as pd

    sets = pd.read_csv(root / "models" / "informativity" / "sets.csv")
    for name, part in sets.groupby("class_name"):
        assert (part["label"] == 1).sum() == (part["label"] == 0).sum(), name
        test_share = (part["part"] == "test").mean()
        assert 0.1 <= test_share <= 0.35, name
        assert classifiers["classifiers"][name]["train"] + classifiers["classifiers"][name]["test"] == len(part)
    assert sets["epoch"].nunique() >= 2
    assert not sets["image_id"].duplicated().any()


def test_outputs_metrics_plots_and_report(tiny_run):
    root, _, result = tiny_run
    metrics = json.loads((root / "reports" / "metrics.json").read_text())
    assert set(metrics["informativity"]) == {"Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing",
                                             "mean"}
    mean = np.mean([metrics["informativity"][c] for c in metrics["informativity"] if c != "mean"])
    assert metrics["informativity"]["mean"] == pytest.approx(mean)
    assert 0 <= metrics["memorisation"]["same_video_share"] <= 1 and metrics["diversity"] > 0
    rows = (root / "reports" / "plots" / "per_epoch.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:2] == ["epoch", "informativity_mean"]
    assert [int(r.split("\t")[0]) for r in rows[1:]] == [1, 2, 3]
    html = (root / "reports" / "report.html").read_text()
    for name in ("fig05_strip", "per_epoch", "fig15_by_class", "fig16_truth_vs_translation"):
        assert f'src="figures/{name}.png"' in html
        with Image.open(root / "reports" / "figures" / f"{name}.png") as img:
            assert img.size[0] > 200 and img.size[1] > 90
    assert "demo rater" in html


def test_pool_is_reproducible_and_ids_are_blind(tiny_run):
    root, _, _ = tiny_run
    from pipeline.translator import load_generator

    snaps = labelsets.list_snapshots(root / "models" / "translator" / "snapshots")
    sounds = labelsets.load_sounds(emb_dir=root / "data" / "embeddings")
    params = {**INFO_PARAMS, "snapshots": 2, "sounds_per_class": 2, "samples_per_sound": 1}
    a = labelsets.build_pool(snaps, sounds, params, load_generator)
    b = labelsets.build_pool(snaps, sounds, params, load_generator)
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
        evaluate.run(EVAL_PARAMS, TRANSLATOR, snapshot_dir=root / "models/translator/snapshots",
                     shard_dir=root / "data/shards", emb_dir=emb_dir, classifier_dir=root / "models/informativity",
                     informativity_metrics=root / "models/informativity_metrics.json", report_dir=tmp_path / "r")


def test_missing_snapshots_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no generator snapshots"):
        labelsets.list_snapshots(tmp_path)
