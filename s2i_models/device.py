"""Device choice and optional bf16 autocast."""

from __future__ import annotations

import contextlib

import torch


def pick_device(name: str | None = None) -> torch.device:
    """`name` if given ("cpu", "cuda", "cuda:1"), else cuda when available, else cpu."""
    if name:
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {name!r} asked for but CUDA is not available")
        return device
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def autocast(device: torch.device | str, bf16: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA when `bf16` is set; a no-op context otherwise (CPU included)."""
    device = torch.device(device)
    if bf16 and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def enable_fast_kernels(device: torch.device | str) -> None:
    """Cheap global speed switches: cuDNN autotuning on GPU, oneDNN on CPU."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        torch.backends.mkldnn.enabled = True
