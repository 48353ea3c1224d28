"""GAN and autoencoder training steps, schedule, moving average, optimisers, checkpoints."""

import os

import pytest
import torch
import torch.nn.functional as F

from s2i_models import (
    AlwaysDropout2d,
    AudioAutoencoder,
    CheckpointError,
    DenseGenerator,
    Discriminator,
    DiscriminatorSchedule,
    EpochMovingAverage,
    GanConfig,
    WeightAverage,
    autocast,
    autoencoder_step,
    discriminator_step,
    generator_losses,
    generator_step,
    load_checkpoint,
    make_optimizer,
    pick_device,
    recompute_batchnorm,
    restore,
    save_checkpoint,
    set_inference_dropout,
)

E, WIDTH, BATCH = 32, 0.0625, 4


pytestmark = pytest.mark.usefixtures("one_thread")


def small_gan(seed=0):
    torch.manual_seed(seed)
    G, D = DenseGenerator(E, WIDTH), Discriminator(E, WIDTH)
    emb = torch.rand(BATCH, E) * 2 - 1
    real = torch.rand(BATCH, 3, 96, 96) * 2 - 1
    return G, D, emb, real


def snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def changed(before, module):
    after = module.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_generator_step_updates_only_the_generator():
    G, D, emb, real = small_gan()
    g0, d0 = snapshot(G), snapshot(D)
    opt = make_optimizer("generator", G.parameters())
    out = generator_step(G, D, opt, emb, real, EpochMovingAverage(), GanConfig())
    assert all(v.device == emb.device and not v.requires_grad and v.dim() == 0 for v in out.values())
    out = {k: float(v) for k, v in out.items()}
    assert {k for k, _ in G.named_parameters()} <= changed(g0, G)
    assert changed(d0, D) <= {k for k, _ in D.named_buffers()}  # frozen: no weight moves (BN statistics may)
    assert all(p.requires_grad for p in D.parameters()) and D.training
    assert out["g_loss"] == pytest.approx(out["g_pixel"] + 0.1 * out["g_adv"], rel=1e-5)
    assert out["g_adv"] == pytest.approx(out["g_adv_batch"])  # first batch: the mean is the batch loss


def test_generator_step_adversarial_term_is_the_epoch_mean():
    G, D, emb, real = small_gan()
    opt = make_optimizer("generator", G.parameters())
    avg, cfg = EpochMovingAverage(), GanConfig(lambda_adv=0.5)
    batch_losses = []
    for _ in range(3):
        out = {k: float(v) for k, v in generator_step(G, D, opt, emb, real, avg, cfg).items()}
        batch_losses.append(out["g_adv_batch"])
        assert out["g_adv"] == pytest.approx(sum(batch_losses) / len(batch_losses), rel=1e-5)
        assert out["g_loss"] == pytest.approx(out["g_pixel"] + 0.5 * out["g_adv"], rel=1e-5)


def test_discriminator_step_updates_only_the_discriminator():
    G, D, emb, real = small_gan()
    G.eval()  # so that G's BN statistics stay put too
    g0, d0 = snapshot(G), snapshot(D)
    opt = make_optimizer("discriminator", D.parameters())
    out = discriminator_step(G, D, opt, emb, real, GanConfig())
    assert {k for k, _ in D.named_parameters()} <= changed(d0, D)
    assert changed(g0, G) == set()
    assert all(p.grad is None for p in G.parameters())
    assert set(out) == {"d_loss", "d_real_score", "d_fake_score"}
    # balanced batch, targets +1 / -1: loss = mean of the two halves' squared errors
    assert -1 <= out["d_fake_score"] <= 1 and -1 <= out["d_real_score"] <= 1


