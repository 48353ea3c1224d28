"""The dense blocks' forward pass compiled with torch.compile, falling back to eager where compiling fails.

A dense block is three conv -> BatchNorm -> ReLU layers and two concatenations; the
concatenated feature maps grow wide and every BatchNorm and ReLU reads and writes them again,
so on a GPU the block is bound by memory traffic (docs/distributed.md). Compiled, the
BatchNorm statistics, normalisation, ReLU and the writes into the concatenation fuse around the
convolutions (which stay cuDNN's).

`CompiledOrEager` compiles on its first call and runs eagerly for good once compiling has
failed (no compiler, no Triton, an unsupported op): the failure is reported once as a warning,
and the block computes what it computes eagerly. Forward and backward are compiled on the same
first call, so a failing backward is caught there too, before any step has used the block.
"""

from __future__ import annotations

import warnings
from typing import Callable

import torch
from torch import nn

# Each block instance, training mode and autocast state is its own compiled entry of one
# function: six blocks need more entries than dynamo's default limit of 8.
RECOMPILE_LIMIT = 64


def dense_block_forward(layer1: nn.Module, layer2: nn.Module, layer3: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Layer 3 sees cat(x1, x2); the block's output is cat(x1, x2, x3)."""
    x1 = layer1(x)
    x2 = layer2(x1)
    x3 = layer3(torch.cat([x1, x2], 1))
    return torch.cat([x1, x2, x3], 1)


def _raise_recompile_limit() -> None:
    config = torch._dynamo.config
    for name in ("recompile_limit", "cache_size_limit"):  # the newer name first; older torch has the second
        if hasattr(config, name):
            setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
            return


def _backward_lowered_with_forward():
    """A config patch that lowers the backward graph at the forward's first call (where torch has it)."""
    config = torch._functorch.config
    if "force_non_lazy_backward_lowering" in getattr(config, "_config", {}):
        return config.patch(force_non_lazy_backward_lowering=True)
    return None


class CompiledOrEager:
    """`fn` through torch.compile (static shapes) until a call fails to compile; `fn` itself after that."""

    def __init__(self, fn: Callable, backend: str | Callable = "inductor"):
        self.fn, self.backend = fn, backend
        self.compiled: Callable | None = None
        self.failure: str | None = None

    def __call__(self, *args):
        if self.failure is None:
            try:
                if self.compiled is None:
                    _raise_recompile_limit()
                    self.compiled = torch.compile(self.fn, backend=self.backend, dynamic=False)
                patch = _backward_lowered_with_forward()
                if patch is None:
                    return self.compiled(*args)
                with patch:
                    return self.compiled(*args)
            except Exception as err:  # compiling failed: report once, run eagerly from now on
                self.failure = f"{type(err).__name__}: {err}"[:500]
                warnings.warn(f"compiled dense blocks fall back to eager: {self.failure}", RuntimeWarning)
        return self.fn(*args)


_BY_BACKEND: dict[str | Callable, CompiledOrEager] = {}


def compiled_dense_block_forward(backend: str | Callable = "inductor") -> CompiledOrEager:
    """The one compiled dense-block forward per backend, shared by every block that uses it."""
    if backend not in _BY_BACKEND:
        _BY_BACKEND[backend] = CompiledOrEager(dense_block_forward, backend)
    return _BY_BACKEND[backend]


def reset() -> None:
    """Forget the compiled functions and their failures (tests; a fresh compile on the next call)."""
    _BY_BACKEND.clear()
    torch._dynamo.reset()
