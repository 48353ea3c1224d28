"""The translator at several seeds, judged as the evaluate stage judges it: one command, one table.

    .venv/bin/python benchmarks/seed_study.py [--seeds 0 1 2] [--set noise_dim=0 ...] [--epochs N] [--name NAME]
        [--out docs/seed_study] [--jsonl docs/ablation/seeds.jsonl] [--lanes 2]
    .venv/bin/python benchmarks/seed_study.py --judge-only --name NAME --work W ...  # rejudge finished runs
    .venv/bin/python benchmarks/seed_study.py --table docs/ablation/*.jsonl     # the ablation table (Markdown)
    .venv/bin/python benchmarks/seed_study.py --mean-frames [data/shards]      # what pixel MSE alone can draw

Run after `make demo` (it reads the stages' embeddings, shards and informativity classifiers). Each
seed trains the `translator` stage's own `train` with params.yaml's translator section, `--set`
overrides (`--epochs N` is `--set epochs=N`) and `seed` = that seed, in its own folder under --work, on
one thread (--lanes seeds at a time), then scores the final generator with the `evaluate` stage's own
`judging.run`: the demo rater's informativity per class and overall, class match, and the controls
(shuffled sounds, ridge regression, untrained generator). --out writes OUT.json and OUT.md (per seed,
mean and range); --jsonl appends one line per seed (a rerun skips the seeds that already have a line of
that name there), which --table folds into one row per name (benchmarks/ablation_lines.py; it also reads
the older lines' shapes in docs/ablation/).

--mean-frames rates each class's mean train frame (the image that minimises pixel MSE for the class)
with the demo rater, beside the class's real frames.
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
sys.path.insert(0, str(ROOT))
KEYS = {"rater": "rater_informativity", "class_match": "class_match", "classifiers": "informativity"}
CONTROLS = ("shuffled", "ridge", "untrained")


def parse_sets(pairs: list[str]) -> dict:
    """["noise_dim=32", "augment=translation,cutout"] -> {"noise_dim": 32, "augment": "translation,cutout"}; the last of a key wins."""
    from pipeline.core.params import parse_value

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE")
        out[key] = parse_value(value) if value else ""
    return out


def run_one(seed: int, overrides: dict, work: Path, judge_only: bool = False) -> dict:
    """Train at `seed` and judge the final generator; the figures of one line. `judge_only`: judge the
    generator a finished run left in the seed's folder, without training."""
    import torch

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
    if judge_only:
        if not (out / "generator.pt").exists():
            raise SystemExit(f"--judge-only: no finished run in {out} (generator.pt missing)")
    else:
        translator.train(p, out_dir=out, live_dir=out / "live")
    train_s = time.time() - t0
    judged_p = {**p, "snapshot_every": p["epochs"]}  # the final generator only
    result = judging.run(params["evaluate"], judged_p, params["informativity"]["rater_threshold"], snapshot_dir=out / "snapshots", report_dir=out / "reports", figures=False)
    line = {"seed": seed, "overrides": overrides, "epoch": p["epochs"], **({"judged_only": True} if judge_only else {"train_s": round(train_s)})}
    line.update({short: result[key] for short, key in KEYS.items() if key in result})
    for name in CONTROLS:
        line[name] = {short: result[name][key] for short, key in KEYS.items() if key in result[name]}
    for key in ("attribute_correlation", "realism", "realism_texture", "frechet_distance", "nearest_train_distance", "nearest_train_distance_texture"):
        if key in result:
            line[key] = result[key]
    return line


def markdown(lines: list[dict], title: str) -> str:
    """Per seed, then mean (range): rater per class and overall, class match, controls."""
    from ablation_lines import SHORT, spread
    from pipeline.core.tables import CLASSES

    head = (
        "| seed | rater: " + ", ".join(SHORT) + " | rater mean | class match | classifiers | "
        "shuffled rater / class match | ridge rater / class match | untrained rater / class match |"
    )
    rows = [f"## {title}", "", head, "|" + "---|" * 8]
    for line in lines:
        classes = " ".join(spread([line["rater"].get(c)]) for c in CLASSES)
        controls = [f"{spread([line[c]['rater']])} / {spread([line[c]['class_match']])}" for c in CONTROLS]
        rows.append(
            f"| {line['seed']} | {classes} | **{spread([line['rater']['mean']])}** | "
            f"{spread([line['class_match']['mean']])} | {spread([line['classifiers']['mean']])} | " + " | ".join(controls) + " |"
        )
    classes = " ".join(spread([line["rater"].get(c) for line in lines]).split(" (")[0] for c in CLASSES)
    controls = [f"{spread([x[c]['rater'] for x in lines])} / {spread([x[c]['class_match'] for x in lines])}" for c in CONTROLS]
    rows.append(
        f"| mean (range) | {classes} | **{spread([x['rater']['mean'] for x in lines])}** | "
        f"{spread([x['class_match']['mean'] for x in lines])} | "
        f"{spread([x['classifiers']['mean'] for x in lines])} | " + " | ".join(controls) + " |"
    )
    ranges = ", ".join(f"{short} {spread([x['rater'].get(c) for x in lines])}" for short, c in zip(SHORT, CLASSES))
    rows += ["", f"Per class, mean (range) over the seeds: {ranges}."]
    return "\n".join(rows) + "\n"