def test_discriminator_loss_is_mse_to_real_and_fake_targets():
    G, D, emb, real = small_gan()
    G.eval()
    set_inference_dropout(G, False)
    D.eval()  # no dropout, fixed BN: the pre-step scores are reproducible
    cfg = GanConfig(real_score=0.8, fake_score=-0.6)
    with torch.no_grad():
        fake = G(emb)
        real_scores, fake_scores = D(real, emb), D(fake, emb)
    expected = (F.mse_loss(real_scores, torch.full((BATCH,), 0.8)) + F.mse_loss(fake_scores, torch.full((BATCH,), -0.6))) / 2
    out = discriminator_step(G, D, make_optimizer("discriminator", D.parameters()), emb, real, cfg)
    assert out["d_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert out["d_real_score"] == pytest.approx(real_scores.mean().item(), rel=1e-5)
    assert out["d_fake_score"] == pytest.approx(fake_scores.mean().item(), rel=1e-5)


def test_steps_are_deterministic_for_a_seed():
    runs = []
    for _ in range(2):
        G, D, emb, real = small_gan(seed=3)
        g_opt = make_optimizer("generator", G.parameters())
        d_opt = make_optimizer("discriminator", D.parameters())
        cfg = GanConfig()
        runs.append((generator_step(G, D, g_opt, emb, real, EpochMovingAverage(), cfg), discriminator_step(G, D, d_opt, emb, real, cfg)))
    assert runs[0] == runs[1]


def test_moving_average_hand_values():
    avg = EpochMovingAverage()
    expected_values = [4.0, 3.0, 3.0]
    for k, (value, expected) in enumerate(zip([4.0, 2.0, 3.0], expected_values), start=1):
        loss = torch.tensor(value, requires_grad=True)
        used = avg(loss)
        assert used.item() == pytest.approx(expected)
        used.backward()
        assert loss.grad.item() == pytest.approx(1 / k)  # earlier batches are detached
    avg.reset()
    assert avg(torch.tensor(7.0)).item() == pytest.approx(7.0)


def test_schedule_epoch_unit_hand_sequence():
    sched = DiscriminatorSchedule(every=2, unit="epoch")
    assert list(sched.events(epochs=4, batches=2)) == [
        ("G", 1, 1),
        ("G", 1, 2),
        ("G", 2, 1),
        ("G", 2, 2),
        ("D", 2, 1),
        ("D", 2, 2),
        ("G", 3, 1),
        ("G", 3, 2),
        ("G", 4, 1),
        ("G", 4, 2),
        ("D", 4, 1),
        ("D", 4, 2),
    ]
    paper = DiscriminatorSchedule()  # defaults: every 5 epochs
    assert [e for e in range(1, 21) if paper.after_epoch(e)] == [5, 10, 15, 20]
    assert not any(paper.after_iteration(i) for i in range(1, 50))
    assert [e for e in range(1, 16) if paper.follows_d_update(e)] == [6, 7, 11, 12]


def test_schedule_iteration_unit_hand_sequence():
    sched = DiscriminatorSchedule(every=2, unit="iteration")
    # the iteration count runs across epochs: 3 batches per epoch, D after iterations 2, 4, 6
    assert list(sched.events(epochs=2, batches=3)) == [("G", 1, 1), ("G", 1, 2), ("D", 1, 2), ("G", 1, 3), ("G", 2, 1), ("D", 2, 1), ("G", 2, 2), ("G", 2, 3), ("D", 2, 3)]
    five = DiscriminatorSchedule(every=5, unit="iteration")
    assert [i for i in range(1, 16) if five.after_iteration(i)] == [5, 10, 15]
    assert not any(five.after_epoch(e) for e in range(1, 20))


def test_config_validation():
    assert GanConfig().d_unit == "epoch" and GanConfig().d_every == 5
    with pytest.raises(ValueError, match="d_unit"):
        GanConfig(d_unit="batch")
    with pytest.raises(ValueError, match="d_every"):
        DiscriminatorSchedule(every=0)


def test_make_optimizer_paper_settings_and_overrides():
    params = [torch.nn.Parameter(torch.zeros(2))]
    expected = {"autoencoder": (0.05, 0.9, 0.0), "generator": (0.1, 0.5, 0.0), "discriminator": (0.1, 0.5, 0.0), "informativity": (0.001, 0.9, 5e-5)}
    for kind, (lr, momentum, wd) in expected.items():
        group = make_optimizer(kind, params).param_groups[0]
        assert (group["lr"], group["momentum"], group["weight_decay"]) == (lr, momentum, wd)
    assert make_optimizer("generator", params, lr=0.01).param_groups[0]["lr"] == 0.01
    with pytest.raises(ValueError, match="unknown optimizer kind"):
        make_optimizer("critic", params)


def test_autoencoder_step_returns_the_pre_step_loss_and_updates():
    torch.manual_seed(0)
    ae = AudioAutoencoder(E, WIDTH).eval()  # eval: no dropout, fixed BN, so the loss is reproducible
    mel = torch.rand(2, 1, 128, 100) * 2 - 1
    with torch.no_grad():
        expected = F.mse_loss(ae(mel), mel).item()
    before = snapshot(ae)
    out = autoencoder_step(ae, make_optimizer("autoencoder", ae.parameters()), mel)
    assert out["ae_loss"] == pytest.approx(expected, rel=1e-5)
    assert changed(before, ae)


def test_device_helpers_and_bf16_noop_on_cpu():
    assert pick_device("cpu").type == "cpu"
    assert pick_device().type in {"cpu", "cuda"}
    with autocast("cpu", bf16=True):
        assert torch.zeros(2, 2).matmul(torch.zeros(2, 2)).dtype == torch.float32
    results = []
    for bf16 in (False, True):
        G, D, emb, real = small_gan(seed=1)
        opt = make_optimizer("generator", G.parameters())
        results.append(generator_step(G, D, opt, emb, real, EpochMovingAverage(), GanConfig(bf16=bf16)))
    assert results[0] == results[1]


def trained_pair():
    G, D, emb, real = small_gan()
    g_opt = make_optimizer("generator", G.parameters())
    d_opt = make_optimizer("discriminator", D.parameters())
    generator_step(G, D, g_opt, emb, real, EpochMovingAverage(), GanConfig())
    discriminator_step(G, D, d_opt, emb, real, GanConfig())
    return G, D, g_opt, d_opt


def test_checkpoint_round_trip(tmp_path):
    G, D, g_opt, d_opt = trained_pair()
    path = tmp_path / "ckpt" / "translator.pt"
    save_checkpoint(
        path,
        models={"generator": G, "discriminator": D},
        emb_dim=E,
        width=WIDTH,
        epoch=7,
        optimizers={"generator": g_opt, "discriminator": d_opt},
        extra={"note": "x", "losses": [1.0, 2.0]},
    )
    assert os.listdir(path.parent) == ["translator.pt"]  # no temp file left behind

    raw = torch.load(path, weights_only=True)
    assert raw["epoch"] == 7 and raw["extra"] == {"note": "x", "losses": [1.0, 2.0]}
    ckpt = load_checkpoint(path, emb_dim=E, width=WIDTH)
    for name, model in {"generator": G, "discriminator": D}.items():
        saved = ckpt["models"][name]
        assert saved.keys() == model.state_dict().keys()
        assert all(torch.equal(saved[k], v) for k, v in model.state_dict().items())

    G2, D2 = DenseGenerator(E, WIDTH), Discriminator(E, WIDTH)
    g_opt2 = make_optimizer("generator", G2.parameters())
    restore(ckpt, {"generator": G2, "discriminator": D2}, {"generator": g_opt2})
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), G2.state_dict().values()))
    momentum = [s["momentum_buffer"] for s in g_opt.state_dict()["state"].values()]
    momentum2 = [s["momentum_buffer"] for s in g_opt2.state_dict()["state"].values()]
    assert len(momentum) > 0 and all(torch.equal(a, b) for a, b in zip(momentum, momentum2))


