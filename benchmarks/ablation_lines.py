"""The ablation's JSON lines, of every shape committed in docs/ablation/, as one kind of run, and their table.

Two shapes of line exist:
- `benchmarks/seed_study.py` (session 6 on): one line per seed with the final generator's figures,
  `{"name", "seed", "overrides", "rater": {class: share, "mean"}, "class_match": {...}, "classifiers": {...},
  "shuffled" | "ridge" | "untrained": {"rater", "class_match", "classifiers"}, ...}`.
- the scripts it replaced (sweep1/sweep2, cpu*, session4; issue 22 removed them): one line per scored
  snapshot, `{"name", "over", "tag", "epoch", "inf", "per": [5 classes], "cm"}`, tag G (the generator),
  shuffled (the same generator on permuted sounds), ridge (the control, no epoch), and in sweep 2 G_trainbn /
  G_nodrop (BatchNorm in training mode / dropout off). Lines with "ae" (autoencoder probes) or "judge" (the
  class judge's accuracy) are not translator runs.

`runs` turns both into seed_study's shape: an old run is its last scored snapshot (its epoch kept), its
shuffled cell the shuffled line of that epoch, its seed `over["seed"]` or 0 (params.yaml's translator.seed at
every commit that added old lines; a ridge row has none); G_trainbn / G_nodrop become runs of their own, and each ridge line a row of
its own (a sweep scored ridge once, beside one variant). Nothing is recomputed: the cells are the lines' values.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from pipeline.core.tables import CLASSES

SHORT = ["Baby", "Dog", "Rail", "Fireworks", "Water"]
MISSING = "—"
VARIANT_TAGS = {"G": "", "G_trainbn": " (batch BN statistics)", "G_nodrop": " (no dropout)"}


def read_lines(path: Path) -> list[dict]:
    return [json.loads(text) for text in Path(path).read_text().splitlines() if text.strip()]


def _old_figures(line: dict) -> dict:
    return {"rater": {**dict(zip(CLASSES, line["per"])), "mean": line["inf"]}, "class_match": {"mean": line["cm"]}}


def runs(lines: list[dict], source: str = "") -> tuple[list[dict], Counter]:
    """(runs in seed_study's shape, in the order their names first appear; a count of the lines skipped, by kind)."""
    skipped: Counter = Counter()
    new, old = [], {}
    for line in lines:
        if "ae" in line or "judge" in line:
            skipped["autoencoder probe" if "ae" in line else "class judge"] += 1
        elif "tag" in line:
            old.setdefault(line["name"], []).append(line)
        elif "rater" in line:
            new.append({**line, "source": source})
        else:
            skipped["unknown shape"] += 1
    out = list(new)
    for name, group in old.items():
        by_tag: dict[str, list[dict]] = {}
        for line in group:
            by_tag.setdefault(line["tag"], []).append(line)
        over = group[0].get("over", {})
        common = {"seed": over.get("seed", 0), "overrides": over, "source": source}
        shuffled = {x["epoch"]: x for x in by_tag.get("shuffled", [])}
        for tag, suffix in VARIANT_TAGS.items():
            if tag not in by_tag:
                continue
            last = max(by_tag[tag], key=lambda x: x["epoch"])
            run = {"name": name + suffix, **common, "epoch": last["epoch"], **_old_figures(last)}
            if tag == "G" and last["epoch"] in shuffled:  # the shuffled lines are G's (running BN statistics)
                figures = _old_figures(shuffled[last["epoch"]])
                run["shuffled"] = {"rater": figures["rater"]["mean"], "class_match": figures["class_match"]["mean"]}
            out.append(run)
        ridges = by_tag.get("ridge", [])
        for line in ridges:
            label = f"{name}: ridge" + (f" alpha {line['alpha']:g}" if len(ridges) > 1 else "")
            out.append({"name": label, **common, "seed": None, **_old_figures(line)})  # no generator: no seed
    return out, skipped


def spread(values: list, fmt: str = "{:.2f}") -> str:
    """'mean (min-max)' over the values given; one value alone; '—' when none; '[k of n]' when some are missing."""
    present = [v for v in values if v is not None]
    if not present:
        return MISSING
    text = fmt.format(np.mean(present))
    if len(present) > 1:
        text += f" ({fmt.format(min(present))}-{fmt.format(max(present))})"
    if len(present) < len(values):
        text += f" [{len(present)} of {len(values)}]"
    return text


def _get(run: dict, *keys):
    value = run
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _pair(group: list[dict], control: str) -> str:
    rater = spread([_get(r, control, "rater") for r in group])
    match = spread([_get(r, control, "class_match") for r in group])
    return MISSING if rater == match == MISSING else f"{rater} / {match}"


def table(files: list[Path]) -> str:
    """One row per name and file: mean (range) over its seeds of the final generator's figures, and the controls."""
    rows, notes, several = [], [], len(files) > 1
    head = ["variant", "seeds", "epoch", "rater mean", *SHORT, "class match", "classifiers", "shuffled rater / class match", "ridge rater / class match"]
    if several:
        head.insert(0, "lines")
    for path in files:
        found, skipped = runs(read_lines(path), Path(path).stem)
        groups: dict[str, list[dict]] = {}
        for run in found:
            groups.setdefault(run["name"], []).append(run)
        for name, group in groups.items():
            epochs = sorted({r["epoch"] for r in group if r.get("epoch") is not None})
            cells = [
                name,
                ",".join(str(r["seed"]) if r.get("seed") is not None else MISSING for r in group),
                ",".join(map(str, epochs)) or MISSING,
                spread([_get(r, "rater", "mean") for r in group]),
                *(spread([_get(r, "rater", c) for r in group]) for c in CLASSES),
                spread([_get(r, "class_match", "mean") for r in group]),
                spread([_get(r, "classifiers", "mean") for r in group]),
                _pair(group, "shuffled"),
                _pair(group, "ridge"),
            ]
            rows.append(([Path(path).stem] if several else []) + cells)
        if skipped:
            notes.append(f"{Path(path).name}: not translator runs, not in the table: " + ", ".join(f"{kind} {n}" for kind, n in sorted(skipped.items())) + " lines.")
    text = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows)]
    return "\n".join(text + ([""] + notes if notes else [])) + "\n"
