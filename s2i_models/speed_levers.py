"""Speed levers that change how the networks run on a GPU, never what they compute (beyond rounding).

- channels_last: 4-D weights and activations in NHWC order, which cuDNN's fastest convolution
  kernels on tensor-core GPUs read directly (no layout transposes around each conv).
- compiled dense blocks: each dense block's training forward through torch.compile, which fuses
  the BatchNorm-ReLU-concatenate around the convolutions (`compiled_blocks`).

`SpeedLevers.automatic(device)` is what the training stages use: channels_last on CUDA,
contiguous on the CPU (so CPU runs are byte-identical to runs before these levers); compiled
blocks off until a GPU measurement shows that they pay (docs/distributed.md). The environment
variables S2I_CHANNELS_LAST and S2I_COMPILE_BLOCKS ("1" on, "0" off) override either choice;
compiled blocks are used on CUDA only (the CPU always runs them eagerly) and in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

import torch
from torch import nn

from .generator import Block

ENV_CHANNELS_LAST, ENV_COMPILE_BLOCKS = "S2I_CHANNELS_LAST", "S2I_COMPILE_BLOCKS"


def _switch(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name, "").strip()
    if value not in ("", "0", "1"):
        raise ValueError(f"{name}={value!r}: expected 1 (on) or 0 (off)")
    return default if not value else value == "1"


@dataclass(frozen=True)
class SpeedLevers:
    channels_last: bool = False
    compiled_blocks: bool = False
    compile_backend: str = "inductor"

    @classmethod
    def automatic(cls, device: torch.device | str, world_size: int = 1, env: Mapping[str, str] = os.environ) -> "SpeedLevers":
        """The stages' choice for `device`: see the module docstring."""
        cuda = torch.device(device).type == "cuda"
        return cls(channels_last=_switch(env, ENV_CHANNELS_LAST, cuda), compiled_blocks=_switch(env, ENV_COMPILE_BLOCKS, False) and cuda and world_size == 1)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def describe(self) -> str:
        on = [name for name, flag in (("channels_last", self.channels_last), ("compiled_blocks", self.compiled_blocks)) if flag]
        return "+".join(on) or "plain"


def place(module: nn.Module, device: torch.device | str, levers: SpeedLevers) -> nn.Module:
    """`module` on `device` in the levers' memory format (in place: optimisers built on its
    parameters before or after stay valid)."""
    return module.to(device, memory_format=levers.memory_format)


def as_input(batch: torch.Tensor, levers: SpeedLevers) -> torch.Tensor:
    """A 4-D input batch in the levers' memory format (a no-op without channels_last)."""
    if levers.channels_last and batch.dim() == 4:
        return batch.contiguous(memory_format=torch.channels_last)
    return batch


def compile_dense_blocks(generator: nn.Module, device: torch.device | str, levers: SpeedLevers, backend: str | None = None) -> int:
    """Mark the dense blocks of `generator` to run compiled (levers.compiled_blocks, on CUDA only,
    unless a `backend` is forced, as tests do on the CPU); returns how many blocks were marked.
    Call it after any deep copy that must stay eager (a weight average)."""
    forced = backend is not None
    if not levers.compiled_blocks or (torch.device(device).type != "cuda" and not forced):
        return 0
    blocks = [m for m in generator.modules() if isinstance(m, Block) and m.dense]
    for block in blocks:
        block.compile_backend = backend if forced else levers.compile_backend
    return len(blocks)
