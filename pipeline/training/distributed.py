"""Data-parallel training under torchrun: what the training stages share.

One process per GPU (NCCL) or per CPU process (gloo). torchrun sets RANK,
WORLD_SIZE and LOCAL_RANK; without them (WORLD_SIZE 1) `context()` starts no
process group and every method below is the plain single-process call, so a
stage runs exactly as it did before this module existed.

The rules a stage follows with a Context `ctx`:
- batch sizes in params are global: every rank draws the same seeded global
  batch and trains on its own slice (`ctx.local_part`), so N ranks with batch
  64 / N take the same SGD steps as one process with batch 64;
- models are wrapped with `ctx.wrap` (DistributedDataParallel, optionally with
  synchronised BatchNorm) after their weights are restored;
- only rank 0 writes (`ctx.save_checkpoint`, `ctx.open_live`, `ctx.is_main`);
  checkpoints carry every rank's RNG state so that a killed run resumes on
  every rank where it stopped;
- step counters need no care: every rank takes every global step;
- ranks other than 0 print nothing to stdout (their errors still reach stderr).
"""

from __future__ import annotations

import atexit
import functools
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.distributed as dist
from torch import nn

from s2i_models import CheckpointError, pick_device, restore, save_checkpoint
from s2i_models.checkpoint import rng_state, set_rng_state

from pipeline.training.runs import open_live, resumable, start_fresh

RANK_SEED_STRIDE = 1_000_003  # rank r > 0 seeds its RNGs with seed + r * stride (dropout masks differ per rank)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands, from torchrun's environment variables."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Ranks":
        values = {}
        for field, name in (("rank", "RANK"), ("world_size", "WORLD_SIZE"), ("local_rank", "LOCAL_RANK")):
            text = env.get(name, "")
            if text and not text.isdigit():
                raise ValueError(f"environment variable {name}={text!r} is not a non-negative integer")
            values[field] = int(text) if text else cls.__dataclass_fields__[field].default
        ranks = cls(**values)
        if ranks.world_size < 1 or ranks.rank >= ranks.world_size:
            raise ValueError(f"RANK {ranks.rank} does not fit WORLD_SIZE {ranks.world_size}")
        return ranks


