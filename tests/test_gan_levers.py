"""The levers that let the GAN commit to one scene (noise input, pooled pixel loss, hinge loss,
spectral norm, DiffAugment, R1, mode seeking, feature matching, random-filter texture, colour distribution): a bimodal toy, hand-valued losses, gradients."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pipeline.core.params import load_params
from s2i_models import DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, discriminator_step, generator_step, texture
from s2i_models.augment import augment, cutout, parse_policy, translation
from s2i_models.gan import best_of_pixel_mse, feature_matching, generator_losses, pixel_mse
from s2i_models.rebuild import build_generator, generator_for
from s2i_models.colour import colour_loss, colour_quantiles
from s2i_models.texture import texture_loss, texture_statistics

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = 16
DEFAULT = load_params()["translator"]


def two_modes():
    """One condition, two equally likely images: vertical or horizontal stripes, 4 pixels wide.
    Pooled by 8 both are flat grey (their average), so a pooled pixel loss cannot tell them apart."""
    ys, xs = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    stripes = lambda k: ((k // 4) % 2 * 2 - 1).float().expand(3, SIZE, SIZE) * 0.8
    return stripes(xs), stripes(ys)


class ToyGenerator(nn.Module):
    def __init__(self, emb_dim=4, noise_dim=4):
        super().__init__()
        self.noise_dim = noise_dim
        self.net = nn.Sequential(nn.Linear(emb_dim + noise_dim, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3 * SIZE * SIZE), nn.Tanh())

    def noise(self, n, like):
        return torch.randn(n, self.noise_dim, device=like.device, dtype=like.dtype)

    def forward(self, emb, noise=None):
        noise = self.noise(len(emb), emb) if noise is None else noise
        return self.net(torch.cat([emb, noise], 1)).view(-1, 3, SIZE, SIZE)


class ToyDiscriminator(nn.Module):
    def __init__(self, emb_dim=4, bounded=True):
        super().__init__()
        self.bounded = bounded
        self.net = nn.Sequential(nn.Linear(3 * SIZE * SIZE + emb_dim, 64), nn.LeakyReLU(0.2), nn.Linear(64, 1))

    def forward(self, images, emb):
        score = self.net(torch.cat([images.flatten(1), emb], 1)).flatten()
        return torch.tanh(score) if self.bounded else score


def toy_config(**overrides) -> GanConfig:
    """The commit levers (hinge loss, pixel MSE pooled by 8) at the demo's loss weights, D after every G step,
    no augmentation (toy images are 16 px)."""
    levers = {"loss": "hinge", "pixel_scale": 8, "pixel_best_of": 1, "adv_average": "batch", "d_every": 1, "d_unit": "iteration"}
    return GanConfig(**{"lambda_adv": DEFAULT["lambda_adv"], "lambda_pixel": DEFAULT["lambda_pixel"], **levers, **overrides})


def distances_after_training(cfg: GanConfig, steps: int = 600, seed: int = 0):
    """Mean RMS distance of 200 draws to the nearer mode and to the modes' average."""
    torch.manual_seed(seed)
    a, b = two_modes()
    G, D = ToyGenerator(), ToyDiscriminator(bounded=cfg.loss == "mse")
    opt_g = torch.optim.Adam(G.parameters(), 1e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), 1e-3, betas=(0.5, 0.999))
    emb, average = torch.ones(32, 4), EpochMovingAverage("batch")
    for _ in range(steps):
        real = torch.where((torch.rand(32) < 0.5)[:, None, None, None], a, b)
        generator_step(G, D, opt_g, emb, real, average, cfg)
        discriminator_step(G, D, opt_d, emb, real, cfg)
    with torch.no_grad():
        out = G(torch.ones(200, 4))
    rms = lambda target: (out - target).pow(2).flatten(1).mean(1).sqrt()
    return torch.minimum(rms(a), rms(b)).mean().item(), rms((a + b) / 2).mean().item()


def test_adversarial_generator_commits_to_a_mode_where_pixel_loss_draws_the_average():
    near, average = distances_after_training(toy_config())
    assert near < 0.5 * average, (near, average)
    near_px, average_px = distances_after_training(toy_config(lambda_adv=0.0, pixel_scale=1))
    assert average_px < 0.25 * near_px, (near_px, average_px)


def test_beside_the_full_resolution_pixel_loss_the_adversarial_term_still_draws_the_average():
    """The demo default's losses (MSE score, full-resolution pixel MSE): why the commit levers exist."""
    near, average = distances_after_training(toy_config(loss="mse", pixel_scale=1))
    assert average < 0.25 * near, (near, average)


