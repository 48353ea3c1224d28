"""The bottleneck (emb_dim) against the paper: `dvc exp show --json` in, a table, a figure and the agreement out.

    .venv/bin/python benchmarks/bottleneck_study.py [--exp-json FILE] [--out docs/bottleneck] [--with-workspace]

After the sweep of docs/experiments.md (one `dvc exp run` per emb_dim, optionally several translator.seed
each). Reads the experiments of `dvc exp show --json` (DVC 3: a list of commits, each {"rev", "name", "data",
"error", "experiments": [{"name", "executor": {"state"}, "revs": [same shape]}]}, "data" holding
{"params": {"params.yaml": {"data": ...}}, "metrics": {FILE: {"data": ...}}}), or runs it without --exp-json.
Groups them by emb_dim and writes OUT.json, OUT.md and OUT.png: per emb_dim the mean and range over the seeds
of each figure below, the paper's finding beside them, and whether our curves agree, computed from them. A
figure an experiment lacks stays missing: "—" in the table, null in the JSON, a gap in the plot.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EMB_DIMS = (128, 256, 512, 1024, 2048)
PAPER_PEAK = 512
MISSING = "—"
REPORT, AE, TRANSLATOR = "reports/metrics.json", "models/autoencoder_live/metrics.json", "models/translator_live/metrics.json"
# name: (label, metrics file, the paths to try in it, in order, cell format). The top-level Fréchet distance and
# realism.trained's are the same measure (the final generator's test images against real test frames).
FIGURES = {
    "rater_informativity": ("demo-rater informativity", REPORT, [("rater_informativity", "mean")], "{:.2f}"),
    "informativity": ("classifiers' informativity", REPORT, [("informativity", "mean")], "{:.2f}"),
    "class_match": ("class match", REPORT, [("class_match", "mean")], "{:.2f}"),
    "frechet_distance": ("Fréchet distance", REPORT, [("frechet_distance",), ("realism", "trained", "frechet_distance")], "{:.2f}"),
    "probe_val_accuracy": ("linear probe accuracy, val", AE, [("probe", "val_accuracy")], "{:.2f}"),
    "probe_test_accuracy": ("linear probe accuracy, test", AE, [("probe", "test_accuracy")], "{:.2f}"),
    "ae_train_mse": ("autoencoder train MSE", AE, [("train", "mse")], "{:.4f}"),
    "ae_val_mse": ("autoencoder val MSE", AE, [("val", "mse")], "{:.4f}"),
    "translator_train_pixel": ("translator training pixel loss", TRANSLATOR, [("train", "g_pixel")], "{:.3f}"),
}
PANELS = [  # (title, figures drawn in it)
    ("demo-rater informativity", ["rater_informativity"]),
    ("classifiers' informativity", ["informativity"]),
    ("class match", ["class_match"]),
    ("Fréchet distance (lower: closer to real)", ["frechet_distance"]),
    ("linear probe of the embedding", ["probe_val_accuracy", "probe_test_accuracy"]),
    ("autoencoder reconstruction MSE", ["ae_train_mse", "ae_val_mse"]),
    ("translator training pixel loss", ["translator_train_pixel"]),
]
PAPER = (
    "Paper: mean informativity over the five classes peaks at emb_dim 512 with more than 14% (water about 18%, "
    "dog about 6%) and falls for 1024 and 2048; the training pixel loss falls as emb_dim grows, except at the "
    "extremes 128 and 2048."
)


def _get(block, path):
    for key in path:
        if not isinstance(block, dict) or key not in block:
            return None
        block = block[key]
    number = isinstance(block, (int, float)) and not isinstance(block, bool)
    return block if number and block == block else None  # NaN (block != block) is missing too


def _flat(params: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in params.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _states(doc: list) -> list[tuple[dict, str, str | None]]:
    """(state, kind, executor state) for every commit, the workspace and every experiment of the document."""
    out = []
    for commit in doc:
        out.append((commit, "workspace" if commit.get("rev") == "workspace" else "commit", None))
        for exp_range in commit.get("experiments") or []:
            state = (exp_range.get("executor") or {}).get("state")
            for rev in exp_range.get("revs") or []:
                out.append(({**rev, "name": rev.get("name") or exp_range.get("name")}, "experiment", state))
    return out


def runs(doc: list, with_workspace: bool = False) -> tuple[list[dict], list[dict]]:
    """(runs: {name, rev, emb_dim, seed, params, figures}, skipped: {name, why}) of a `dvc exp show --json` document."""
    found, skipped, seen = [], [], {}
    for state, kind, executor in _states(doc):
        rev = str(state.get("rev", "?"))
        name = state.get("name") or (rev if kind == "workspace" else rev[:7])
        data = state.get("data") or {}
        why = (
            "the workspace (--with-workspace counts it)"
            if kind == "workspace" and not with_workspace
            else f"error: {state['error'].get('msg', state['error'])}"
            if state.get("error")
            else f"experiment {executor}"
            if executor in ("queued", "running", "failed")
            else "no data"
            if not data
            else None
        )
        params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
        metrics = {path: block.get("data") for path, block in (data.get("metrics") or {}).items() if isinstance(block, dict)}
        figures = {key: next((v for v in (_get(metrics.get(file), p) for p in paths) if v is not None), None) for key, (_, file, paths, _) in FIGURES.items()}
        if why is None and "emb_dim" not in params:
            why = "no emb_dim param"
        if why is None and all(v is None for v in figures.values()):
            why = "none of the figures in its metrics"
        seed = _get(params, ("translator", "seed"))
        key = json.dumps([params.get("emb_dim"), seed, figures], sort_keys=True)
        if why is None and key in seen:
            why = f"the same emb_dim, seed and figures as {seen[key]}"
        if why:
            skipped.append({"name": name, "rev": state.get("rev"), "why": why})
            continue
        seen[key] = name
        found.append({"name": name, "rev": state.get("rev"), "emb_dim": params["emb_dim"], "seed": seed, "params": params, "figures": figures})
    return found, skipped


def same_settings(found: list[dict]) -> tuple[list[dict], list[dict]]:
    """The runs whose params other than emb_dim and translator.seed are the most common ones; the rest, with the
    params that differ, as excluded (a lever changed beside emb_dim is not the bottleneck's doing)."""

    def rest(run):
        return {k: v for k, v in _flat(run["params"]).items() if k not in ("emb_dim", "translator.seed")}

    if not found:
        return [], []
    keys = [json.dumps(rest(r), sort_keys=True) for r in found]
    common = Counter(keys).most_common(1)[0][0]
    reference = json.loads(common)
    kept, excluded = [], []
    for run, key in zip(found, keys):
        if key == common:
            kept.append(run)
        else:
            other = rest(run)
            differ = sorted(k for k in set(other) | set(reference) if other.get(k) != reference.get(k))
            excluded.append({"name": run["name"], "rev": run["rev"], "differs": differ})
    return kept, excluded


def stats(values: list) -> dict | None:
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    return {"mean": float(np.mean(present)), "min": min(present), "max": max(present), "n": len(present), "runs": len(values)}


def group(kept: list[dict]) -> list[dict]:
    """One row per emb_dim (the paper's five, and any other found): its runs, seeds and each figure's stats."""
    dims = sorted(set(EMB_DIMS) | {r["emb_dim"] for r in kept})
    rows = []
    for dim in dims:
        mine = sorted((r for r in kept if r["emb_dim"] == dim), key=lambda r: (r["seed"] is None, r["seed"] or 0, r["name"]))
        rows.append(
            {"emb_dim": dim, "runs": [r["name"] for r in mine], "seeds": [r["seed"] for r in mine], "figures": {key: stats([r["figures"][key] for r in mine]) for key in FIGURES}}
        )
    return rows


def curve(rows: list[dict], key: str) -> dict[int, float | None]:
    return {row["emb_dim"]: (row["figures"][key] or {}).get("mean") for row in rows if row["emb_dim"] in EMB_DIMS}


def _missing(values: dict, dims) -> list[int]:
    return [d for d in dims if values.get(d) is None]


def peak_agreement(rows: list[dict], key: str) -> dict:
    """Does our curve peak at 512, as the paper's informativity does? None (cannot tell) where a point is missing."""
    values = curve(rows, key)
    label = FIGURES[key][0]
    claim = "mean informativity peaks at emb_dim 512, falls for 1024 and 2048"
    gone = _missing(values, EMB_DIMS)
    if gone:
        return {"claim": claim, "curve": label, "ours": f"cannot tell: no value at emb_dim {', '.join(map(str, gone))}", "agrees": None}
    best = max(values.values())
    peaks = [d for d in EMB_DIMS if values[d] == best]
    ours = f"peak at {peaks[0]} ({best:.2f})" if len(peaks) == 1 else f"tied peak at {', '.join(map(str, peaks))} ({best:.2f})"
    return {"claim": claim, "curve": label, "ours": ours, "agrees": peaks == [PAPER_PEAK]}


def loss_agreement(rows: list[dict], key: str = "translator_train_pixel") -> list[dict]:
    """The paper's loss: it falls from 256 to 512 to 1024; at the extremes it does not (128 is not above 256,
    2048 not below 1024)."""
    values, label, fmt = curve(rows, key), FIGURES[key][0], FIGURES[key][3]
    out = []
    middle = (256, 512, 1024)
    claim = "training pixel loss falls as emb_dim grows (256 -> 512 -> 1024)"
    gone = _missing(values, middle)
    if gone:
        out.append({"claim": claim, "curve": label, "ours": f"cannot tell: no value at emb_dim {', '.join(map(str, gone))}", "agrees": None})
    else:
        falls = values[256] > values[512] > values[1024]
        out.append(
            {"claim": claim, "curve": label, "agrees": falls, "ours": " -> ".join(fmt.format(values[d]) for d in middle) + (": falls" if falls else ": does not fall throughout")}
        )
    claim = "except at the extremes: 128 not above 256, 2048 not below 1024"
    gone = _missing(values, EMB_DIMS)
    if gone:
        out.append({"claim": claim, "curve": label, "ours": f"cannot tell: no value at emb_dim {', '.join(map(str, gone))}", "agrees": None})
    else:
        low, high = values[128] <= values[256], values[2048] >= values[1024]
        out.append(
            {
                "claim": claim,
                "curve": label,
                "agrees": low and high,
                "ours": f"128: {fmt.format(values[128])} against 256: {fmt.format(values[256])}; 2048: {fmt.format(values[2048])} against 1024: {fmt.format(values[1024])}",
            }
        )
    return out


def agreement(rows: list[dict]) -> list[dict]:
    return [peak_agreement(rows, "rater_informativity"), peak_agreement(rows, "informativity"), *loss_agreement(rows)]


def cell(block: dict | None, fmt: str) -> str:
    """'mean (min-max)' over the seeds, one value alone, '—' when none, '[k of n]' when some runs lack it."""
    if block is None:
        return MISSING
    text = fmt.format(block["mean"])
    if block["n"] > 1:
        text += f" ({fmt.format(block['min'])}-{fmt.format(block['max'])})"
    if block["n"] < block["runs"]:
        text += f" [{block['n']} of {block['runs']}]"
    return text


def markdown(rows: list[dict], agreed: list[dict], excluded: list[dict], skipped: list[dict]) -> str:
    head = ["emb_dim", "seeds", *(FIGURES[k][0] for k in FIGURES)]
    lines = [
        "# The bottleneck: emb_dim against the paper",
        "",
        "Written by `benchmarks/bottleneck_study.py` from `dvc exp show --json` (docs/experiments.md); mean (range) over "
        "the seeds of each emb_dim, — where no experiment has the figure.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
    ]
    for row in rows:
        seeds = ",".join(MISSING if s is None else str(s) for s in row["seeds"]) or MISSING
        lines.append(f"| {row['emb_dim']} | {seeds} | " + " | ".join(cell(row["figures"][k], FIGURES[k][3]) for k in FIGURES) + " |")
    lines += ["", PAPER, "", "| the paper | our curve | ours | agrees |", "|---|---|---|---|"]
    for a in agreed:
        verdict = MISSING if a["agrees"] is None else ("yes" if a["agrees"] else "no")
        lines.append(f"| {a['claim']} | {a['curve']} | {a['ours']} | {verdict} |")
    for title, items, text in (
        ("Excluded (other params differ)", excluded, lambda x: f"{x['name']}: {', '.join(x['differs'])}"),
        ("Skipped", skipped, lambda x: f"{x['name']}: {x['why']}"),
    ):
        if items:
            lines += ["", f"{title}: " + "; ".join(text(x) for x in items) + "."]
    return "\n".join(lines) + "\n"


def figure(rows: list[dict], agreed: list[dict], path: Path) -> None:
    """One panel per figure group against emb_dim (log2 axis): the mean over seeds, bars for the range; NaN (a
    missing figure) leaves a gap. The last panel states the paper's finding and our agreement."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [r["emb_dim"] for r in rows]
    fig, axes = plt.subplots(2, 4, figsize=(17, 8), constrained_layout=True)
    for ax, (title, keys) in zip(axes.flat, PANELS):
        for key in keys:
            blocks = [r["figures"][key] for r in rows]
            mean = np.array([np.nan if b is None else b["mean"] for b in blocks])
            low = np.array([np.nan if b is None else b["mean"] - b["min"] for b in blocks])
            high = np.array([np.nan if b is None else b["max"] - b["mean"] for b in blocks])
            ax.errorbar(dims, mean, yerr=[low, high], marker="o", capsize=3, label=FIGURES[key][0])
        if keys[0] in ("rater_informativity", "informativity"):
            ax.axvline(PAPER_PEAK, color="grey", linestyle=":", label="the paper's peak (512)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(dims, [str(d) for d in dims])
        ax.set_xlim(dims[0] / 1.3, dims[-1] * 1.3)
        ax.set_xlabel("emb_dim")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    text = axes.flat[-1]
    text.axis("off")
    verdicts = [f"{a['curve']}: {a['ours']} -> {'cannot tell' if a['agrees'] is None else 'agrees' if a['agrees'] else 'disagrees'}" for a in agreed]
    text.text(0, 1, "\n".join(_wrap(PAPER, 52) + ["", "Ours:"] + [w for v in verdicts for w in _wrap(v, 52)]), va="top", fontsize=8.5, transform=text.transAxes)
    fig.suptitle("The bottleneck: emb_dim against the paper (mean over seeds, bars: range; a gap: missing)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width)


def exp_show() -> list:
    done = subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=ROOT, check=True, capture_output=True, text=True)  # this interpreter's dvc, activated or not
    return json.loads(done.stdout)


def write(doc: list, out: Path, with_workspace: bool = False, source: str = "dvc exp show --json", notes: str = "") -> dict:
    """OUT.json, OUT.md and OUT.png from one `dvc exp show --json` document; the JSON's content. `notes` (Markdown,
    what the curves show and why) goes under the table, so that regenerating the table keeps it."""
    found, skipped = runs(doc, with_workspace)
    kept, excluded = same_settings(found)
    rows = group(kept)
    agreed = agreement(rows)
    result = {
        "source": source,
        "paper": {"finding": PAPER, "peak_emb_dim": PAPER_PEAK},
        "figures": {key: {"label": label, "file": file, "paths": [".".join(p) for p in paths]} for key, (label, file, paths, _) in FIGURES.items()},
        "rows": rows,
        "agreement": agreed,
        "excluded": excluded,
        "skipped": skipped,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{out}.json").write_text(json.dumps(result, indent=1, allow_nan=False) + "\n")
    Path(f"{out}.md").write_text(markdown(rows, agreed, excluded, skipped) + (f"\n{notes.strip()}\n" if notes.strip() else ""))
    figure(rows, agreed, Path(f"{out}.png"))
    return result


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--exp-json", type=Path, help="the output of `dvc exp show --json` (default: run it)")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "bottleneck", help="writes OUT.json, OUT.md, OUT.png")
    ap.add_argument("--with-workspace", action="store_true", help="count the workspace's metrics as a run too")
    ap.add_argument("--notes", type=Path, help="a Markdown file put under the table (docs/bottleneck_notes.md)")
    args = ap.parse_args(argv)
    doc = json.loads(args.exp_json.read_text()) if args.exp_json else exp_show()
    write(doc, args.out, args.with_workspace, str(args.exp_json) if args.exp_json else "dvc exp show --json", args.notes.read_text() if args.notes else "")
    print(Path(f"{args.out}.md").read_text(), end="")


if __name__ == "__main__":
    main()
