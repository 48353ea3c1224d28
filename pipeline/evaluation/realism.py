"""Realism of a set of generated images: Fréchet distance and kernel distance (KID) to a fixed set of real
images, computed by torchmetrics in the feature space of a network we trained ourselves (the class-match
classifier, real train frames only), so nothing is downloaded and torch-fidelity is not needed.

Two spaces of that network: its penultimate features (class and layout) and the texture statistics of its
first conv layer (`TextureStatistics`). A realism space has to score blurred real frames as less real than
real frames; `blurred` makes that control (docs/evaluation.md: the penultimate space fails it).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from s2i_models.generator import IMAGE_SIZE
from s2i_models.rng import RandomStream

from pipeline.dataset.loader import image_to_tensor
from pipeline.evaluation.classifiers import features

KID_SUBSETS = 100


class FrozenFeatures(nn.Module):
    """A feature module for torchmetrics: uint8 images N x 96 x 96 x 3 (the shards' layout) in, float64 rows of
    `num_features` out (torchmetrics reads it instead of probing the module with a random 299 x 299 image);
    never leaves eval mode, no gradients. Subclasses give `num_features` and `features_of`."""

    num_features: int

    def train(self, mode: bool = True) -> "FrozenFeatures":
        return super().train(False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4 or tuple(images.shape[1:]) != (IMAGE_SIZE, IMAGE_SIZE, 3):
            raise ValueError(f"expected uint8 images N x {IMAGE_SIZE} x {IMAGE_SIZE} x 3, got {images.dtype} {tuple(images.shape)}")
        with torch.no_grad():
            return self.features_of(images.numpy()).double()

    def features_of(self, images_u8: np.ndarray) -> torch.Tensor:
        raise NotImplementedError


class ClassifierFeatures(FrozenFeatures):
    """The penultimate features N x hidden of a classifier, exactly those of `classifiers.features`."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net.eval()
        self.num_features = int(net.head[5].in_features)

    def features_of(self, images_u8: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(features(self.net, images_u8))


class TextureStatistics(FrozenFeatures):
    """N x 2C: per channel, the spatial mean and standard deviation of the classifier's first conv layer
    (conv -> BatchNorm -> ReLU, eval mode). They say how much colour, edge and texture an image holds, not
    where: blur lowers the stds, a copied frame matches exactly."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.first = net.features[0].eval()
        self.num_features = 2 * int(self.first[0].out_channels)

    def features_of(self, images_u8: np.ndarray) -> torch.Tensor:
        maps = self.first(image_to_tensor(images_u8))
        return torch.cat([maps.mean((2, 3)), maps.std((2, 3))], 1)


def texture_features(net: nn.Module, images_u8: np.ndarray) -> np.ndarray:
    return TextureStatistics(net)(_batch(images_u8)).numpy()


def blurred(images_u8: np.ndarray, factor: int = 8) -> np.ndarray:
    """The images average-pooled by `factor` and scaled back up (bilinear): their layout and colours without their
    texture, the control a realism space must score as less real than the images themselves."""
    x = torch.from_numpy(np.ascontiguousarray(images_u8)).permute(0, 3, 1, 2).float()
    x = F.interpolate(F.avg_pool2d(x, factor), scale_factor=factor, mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def kid_subset_size(n_generated: int, n_real: int) -> int:
    """Half the smaller set: each of the KID_SUBSETS subsets is then a different draw, so kid_std says how much
    the estimate moves with the draw (at the whole set every subset would be the same and the std 0). The
    subset estimate is unbiased at any size, so the size changes only the noise of kid_mean, not its level."""
    smaller = min(n_generated, n_real)
    if smaller < 4:
        raise ValueError(f"KID needs at least 4 images on each side, got {n_generated} generated and {n_real} real")
    return smaller // 2


def _batch(images) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(images))


class RealismJudge:
    """FD and KID of generated image sets against one fixed set of real images, in `feature`'s space (any module
    with a `num_features` attribute that maps a batch as given to N x num_features)."""

    def __init__(self, feature: nn.Module, real_images: np.ndarray, seed: int = 0):
        self.feature, self.real, self.seed = feature, _batch(real_images), seed
        self._fid = FrechetInceptionDistance(feature=feature, reset_real_features=False)
        self._fid.update(self.real, real=True)

    def frechet_distance(self, images) -> float:
        self._fid.reset()  # drops the previous generated set, keeps the real one
        self._fid.update(_batch(images), real=False)
        return float(self._fid.compute())

    def kernel_distance(self, images) -> tuple[float, float]:
        """(mean, std) of the polynomial-kernel MMD^2 over KID_SUBSETS seeded random subsets."""
        generated = _batch(images)
        with warnings.catch_warnings():  # "will save all extracted features": a few hundred 32-d rows here
            warnings.filterwarnings("ignore", message=".*save all extracted features")
            kid = KernelInceptionDistance(feature=self.feature, subsets=KID_SUBSETS, subset_size=kid_subset_size(len(generated), len(self.real)))
        kid.update(self.real, real=True)
        kid.update(generated, real=False)
        with RandomStream(self.seed):  # the subsets come from torch's global generator
            mean, std = kid.compute()
        return float(mean), float(std)

    def measures(self, images) -> dict:
        kid_mean, kid_std = self.kernel_distance(images)
        return {"frechet_distance": self.frechet_distance(images), "kid_mean": kid_mean, "kid_std": kid_std}


def floor_measures(judge: RealismJudge, real_pool: np.ndarray, size: int, draws: int, seed: int, transform=None) -> dict:
    """The measures of `draws` seeded draws of `size` images from a second pool of real images, averaged: real
    against real at the generated sets' size, so with their small-sample bias; `frechet_distance_std` says how
    far one draw moves FD (on the demo about as far as the trained translator is from the floor). With
    `transform` (e.g. `blurred`), the same draws pass through it first."""
    rng = np.random.default_rng(seed)
    size = min(size, len(real_pool))
    transform = transform or (lambda images: images)
    runs = [judge.measures(transform(real_pool[np.sort(rng.choice(len(real_pool), size=size, replace=False))])) for _ in range(draws)]
    mean = {key: float(np.mean([r[key] for r in runs])) for key in runs[0]}
    return {**mean, "frechet_distance_std": float(np.std([r["frechet_distance"] for r in runs])), "draws": draws}


def class_match_realism(class_net: nn.Module, real_images: np.ndarray, seed: int) -> RealismJudge:
    """FD and KID against `real_images` in the class-match classifier's penultimate features."""
    return RealismJudge(ClassifierFeatures(class_net), real_images, seed)


def texture_realism(class_net: nn.Module, real_images: np.ndarray, seed: int) -> RealismJudge:
    """FD and KID against `real_images` in the texture statistics of the class-match classifier's first layer."""
    return RealismJudge(TextureStatistics(class_net), real_images, seed)
