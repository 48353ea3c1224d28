"""The training steps read nothing back to the host, and the loops log the same epoch means as when
every step's losses were read back one by one (`.item()` per step)."""

import numpy as np
import pytest
import torch

from s2i_models import AudioAutoencoder, DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, autoencoder_step, discriminator_step, generator_step, make_optimizer

from host_reads import count_host_reads
from stage_fixtures import AE_PARAMS, TRANSLATOR_PARAMS, embeddings_workspace, record_live, write_synthetic_shards

pytestmark = pytest.mark.usefixtures("one_thread")

E, WIDTH, BATCH = 32, 0.0625, 4
# The paper's GAN, and one with every lever that adds work to a step (pixel pooling, hinge, spectral norm,
# DiffAugment, R1, mode seeking with noise, mismatched pairs, the epoch's moving average).
CONFIGS = {
    "paper": (dict(), dict(), GanConfig()),
    "levers": (
        dict(noise_dim=8, upsample="resize", output_bn=False),
        dict(projection=True, norm="spectral"),
        GanConfig(loss="hinge", pixel_scale=8, augment="translation,cutout", r1=0.1, lambda_ms=0.1, d_mismatch=True, adv_average="epoch"),
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_gan_and_autoencoder_steps_read_nothing_back(monkeypatch, name):
    g_kw, d_kw, cfg = CONFIGS[name]
    torch.manual_seed(0)
    G, D = DenseGenerator(E, WIDTH, **g_kw), Discriminator(E, WIDTH, **d_kw)
    opt_g, opt_d = make_optimizer("generator", G.parameters()), make_optimizer("discriminator", D.parameters())
    ae = AudioAutoencoder(E, WIDTH)
    opt_ae = make_optimizer("autoencoder", ae.parameters())
    emb, real = torch.rand(BATCH, E) * 2 - 1, torch.rand(BATCH, 3, 96, 96) * 2 - 1
    mel = torch.rand(2, 1, 128, 100) * 2 - 1
    reads = count_host_reads(monkeypatch)
    average = EpochMovingAverage(cfg.adv_average)
    logs = [generator_step(G, D, opt_g, emb, real, average, cfg) for _ in range(2)]  # the 2nd adds to the mean
    logs += [discriminator_step(G, D, opt_d, emb, real, cfg), autoencoder_step(ae, opt_ae, mel)]
    monkeypatch.undo()
    assert reads == []
    values = [v for log in logs for v in log.values()]
    # G: 5 losses (6 with mode seeking), twice; D: 3 (5 with R1 and mismatched pairs); autoencoder: 1
    assert len(values) == (2 * 6 + 5 + 1 if name == "levers" else 2 * 5 + 3 + 1)
    assert all(torch.is_tensor(v) and v.dim() == 0 and not v.requires_grad for v in values)


class OldEpochMovingAverage:
    """The moving average as it was: its sum a Python float, read back with float() every batch."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def __call__(self, batch_loss):
        self.count += 1
        averaged = (batch_loss + self.total) / self.count
        self.total += float(batch_loss.detach())
        return averaged


def test_moving_average_on_the_device_gives_the_old_values_and_gradients():
    losses = torch.rand(6, generator=torch.Generator().manual_seed(0)) * 3
    results = []
    for average in (OldEpochMovingAverage(), EpochMovingAverage("epoch")):
        leaves = [loss.clone().requires_grad_(True) for loss in losses]
        outs = [average(leaf * 1.0) for leaf in leaves]
        sum(outs).backward()
        results.append((torch.stack([o.detach() for o in outs]), torch.stack([leaf.grad for leaf in leaves])))
    (old_values, old_grads), (new_values, new_grads) = results
    assert torch.equal(new_values, old_values) and torch.equal(new_grads, old_grads)
    assert not torch.equal(new_values, losses)  # the running mean, not the losses themselves


def recording_steps(monkeypatch, module, names):
    """Wrap the step functions `names` of `module`; each call's losses, read back the old way (float
    per value), join the list of the epoch under way. Returns the list of epochs."""
    epochs = [[]]
    for name in names:
        step = getattr(module, name)

        def recorded(*args, _step=step, **kwargs):
            losses = _step(*args, **kwargs)
            epochs[-1].append({k: float(v) for k, v in losses.items()})
            return losses

        monkeypatch.setattr(module, name, recorded)
    return epochs


def old_summary(rows):
    """The translator's epoch summary as it was computed from per-step floats."""
    return {k: float(np.mean([row[k] for row in rows if k in row])) for k in sorted({k for row in rows for k in row})}


@pytest.mark.parametrize("d_unit,d_every", [("epoch", 2), ("iteration", 1)])
def test_translator_logs_the_mean_of_every_steps_losses(tmp_path, monkeypatch, d_unit, d_every):
    from pipeline.training import translator

    embeddings_workspace(tmp_path)
    monkeypatch.chdir(tmp_path)
    lives = record_live(monkeypatch)
    steps = recording_steps(monkeypatch, translator, ["generator_step", "discriminator_step"])
    translator.train(
        {**TRANSLATOR_PARAMS, "epochs": 2, "d_unit": d_unit, "d_every": d_every, "snapshot_every": 100}, out_dir=tmp_path / "models/translator", live_dir=tmp_path / "live"
    )
    logged = lives[0].epochs()
    # the recorded steps, split into epochs by the number of G steps each epoch takes (40 pairs, batch 8)
    rows = [row for epoch in steps for row in epoch]
    g_steps = 40 // TRANSLATOR_PARAMS["batch_size"]
    d_pass = g_steps if d_unit == "epoch" else 0
    per_epoch = [rows[: g_steps * (1 + (d_unit == "iteration"))], rows[g_steps * (1 + (d_unit == "iteration")) :]]
    assert len(rows) == 2 * g_steps * (1 + (d_unit == "iteration")) + d_pass
    assert len(logged) == 2
    for epoch, expected in zip(logged, (old_summary(per_epoch[0]), old_summary(per_epoch[1]))):
        assert {k: epoch[k] for k in expected} == pytest.approx(expected, rel=1e-12)
    assert ("d_loss" in logged[0]) == (d_unit == "iteration") and "d_loss" in logged[1]


def test_translator_reads_back_per_epoch_not_per_step(tmp_path, monkeypatch):
    from pipeline.training import translator

    counts = {}
    for batch_size in (8, 4):  # 5 and 10 steps an epoch
        root = tmp_path / f"batch{batch_size}"
        root.mkdir()
        embeddings_workspace(root)
        monkeypatch.chdir(root)
        record_live(monkeypatch)
        reads = count_host_reads(monkeypatch)
        translator.train(
            {**TRANSLATOR_PARAMS, "epochs": 2, "batch_size": batch_size, "d_unit": "iteration", "d_every": 1}, out_dir=root / "models/translator", live_dir=root / "live"
        )
        monkeypatch.undo()
        counts[batch_size] = list(reads)
    assert counts[8] and len(counts[4]) == len(counts[8]), counts


def test_autoencoder_logs_the_mean_of_its_steps_losses(tmp_path, monkeypatch):
    from pipeline.training import autoencoder

    write_synthetic_shards(tmp_path)
    monkeypatch.chdir(tmp_path)
    lives = record_live(monkeypatch)
    steps = recording_steps(monkeypatch, autoencoder, ["autoencoder_step"])
    autoencoder.train(32, AE_PARAMS)
    rows = [row["ae_loss"] for row in steps[0]]
    per_epoch = len(rows) // AE_PARAMS["epochs"]
    logged = [epoch["mse"] for epoch in lives[0].epochs()]
    expected = [sum(rows[i : i + per_epoch]) / per_epoch for i in range(0, len(rows), per_epoch)]
    assert per_epoch == 40 // AE_PARAMS["batch_size"] and logged == pytest.approx(expected, rel=1e-12)