class _SumOverRanks(torch.autograd.Function):
    """all_reduce(SUM) with its gradient: the gradient of a sum over ranks is the sum of the ranks' gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone()
        dist.all_reduce(tensor)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm with training statistics over the samples of all processes, for CPU processes (gloo):
    torch's SyncBatchNorm, which GPU processes use, runs on GPUs only.

    The batch mean and (biased) variance come from two differentiable all-reduces,
    so gradients flow across ranks as in one process holding the whole batch.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        # sums in float64, as torch's CPU BatchNorm accumulates, so that N ranks match one process closely
        count = torch.tensor([x.numel() // x.shape[1]], dtype=torch.float64)
        sums = _SumOverRanks.apply(torch.cat([x.sum(dims, dtype=torch.float64), count]))
        total = sums[-1].detach()
        mean = sums[:-1] / total
        centred = x - mean.to(x.dtype).view(shape)
        var = _SumOverRanks.apply(centred.square().sum(dims, dtype=torch.float64)) / total
        y = centred * torch.rsqrt(var + self.eps).to(x.dtype).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.to(x.dtype), factor)
                self.running_var.lerp_((var * total / (total - 1)).to(x.dtype), factor)
        return y


def convert_sync_batchnorm(module: nn.Module, device: torch.device) -> nn.Module:
    """Every BatchNorm layer of `module` made to normalise over the global batch: torch's SyncBatchNorm
    on GPUs, CpuSyncBatchNorm on CPU. The new layers share the old ones' parameters and buffers
    (optimisers built before stay valid, state_dict keys stay the same)."""
    if device.type != "cpu":
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, CpuSyncBatchNorm):
        synced = CpuSyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats)
        if module.affine:
            synced.weight, synced.bias = module.weight, module.bias
        synced.running_mean, synced.running_var = module.running_mean, module.running_var
        synced.num_batches_tracked = module.num_batches_tracked
        synced.train(module.training)
        module = synced
    for name, child in list(module.named_children()):
        setattr(module, name, convert_sync_batchnorm(child, device))
    return module


class SilentLive:
    """What ranks other than 0 log to: nothing."""

    def log_metric(self, *args, **kwargs) -> None:
        pass

    def next_step(self) -> None:
        pass

    def end(self) -> None:
        pass


class Context:
    """This process's rank, device and the collective helpers the training loops call."""

    def __init__(self, ranks: Ranks, device: torch.device):
        self.rank, self.world_size, self.local_rank = ranks.rank, ranks.world_size, ranks.local_rank
        self.device = device

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def rank_seed(self, seed: int) -> int:
        """The seed for this rank's RNGs: `seed` itself on rank 0 (so one process is unchanged)."""
        return seed + self.rank * RANK_SEED_STRIDE

    def local_part(self, batch: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch (samples or indices along dim 0)."""
        if not self.distributed:
            return batch
        if len(batch) % self.world_size:
            raise ValueError(f"a batch of {len(batch)} does not split evenly over {self.world_size} processes; make batch_size a multiple of nproc")
        per = len(batch) // self.world_size
        return batch[self.rank * per : (self.rank + 1) * per]

    def wrap(self, model: nn.Module, sync_bn: bool) -> nn.Module:
        """`model` itself in one process; else DistributedDataParallel over it (which starts every rank
        from rank 0's weights), with BatchNorm statistics over the global batch when `sync_bn`.

        Keep using the bare `model` where it must not synchronise gradients (a network scored while
        frozen, evaluation): it shares the wrapper's parameters.
        """
        if not self.distributed:
            return model
        if sync_bn:
            model = convert_sync_batchnorm(model, self.device)
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Each value averaged over the ranks (for logs); every rank must call it with the same keys."""
        if not self.distributed:
            return values
        keys = sorted(values)
        totals = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=self.device)
        dist.all_reduce(totals)
        return dict(zip(keys, (totals / self.world_size).tolist()))

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def resumable(self, path: Path, settings_digest: str, epochs: int, live_dir: Path | None = None) -> dict | None:
        """training.resumable, and only from a checkpoint written by as many processes as this run has
        (their RNG states are in it). Every rank reads it before rank 0 clears a folder it cannot resume."""
        ckpt = resumable(path, settings_digest, epochs, clear=False, live_dir=live_dir)
        writers = len(ckpt["extra"].get("rank_rng") or [None]) if ckpt else 0
        if ckpt and writers != self.world_size:
            print(f"not resuming: {path} was written by a run of {writers} processes, this one has {self.world_size}")
            ckpt = None
        self.barrier()
        if ckpt is None and self.is_main:
            start_fresh(path)
        self.barrier()
        return ckpt

    def save_checkpoint(self, path: str | os.PathLike, *, extra: Mapping[str, Any] | None = None, with_rng: bool = True, **kwargs) -> None:
        """s2i_models.save_checkpoint on rank 0; with_rng adds every rank's RNG state (a collective:
        every rank calls it)."""
        if with_rng and self.distributed:
            states: list[Any] = [None] * self.world_size
            dist.all_gather_object(states, rng_state())
            extra = {**(extra or {}), "rank_rng": states}
        if self.is_main:
            save_checkpoint(path, extra=extra, with_rng=with_rng, **kwargs)

    def restore(self, ckpt: dict, models: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer] | None = None, rng: bool = False) -> None:
        """s2i_models.restore, then this rank's own RNG state; drops the ranks' states from ckpt["extra"]."""
        restore(ckpt, models, optimizers, rng=rng)
        states = ckpt["extra"].pop("rank_rng", None)
        if rng and self.distributed:
            if states is None or len(states) != self.world_size:
                raise CheckpointError(f"checkpoint holds no RNG state for each of {self.world_size} processes")
            set_rng_state(states[self.rank])

    def open_live(self, live_dir: Path, resume: bool):
        """The dvclive logger on rank 0, a silent one elsewhere."""
        return open_live(live_dir, resume) if self.is_main else SilentLive()


@functools.cache
def context() -> Context:
    """This process's Context; joins the process group torchrun set up (once) when WORLD_SIZE > 1."""
    ranks = Ranks.from_env()
    if ranks.world_size == 1:
        return Context(ranks, pick_device())
    if torch.cuda.is_available():
        if ranks.local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"LOCAL_RANK {ranks.local_rank} but only {torch.cuda.device_count()} GPUs are visible; lower nproc")
        device, backend = torch.device("cuda", ranks.local_rank), "nccl"
        torch.cuda.set_device(device)
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend)
        atexit.register(dist.destroy_process_group)
    if ranks.rank:
        sys.stdout = open(os.devnull, "w")  # one copy of the progress lines; errors still reach stderr
    return Context(ranks, device)