def test_without_the_adversarial_term_the_pooled_pixel_loss_commits_to_nothing():
    near, average = distances_after_training(toy_config(lambda_adv=0.0))
    assert near > 0.8 * average, (near, average)


def test_best_of_k_pixel_loss_alone_commits_to_a_mode():
    """The pixel loss of the nearest of 4 draws (no adversarial term) spreads the draws over the modes; with one
    draw the same loss lands on the average (test above)."""
    near, average = distances_after_training(toy_config(lambda_adv=0.0, pixel_scale=1, pixel_best_of=4))
    assert near < 0.5 * average, (near, average)


def test_best_of_pixel_mse_takes_each_images_nearest_draw():
    real = torch.stack([torch.zeros(3, 2, 2), torch.ones(3, 2, 2)])  # two images: 0 and 1
    draws = torch.stack([torch.full((3, 2, 2), v) for v in (0.5, 0.9, 0.0, 0.2)])  # draw-major: 2 draws x 2 images
    # image 0: draws 0.5 and 0.0 -> 0.0 (error 0); image 1: draws 0.9 and 0.2 -> 0.9 (error 0.01)
    assert best_of_pixel_mse(draws, real).item() == pytest.approx(0.005)
    assert best_of_pixel_mse(draws[:2], real).item() == pytest.approx(pixel_mse(draws[:2], real).item())
    with pytest.raises(ValueError, match="pixel_best_of"):
        GanConfig(pixel_best_of=0)
    with pytest.raises(ValueError, match="lambda_ms"):
        GanConfig(pixel_best_of=2, lambda_ms=0.1)


def test_pixel_mse_pools_before_comparing():
    fake, real = torch.zeros(1, 3, 96, 96), torch.zeros(1, 3, 96, 96)
    real[..., ::2] = 1.0  # columns alternate 1, 0: mean 0.5 in every 8x8 block
    assert pixel_mse(fake, real, 1).item() == pytest.approx(0.5)
    assert pixel_mse(fake, real, 8).item() == pytest.approx(0.25)
    with pytest.raises(ValueError, match="pixel_scale"):
        GanConfig(pixel_scale=7)


def test_hinge_losses_by_hand():
    torch.manual_seed(0)
    G, D = ToyGenerator(), ToyDiscriminator(bounded=False)
    emb, real = torch.ones(4, 4), torch.zeros(4, 3, SIZE, SIZE)
    cfg = GanConfig(loss="hinge", lambda_adv=1.0, lambda_pixel=0.0)
    _, adversarial, scores, _ = generator_losses(G, D, emb, real, cfg)
    assert adversarial.item() == pytest.approx(-scores.mean().item())
    opt = torch.optim.SGD(D.parameters(), lr=0.0)
    torch.manual_seed(1)
    logs = discriminator_step(G, D, opt, emb, real, cfg)
    torch.manual_seed(1)
    with torch.no_grad():
        fake = G(emb)
        s = D(torch.cat([real, fake]), torch.cat([emb, emb]))
    expected = F.relu(1 - s[:4]).mean() + F.relu(1 + s[4:]).mean()
    assert logs["d_loss"] == pytest.approx(expected.item(), rel=1e-5)


def test_r1_penalty_is_the_squared_gradient_at_the_real_images():
    class Linear(nn.Module):  # score = <w, image>: gradient w everywhere, R1 = |w|^2
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.full((3 * SIZE * SIZE,), 0.1))

        def forward(self, images, emb):
            return images.flatten(1) @ self.w

    G, D = ToyGenerator(), Linear()
    emb, real = torch.ones(4, 4), torch.rand(4, 3, SIZE, SIZE)
    logs = discriminator_step(G, D, torch.optim.SGD(D.parameters(), lr=0.0), emb, real, GanConfig(loss="hinge", r1=10.0))
    assert logs["d_r1"] == pytest.approx(0.01 * 3 * SIZE * SIZE, rel=1e-5)


def test_noise_changes_the_image_and_is_part_of_the_checkpoint():
    torch.manual_seed(0)
    G = build_generator("dense", 32, 0.0625, output_bn=False, upsample="resize", noise_dim=8).eval()
    from s2i_models import set_inference_dropout

    set_inference_dropout(G, False)
    emb = torch.randn(2, 32)
    z = torch.randn(2, 8)
    assert torch.equal(G(emb, z), G(emb, z))
    assert (G(emb, z) - G(emb, -z)).abs().mean() > 0.05 * G(emb, z).abs().mean()  # untrained: tiny outputs
    with pytest.raises(ValueError, match="noise"):
        G(emb, torch.randn(2, 5))
    rebuilt = generator_for({"emb_dim": 32, "width": 0.0625, "extra": {"generator": "dense", "output_bn": False, "upsample": "resize", "noise_dim": 8}})
    rebuilt.load_state_dict(G.state_dict())
    assert rebuilt.noise_dim == 8
    with pytest.raises(ValueError, match="no noise"):
        DenseGenerator(32, 0.0625)(emb, z)


