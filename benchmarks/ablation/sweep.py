"""GPU sweep 1: AE variants (probe), then translator variants on the best AE's embeddings."""
import json
import shutil
import time

from runner import OUT, SCALE, WORK, collect, launch

ae_ep = SCALE.get("ae_epochs", 40)
AE = {
    "sgd40": {"epochs": ae_ep},
    "sgd80": {"epochs": 2 * ae_ep},
    "adam1e3": {"epochs": ae_ep, "opt": "adam", "lr": 1e-3},
    "adam3e4": {"epochs": ae_ep, "opt": "adam", "lr": 3e-4},
    "adam1e3_w25": {"epochs": ae_ep, "opt": "adam", "lr": 1e-3, "width": 0.25},
    "sgd40_outbn": {"epochs": ae_ep, "out_bn": True},
}
t0 = time.time()
judge = launch("exp_gan.py", "judge", {}, ["--judge"], {"EMB_DIR": "-", "JUDGE_EPOCHS": str(SCALE.get("judge_epochs", 30))})
collect([launch("exp_ae.py", n, c) for n, c in AE.items()], SCALE.get("ae_limit", 100))
print(f"AE phase {time.time() - t0:.0f}s", flush=True)
probes = {n: json.loads((WORK / f"ae_{n}/probe.json").read_text()) for n in AE if (WORK / f"ae_{n}/probe.json").exists()}
cheap = {n: v for n, v in probes.items() if n in ("sgd40", "adam1e3", "adam3e4")}
best = max(cheap, key=lambda n: cheap[n]["val_accuracy"])
print(f"embeddings from AE {best}: {cheap[best]}", flush=True)
emb = str(WORK / f"ae_{best}")
ge = SCALE.get("gan_epochs", 80)
base = {"epochs": ge, "snapshot_every": max(1, ge // 4)}
A = {**base, "optimizer": "adam", "lr": 2e-4, "momentum": 0.5, "adv_average": "batch", "output_bn": False,
     "d_every": 1, "d_unit": "iteration", "lambda_adv": 1.0}
GAN = {
    "P": base,
    "P_batchavg": {**base, "adv_average": "batch"},
    "P_nobn": {**base, "output_bn": False},
    "P_lam1": {**base, "lambda_adv": 1.0},
    "A": A,
    "A_lam01": {**A, "lambda_adv": 0.1},
    "A_lam5": {**A, "lambda_adv": 5.0},
    "A_w125": {**A, "width": 0.125},
    "A_sgd": {**A, "optimizer": "sgd", "lr": 0.1},
    "A_d5": {**A, "d_every": 5},
    "A_bn": {**A, "output_bn": True},
    "A_epochavg": {**A, "adv_average": "epoch"},
    "A_pix0": {**A, "lambda_pixel": 0.0},
}
procs = [launch("exp_gan.py", n, c, ["--ridge"] if n == "P" else [], {"EMB_DIR": emb}) for n, c in GAN.items()]
collect([judge], 60)
killed = collect(procs, SCALE.get("gan_limit", 300))
collect([launch("exp_gan.py", n, GAN[n], ["--eval-only"], {"EMB_DIR": emb, "LAST": "2"}) for n in killed], 60)
print(f"total {time.time() - t0:.0f}s", flush=True)
for n in ("P", "A", "A_w125", "A_lam5", "A_pix0"):
    g = WORK / n / "test_grid.png"
    if g.exists():
        shutil.copy(g, OUT / f"grid_{n}.png")
