"""The ablation table of benchmarks/seed_study.py --table (benchmarks/ablation_lines.py): hand-written lines of
both shapes in, the right mean and range in the right cells out, a missing figure shown as missing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import ablation_lines  # noqa: E402
import seed_study  # noqa: E402

CLASSES = ["Baby cry", "Dog", "Rail transport", "Fireworks", "Water flowing"]


def new_line(name, seed, rater, match, classifiers=None, ridge=None):
    """One seed_study line: `rater` the five classes' shares (mean = their mean), `match` class match's mean."""
    line = {
        "name": name,
        "seed": seed,
        "overrides": {},
        "epoch": 80,
        "rater": {**dict(zip(CLASSES, rater)), "mean": sum(rater) / 5},
        "class_match": {"mean": match},
        "shuffled": {"rater": 0.1, "class_match": 0.2},
    }
    if classifiers is not None:
        line["classifiers"] = {"mean": classifiers}
    if ridge is not None:
        line["ridge"] = {"rater": ridge, "class_match": 0.8}
    return line


def old_line(name, tag, epoch, inf, per, cm, **extra):
    return {"name": name, "over": {"lr": 0.1}, "train_s": 1, "tag": tag, "inf": inf, "per": per, "cm": cm, **({"epoch": epoch} if epoch is not None else {}), **extra}


def write(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def rows(text: str) -> dict[str, list[str]]:
    """The table's body rows by variant name, as their cells."""
    out = {}
    for line in text.splitlines()[2:]:
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            out[cells[0]] = cells
    return out


def test_new_lines_fold_into_mean_and_range_per_name(tmp_path):
    path = write(
        tmp_path / "seeds.jsonl",
        [
            new_line("A", 0, [1.0, 0.5, 0.0, 0.5, 0.5], 0.80, classifiers=0.6, ridge=0.4),
            new_line("B", 0, [0.0, 0.0, 0.0, 0.0, 0.5], 0.30),
            new_line("A", 1, [0.5, 0.5, 0.0, 1.0, 0.0], 0.90, classifiers=0.4, ridge=0.4),
            new_line("A", 2, [0.0, 1.0, 0.0, 1.0, 0.5], 0.70, ridge=0.4),  # classifiers missing at seed 2
            new_line("B", 3, [0.0, 0.5, 0.0, 0.0, 0.5], 0.40),
        ],
    )
    text = ablation_lines.table([path])
    assert text.splitlines()[0] == (
        "| variant | seeds | epoch | rater mean | Baby | Dog | Rail | Fireworks | Water | class match | classifiers | shuffled rater / class match | ridge rater / class match |"
    )
    table = rows(text)
    assert list(table) == ["A", "B"]
    # A: rater means 0.5, 0.4, 0.5
    assert table["A"] == [
        "A",
        "0,1,2",
        "80",
        "0.47 (0.40-0.50)",
        "0.50 (0.00-1.00)",
        "0.67 (0.50-1.00)",
        "0.00 (0.00-0.00)",
        "0.83 (0.50-1.00)",
        "0.33 (0.00-0.50)",
        "0.80 (0.70-0.90)",
        "0.50 (0.40-0.60) [2 of 3]",
        "0.10 (0.10-0.10) / 0.20 (0.20-0.20)",
        "0.40 (0.40-0.40) / 0.80 (0.80-0.80)",
    ]
    # B: no classifiers and no ridge at any seed: missing, not 0
    assert table["B"] == [
        "B",
        "0,3",
        "80",
        "0.15 (0.10-0.20)",
        "0.00 (0.00-0.00)",
        "0.25 (0.00-0.50)",
        "0.00 (0.00-0.00)",
        "0.00 (0.00-0.00)",
        "0.50 (0.50-0.50)",
        "0.35 (0.30-0.40)",
        "—",
        "0.10 (0.10-0.10) / 0.20 (0.20-0.20)",
        "—",
    ]