def test_mode_seeking_pushes_two_draws_apart():
    torch.manual_seed(0)
    G, D = ToyGenerator(), ToyDiscriminator(bounded=False)
    emb, real = torch.ones(8, 4), torch.zeros(8, 3, SIZE, SIZE)
    cfg = GanConfig(loss="hinge", lambda_adv=0.0, lambda_pixel=0.0, lambda_ms=1.0)
    opt = torch.optim.Adam(G.parameters(), 1e-3)
    first = generator_step(G, D, opt, emb, real, EpochMovingAverage("batch"), cfg)["g_mode_seeking"]
    for _ in range(30):
        last = generator_step(G, D, opt, emb, real, EpochMovingAverage("batch"), cfg)["g_mode_seeking"]
    assert last > 1.5 * first


def test_spectral_discriminator_scores_each_image_alone_and_learns():
    torch.manual_seed(0)
    D = Discriminator(32, 0.0625, dropout=0.0, projection=True, norm="spectral").train()
    images, emb = torch.rand(4, 3, 96, 96) * 2 - 1, torch.randn(4, 32)
    together = D(images, emb)
    alone = torch.cat([D(images[i : i + 1], emb[i : i + 1]) for i in range(4)])
    assert torch.allclose(together, alone, atol=1e-5)  # no BatchNorm across the batch
    together.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in D.named_parameters() if "project" not in n)
    with pytest.raises(ValueError, match="norm"):
        Discriminator(32, 0.0625, norm="layer")


def test_diffaugment_shifts_and_cuts_and_lets_the_gradient_through():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 96, 96, requires_grad=True)
    shifted = translation(x)
    rows_match = [any(torch.equal(shifted[i, :, 20:70, 20:70], x[i, :, 20 + dy : 70 + dy, 20 + dx : 70 + dx]) for dy in range(-12, 13) for dx in range(-12, 13)) for i in range(6)]
    assert all(rows_match)
    cut = cutout(x.detach())
    zero_share = (cut == 0).float().mean((1, 2, 3))
    assert ((zero_share > 0.05) & (zero_share <= 0.26)).all()
    augment(x, parse_policy("translation,cutout")).sum().backward()
    assert x.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="unknown augmentation"):
        parse_policy("translation,colour")


