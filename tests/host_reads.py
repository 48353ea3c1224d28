"""Counting the project's own reads of tensor values back to the host (each one makes a CPU wait for a GPU)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
PROJECT_DIRS = tuple(str(REPO / name) + "/" for name in ("s2i_models", "pipeline"))
# The Python-level ways to read a tensor's value (or move it) to the host.
READS = ("item", "tolist", "numpy", "cpu", "__float__", "__int__", "__bool__", "__index__")


def count_host_reads(monkeypatch) -> list[str]:
    """From now on, every read in READS called directly from a file under s2i_models/ or pipeline/ is
    appended to the returned list as "file:line read"; reads made inside torch itself are not."""
    reads: list[str] = []
    for name in READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _original=original, _name=name, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            if caller.startswith(PROJECT_DIRS):
                reads.append(f"{caller[len(str(REPO)) + 1 :]}:{sys._getframe(1).f_lineno} {_name}")
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    return reads
