"""AE variants -> linear probe of the embedding; saves the final embeddings."""
import sys, time, json, os
from pathlib import Path
import numpy as np, torch
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import types
sys.modules.setdefault("ffmpeg", types.ModuleType("ffmpeg"))  # not on the GPU box; unused here
from s2i_models import AudioAutoencoder, autoencoder_step, make_optimizer
from pipeline.dataset.loader import load_split, MelScale
from pipeline.training.ridge import class_probe

torch.set_num_threads(int(os.environ.get("THREADS", "1")))
name = sys.argv[1]
cfg = dict(width=0.125, emb=512, epochs=40, bs=16, opt="sgd", lr=0.05, mom=0.9, every=10, out_bn=False)
cfg.update(json.loads(sys.argv[2]))
shards = os.environ.get("SHARDS", str(ROOT / "benchmarks/ablation/shards"))
out = Path(os.environ.get("EXP_OUT", "/tmp/exp")) / f"ae_{name}"; out.mkdir(parents=True, exist_ok=True)
dev = "cuda" if torch.cuda.is_available() else "cpu"
scale = MelScale()
data = {s: load_split(shards, s, mels=True) for s in ("train", "val", "test")}
X = {s: torch.from_numpy(scale.apply(d.mels.astype(np.float32))).unsqueeze(1).float().to(dev) for s, d in data.items()}
torch.manual_seed(0)
m = AudioAutoencoder(cfg["emb"], cfg["width"], cfg["out_bn"]).to(dev)
opt = make_optimizer("autoencoder", m.parameters(), cfg["opt"], lr=cfg["lr"], momentum=cfg["mom"])
t0 = time.time()
n = len(X["train"])
for ep in range(1, cfg["epochs"] + 1):
    m.train()
    perm = torch.randperm(n)
    for i in range(0, n - cfg["bs"] + 1, cfg["bs"]):
        o = autoencoder_step(m, opt, X["train"][perm[i:i + cfg["bs"]]])
    if ep % cfg["every"] == 0 or ep == cfg["epochs"]:
        m.eval()
        with torch.no_grad():
            E = {s: torch.cat([m.encode(x[j:j+256]) for j in range(0, len(x), 256)]).float().cpu().numpy() for s, x in X.items()}
            val = torch.nn.functional.mse_loss(m(X["val"]), X["val"]).item()
        pr = class_probe(E["train"], data["train"].class_index, E["val"], data["val"].class_index, E["test"], data["test"].class_index, 5)
        print(json.dumps({"ae": name, "cfg": cfg, "ep": ep, "t": round(time.time() - t0), "train_mse": round(float(o["ae_loss"]), 5), "val_mse": round(val, 5), **pr}), flush=True)
for s, d in data.items():
    np.savez(out / f"{s}.npz", keys=np.asarray(d.keys), emb=E[s].astype(np.float32), class_index=d.class_index)
(out / "probe.json").write_text(json.dumps(pr))
