"""Run every scenario of ddp_scenarios.py on this rank; rank 0 saves the weights to argv[1].

torchrun --standalone --nproc-per-node 2 tests/ddp_worker.py out.pt
"""

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from ddp_scenarios import SCENARIOS  # noqa: E402

from pipeline.training.distributed import context  # noqa: E402

ctx = context()
assert ctx.world_size > 1, "run me under torchrun with nproc > 1"
weights = {name: scenario(ctx) for name, scenario in SCENARIOS.items()}
if ctx.is_main:
    torch.save(weights, sys.argv[1])