def test_old_lines_give_their_last_snapshot_and_controls(tmp_path):
    """The removed scripts' shape: a run is its last scored snapshot; shuffled at that epoch; ridge a row of its own."""
    path = write(
        tmp_path / "sweep.jsonl",
        [
            {"judge": {"val_accuracy": 0.86}},
            {"ae": "sgd40", "ep": 10, "val_accuracy": 0.7},
            old_line("P", "G", 50, 0.2, [0.1, 0.2, 0.3, 0.4, 0.0], 0.6),
            old_line("P", "shuffled", 50, 0.05, [0, 0, 0, 0, 0.25], 0.1),
            old_line("P", "G", 60, 0.3, [0.5, 0.5, 0.5, 0.0, 0.0], 0.7),
            old_line("P", "shuffled", 60, 0.08, [0, 0, 0.4, 0, 0], 0.15),
            old_line("P", "G_trainbn", 60, 0.35, [0.5, 0.5, 0.5, 0.25, 0.0], 0.75),
            old_line("P", "ridge", None, 0.45, [0.48, 0.81, 0.9, 0.05, 0.0], 0.85, alpha=1.0),
        ],
    )
    text = ablation_lines.table([path])
    table = rows(text)
    assert list(table) == ["P", "P (batch BN statistics)", "P: ridge"]
    assert table["P"] == ["P", "0", "60", "0.30", "0.50", "0.50", "0.50", "0.00", "0.00", "0.70", "—", "0.08 / 0.15", "—"]
    assert table["P (batch BN statistics)"][1:5] == ["0", "60", "0.35", "0.50"]
    assert table["P (batch BN statistics)"][-2:] == ["—", "—"]  # the shuffled lines are G's, not this variant's
    assert table["P: ridge"] == ["P: ridge", "—", "—", "0.45", "0.48", "0.81", "0.90", "0.05", "0.00", "0.85", "—", "—", "—"]
    assert text.splitlines()[-1] == "sweep.jsonl: not translator runs, not in the table: autoencoder probe 1, class judge 1 lines."


def test_several_files_keep_their_runs_apart(tmp_path):
    """The same name in two files is two rows (two sessions' defaults), each marked with its file."""
    one = write(tmp_path / "one.jsonl", [new_line("default", 0, [1.0] * 5, 0.9)])
    two = write(tmp_path / "two.jsonl", [new_line("default", 0, [0.0] * 5, 0.5)])
    lines = ablation_lines.table([one, two]).splitlines()
    assert lines[0].startswith("| lines | variant | seeds |")
    assert [line.split(" | ")[:4] for line in lines[2:]] == [["| one", "default", "0", "80"], ["| two", "default", "0", "80"]]
    assert lines[2].split(" | ")[4] == "1.00" and lines[3].split(" | ")[4] == "0.00"


def test_the_committed_lines_read_as_the_docs_give_them():
    """docs/ablation/cpu_session4.jsonl's default row, as docs/experiments.md gives it (epoch 80)."""
    table = rows(ablation_lines.table([BENCHMARKS.parent / "docs" / "ablation" / "cpu_session4.jsonl"]))
    assert table["default"][2:11] == ["80", "0.64", "0.90", "0.90", "0.00", "0.90", "0.48", "0.89", "—"]
    assert table["default"][11] == "0.12 / 0.14"


def test_a_rerun_skips_the_seeds_already_written(tmp_path):
    path = write(tmp_path / "seeds.jsonl", [new_line("A", 0, [1.0] * 5, 0.9), new_line("B", 1, [1.0] * 5, 0.9), new_line("A", 2, [1.0] * 5, 0.9)])
    assert seed_study.done_seeds(path, "A") == {0, 2}
    assert seed_study.done_seeds(tmp_path / "none.jsonl", "A") == set()
    assert seed_study.parse_sets(["epochs=10", "augment=translation,cutout", "epochs=3"]) == {"epochs": 3, "augment": "translation,cutout"}
