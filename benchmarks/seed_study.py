"""The translator at several seeds, judged as the evaluate stage judges it: one command, one table.

    .venv/bin/python benchmarks/seed_study.py [--seeds 0 1 2] [--set noise_dim=0 ...] [--name NAME]
        [--out docs/seed_study] [--jsonl docs/ablation/seeds.jsonl] [--lanes 2]
    .venv/bin/python benchmarks/seed_study.py --table docs/ablation/seeds.jsonl   # ablation table (Markdown)

Run after `make demo` (it reads the stages' embeddings, shards and informativity classifiers). Each
seed trains the `translator` stage's own `train` with params.yaml's translator section, `--set`
overrides and `seed` = that seed, in its own folder under --work, on one thread (--lanes seeds at
a time), then scores the final generator with the `evaluate` stage's own `judging.run`: the demo
rater's informativity per class and overall, class match, and the controls (shuffled sounds, ridge
regression, untrained generator). --out writes OUT.json and OUT.md (per seed, mean and range);
--jsonl appends one line per seed, which --table folds into one row per name.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASS_SHORT = ["Baby", "Dog", "Rail", "Fireworks", "Water"]
KEYS = {"rater": "rater_informativity", "class_match": "class_match", "classifiers": "informativity"}
CONTROLS = ("shuffled", "ridge", "untrained")


def parse_sets(pairs: list[str]) -> dict:
    """["noise_dim=32", "augment=translation,cutout"] -> {"noise_dim": 32, "augment": "translation,cutout"}."""
    import yaml

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE")
        out[key] = yaml.safe_load(value) if value else ""
    return out


def run_one(seed: int, overrides: dict, work: Path) -> dict:
    """Train at `seed` and judge the final generator; the figures of one line."""
    import torch

    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    torch.set_num_threads(1)
    from pipeline.core.params import load_params
    from pipeline.evaluation import judging
    from pipeline.training import translator

    params = load_params()
    p = {**params["translator"], **overrides, "seed": seed}
    unknown = sorted(set(overrides) - set(params["translator"]))
    if unknown:
        raise SystemExit(f"--set: not translator params: {unknown}")
    out = work / f"seed{seed}"
    t0 = time.time()
    translator.train(p, out_dir=out, live_dir=out / "live")
    train_s = time.time() - t0
    judged_p = {**p, "snapshot_every": p["epochs"]}          # the final generator only
    result = judging.run(params["evaluate"], judged_p, params["informativity"]["rater_threshold"],
                         snapshot_dir=out / "snapshots", report_dir=out / "reports", figures=False)
    line = {"seed": seed, "overrides": overrides, "train_s": round(train_s),
            **{short: result[key] for short, key in KEYS.items() if key in result}}
    for name in CONTROLS:
        line[name] = {short: result[name][key] for short, key in KEYS.items() if key in result[name]}
    for key in ("attribute_correlation", "realism", "frechet_distance", "nearest_train_distance"):
        if key in result:
            line[key] = result[key]
    return line


def spread(values: list[float]) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return "n/a"
    return f"{np.mean(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def per_class(block: dict) -> list[float]:
    from pipeline.core.tables import CLASSES

    return [block.get(c) for c in CLASSES]


def markdown(lines: list[dict], title: str) -> str:
    """Per seed, then mean (range): rater per class and overall, class match, controls."""
    head = ("| seed | rater: " + ", ".join(CLASS_SHORT) + " | rater mean | class match | classifiers | "
            "shuffled rater / class match | ridge rater / class match | untrained rater / class match |")
    rows = [f"## {title}", "", head, "|" + "---|" * 8]
    for line in lines:
        classes = " ".join(f"{v:.2f}" for v in per_class(line["rater"]))
        controls = [f"{line[c]['rater']:.2f} / {line[c]['class_match']:.2f}" for c in CONTROLS]
        rows.append(f"| {line['seed']} | {classes} | **{line['rater']['mean']:.2f}** | "
                    f"{line['class_match']['mean']:.2f} | {line['classifiers']['mean']:.2f} | " + " | ".join(controls) + " |")
    classes = " ".join(spread([line["rater"].get(c) for line in lines]).split(" (")[0]
                       for c in _class_names())
    controls = [f"{spread([x[c]['rater'] for x in lines])} / {spread([x[c]['class_match'] for x in lines])}"
                for c in CONTROLS]
    rows.append(f"| mean (range) | {classes} | **{spread([x['rater']['mean'] for x in lines])}** | "
                f"{spread([x['class_match']['mean'] for x in lines])} | "
                f"{spread([x['classifiers']['mean'] for x in lines])} | " + " | ".join(controls) + " |")
    ranges = ", ".join(f"{short} {spread([x['rater'].get(c) for x in lines])}"
                       for short, c in zip(CLASS_SHORT, _class_names()))
    rows += ["", f"Per class, mean (range) over the seeds: {ranges}."]
    return "\n".join(rows) + "\n"


def _class_names() -> list[str]:
    from pipeline.core.tables import CLASSES

    return list(CLASSES)


def table(jsonl: Path) -> str:
    """One row per name in an ablation JSON-lines file: rater mean (range) over its seeds, per class, class match."""
    groups: dict[str, list[dict]] = {}
    for text in jsonl.read_text().splitlines():
        if text.strip():
            line = json.loads(text)
            groups.setdefault(line.get("name", "?"), []).append(line)
    rows = ["| variant | seeds | rater mean (range) | " + " | ".join(CLASS_SHORT) + " | class match | ridge rater |",
            "|" + "---|" * 9]
    for name, lines in groups.items():
        per = [spread([x["rater"].get(c) for x in lines]) for c in _class_names()]
        rows.append(f"| {name} | {','.join(str(x['seed']) for x in lines)} | {spread([x['rater']['mean'] for x in lines])} | "
                    + " | ".join(per) + f" | {spread([x['class_match']['mean'] for x in lines])} | "
                    f"{spread([x['ridge']['rater'] for x in lines])} |")
    return "\n".join(rows) + "\n"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                    help="translator param override (YAML value), repeatable")
    ap.add_argument("--name", default="default", help="the variant's name in --jsonl lines")
    ap.add_argument("--lanes", type=int, default=2, help="seeds trained at a time (one thread each)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/s2i_seed_study"))
    ap.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    ap.add_argument("--jsonl", type=Path, help="append one line per seed")
    ap.add_argument("--table", type=Path, help="print the ablation table of a --jsonl file and exit")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)   # worker: one seed, prints its JSON line
    args = ap.parse_args(argv)
    if args.table:
        sys.path.insert(0, str(ROOT))
        print(table(args.table), end="")
        return
    overrides = parse_sets(args.sets)
    work = args.work / args.name.replace(" ", "_")
    if args.one is not None:
        print("RESULT " + json.dumps(run_one(args.one, overrides, work)), flush=True)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args.work.mkdir(parents=True, exist_ok=True)
    lines, queue, running = [], list(args.seeds), []
    t0 = time.time()
    while queue or running:
        while queue and len(running) < args.lanes:
            seed = queue.pop(0)
            log = open(work.with_name(f"{work.name}_seed{seed}.log"), "w")
            cmd = [sys.executable, __file__, "--one", str(seed), "--name", args.name, "--work", str(args.work),
                   *sum((["--set", s] for s in args.sets), [])]
            running.append((seed, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env)))
        time.sleep(2)
        for seed, proc in [r for r in running if r[1].poll() is not None]:
            running.remove((seed, proc))
            out = proc.stdout.read()
            found = [json.loads(x[7:]) for x in out.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not found:
                raise SystemExit(f"seed {seed}: exit {proc.returncode}; see {work}_seed{seed}.log")
            line = {"name": args.name, **found[0]}
            lines.append(line)
            print(f"seed {seed}: rater {line['rater']['mean']:.2f}, class match {line['class_match']['mean']:.2f} "
                  f"({time.time() - t0:.0f} s)", flush=True)
            if args.jsonl:
                args.jsonl.parent.mkdir(parents=True, exist_ok=True)
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(line) + "\n")
    lines.sort(key=lambda x: x["seed"])
    sys.path.insert(0, str(ROOT))
    text = markdown(lines, f"{args.name}: seeds {', '.join(map(str, args.seeds))}")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        summary = {"name": args.name, "overrides": overrides, "seeds": lines,
                   "mean": {"rater": float(np.mean([x["rater"]["mean"] for x in lines])),
                            "class_match": float(np.mean([x["class_match"]["mean"] for x in lines]))}}
        Path(f"{args.out}.json").write_text(json.dumps(summary, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(text)


if __name__ == "__main__":
    main()
