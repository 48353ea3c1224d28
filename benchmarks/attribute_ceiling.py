"""How much within-class detail the sound and its embedding carry: a ceiling for the translator's attribute correlations.

    .venv/bin/python benchmarks/attribute_ceiling.py [--out docs/attribute_ceiling]

After `dvc repro` (reads data/shards and data/embeddings). The evaluate stage reports, per class, the Spearman
correlation between an attribute meter on each test sound's translation and the demo world's ground truth
for that sound. A translator only sees the embedding, so it cannot follow the truth better than the best
readout of the truth from the embedding. Per class, fitted on that class's train sounds (alpha on its val
sounds) and scored on its test sounds, no image or meter in between:
  embedding ridge   ridge regression from the audio embedding to the truth
  mel ridge         the same from the log-Mel input (average-pooled 4 x 5 to 32 x 20)
  centre loudness   no fit: the mean log-Mel energy of the central 0.2 s (frames 40-59)
each with a bootstrap interval over the class's test sounds (5th-95th percentile of 1000 resamples).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.core.params import load_params  # noqa: E402
from pipeline.core.tables import CLASSES  # noqa: E402
from pipeline.dataset.embeddings import check_same_samples, load_embeddings  # noqa: E402
from pipeline.dataset.loader import load_split  # noqa: E402
from pipeline.evaluation.attributes import segment_truth, spearman  # noqa: E402
from pipeline.training.ridge import select_ridge  # noqa: E402

SPLITS = ("train", "val", "test")
CENTRE = slice(40, 60)  # mel frames of the central 0.2 s (100 frames per second)
RESAMPLES = 1000


def pooled_mels(mels: np.ndarray) -> np.ndarray:
    """N x 128 x 100 log-Mel -> N x 640 (4 bands x 5 frames averaged)."""
    n, bands, frames = mels.shape
    return mels.reshape(n, bands // 4, 4, frames // 5, 5).mean((2, 4)).reshape(n, -1)


def ridge_readout(x: dict, truth: dict) -> np.ndarray:
    """Test predictions of a ridge fit x[train] -> truth[train], alpha by the val MSE."""
    fit = select_ridge(x["train"], truth["train"][:, None], x["val"], lambda p: np.mean((p[:, 0] - truth["val"]) ** 2))
    return fit.predict(x["test"])[:, 0]


def bootstrap_interval(x: np.ndarray, y: np.ndarray, resamples: np.ndarray) -> list | None:
    """5th and 95th percentile of Spearman's rho over the resamples (rows of indices); resamples with a constant side
    are left out, as `spearman` returns None for them. Ranked all at once: scipy's spearmanr takes one pair per call."""
    xs, ys = rankdata(x[resamples], axis=1), rankdata(y[resamples], axis=1)
    xs, ys = xs - xs.mean(1, keepdims=True), ys - ys.mean(1, keepdims=True)
    norm = np.sqrt((xs**2).sum(1) * (ys**2).sum(1))
    rhos = (xs * ys).sum(1)[norm > 0] / norm[norm > 0]
    return [float(np.percentile(rhos, 5)), float(np.percentile(rhos, 95))] if len(rhos) else None


def ceilings(features: dict, classes: dict, truth: dict, loudness: np.ndarray, seed: int = 0) -> dict:
    """{class: {readout: {"rho", "interval"}}} for the ridge readouts of each named feature set
    ({name: {split: N x F}}) and the test sounds' loudness, class by class."""
    rng = np.random.default_rng(seed)
    out = {}
    for c, name in enumerate(CLASSES):
        pick = {s: classes[s] == c for s in SPLITS}
        t = {s: truth[s][pick[s]] for s in SPLITS}
        predictions = {f"{f} ridge": ridge_readout({s: x[s][pick[s]] for s in SPLITS}, t) for f, x in features.items()}
        predictions["centre loudness"] = loudness[pick["test"]]
        resamples = rng.integers(0, len(t["test"]), (RESAMPLES, len(t["test"])))  # the same resamples for every readout
        out[name] = {r: {"rho": spearman(p, t["test"]), "interval": bootstrap_interval(p, t["test"], resamples)} for r, p in predictions.items()}
    return out


def measure(root: Path) -> dict:
    params = load_params(root / "params.yaml")
    splits = {s: load_split(root / "data/shards", s, mels=True) for s in SPLITS}
    emb_dir = root / "data/embeddings"
    emb = {}
    for s in SPLITS:
        arrays = load_embeddings(emb_dir / f"{s}.npz")
        check_same_samples(arrays, splits[s], emb_dir, s)
        emb[s] = arrays["emb"].reshape(len(splits[s].keys), -1)
    features = {"embedding": emb, "mel": {s: pooled_mels(splits[s].mels) for s in SPLITS}}
    truth = {s: segment_truth(splits[s].meta, params) for s in SPLITS}
    classes = {s: splits[s].class_index for s in SPLITS}
    return ceilings(features, classes, truth, splits["test"].mels[:, :, CENTRE].mean((1, 2)))


def table(result: dict) -> str:
    readouts = list(next(iter(result.values())))
    lines = ["| class | " + " | ".join(readouts) + " |", "|---|" + "---|" * len(readouts)]
    for name, row in result.items():
        cells = [f"{v['rho']:.2f} ({v['interval'][0]:.2f} to {v['interval'][1]:.2f})" if v["rho"] is not None else "—" for v in row.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", type=Path, default=ROOT, help="the repository whose dvc repro outputs are read")
    ap.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    args = ap.parse_args(argv)
    result = measure(args.root)
    print(table(result), end="")
    if args.out:
        args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(table(result))


if __name__ == "__main__":
    main()
