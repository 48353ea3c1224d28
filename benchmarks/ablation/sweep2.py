"""GPU sweep 2: translator variants on the stages' own embeddings (copy data/embeddings/*.npz to benchmarks/ablation/emb/ first)."""
import subprocess
import sys
import time

from runner import HERE, OUT, SCALE, WORK, collect
from runner import launch as launch_script

EMB = str(HERE / "emb")


def launch(name, cfg, extra=(), env=None):
    return launch_script("exp_gan.py", name, cfg, extra, {"EMB_DIR": EMB, "TRAINBN": "1", **(env or {})})


ep = SCALE.get("epochs", 150)
base = {"epochs": ep, "snapshot_every": max(1, ep // 6), "output_bn": False, "ema_decay": 0.999}
S = {**base, "adv_average": "batch", "d_every": 1, "d_unit": "iteration", "lambda_adv": 1.0}
Ad = {**S, "optimizer": "adam", "lr": 1e-3, "momentum": 0.5, "lambda_adv": 0.3}
GAN = {
    "Pn_ema": base,
    "S_ema": S,
    "S_ema_lam03": {**S, "lambda_adv": 0.3},
    "S_ema_w125": {**S, "width": 0.125},
    "S_noema": {**S, "ema_decay": 0.0},
    "Ad_ema": Ad,
    "Ad_ema_w125": {**Ad, "width": 0.125},
    "Pix_ema": {**S, "lambda_adv": 0.0},
}
t0 = time.time()
judge = launch("judge", {}, ["--judge"], {"JUDGE_EPOCHS": str(SCALE.get("judge_epochs", 30))})
procs = [launch(n, c, ["--ridge"] if n == "Pn_ema" else [], {"LAST": "6"}) for n, c in GAN.items()]
collect([judge], 90)
killed = collect(procs, SCALE.get("gan_limit", 250))
print(f"killed {killed} at {time.time() - t0:.0f}s", flush=True)
collect([launch(n, GAN[n], ["--eval-only"] + (["--ridge"] if n == "Pn_ema" else []), {"LAST": "6"}) for n in killed], 60)
print(f"total {time.time() - t0:.0f}s", flush=True)
for n in ("S_ema", "Ad_ema", "S_ema_w125", "Ad_ema_w125", "Pix_ema"):
    grids = sorted((WORK / n / "snapshots").glob("generator_*.pt"))
    if grids:
        subprocess.run([sys.executable, "-c", f"""
import sys, types; sys.path.insert(0, "{HERE.parents[1]}"); sys.modules.setdefault("ffmpeg", types.ModuleType("ffmpeg"))
import numpy as np, torch
from pipeline.core.figures import save_png, test_grid
from pipeline.dataset.loader import drawing, load_split
from s2i_models.rebuild import load_generator
G = load_generator("{grids[-1]}")
t = np.load("{EMB}/test.npz"); imgs = load_split("{HERE}/shards", "test").images
save_png(test_grid(imgs, t["class_index"], drawing(G, torch.from_numpy(t["emb"]))), "{OUT}/grid_{n}.png")
"""])