def test_load_generator_gives_back_the_saved_generator_ready_to_draw(tmp_path):
    from s2i_models.rebuild import load_generator

    G, _, _, _ = trained_pair()
    path = tmp_path / "generator.pt"
    save_checkpoint(path, models={"generator": G}, emb_dim=E, width=WIDTH, epoch=3, extra={"generator": "dense", "output_bn": True, "upsample": "transposed"})
    loaded = load_generator(path)
    assert not loaded.training
    assert loaded.state_dict().keys() == G.state_dict().keys()
    assert all(torch.equal(a, b) for a, b in zip(G.state_dict().values(), loaded.state_dict().values()))
    emb = torch.randn(2, E)
    G.eval()
    torch.manual_seed(1)
    expected = G(emb)
    torch.manual_seed(1)
    assert torch.equal(loaded(emb), expected)  # same weights, same dropout draws
    with pytest.raises(CheckpointError, match="emb_dim 32, but emb_dim 64"):
        load_generator(path, emb_dim=64)


def test_checkpoint_rng_round_trip(tmp_path):
    import random

    path = tmp_path / "rng.pt"
    G = DenseGenerator(E, WIDTH)
    save_checkpoint(path, models={"generator": G}, emb_dim=E, width=WIDTH, epoch=0)
    draws = torch.rand(3)
    random.seed(7)
    restore(load_checkpoint(path), {}, rng=True)
    assert torch.equal(torch.rand(3), draws)  # torch's stream resumes where the checkpoint left it
    assert random.random() == random.Random(7).random()  # Python's is the caller's: restoring leaves it alone


