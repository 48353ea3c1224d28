"""translator variants -> rater informativity and class match on test sounds."""
import sys, time, json, os
from pathlib import Path
import numpy as np, torch
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
import types
sys.modules.setdefault("ffmpeg", types.ModuleType("ffmpeg"))  # not on the GPU box; unused here
os.chdir(ROOT)
from pipeline.core.params import load_params
from pipeline.core.tables import CLASSES
from pipeline.dataset.loader import drawing, tensor_to_image, load_split
from pipeline.demo_world import rater as demo_rater
from pipeline.evaluation import classifiers as inf
from pipeline.training import translator
from pipeline.training.ridge import fit_ridge
from s2i_models.rebuild import load_generator


torch.set_num_threads(int(os.environ.get("THREADS", "1")))
name, over = sys.argv[1], json.loads(sys.argv[2])
shards = Path(os.environ.get("SHARDS", str(ROOT / "benchmarks/ablation/shards")))
emb_dir = Path(os.environ["EMB_DIR"])
out = Path(os.environ.get("EXP_OUT", "/tmp/exp")) / name
judge_path = Path(os.environ.get("EXP_OUT", "/tmp/exp")) / "judge/class_match.pt"
p = {**load_params()["translator"], **over}
if "--judge" in sys.argv:
    ip = load_params()["informativity"]
    judge_path.parent.mkdir(parents=True, exist_ok=True)
    print(json.dumps({"judge": inf.train_class_match({**ip, **ip["class_match"], "epochs": int(os.environ.get("JUDGE_EPOCHS", "8"))}, judge_path.parent, shards)}), flush=True)
    sys.exit()
t0 = time.time()
if "--eval-only" not in sys.argv:
    translator.train(p, out_dir=out, live_dir=out / "live", emb_dir=emb_dir, shard_dir=shards)
train_time = time.time() - t0
while not judge_path.exists():
    time.sleep(2)
time.sleep(2)
judge = inf.load_class_match(judge_path)
test = np.load(emb_dir / "test.npz"); emb, cls = test["emb"], test["class_index"]
names = [CLASSES[c] for c in cls]


def score(images, tag, **kw):
    r = demo_rater.label(images, names)
    per = [float(r[cls == c].mean()) for c in range(5)]
    cm = float((inf.predict(judge, images) == cls).mean())
    return {"tag": tag, "inf": round(float(r.mean()), 3), "per": [round(x, 2) for x in per], "cm": round(cm, 3), **kw}


rows = []
snaps = sorted((out / "snapshots").glob("generator_*.pt"))
for path in snaps[-int(os.environ.get("LAST", "3")):]:
    G = load_generator(path)
    torch.manual_seed(0)
    with torch.no_grad():
        img = tensor_to_image(G(torch.from_numpy(emb)))
        perm = np.random.default_rng(0).permutation(len(emb))
        sh = tensor_to_image(G(torch.from_numpy(emb[perm])))
    rows.append(score(img, "G", epoch=int(path.stem[-5:])))
    if os.environ.get("TRAINBN"):
        from s2i_models import set_inference_dropout
        set_inference_dropout(G, False)
        with torch.no_grad():
            rows.append(score(tensor_to_image(G(torch.from_numpy(emb))), "G_nodrop", epoch=int(path.stem[-5:])))
        set_inference_dropout(G, True)
        G.train()
        with torch.no_grad():
            rows.append(score(tensor_to_image(G(torch.from_numpy(emb))), "G_trainbn", epoch=int(path.stem[-5:])))
        G.eval()
    if os.environ.get("GRIDS"):
        from pipeline.core import figures
        figures.save_png(figures.test_grid(load_split(shards, "test").images, cls, drawing(G, torch.from_numpy(emb))), out / f"grid_{path.stem[-5:]}.png")
    rows.append(score(sh, "shuffled", epoch=int(path.stem[-5:])))
if "--ridge" in sys.argv:
    tr, va = np.load(emb_dir / "train.npz"), np.load(emb_dir / "val.npz")
    ridge = fit_ridge(tr["emb"], load_split(shards, "train").images, va["emb"], load_split(shards, "val").images)
    rows.append(score(ridge.translate(emb), "ridge", alpha=ridge.alpha))
for r in rows:
    print(json.dumps({"name": name, "over": over, "train_s": round(train_time), **r}), flush=True)
