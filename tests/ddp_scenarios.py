"""A few SGD steps that run alike in one process and under torchrun (tests/ddp_worker.py).

Each scenario builds its models and global batches from fixed seeds, trains
through pipeline.training.distributed's Context (each rank on its slice of every global
batch) and returns the final state_dicts. Dropout is switched off, so that one
process with the global batch must reach the same weights as N ranks. The GAN
runs in float64: in float32 its small-width gradients are ill-conditioned (one
process in float32 and in float64 differ by 0.3% in the worst layer), so any
change in the order of float32 sums, N ranks or not, moves them by more than 1e-5.
Each model's weights before training come back under "<name>/start".
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.evaluation import classifiers as informativity
from s2i_models import AlwaysDropout2d, DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, InformativityClassifier, discriminator_step, generator_step, make_optimizer

GLOBAL_BATCH, EMB_DIM, WIDTH, STEPS = 16, 16, 0.0625, 3


def without_dropout(model: nn.Module) -> nn.Module:
    for module in model.modules():
        if isinstance(module, (nn.Dropout, nn.Dropout2d, AlwaysDropout2d)):
            module.p = 0.0
    return model


def start(models: dict[str, nn.Module]) -> dict:
    return {f"{name}/start": {k: v.clone() for k, v in m.state_dict().items()} for name, m in models.items()}


def global_batch(step: int, *shape: int) -> torch.Tensor:
    return torch.rand(GLOBAL_BATCH, *shape, generator=torch.Generator().manual_seed(1000 + step)) * 2 - 1


def plain(ctx) -> dict:
    """A conv + linear network without BatchNorm, MSE regression."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 7 * 7, 1))
    before = start({"model": model})
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    trained = ctx.wrap(model, sync_bn=True)
    for step in range(STEPS):
        x, y = ctx.local_part(global_batch(step, 3, 16, 16)), ctx.local_part(global_batch(step, 1))
        loss = F.mse_loss(trained(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"model": model.state_dict(), **before}


def gan(ctx, sync_bn: bool) -> dict:
    """The translator's G and D steps (d_unit iteration: a D step after every G step)."""
    torch.manual_seed(0)
    G = without_dropout(DenseGenerator(EMB_DIM, WIDTH)).double()
    D = without_dropout(Discriminator(EMB_DIM, WIDTH)).double()
    before = start({"generator": G, "discriminator": D})
    opt_g, opt_d = make_optimizer("generator", G.parameters()), make_optimizer("discriminator", D.parameters())
    G_ddp, D_ddp = ctx.wrap(G, sync_bn), ctx.wrap(D, sync_bn)
    cfg, average = GanConfig(), EpochMovingAverage()
    for step in range(STEPS):
        emb = ctx.local_part(global_batch(step, EMB_DIM).double())
        real = ctx.local_part(global_batch(step, 3, 96, 96).double())
        generator_step(G_ddp, D, opt_g, emb, real, average, cfg)
        discriminator_step(G, D_ddp, opt_d, emb, real, cfg)
    return {"generator": G.state_dict(), "discriminator": D.state_dict(), **before}


def classifier(ctx) -> dict:
    """The informativity stage's `fit` (its own batching and slicing)."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (40, 96, 96, 3), dtype=np.uint8)
    targets = rng.integers(0, 2, 40)
    torch.manual_seed(0)
    net = without_dropout(InformativityClassifier(0.5))
    before = start({"classifier": net})
    p = dict(lr=0.01, momentum=0.9, weight_decay=5e-5, seed=0, epochs=2, batch_size=GLOBAL_BATCH, sync_bn=True)
    informativity.fit(net, images, targets, p, desc="classifier")
    return {"classifier": net.state_dict(), **before}


SCENARIOS = {"plain": plain, "gan_sync_bn": lambda ctx: gan(ctx, sync_bn=True), "gan_per_process_bn": lambda ctx: gan(ctx, sync_bn=False), "classifier": classifier}