def test_checkpoint_errors(tmp_path):
    path = tmp_path / "g.pt"
    G = DenseGenerator(E, WIDTH)
    save_checkpoint(path, models={"generator": G}, emb_dim=E, width=WIDTH, epoch=1)
    with pytest.raises(CheckpointError, match=r"g\.pt: checkpoint has emb_dim 32, but emb_dim 512"):
        load_checkpoint(path, emb_dim=512)
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt: not a readable checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")
    with pytest.raises(TypeError, match="extra.bad"):
        save_checkpoint(path, models={"generator": G}, emb_dim=E, width=WIDTH, epoch=1, extra={"bad": object()})
    with pytest.raises(CheckpointError, match="no model 'discriminator'"):
        restore(load_checkpoint(path), {"discriminator": Discriminator(E, WIDTH)})


def test_train_step_benchmark_smoke(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_train_step.py"
    spec = importlib.util.spec_from_file_location("bench_train_step", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    bench.main(
        [
            "--width",
            "0.0625",
            "--batch",
            "2",
            "--emb-dim",
            "32",
            "--steps",
            "1",
            "--warmup",
            "0",
            "--device",
            "cpu",
            "--matmul-size",
            "128",
            "--matmul-seconds",
            "0.01",
            "--threads",
            "1",
        ]
    )
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.strip().splitlines())
    assert float(lines["g_fwd_bwd_gflop"]) > 0 and float(lines["g_step_fraction_of_matmul"]) > 0
    assert {"g_step_s", "d_step_s", "g_plus_d_s", "g_step_samples_per_s"} <= lines.keys()
    loader = bench.loader_vs_step([torch.zeros(4, 3)] * 3, n_batches=2, step_samples_per_s=8.0)
    assert loader["loader_samples_per_s"] > 0
    assert loader["loader_over_step"] == pytest.approx(loader["loader_samples_per_s"] / 8.0)


def grad_norm(loss, module):
    grads = torch.autograd.grad(loss, [p for p in module.parameters()], retain_graph=True, allow_unused=True)
    return float(torch.sqrt(sum((g**2).sum() for g in grads if g is not None)))


def test_adversarial_gradient_reaches_the_generator():
    # Train D a few steps so that it tells real from synthetic, then compare the two
    # parts of G's loss. With D scored in eval mode (the old bug) the adversarial
    # gradient was exactly 0; it must be of the pixel gradient's order.
    torch.manual_seed(0)
    G, D = DenseGenerator(E, WIDTH), Discriminator(E, WIDTH)
    emb = torch.rand(16, E) * 2 - 1
    real = torch.rand(16, 3, 96, 96) * 2 - 1
    cfg = GanConfig()
    d_opt = make_optimizer("discriminator", D.parameters())
    for _ in range(5):
        discriminator_step(G, D, d_opt, emb, real, cfg)
    pixel, adversarial, scores, _ = generator_losses(G, D, emb, real, cfg)
    pixel_norm, adv_norm = grad_norm(pixel, G), grad_norm(adversarial, G)
    assert pixel_norm > 0
    assert 0.1 < adv_norm / pixel_norm < 100, (adv_norm, pixel_norm)
    assert scores.std() > 0  # D's score depends on the image
    assert all(p.requires_grad for p in D.parameters())


def test_generator_losses_score_fakes_beside_reals_in_train_mode():
    G, D, emb, real = small_gan()
    torch.manual_seed(1)
    pixel, adversarial, scores, _ = generator_losses(G, D, emb, real, GanConfig())
    assert D.training and scores.shape == (BATCH,)
    assert float(adversarial) == pytest.approx(float(((scores - 1.0) ** 2).mean()), rel=1e-6)
    assert 0 < float(pixel) < 4  # MSE of two images in [-1, 1]


def class_world(n_per_class=16, seed=0):
    """Two classes: embeddings near +v or -v, images a red or a blue 96x96 field."""
    gen = torch.Generator().manual_seed(seed)
    direction = torch.randn(E, generator=gen).sign()
    emb = torch.cat([direction.expand(n_per_class, E), -direction.expand(n_per_class, E)])
    emb = (emb * 0.8 + 0.1 * torch.randn(emb.shape, generator=gen)).clamp(-1, 1)
    colours = torch.tensor([[0.8, -0.6, -0.6], [-0.6, -0.6, 0.8]])
    classes = torch.arange(2).repeat_interleave(n_per_class)
    real = colours[classes][:, :, None, None].expand(-1, 3, 96, 96).clone()
    return emb, real, classes, colours


def test_briefly_trained_generator_draws_each_class_in_its_own_colour():
    # With the pixel and the adversarial loss, a tiny G learns in a hundred steps to
    # draw a class's colour from that class's embedding.
    torch.manual_seed(0)
    emb, real, classes, colours = class_world()
    G, D = DenseGenerator(E, WIDTH, output_bn=False), Discriminator(E, WIDTH)
    cfg = GanConfig(lambda_adv=0.3, adv_average="batch")
    g_opt = make_optimizer("generator", G.parameters(), "adam", lr=2e-3)
    d_opt = make_optimizer("discriminator", D.parameters(), "adam", lr=2e-3)
    avg = EpochMovingAverage("batch")
    for step in range(100):
        idx = torch.randperm(len(emb))[:16]
        generator_step(G, D, g_opt, emb[idx], real[idx], avg, cfg)
        discriminator_step(G, D, d_opt, emb[idx], real[idx], cfg)
    recompute_batchnorm(G, [emb[:16], emb[16:]])
    G.eval()
    set_inference_dropout(G, False)
    with torch.no_grad():
        mean_colour = G(emb).mean(dim=(2, 3))
    for c in range(2):
        drawn = mean_colour[classes == c].mean(0)
        own, other = (drawn - colours[c]).norm(), (drawn - colours[1 - c]).norm()
        assert own < other, (c, drawn, colours)
    assert (mean_colour[classes == 0].mean(0) - mean_colour[classes == 1].mean(0)).norm() > 0.5


def test_untrained_generator_does_not_tell_the_classes_apart():
    # The control for the test above: the same check fails before training.
    torch.manual_seed(0)
    emb, real, classes, colours = class_world()
    G = DenseGenerator(E, WIDTH, output_bn=False).eval()
    set_inference_dropout(G, False)
    with torch.no_grad():
        mean_colour = G(emb).mean(dim=(2, 3))
    assert (mean_colour[classes == 0].mean(0) - mean_colour[classes == 1].mean(0)).norm() < 0.5


def test_weight_average_hand_values():
    source = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        source.weight.fill_(0.0)
    avg = WeightAverage(source, decay=0.75)
    for target, expected in [(4.0, 1.0), (4.0, 1.75), (0.0, 1.3125)]:
        with torch.no_grad():
            source.weight.fill_(target)
        avg.update(source)
        assert float(avg.model.weight) == pytest.approx(expected)  # 0.75 * old + 0.25 * new
    assert not avg.model.training and not avg.model.weight.requires_grad
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(source, decay=1.0)


def test_batch_unit_passes_the_batch_loss_through():
    avg = EpochMovingAverage("batch")
    first, second = torch.tensor(2.0, requires_grad=True), torch.tensor(4.0, requires_grad=True)
    assert float(avg(first)) == 2.0 and float(avg(second)) == 4.0
    avg(second).backward()
    assert float(second.grad) == 1.0  # "epoch" would scale it by 1/k
    with pytest.raises(ValueError, match="adv_average"):
        EpochMovingAverage("week")


def test_adam_reads_momentum_as_beta1():
    params = [torch.nn.Parameter(torch.zeros(1))]
    group = make_optimizer("generator", params, "adam", lr=2e-4, momentum=0.5).param_groups[0]
    assert group["betas"] == (0.5, 0.999) and group["lr"] == 2e-4
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("generator", params, "rmsprop")


def test_recompute_batchnorm_hand_values_and_rng_untouched():
    model = torch.nn.Sequential(torch.nn.BatchNorm2d(1), AlwaysDropout2d(0.5))  # the dropout draws random numbers
    model.eval()
    with torch.no_grad():
        model[0].running_mean.fill_(9.0)
    torch.manual_seed(3)
    expected_next = torch.rand(3)
    torch.manual_seed(3)
    recompute_batchnorm(model, [torch.tensor([0.0, 2.0]).view(2, 1, 1, 1), torch.tensor([4.0, 6.0]).view(2, 1, 1, 1)])
    assert torch.equal(torch.rand(3), expected_next)  # global RNG as it was
    assert float(model[0].running_mean) == pytest.approx(3.0)  # mean of the batch means 1 and 5
    assert float(model[0].running_var) == pytest.approx(2.0)  # unbiased variances 2 and 2
    assert model[0].momentum == 0.1 and not model.training


def test_discriminator_mismatch_pairs_are_synthetic():
    # d_mismatch adds the real images paired with the next sound's embedding, target fake_score.
    G, D, emb, real = small_gan()
    G.eval()
    set_inference_dropout(G, False)
    D.eval()
    cfg = GanConfig(real_score=0.8, fake_score=-0.6, d_mismatch=True)
    with torch.no_grad():
        fake = G(emb)
        real_s, fake_s, mism_s = D(real, emb), D(fake, emb), D(real, emb.roll(1, 0))
    expected = (F.mse_loss(real_s, torch.full((BATCH,), 0.8), reduction="sum") + F.mse_loss(torch.cat([fake_s, mism_s]), torch.full((2 * BATCH,), -0.6), reduction="sum")) / (
        3 * BATCH
    )
    out = discriminator_step(G, D, make_optimizer("discriminator", D.parameters()), emb, real, cfg)
    assert out["d_loss"] == pytest.approx(expected.item(), rel=1e-5)
    assert out["d_fake_score"] == pytest.approx(fake_s.mean().item(), rel=1e-5)
    assert out["d_mismatch_score"] == pytest.approx(mism_s.mean().item(), rel=1e-5)


def test_projection_discriminator_hand_values():
    # score = tanh(BN(conv(features, sound) + <V emb, features summed over space>)); eval-mode BN is x / sqrt(1 + eps)
    torch.manual_seed(0)
    D = Discriminator(E, WIDTH, dropout=0.0, projection=True).eval()
    assert torch.count_nonzero(D.project.weight) == 0  # starts as the paper's D
    torch.nn.init.normal_(D.project.weight)
    image, emb = torch.rand(3, 3, 96, 96) * 2 - 1, torch.rand(3, E) * 2 - 1
    with torch.no_grad():
        feats = D.features(image)
        linear = D.score[0](torch.cat([feats, emb.reshape(3, E // 4, 2, 2)], 1)).flatten()
        pairing = torch.stack([feats[i].sum((1, 2)) @ (D.project.weight @ emb[i]) for i in range(3)])
        expected = torch.tanh((linear + pairing) / (1 + D.score[1].eps) ** 0.5)
        assert torch.allclose(D(image, emb), expected, atol=1e-5)
        assert pairing.abs().min() > 1e-3  # the term is really there


def xor_pairs(n, seed):
    """Two kinds of image (bright, dark) and two kinds of sound: image kind k belongs with sound kind k."""
    g = torch.Generator().manual_seed(seed)
    kind = torch.arange(n) % 2
    image = (kind.float() * 2 - 1).view(n, 1, 1, 1) * 0.5 + torch.rand(n, 3, 96, 96, generator=g) * 0.2
    sound = torch.zeros(n, E)
    sound[:, : E // 2] = (kind.float() * 2 - 1).view(n, 1)
    return image, sound + torch.rand(n, E, generator=g) * 0.1


@pytest.mark.parametrize("projection", [False, True])
def test_only_the_projection_discriminator_learns_which_sound_belongs_to_an_image(projection):
    # Matched pairs are real, pairs with the other kind's sound synthetic (what d_mismatch teaches).
    # The paper's D scores f(image) + g(sound) before a monotone tanh: it cannot separate this XOR.
    torch.manual_seed(0)
    D = Discriminator(E, WIDTH, dropout=0.0, projection=projection)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3)
    for step in range(60):
        image, sound = xor_pairs(8, step)
        scores = D(torch.cat([image, image]), torch.cat([sound, sound.roll(1, 0)]))
        loss = F.mse_loss(scores, torch.cat([torch.ones(8), -torch.ones(8)]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    image, sound = xor_pairs(16, 999)
    with torch.no_grad():  # one batch, as in training: D's last BatchNorm centres each batch's scores
        scores = D(torch.cat([image, image]), torch.cat([sound, sound.roll(1, 0)]))
    gap = (scores[:16] - scores[16:]).mean().item()
    if projection:
        assert gap > 1.0
    else:
        assert abs(gap) < 0.3
