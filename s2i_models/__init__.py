"""S2I networks, losses and training steps (pure PyTorch: no paths, no params)."""

from .autoencoder import AudioAutoencoder
from .checkpoint import CheckpointError, load_checkpoint, restore, save_checkpoint
from .device import autocast, enable_fast_kernels, pick_device
from .discriminator import Discriminator
from .gan import (
    DiscriminatorSchedule,
    EpochMovingAverage,
    GanConfig,
    WeightAverage,
    autoencoder_step,
    discriminator_step,
    generator_losses,
    generator_step,
    make_optimizer,
    recompute_batchnorm,
)
from .generator import DenseGenerator, SequentialGenerator
from .informativity import InformativityClassifier
from .layers import AlwaysDropout2d, set_inference_dropout

__all__ = [
    "AlwaysDropout2d",
    "AudioAutoencoder",
    "CheckpointError",
    "DenseGenerator",
    "Discriminator",
    "DiscriminatorSchedule",
    "EpochMovingAverage",
    "GanConfig",
    "InformativityClassifier",
    "SequentialGenerator",
    "WeightAverage",
    "autocast",
    "autoencoder_step",
    "discriminator_step",
    "enable_fast_kernels",
    "generator_losses",
    "generator_step",
    "load_checkpoint",
    "make_optimizer",
    "pick_device",
    "recompute_batchnorm",
    "restore",
    "save_checkpoint",
    "set_inference_dropout",
]
