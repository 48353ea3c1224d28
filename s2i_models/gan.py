"""Training steps for the autoencoder and the conditional GAN, and their optimisers.

The GAN follows the paper (sections 4.3, 5.2): generator loss = pixel MSE +
lambda * adversarial MSE to the "real" score, where the adversarial term is the
running mean of this epoch's batch losses (`EpochMovingAverage`); the
discriminator learns MSE of its RC-score to +1 (real pair) / -1 (synthetic)
on balanced batches and trains once every `d_every` generator updates
(`DiscriminatorSchedule`).

The steps never read a value back to the host (no `.item()`, no `float()` of a tensor): they
return their losses as detached 0-dim tensors on the batch's device, so that a GPU runs step
after step without waiting for the CPU; the training loops read an epoch's losses back in one
copy (`pipeline.training.epoch_losses`).
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass
from typing import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from .augment import augment, parse_policy
from .device import autocast
from .colour import colour_loss
from .texture import texture_loss

D_UNITS = ("epoch", "iteration")
ADV_AVERAGES = ("epoch", "batch")
LOSSES = ("mse", "hinge")

# The paper's SGD settings (section 5.2 and 5.3).
SGD_SETTINGS = {
    "autoencoder": dict(lr=0.05, momentum=0.9),
    "generator": dict(lr=0.1, momentum=0.5),
    "discriminator": dict(lr=0.1, momentum=0.5),
    "informativity": dict(lr=0.001, momentum=0.9, weight_decay=5e-5),
}


OPTIMIZERS = ("sgd", "adam")


def make_optimizer(kind: str, params: Iterable[torch.nn.Parameter], optimizer: str = "sgd", **overrides) -> torch.optim.Optimizer:
    """The paper's SGD settings for `kind` (see SGD_SETTINGS); keyword overrides win.

    optimizer="adam" keeps lr and weight decay and reads `momentum` as Adam's beta1
    (beta2 0.999): the demo translator's departure from the paper.
    """
    if kind not in SGD_SETTINGS:
        raise ValueError(f"unknown optimizer kind {kind!r}; expected one of {sorted(SGD_SETTINGS)}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
    settings = {**SGD_SETTINGS[kind], **overrides}
    if optimizer == "sgd":
        return torch.optim.SGD(params, **settings)
    beta1 = settings.pop("momentum")
    return torch.optim.Adam(params, betas=(beta1, 0.999), **settings)


@dataclass(frozen=True)
class GanConfig:
    lambda_adv: float = 0.1
    real_score: float = 1.0
    fake_score: float = -1.0
    d_every: int = 5
    d_unit: str = "epoch"  # "epoch" (default) or "iteration", see DiscriminatorSchedule
    adv_average: str = "epoch"  # "epoch": the paper's running mean (EpochMovingAverage); "batch": this batch's loss
    lambda_pixel: float = 1.0
    d_mismatch: bool = False  # D also learns real images with another sound's embedding as synthetic
    bf16: bool = False  # bf16 autocast on CUDA (no-op on CPU)
    # Levers not in the paper (defaults = the paper):
    loss: str = "mse"  # "mse": RC-score MSE to +-1 (paper); "hinge": hinge loss for D, -score for G
    pixel_scale: int = 1  # pixel MSE between images average-pooled by this factor (layout, not texture)
    augment: str = ""  # DiffAugment policy for every image D sees, e.g. "translation,cutout"
    r1: float = 0.0  # gamma of the R1 penalty on D's gradient at real images
    lambda_ms: float = 0.0  # mode seeking: + lambda_ms / (image distance / noise distance) of two draws
    pixel_best_of: int = 1  # pixel loss of the best of this many draws per sound (noise and dropout differ)
    lambda_fm: float = 0.0  # feature matching: + lambda_fm * L1 between spatial means of D's features, G's image vs its real one
    lambda_texture: float = 0.0  # + lambda_texture * L1 between fixed random filters' texture statistics, G's image vs its real one
    lambda_colour: float = 0.0  # + lambda_colour * sliced distance between the pixel-colour distributions, G's image vs its real one

    def __post_init__(self):
        if self.d_unit not in D_UNITS:
            raise ValueError(f"d_unit must be one of {D_UNITS}, got {self.d_unit!r}")
        if self.adv_average not in ADV_AVERAGES:
            raise ValueError(f"adv_average must be one of {ADV_AVERAGES}, got {self.adv_average!r}")
        if self.d_every < 1:
            raise ValueError(f"d_every must be >= 1, got {self.d_every}")
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.pixel_scale < 1 or 96 % self.pixel_scale:
            raise ValueError(f"pixel_scale must divide 96, got {self.pixel_scale}")
        parse_policy(self.augment)
        if self.pixel_best_of < 1:
            raise ValueError(f"pixel_best_of must be >= 1, got {self.pixel_best_of}")
        for name in ("lambda_fm", "lambda_texture", "lambda_colour"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.pixel_best_of > 1 and self.lambda_ms:
            raise ValueError("pixel_best_of > 1 and lambda_ms draw twice each in their own way: set one of them")

    @property
    def policy(self) -> tuple[str, ...]:
        return parse_policy(self.augment)


class DiscriminatorSchedule:
    """When the discriminator trains: once every `every` generator updates.

    Epochs and iterations are counted from 1; the iteration count runs across
    epochs (it is not reset at epoch start).
    - unit "epoch" (default; matches the paper's evaluation rule about "the
      epochs after a discriminator update"): G trains every epoch; after G
      epochs every, 2*every, ... (5, 10, 15, ...) D trains for one full pass
      over the training batches, with G fixed.
    - unit "iteration" (the paper's algorithm listing): after G iterations
      every, 2*every, ... D takes one step on the same batch.
    """

    def __init__(self, every: int = 5, unit: str = "epoch"):
        GanConfig(d_every=every, d_unit=unit)  # validates
        self.every, self.unit = every, unit

    @classmethod
    def from_config(cls, cfg: GanConfig) -> "DiscriminatorSchedule":
        return cls(cfg.d_every, cfg.d_unit)

    def after_epoch(self, epoch: int) -> bool:
        """Does a D pass follow G epoch `epoch`?"""
        return self.unit == "epoch" and epoch % self.every == 0

    def after_iteration(self, iteration: int) -> bool:
        """Does a D step follow global G iteration `iteration`?"""
        return self.unit == "iteration" and iteration % self.every == 0

    def follows_d_update(self, epoch: int, window: int = 2) -> bool:
        """Is `epoch` one of the `window` epochs right after a D pass (unit "epoch")?
        The paper replaces their informativity by the mean of the 5 epochs before."""
        return any(self.after_epoch(e) for e in range(max(1, epoch - window), epoch))

    def events(self, epochs: int, batches: int) -> Iterator[tuple[str, int, int]]:
        """The training order as ("G" | "D", epoch, batch) tuples, all 1-based."""
        iteration = 0
        for epoch in range(1, epochs + 1):
            for batch in range(1, batches + 1):
                iteration += 1
                yield "G", epoch, batch
                if self.after_iteration(iteration):
                    yield "D", epoch, batch
            if self.after_epoch(epoch):
                for batch in range(1, batches + 1):
                    yield "D", epoch, batch


class EpochMovingAverage:
    """Mean of the adversarial batch losses seen so far in this epoch.

    Calling it with batch k's loss L_k returns (L_k + sum of earlier L_i) / k,
    the earlier losses detached: its value is the running mean and its gradient
    is grad(L_k) / k. Call `reset()` at the start of every epoch. Over an epoch
    of B batches the adversarial gradient is thus scaled by H(B) / B on average
    (0.085 for the demo's 54 batches, 0.009 for the paper's 765); unit "batch"
    passes each batch loss through unchanged.
    """

    def __init__(self, unit: str = "epoch"):
        if unit not in ADV_AVERAGES:
            raise ValueError(f"adv_average must be one of {ADV_AVERAGES}, got {unit!r}")
        self.unit = unit
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | float = 0.0  # a float64 tensor on the losses' device after the first batch
        self.count = 0

    def __call__(self, batch_loss: torch.Tensor) -> torch.Tensor:
        if self.unit == "batch":
            return batch_loss
        self.count += 1
        # The sum stays on the device (no host read per batch), in float64 as a Python float held it,
        # and joins the batch loss in its own dtype as the Python float did: the same numbers as before.
        earlier = self.total.to(batch_loss.dtype) if torch.is_tensor(self.total) else self.total
        averaged = (batch_loss + earlier) / self.count
        self.total = self.total + batch_loss.detach().double()
        return averaged


class WeightAverage:
    """An exponential moving average of a model's weights (BatchNorm statistics copied as they are).

    `model` holds the average, in eval mode; `update(source)` after every step
    moves it by (1 - decay) towards the source's weights. GAN weights oscillate
    from step to step; their average draws steadier images.
    """

    def __init__(self, source: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"ema decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.model = copy.deepcopy(source).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        for avg, p in zip(self.model.parameters(), source.parameters()):
            avg.lerp_(p, 1.0 - self.decay)
        for avg, b in zip(self.model.buffers(), source.buffers()):
            avg.copy_(b)


@torch.no_grad()
def recompute_batchnorm(model: nn.Module, batches: Iterable[torch.Tensor]) -> None:
    """Replace every BatchNorm's running statistics by their mean over `batches`, run in
    training mode (test-time dropout on, as when drawing); the global RNG state is left as it was.

    The running averages kept during GAN training trail weights that keep moving
    (and an averaged generator never ran its own batches): in eval mode they
    washed the demo scenes out to one grey-green.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in norms]
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative mean over the batches
    was_training = model.training
    model.train()
    device = next(model.parameters()).device
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        for batch in batches:
            model(batch)
    for bn, momentum in zip(norms, momenta):
        bn.momentum = momentum
    model.train(was_training)


@contextlib.contextmanager
def frozen(module: nn.Module):
    """No parameter gradients for `module` inside the block; its mode is left as it is
    (in training mode its BatchNorm running statistics still move, and D never uses them)."""
    flags = [p.requires_grad for p in module.parameters()]
    for p in module.parameters():
        p.requires_grad_(False)
    try:
        yield module
    finally:
        for p, flag in zip(module.parameters(), flags):
            p.requires_grad_(flag)


def _update(opt: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def detached(losses: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The step's losses as 0-dim tensors cut from the graph, left on their device (no host read)."""
    return {name: value.detach() for name, value in losses.items()}


def autoencoder_step(model: nn.Module, opt: torch.optim.Optimizer, mel: torch.Tensor, bf16: bool = False) -> dict[str, torch.Tensor]:
    """One SGD step on the reconstruction MSE; returns the pre-step loss (a detached device tensor)."""
    with autocast(mel.device, bf16):
        recon = model(mel)
    loss = F.mse_loss(recon.float(), mel.float())
    _update(opt, loss)
    return detached({"ae_loss": loss})


def _pooled(images: torch.Tensor, scale: int) -> torch.Tensor:
    return F.avg_pool2d(images, scale) if scale > 1 else images


def pixel_mse(fake: torch.Tensor, real: torch.Tensor, scale: int = 1) -> torch.Tensor:
    """MSE between the images average-pooled by `scale` (1: the paper's per-pixel MSE)."""
    return F.mse_loss(_pooled(fake.float(), scale), _pooled(real.float(), scale))


def best_of_pixel_mse(draws: torch.Tensor, real: torch.Tensor, scale: int = 1) -> torch.Tensor:
    """K draws per real image (K*N images, draw-major) -> the mean over images of the smallest of their K
    pooled MSEs. Only the draw nearest its image is pulled towards it, so the draws spread over the
    scenes a sound leaves open instead of all landing on their average (multiple-choice / IMLE-style)."""
    n = real.shape[0]
    per_image = _pooled(draws.float(), scale) - _pooled(real.float(), scale).repeat(len(draws) // n, 1, 1, 1)
    per_image = per_image.pow(2).flatten(1).mean(1).view(-1, n)
    return per_image.min(0).values.mean()


def scores_of(D: nn.Module, images: torch.Tensor, cond: torch.Tensor, cfg: GanConfig) -> torch.Tensor:
    """D's scores of (augmented, when cfg.augment) images."""
    with autocast(images.device, cfg.bf16):
        return D(augment(images, cfg.policy), cond).float()


def _draw(G: nn.Module, emb: torch.Tensor, cfg: GanConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    """G's images for emb: with pixel_best_of K, K draws per sound (draw-major, one batch); with mode
    seeking, a second draw's images and the ratio mean |image1 - image2| / mean |noise1 - noise2|."""
    base = getattr(G, "module", G)  # DDP wraps the generator
    if cfg.pixel_best_of > 1:
        with autocast(emb.device, cfg.bf16):
            return G(torch.cat([emb] * cfg.pixel_best_of)), None
    if not cfg.lambda_ms or not getattr(base, "noise_dim", 0):
        with autocast(emb.device, cfg.bf16):
            return G(emb), None
    noise = base.noise(2 * emb.shape[0], emb)
    with autocast(emb.device, cfg.bf16):
        both = G(torch.cat([emb, emb]), noise)
    first, second = both.float().chunk(2)
    z1, z2 = noise.chunk(2)
    ratio = (first - second).abs().mean() / (z1 - z2).abs().mean()
    return both, ratio


def feature_matching(D: nn.Module, fake: torch.Tensor, real: torch.Tensor, bf16: bool = False) -> torch.Tensor:
    """Mean over D's layers of the L1 distance between the spatial means of the layer's features for each of
    G's images and for the real image of the same sound (D frozen, dropout left out, one batch of real +
    synthetic as D learns from). A spatial mean says how much of each feature an image holds, not where:
    it pulls G's texture (sparks, foam, grass) towards its own sound's frame without pulling the texture's
    places to their average, as the pixel loss does (pix2pixHD's feature matching, pooled over space)."""
    n = real.shape[0]
    with frozen(D), autocast(real.device, bf16):
        maps = D.feature_maps(torch.cat([real, fake.to(real.dtype)]))
    means = [m.float().mean((2, 3)) for m in maps]
    return torch.stack([(m[n:] - m[:n].detach()).abs().mean() for m in means]).mean()


def generator_losses(G: nn.Module, D: nn.Module, emb: torch.Tensor, real: torch.Tensor, cfg: GanConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """G's pixel MSE, its adversarial batch loss, D's scores of G's images (D frozen) and the extra terms
    the config asks for, by name: "mode_seeking" (the ratio of two draws), "feature_matching", "texture" and "colour".

    D stays in training mode and scores G's images inside the same balanced real +
    synthetic batch it learns from (`discriminator_step`): its last layer is a
    BatchNorm over the batch's scores, so an all-synthetic batch would be
    re-centred, and in eval mode its running statistics leave the score all but
    independent of the image (the adversarial gradient was zero). Only the
    synthetic half's scores enter the loss.
    """
    n = real.shape[0]
    fakes, ratio = _draw(G, emb, cfg)
    fake = fakes[:n]
    if cfg.pixel_best_of > 1:
        pixel = best_of_pixel_mse(fakes, real, cfg.pixel_scale)
    else:
        pixel = pixel_mse(fakes, real.repeat(len(fakes) // n, 1, 1, 1), cfg.pixel_scale)
    with frozen(D):
        scores = scores_of(D, torch.cat([real, fake.to(real.dtype)]), torch.cat([emb, emb]), cfg)[n:]
    if cfg.loss == "hinge":
        adversarial = -scores.mean()
    else:
        adversarial = F.mse_loss(scores, torch.full_like(scores, cfg.real_score))
    extras = {} if ratio is None else {"mode_seeking": ratio}
    if cfg.lambda_fm:
        extras["feature_matching"] = feature_matching(D, fake, real, cfg.bf16)
    if cfg.lambda_texture:
        extras["texture"] = texture_loss(fake, real)
    if cfg.lambda_colour:
        extras["colour"] = colour_loss(fake, real)
    return pixel, adversarial, scores, extras


def generator_step(
    G: nn.Module, D: nn.Module, opt: torch.optim.Optimizer, emb: torch.Tensor, real: torch.Tensor, avg: EpochMovingAverage, cfg: GanConfig
) -> dict[str, torch.Tensor]:
    """One G update: lambda_pixel * pixel MSE + lambda_adv * (moving-average) adversarial loss
    [+ lambda_ms / mode-seeking ratio] [+ lambda_fm * feature matching] [+ lambda_texture * texture]
    [+ lambda_colour * colour].
    Returns the pre-step losses as detached device tensors."""
    pixel, adv_batch, scores, extras = generator_losses(G, D, emb, real, cfg)
    adv = avg(adv_batch)
    loss = cfg.lambda_pixel * pixel + cfg.lambda_adv * adv
    if "mode_seeking" in extras:
        loss = loss + cfg.lambda_ms / (extras["mode_seeking"] + 1e-5)
    for name, weight in (("feature_matching", cfg.lambda_fm), ("texture", cfg.lambda_texture), ("colour", cfg.lambda_colour)):
        if name in extras:
            loss = loss + weight * extras[name]
    _update(opt, loss)
    logs = {"g_loss": loss, "g_pixel": pixel, "g_adv": adv, "g_adv_batch": adv_batch, "g_score": scores.mean()}
    logs.update({f"g_{name}": value for name, value in extras.items()})
    return detached(logs)


def r1_penalty(scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean over the real images of |d score / d image|^2 (Mescheder et al. 2018)."""
    (grad,) = torch.autograd.grad(scores.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def discriminator_step(G: nn.Module, D: nn.Module, opt: torch.optim.Optimizer, emb: torch.Tensor, real: torch.Tensor, cfg: GanConfig) -> dict[str, torch.Tensor]:
    """One D update on a balanced batch: the real images with their own sound's
    embedding (target real_score) and G's images for the same embeddings
    (target fake_score), in one batch so D's BatchNorms see both kinds.
    With `cfg.d_mismatch` the batch also holds the real images paired with the
    next sound's embedding (target fake_score). The paper's D adds the sound to the
    image features only in its last, linear conv, so it cannot judge whether
    the two belong together; the mismatched pairs act on it as noisy targets
    for real images (docs/translator_ablation.md).
    With cfg.loss "hinge": mean relu(1 - real score) + mean relu(1 + synthetic score); with
    cfg.r1 > 0, + r1 / 2 * the R1 penalty at the real images.

    G runs without gradients in its current mode (in training that means its
    BatchNorm running statistics also see these batches). Returns the pre-step losses and mean
    scores as detached device tensors.
    """
    n = real.shape[0]
    with torch.no_grad(), autocast(emb.device, cfg.bf16):
        fake = G(emb)
    if cfg.r1:
        real = real.detach().requires_grad_(True)
    images, cond = [real, fake.to(real.dtype)], [emb, emb]
    if cfg.d_mismatch:
        images.append(real)
        cond.append(emb.roll(1, 0))
    scores = scores_of(D, torch.cat(images), torch.cat(cond), cfg)
    if cfg.loss == "hinge":
        loss = F.relu(1 - scores[:n]).mean() + F.relu(1 + scores[n:]).mean()
    else:
        targets = torch.full((len(scores),), cfg.fake_score, device=real.device)
        targets[:n] = cfg.real_score
        loss = F.mse_loss(scores, targets)
    logs = {}
    if cfg.r1:
        penalty = r1_penalty(scores[:n], real)
        loss = loss + cfg.r1 / 2 * penalty
        logs["d_r1"] = penalty
    _update(opt, loss)
    logs.update({"d_loss": loss, "d_real_score": scores[:n].mean(), "d_fake_score": scores[n : 2 * n].mean()})
    if cfg.d_mismatch:
        logs["d_mismatch_score"] = scores[2 * n :].mean()
    return detached(logs)
