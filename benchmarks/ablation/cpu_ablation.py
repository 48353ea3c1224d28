"""CPU ablation on the demo world: the demo default, the paper's settings, and the default with each
departure from the paper reverted alone. Every variant is the `translator` stage's own `train` on the
stage's embeddings and shards (`exp_gan.py`), two at a time on one thread each.

    EMB_DIR=data/embeddings SHARDS=data/shards OUT=out .venv/bin/python benchmarks/ablation/cpu_ablation.py [VARIANT ...]

It scores with the class judge of that run (models/informativity/class_match.pt). JSON lines (last 3
snapshots of each variant, the shuffled-sound control, ridge once) go to OUT/results.jsonl; `ablation_table.py OUT/results.jsonl` prints the Markdown table.
"""
import json
import os
import shutil
import sys
import time


PAPER = {   # the paper's values of every lever the demo default moves (width, epochs and batch stay demo-sized)
    "optimizer": "sgd", "lr": 0.1, "momentum": 0.5, "lambda_adv": 0.1, "adv_average": "epoch",
    "output_bn": True, "upsample": "transposed", "ema_decay": 0.0, "bn_recompute": False, "d_dropout": 0.5,
    "d_mismatch": False, "d_projection": False, "d_every": 5, "d_unit": "epoch",
}
REVERT = {  # one departure each: the default with this lever set back to the paper's value
    "optimizer": {"optimizer": "sgd", "lr": 0.1, "momentum": 0.5},
    "lambda_adv": {"lambda_adv": 0.1},
    "adv_average": {"adv_average": "epoch"},
    "output_bn": {"output_bn": True},
    "upsample": {"upsample": "transposed"},
    "ema_decay": {"ema_decay": 0.0},
    "bn_recompute": {"bn_recompute": False},
    "d_every": {"d_every": 5, "d_unit": "epoch"},
    "d_dropout": {"d_dropout": 0.5},
    "d_projection": {"d_projection": False},
}
VARIANTS = {"default": {}, "paper": PAPER, **{f"default, paper {k}": v for k, v in REVERT.items()}}
LANES = int(os.environ.get("LANES", "2"))


def run_name(variant: str) -> str:
    return variant.replace(", ", "_").replace(" ", "_")


def launch(name, cfg):
    import runner   # opens OUT/results.jsonl: only when running variants, not for ablation_table.py
    extra = ["--ridge"] if name == "default" else []
    return runner.launch("exp_gan.py", run_name(name), cfg, extra)


def finished() -> set[str]:
    """Variants with result lines already in OUT/results.jsonl (a rerun skips them)."""
    from runner import OUT
    path = OUT / "results.jsonl"
    return {json.loads(line).get("name") for line in path.read_text().splitlines()} if path.exists() else set()


if __name__ == "__main__":
    from runner import HERE, WORK, collect
    judge = WORK / "judge" / "class_match.pt"          # the class judge of the stages' own run
    if not judge.exists():
        stage_judge = HERE.parents[1] / "models" / "informativity" / "class_match.pt"
        if not stage_judge.exists():
            raise SystemExit(f"{stage_judge}: missing; run `dvc repro informativity` first")
        judge.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stage_judge, judge)
    done_before = finished()
    t0, running = time.time(), []
    wanted = sys.argv[1:] or list(VARIANTS)   # e.g. "default, paper d_projection" to run only some rows
    unknown = [name for name in wanted if name not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    queue = [(name, VARIANTS[name]) for name in wanted if run_name(name) not in done_before]
    while queue or running:
        while queue and len(running) < LANES:
            running.append(launch(*queue.pop(0)))
        time.sleep(5)
        done = [r for r in running if r[1].poll() is not None]
        collect(done, 60)
        running = [r for r in running if r not in done]
        for name, _ in done:
            print(f"{name} done at {time.time() - t0:.0f} s", flush=True)
    print(json.dumps({"total_s": round(time.time() - t0), "work": str(WORK)}))