def textured_frames(n=2, seed=0):
    """Blobs of one colour on grey, at random places: a texture whose places vary from frame to frame."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.full((n, 3, 96, 96), -0.5)
    for i in range(n):
        for _ in range(12):
            y, x = torch.randint(0, 88, (2,), generator=g).tolist()
            frames[i, :, y : y + 8, x : x + 8] = torch.tensor([0.9, 0.8, -0.9])[:, None, None]
    return frames


class Canvas(nn.Module):
    """A "generator" whose output is one learnt image per sound, grey with a faint grain at the start."""

    def __init__(self):
        super().__init__()
        self.image = nn.Parameter(0.01 * torch.randn(2, 3, 96, 96))

    def forward(self, emb):
        return torch.tanh(self.image)


def contrast_after(**weights):
    """The mean contrast of a Canvas before and after 60 steps trained by the named extra terms alone, and
    its last logs."""
    torch.manual_seed(0)
    G, D = Canvas(), Discriminator(32, 0.0625, dropout=0.25, projection=True).train()
    before = G(None).detach().std((2, 3)).mean().item()
    cfg = GanConfig(lambda_pixel=0.0, lambda_adv=0.0, adv_average="batch", **weights)
    opt = torch.optim.Adam(G.parameters(), 0.05)
    emb, real = torch.randn(2, 32), textured_frames()
    for _ in range(60):
        logs = generator_step(G, D, opt, emb, real, EpochMovingAverage("batch"), cfg)
    return before, G(emb).detach().std((2, 3)).mean().item(), logs


def test_feature_matching_rewards_the_texture_not_its_places():
    """Against its real frame, the same blobs at other places (another frame's texture, moved) match D's
    pooled features far better than the flat mean colour does, though their pixel MSE is the larger:
    the term pulls towards how much texture, not where it is."""
    torch.manual_seed(0)
    D = Discriminator(32, 0.0625, dropout=0.25, projection=True).train()
    real = textured_frames()
    moved = real.roll((31, 17), (2, 3))
    flat = real.mean((2, 3), keepdim=True).expand_as(real)
    assert pixel_mse(moved, real) > pixel_mse(flat, real)
    assert feature_matching(D, real, real).item() == pytest.approx(0.0, abs=1e-6)
    assert feature_matching(D, moved, real) < 0.5 * feature_matching(D, flat, real)
    with pytest.raises(ValueError, match="lambda_fm"):
        GanConfig(lambda_fm=-1.0)


@pytest.mark.parametrize("lever, log", [("lambda_fm", "g_feature_matching"), ("lambda_texture", "g_texture"), ("lambda_colour", "g_colour")])
def test_extra_term_alone_draws_contrast_into_a_grey_image(lever, log):
    """Feature matching's, the random-filter texture term's and the colour term's gradients reach G: a grey image trained by the
    term alone (no pixel loss, no adversarial term) takes on the real frames' contrast; with its weight 0
    nothing moves."""
    real_contrast = textured_frames().std((2, 3)).mean().item()
    _, trained, logs = contrast_after(**{lever: 1.0})
    assert log in logs
    assert trained > 0.3 * real_contrast, (trained, real_contrast)
    before, untouched, logs = contrast_after(**{lever: 0.0})
    assert untouched == before < 0.02 and log not in logs


def test_texture_loss_rewards_grain_not_places_and_sees_blur():
    """Against its real frame, the same blobs moved match the random filters' statistics far better than the
    frame blurred (avg-pool 8, back up), though the moved frame's pixel MSE is more than twice the larger."""
    real = textured_frames()
    moved = real.roll((31, 17), (2, 3))
    blurred = F.interpolate(F.avg_pool2d(real, 8), scale_factor=8, mode="bilinear")
    assert pixel_mse(moved, real) > 2 * pixel_mse(blurred, real)
    assert texture_loss(real, real).item() == pytest.approx(0.0, abs=1e-6)
    assert texture_loss(moved, real) < 0.5 * texture_loss(blurred, real)
    with pytest.raises(ValueError, match="lambda_texture"):
        GanConfig(lambda_texture=-1.0)


def test_colour_loss_asks_how_much_of_each_colour_not_where_and_sees_the_pale_blend():
    """Against its real frame, the frame's pixels in another order (the blobs moved, or its 2x2 cells shuffled)
    score 0; the blobs blended into the grey (their 8x8 cells' mean colour, what the pooled pixel loss asks
    for) score far worse, though the moved frame's pixel MSE is the larger. Hand value: a frame shifted by c
    in every channel is c * the mean |sum of a direction's components| away."""
    real = textured_frames()
    moved = real.roll((30, 18), (2, 3))  # even shifts: the same 2x2 cells
    shuffled = F.pixel_unshuffle(real, 2).flatten(2)[:, :, torch.randperm(48 * 48)].view(2, 12, 48, 48)
    shuffled = F.pixel_shuffle(shuffled, 2)  # 2x2 cells in another order: what the loss sees at half size
    blended = F.interpolate(F.avg_pool2d(real, 8), scale_factor=8, mode="nearest")
    assert pixel_mse(moved, real) > pixel_mse(blended, real)
    assert colour_loss(moved, real).item() == pytest.approx(0.0, abs=1e-6)
    assert colour_loss(shuffled, real).item() == pytest.approx(0.0, abs=1e-6)
    assert colour_loss(blended, real) > 0.05
    # red, green, blue shift by 0.1, grey by 0.1 * sqrt(3): mean 0.1 * (3 + sqrt(3)) / 4
    assert colour_loss(real + 0.1, real).item() == pytest.approx(0.1 * (3 + math.sqrt(3)) / 4, rel=1e-4)
    assert colour_quantiles(real).shape == (2, 4, 48 * 48)
    with pytest.raises(ValueError, match="lambda_colour"):
        GanConfig(lambda_colour=-1.0)


def test_texture_filters_are_fixed_and_leave_the_global_rng_alone():
    """The bank is the same at every call and drawing it does not move torch's global generator, so a run
    with the lever draws the same batches and dropout masks as one without it."""
    images = textured_frames()
    torch.manual_seed(3)
    first = texture_statistics(images)
    after = torch.rand(1)
    torch.manual_seed(3)
    texture._filters.cache_clear()
    assert torch.equal(texture_statistics(images), first)
    assert torch.equal(torch.rand(1), after)