def mean_frames(shard_dir: str) -> str:
    """What pixel MSE alone can draw: the demo rater on each class's mean train frame beside its real frames."""
    from pipeline.core.tables import CLASSES
    from pipeline.dataset.loader import load_split
    from pipeline.demo_world import rater

    def foam_share(img: np.ndarray) -> float:
        return float(rater._masks(*rater._hsv(img))["foam"].mean())

    split = load_split(shard_dir, "train")
    rows = ["| class | real frames: foam share / rater informative | the class's mean frame: rater score / foam share |", "|---|---|---|"]
    for c, name in enumerate(CLASSES):
        frames = split.images[split.class_index == c]
        mean = frames.astype(np.float32).mean(0).round().astype(np.uint8)
        informative = np.mean([rater.is_informative(f, name) for f in frames])
        rows.append(f"| {name} | {np.mean([foam_share(f) for f in frames]):.2f} / {informative:.2f} | {rater.rate_image(mean, name):.2f} / {foam_share(mean):.3f} |")
    return "\n".join(rows) + "\n"


def done_seeds(jsonl: Path | None, name: str) -> set[int]:
    """Seeds that already have a line of this name in --jsonl (a rerun skips them)."""
    if not jsonl or not jsonl.exists():
        return set()
    from ablation_lines import read_lines

    return {line["seed"] for line in read_lines(jsonl) if line.get("name") == name and "rater" in line}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="translator param override (YAML value), repeatable")
    ap.add_argument("--epochs", type=int, help="translator epochs (the same as --set epochs=N)")
    ap.add_argument("--name", default="default", help="the variant's name in --jsonl lines")
    ap.add_argument("--lanes", type=int, default=2, help="seeds trained at a time (one thread each)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/s2i_seed_study"))
    ap.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    ap.add_argument("--jsonl", type=Path, help="append one line per seed")
    ap.add_argument("--table", type=Path, nargs="+", help="print the ablation table of JSON-lines files and exit")
    ap.add_argument("--mean-frames", nargs="?", const="data/shards", metavar="SHARD_DIR", help="print the demo rater's scores of each class's mean train frame and exit")
    ap.add_argument("--judge-only", action="store_true", help="judge the runs already finished under --work (figures added to the judging after they trained)")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)  # worker: one seed, prints its JSON line
    args = ap.parse_args(argv)
    if args.table:
        from ablation_lines import table

        print(table(args.table), end="")
        return
    if args.mean_frames:
        print(mean_frames(args.mean_frames), end="")
        return
    if args.epochs is not None:
        args.sets.append(f"epochs={args.epochs}")  # last, so it wins; the workers get it as a --set
    overrides = parse_sets(args.sets)
    work = args.work / args.name.replace(" ", "_")
    if args.one is not None:
        print("RESULT " + json.dumps(run_one(args.one, overrides, work, args.judge_only)), flush=True)
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    args.work.mkdir(parents=True, exist_ok=True)
    skipped = done_seeds(args.jsonl, args.name)
    if skipped:
        print(f"seeds {sorted(skipped)} of {args.name!r} already in {args.jsonl}: skipped", flush=True)
    lines, queue, running = [], [s for s in args.seeds if s not in skipped], []
    t0 = time.time()
    while queue or running:
        while queue and len(running) < args.lanes:
            seed = queue.pop(0)
            log = open(work.with_name(f"{work.name}_seed{seed}.log"), "w")
            cmd = [sys.executable, __file__, "--one", str(seed), "--name", args.name, "--work", str(args.work), *sum((["--set", s] for s in args.sets), [])]
            cmd += ["--judge-only"] if args.judge_only else []
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
            print(f"seed {seed}: rater {line['rater']['mean']:.2f}, class match {line['class_match']['mean']:.2f} ({time.time() - t0:.0f} s)", flush=True)
            if args.jsonl:
                args.jsonl.parent.mkdir(parents=True, exist_ok=True)
                with open(args.jsonl, "a") as f:
                    f.write(json.dumps(line) + "\n")
    if not lines:
        return
    lines.sort(key=lambda x: x["seed"])
    text = markdown(lines, f"{args.name}: seeds {', '.join(str(x['seed']) for x in lines)}")
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "name": args.name,
            "overrides": overrides,
            "seeds": lines,
            "mean": {"rater": float(np.mean([x["rater"]["mean"] for x in lines])), "class_match": float(np.mean([x["class_match"]["mean"] for x in lines]))},
        }
        Path(f"{args.out}.json").write_text(json.dumps(summary, indent=1) + "\n")
        Path(f"{args.out}.md").write_text(text)


if __name__ == "__main__":
    main()
