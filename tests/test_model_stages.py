import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.stages import embed
from pipeline.training import autoencoder, translator
from s2i_models import load_checkpoint
from s2i_models.rebuild import load_generator

from stage_fixtures import AE_PARAMS, SPLIT_SIZES, TRANSLATOR_PARAMS, write_synthetic_shards


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    write_synthetic_shards(tmp_path)
    return tmp_path


def assert_same_weights(got: dict, expected: dict, **tolerance) -> None:
    """Every tensor of the `expected` state dict equals the one of that name in `got` (assert_close's tolerances)."""
    for name, tensor in expected.items():
        torch.testing.assert_close(got[name], tensor, msg=name, **tolerance)


def run_data_to_embeddings(emb_dim=32):
    autoencoder.train(emb_dim, AE_PARAMS)
    embed.main_with({"batch_size": 16})


def test_autoencoder_embed_translator_chain(workspace):
    run_data_to_embeddings()
    best = load_checkpoint("models/autoencoder/best.pt", emb_dim=32)
    assert 1 <= best["epoch"] <= AE_PARAMS["epochs"]
    metrics = json.loads((workspace / "models/autoencoder_live/metrics.json").read_text())
    assert metrics["best"]["epoch"] == best["epoch"]
    # The stage's linear probe: every class of the synthetic shards has its own loud band.
    assert set(metrics["probe"]) == {"train_accuracy", "val_accuracy", "test_accuracy"}
    assert metrics["probe"]["test_accuracy"] >= 0.8
    for split, n in SPLIT_SIZES.items():
        arrays = np.load(f"data/embeddings/{split}.npz")
        assert arrays["emb"].shape == (n, 32) and np.abs(arrays["emb"]).max() <= 1.0
        assert list(arrays["class_index"][:5]) == [0, 1, 2, 3, 4]
    translator.train(TRANSLATOR_PARAMS)
    snapshots = sorted(p.name for p in (workspace / "models/translator/snapshots").iterdir())
    assert snapshots == [f"generator_{e:05d}.pt" for e in range(1, 4)]
    G = load_generator("models/translator/generator.pt")
    assert G(torch.zeros(2, 32)).shape == (2, 3, 96, 96)
    steps = (workspace / "models/translator_live/plots/metrics/train/g_pixel.tsv").read_text().splitlines()
    assert len(steps) == 1 + 3
    assert (workspace / "models/translator/test_grid.png").stat().st_size > 1000


def test_killed_translator_resumes_to_the_same_weights(workspace):
    run_data_to_embeddings()
    translator.train(TRANSLATOR_PARAMS)
    straight = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
    # an interrupted run: two epochs done, then the same command again with the full count
    translator.train({**TRANSLATOR_PARAMS, "epochs": 2})
    translator.train(TRANSLATOR_PARAMS)
    resumed = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
    assert_same_weights(resumed, straight)


def test_the_generator_a_run_ends_with_does_not_depend_on_how_often_it_was_shown(workspace):
    # The shown generator's BatchNorm recompute and val loss run only at snapshot epochs (and the last):
    # shown at every epoch or only at epochs 2 and 3, the run must end with the same weights and statistics.
    run_data_to_embeddings()
    ends, val_rows = {}, {}
    for every in (1, 2):
        shutil.rmtree("models/translator", ignore_errors=True)
        shutil.rmtree("models/translator_live", ignore_errors=True)
        translator.train({**TRANSLATOR_PARAMS, "snapshot_every": every})
        ends[every] = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
        val_rows[every] = len((workspace / "models/translator_live/plots/metrics/val/g_pixel.tsv").read_text().splitlines())
    running = [k for k in ends[1] if k.endswith("running_mean")]
    assert running and all(ends[1][k].abs().sum() > 0 for k in running)
    assert_same_weights(ends[2], ends[1], rtol=0, atol=0)
    assert val_rows == {1: 1 + 3, 2: 1 + 2}
    # the last epoch's recompute is what the checkpoint holds: G's own running averages differ from it
    G = load_checkpoint("models/translator/last.pt")["models"]["generator"]
    assert any(not torch.equal(G[k], ends[2][k]) for k in running)


def test_lr_decay_lowers_both_rates_to_the_schedule_and_a_longer_run_does_not_continue_a_shorter_one(workspace):
    run_data_to_embeddings()
    decaying = {**TRANSLATOR_PARAMS, "lr_decay": 1.0}
    translator.train(decaying)
    last = load_checkpoint("models/translator/last.pt")
    for name in ("generator", "discriminator"):
        assert [g["lr"] for g in last["optimizers"][name]["param_groups"]] == [pytest.approx(TRANSLATOR_PARAMS["lr"] / 4)]
    straight = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
    # two epochs of a 2-epoch decay fall faster than a 3-epoch run's first two: the 3-epoch run starts fresh
    translator.train({**decaying, "epochs": 2})
    translator.train(decaying)
    again = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
    assert_same_weights(again, straight)
    translator.train(TRANSLATOR_PARAMS)
    constant = load_checkpoint("models/translator/generator.pt")["models"]["generator"]
    assert any(not torch.equal(constant[k], straight[k]) for k in straight if k.endswith("weight"))
    with pytest.raises(ValueError, match="lr_decay must be in"):
        translator.train({**TRANSLATOR_PARAMS, "lr_decay": 1.5})


def retrained_after_losing_logs(train, stage: str, checkpoint: str, name: str, plot: str, epochs: int, capsys) -> None:
    """Delete the finished run's dvclive folder, train again: the plots come back with every epoch, the
    stage says why it did not resume, and the weights `name` in `checkpoint` are those of the first run."""
    before = load_checkpoint(checkpoint)["models"][name]
    shutil.rmtree(f"models/{stage}_live")
    train()
    tsv = Path(f"models/{stage}_live/plots/metrics/train/{plot}.tsv")
    assert tsv.exists() and len(tsv.read_text().splitlines()) == 1 + epochs
    assert f"not resuming: models/{stage}_live holds no logs" in capsys.readouterr().out
    after = load_checkpoint(checkpoint)["models"][name]
    assert_same_weights(after, before)


def test_a_finished_run_whose_logs_are_gone_trains_again_and_writes_them(workspace, capsys):
    # What `dvc exp run` met (issue 23): DVC restored models/autoencoder (with last.pt after the last epoch)
    # but not its uncommitted plots; resuming the finished run logged no epoch, so the stage's plots output
    # was missing and the experiment failed.
    run_data_to_embeddings()
    ae_epochs, translator_epochs = AE_PARAMS["epochs"], TRANSLATOR_PARAMS["epochs"]
    retrained_after_losing_logs(lambda: autoencoder.train(32, AE_PARAMS), "autoencoder", "models/autoencoder/best.pt", "autoencoder", "mse", ae_epochs, capsys)
    translator.train(TRANSLATOR_PARAMS)
    retrained_after_losing_logs(lambda: translator.train(TRANSLATOR_PARAMS), "translator", "models/translator/generator.pt", "generator", "g_pixel", translator_epochs, capsys)


def test_other_settings_start_fresh_and_clear_old_snapshots(workspace):
    run_data_to_embeddings()
    translator.train(TRANSLATOR_PARAMS)
    translator.train({**TRANSLATOR_PARAMS, "epochs": 2, "lr": 0.05})
    snapshots = sorted(p.name for p in (workspace / "models/translator/snapshots").iterdir())
    assert snapshots == ["generator_00001.pt", "generator_00002.pt"]
    assert load_checkpoint("models/translator/generator.pt")["epoch"] == 2
