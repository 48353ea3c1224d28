"""GPU sweep 2: translator variants on the stages' own embeddings (copy data/embeddings/*.npz to benchmarks/ablation/emb/ first)."""
import json, os, subprocess, sys, time, shutil
from pathlib import Path
HERE = Path(__file__).resolve().parent
OUT = Path(os.environ.get("OUT", "/tmp/out")); OUT.mkdir(parents=True, exist_ok=True)
WORK = Path(os.environ.get("EXP_OUT", "/tmp/exp")); WORK.mkdir(parents=True, exist_ok=True)
SCALE = json.loads(os.environ.get("SCALE", "{}"))
results = open(OUT / "results.jsonl", "a")
EMB = str(HERE / "emb")

def launch(name, cfg, extra=(), env=None):
    e = {**os.environ, "EXP_OUT": str(WORK), "THREADS": "1", "OMP_NUM_THREADS": "1", "EMB_DIR": EMB, "TRAINBN": "1", **(env or {})}
    log = open(WORK / f"{name}.log", "w")
    return name, subprocess.Popen([sys.executable, str(HERE / "exp_gan.py"), name, json.dumps(cfg), *extra], stdout=subprocess.PIPE, stderr=log, text=True, env=e)

def collect(procs, limit):
    t0, killed = time.time(), []
    for name, p in procs:
        try:
            out, _ = p.communicate(timeout=max(1, limit - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            p.kill(); out, _ = p.communicate(); killed.append(name)
        for line in out.splitlines():
            if line.startswith("{"):
                results.write(line + "\n"); results.flush()
        if p.returncode and name not in killed:
            print(f"{name}: exit {p.returncode}; " + (WORK / f"{name}.log").read_text()[-600:], flush=True)
    return killed

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
from pipeline import translator
from pipeline.loader import load_split
from pipeline.figures import save_png
G = translator.load_generator("{grids[-1]}")
t = np.load("{EMB}/test.npz"); imgs = load_split("{HERE}/shards", "test").images
save_png(translator.test_grid(G, torch.from_numpy(t["emb"]), torch.from_numpy(imgs), t["class_index"]), "{OUT}/grid_{n}.png")
"""])
