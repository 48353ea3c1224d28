"""Diagnostic for tests/test_cuda.py: do bf16 and fp32 share Dropout2d masks on CUDA, and how far apart
are the untrained D losses with and without dropout? Prints one JSON line."""

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from s2i_models import DenseGenerator, Discriminator, EpochMovingAverage, GanConfig, discriminator_step, generator_step, make_optimizer  # noqa: E402

cuda = torch.device("cuda")
out = {}
masks = {}
for dtype in (torch.float32, torch.bfloat16):
    torch.manual_seed(1)
    masks[dtype] = torch.nn.functional.dropout2d(torch.ones(16, 64, 4, 4, device=cuda, dtype=dtype), 0.5, True) != 0
out["dropout2d_masks_equal"] = bool((masks[torch.float32] == masks[torch.bfloat16]).all())
emb = torch.rand(16, 64, device=cuda) * 2 - 1
real = torch.rand(16, 3, 96, 96, device=cuda) * 2 - 1
for dropout in (0.5, 0.0):
    for bf16 in (False, True):
        torch.manual_seed(0)
        G, D = DenseGenerator(64, 0.25).to(cuda), Discriminator(64, 0.25, dropout=dropout).to(cuda)
        opt_g, opt_d = make_optimizer("generator", G.parameters()), make_optimizer("discriminator", D.parameters())
        torch.manual_seed(1)
        cfg = GanConfig(bf16=bf16)
        g = generator_step(G, D, opt_g, emb, real, EpochMovingAverage(), cfg)
        d = discriminator_step(G, D, opt_d, emb, real, cfg)
        out[f"dropout{dropout}_bf16{bf16}"] = {"g_pixel": float(g["g_pixel"]), "d_loss": float(d["d_loss"])}
print(json.dumps(out))
