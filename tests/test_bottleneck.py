"""benchmarks/bottleneck_study.py on small fake `dvc exp show --json` documents: the figures of each experiment in, the
right mean and range in the right cell of the table out, a missing figure as "—" / null, the agreement with the
paper computed from the curves, and a PNG that decodes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bottleneck_study as bottleneck  # noqa: E402  (not "bottleneck": that is a package pandas imports)

FILE_ERROR = {"error": {"type": "FileNotFoundError", "msg": "reports/metrics.json does not exist"}}


def params(emb_dim, seed=0, lr=0.001):
    return {"emb_dim": emb_dim, "autoencoder": {"epochs": 60}, "translator": {"seed": seed, "lr": lr, "epochs": 80}}


def metrics(rater=None, classifiers=None, match=None, fd=None, probe=(None, None), ae=(None, None), pixel=None):
    """The three metrics files as DVC gives them; a file none of whose figures is given reads as missing."""
    report = {
        "rater_informativity": {"Dog": 0.1, "mean": rater},
        "informativity": {"mean": classifiers},
        "class_match": {"mean": match},
        "realism": {"trained": {"frechet_distance": fd}},
    }
    autoencoder = {"train": {"mse": ae[0]}, "val": {"mse": ae[1]}, "best": {"epoch": 59}, "probe": {"val_accuracy": probe[0], "test_accuracy": probe[1]}, "step": 59}
    translator = {"train": {"g_pixel": pixel, "g_adv": 1.1}, "val": {"g_pixel": 0.3}, "step": 79}
    files = {
        "reports/metrics.json": (report, (rater, classifiers, match, fd)),
        "models/autoencoder_live/metrics.json": (autoencoder, (*probe, *ae)),
        "models/translator_live/metrics.json": (translator, (pixel,)),
        "data/stats.json": ({"clips": 200}, (1,)),
    }
    return {path: {"data": data} if any(v is not None for v in given) else FILE_ERROR for path, (data, given) in files.items()}


def state(rev, name, p, m):
    return {
        "rev": rev,
        "name": name,
        "error": None,
        "experiments": None,
        "data": {"rev": rev, "timestamp": "2026-12-05T10:00:00", "params": {"params.yaml": {"data": p}}, "metrics": m, "deps": {}, "outs": {}, "meta": {"has_checkpoints": False}},
    }


def document(experiments: list[tuple[str, dict, dict, str]], workspace=None) -> list:
    """workspace + the baseline commit (its metrics untracked: errors) + experiments (name, params, metrics, state)."""
    baseline = state("a" * 40, "main", params(512), metrics())
    baseline["experiments"] = [
        {"name": name, "executor": {"state": executor, "name": None, "local": None}, "revs": [state(f"{i:040x}", name, p, m)]}
        for i, (name, p, m, executor) in enumerate(experiments, start=1)
    ]
    return [state("workspace", None, params(512), workspace or metrics()), baseline]


def partial_sweep() -> list:
    return document(
        [
            ("exp-128", params(128), metrics(0.20, 0.30, 0.60, 1.50, (0.80, 0.70), (0.0400, 0.0450), 0.200), "success"),
            ("exp-256-s1", params(256, 1), metrics(0.50, 0.40, 0.80, 1.00, (0.87, 0.77), (0.0330, 0.0380), 0.170), "success"),
            ("exp-256-s0", params(256, 0), metrics(0.40, 0.50, 0.70, 1.20, (0.85, 0.75), (0.0350, 0.0400), 0.190), "success"),
            ("exp-512-s0", params(512, 0), metrics(0.70, 0.55, 0.90, 0.80, (0.90, 0.80), (0.0300, 0.0350), 0.160), "success"),
            ("exp-512-s1", params(512, 1), metrics(0.60, None, 0.80, 0.90, (0.90, 0.80), (0.0300, 0.0350), 0.160), "success"),
            # the evaluate stage never wrote its metrics: the autoencoder's and translator's figures still count
            ("exp-1024", params(1024), metrics(None, None, None, None, (0.92, 0.82), (0.0280, 0.0330), 0.150), "success"),
            ("exp-2048-queued", params(2048), metrics(), "queued"),
            ("exp-2048-failed", params(2048), metrics(), "failed"),
            ("exp-lr", params(512, 0, lr=0.01), metrics(0.10, 0.10, 0.10, 9.0, (0.1, 0.1), (0.1, 0.1), 0.9), "success"),
        ],
        workspace=metrics(0.99, 0.99, 0.99, 0.01, (0.99, 0.99), (0.0010, 0.0010), 0.010),
    )


def table_rows(md: str) -> dict[str, str]:
    return {line.split(" | ")[0].lstrip("| "): line for line in md.splitlines() if line.startswith("| ")}


def test_values_land_in_their_cells_and_missing_stays_missing(tmp_path):
    result = bottleneck.write(partial_sweep(), tmp_path / "bottleneck")
    md = (tmp_path / "bottleneck.md").read_text()
    rows = table_rows(md)
    assert rows["emb_dim"] == (
        "| emb_dim | seeds | demo-rater informativity | classifiers' informativity | class match | "
        "Fréchet distance | linear probe accuracy, val | linear probe accuracy, test | "
        "autoencoder train MSE | autoencoder val MSE | translator training pixel loss |"
    )
    assert rows["128"] == "| 128 | 0 | 0.20 | 0.30 | 0.60 | 1.50 | 0.80 | 0.70 | 0.0400 | 0.0450 | 0.200 |"
    assert rows["256"] == (
        "| 256 | 0,1 | 0.45 (0.40-0.50) | 0.45 (0.40-0.50) | 0.75 (0.70-0.80) | 1.10 (1.00-1.20) | "
        "0.86 (0.85-0.87) | 0.76 (0.75-0.77) | 0.0340 (0.0330-0.0350) | 0.0390 (0.0380-0.0400) | "
        "0.180 (0.170-0.190) |"
    )
    # the workspace (0.99) and the run with another lr are not among 512's seeds; one seed lacks the classifiers' figure
    assert rows["512"] == (
        "| 512 | 0,1 | 0.65 (0.60-0.70) | 0.55 [1 of 2] | 0.85 (0.80-0.90) | 0.85 (0.80-0.90) | "
        "0.90 (0.90-0.90) | 0.80 (0.80-0.80) | 0.0300 (0.0300-0.0300) | 0.0350 (0.0350-0.0350) | "
        "0.160 (0.160-0.160) |"
    )
    assert rows["1024"] == "| 1024 | 0 | — | — | — | — | 0.92 | 0.82 | 0.0280 | 0.0330 | 0.150 |"
    assert rows["2048"] == "| 2048 | — | — | — | — | — | — | — | — | — | — |"

    by_dim = {row["emb_dim"]: row for row in result["rows"]}
    assert by_dim[1024]["figures"]["rater_informativity"] is None
    assert by_dim[1024]["figures"]["ae_val_mse"] == {"mean": 0.033, "min": 0.033, "max": 0.033, "n": 1, "runs": 1}
    assert by_dim[2048]["runs"] == [] and all(v is None for v in by_dim[2048]["figures"].values())
    assert by_dim[256]["runs"] == ["exp-256-s0", "exp-256-s1"]
    on_disk = json.loads((tmp_path / "bottleneck.json").read_text())
    assert on_disk["rows"][4]["figures"]["class_match"] is None  # null in the JSON, not 0
    assert on_disk["excluded"] == [{"name": "exp-lr", "rev": f"{9:040x}", "differs": ["translator.lr"]}]
    assert [(s["name"], s["why"]) for s in on_disk["skipped"]] == [
        ("workspace", "the workspace (--with-workspace counts it)"),
        ("main", "none of the figures in its metrics"),
        ("exp-2048-queued", "experiment queued"),
        ("exp-2048-failed", "experiment failed"),
    ]

    # a curve with a missing point cannot be judged against the paper
    assert ("| mean informativity peaks at emb_dim 512, falls for 1024 and 2048 | demo-rater informativity | cannot tell: no value at emb_dim 1024, 2048 | — |") in md.splitlines()
    assert [a["agrees"] for a in result["agreement"]] == [None, None, True, None]
    assert result["agreement"][2]["ours"] == "0.180 -> 0.160 -> 0.150: falls"

    with Image.open(tmp_path / "bottleneck.png") as png:
        png.load()
        assert png.format == "PNG" and png.size == (1360, 640)


def test_agreement_is_computed_from_the_curves(tmp_path):
    rater = [0.10, 0.30, 0.50, 0.40, 0.20]  # peaks at 512, as the paper's
    classifiers = [0.50, 0.40, 0.30, 0.20, 0.10]  # peaks at 128
    pixel = [0.15, 0.20, 0.18, 0.16, 0.17]  # falls 256 -> 1024; 128 below 256, 2048 above 1024
    doc = document([(f"exp-{d}", params(d), metrics(r, c, 0.8, 1.0, (0.9, 0.8), (0.03, 0.03), x), "success") for d, r, c, x in zip(bottleneck.EMB_DIMS, rater, classifiers, pixel)])
    result = bottleneck.write(doc, tmp_path / "b")
    assert [(a["curve"], a["ours"], a["agrees"]) for a in result["agreement"]] == [
        ("demo-rater informativity", "peak at 512 (0.50)", True),
        ("classifiers' informativity", "peak at 128 (0.50)", False),
        ("translator training pixel loss", "0.200 -> 0.180 -> 0.160: falls", True),
        ("translator training pixel loss", "128: 0.150 against 256: 0.200; 2048: 0.170 against 1024: 0.160", True),
    ]
    md = (tmp_path / "b.md").read_text()
    assert ("| mean informativity peaks at emb_dim 512, falls for 1024 and 2048 | classifiers' informativity | peak at 128 (0.50) | no |") in md.splitlines()
    assert bottleneck.PAPER in md

    pixel[2] = 0.21  # 512 above 256: the loss no longer falls
    doc = document([(f"exp-{d}", params(d), metrics(r, c, 0.8, 1.0, (0.9, 0.8), (0.03, 0.03), x), "success") for d, r, c, x in zip(bottleneck.EMB_DIMS, rater, classifiers, pixel)])
    assert bottleneck.write(doc, tmp_path / "c")["agreement"][2] == {
        "claim": "training pixel loss falls as emb_dim grows (256 -> 512 -> 1024)",
        "curve": "translator training pixel loss",
        "ours": "0.200 -> 0.210 -> 0.160: does not fall throughout",
        "agrees": False,
    }


def test_reads_what_the_installed_dvc_writes():
    """The fake documents above have the shape of DVC's own serialisation (`dvc exp show --json` dumps these)."""
    from dvc.repo.experiments.serialize import ExpExecutor, ExpRange, ExpState, SerializableExp

    p, m = params(256, 2), metrics(0.42, 0.33, 0.77, 1.3, (0.8, 0.7), (0.03, 0.04), 0.18)
    exp = ExpState(rev="f" * 40, name="exp-real", data=SerializableExp(rev="f" * 40, params={"params.yaml": {"data": p}}, metrics=m))
    baseline = ExpState(
        rev="a" * 40,
        data=SerializableExp(rev="a" * 40, params={"params.yaml": {"data": params(512)}}, metrics=metrics()),
        experiments=[ExpRange(revs=[exp], executor=ExpExecutor(state="success"), name="exp-real")],
    )
    doc = json.loads(json.dumps([baseline.dumpd()], default=str))
    assert set(doc[0]) == set(partial_sweep()[1])
    assert set(doc[0]["experiments"][0]["revs"][0]["data"]) == set(partial_sweep()[1]["experiments"][0]["revs"][0]["data"])
    found, skipped = bottleneck.runs(doc)
    assert [(r["name"], r["emb_dim"], r["seed"], r["figures"]["rater_informativity"], r["figures"]["translator_train_pixel"]) for r in found] == [("exp-real", 256, 2, 0.42, 0.18)]
    assert found[0]["figures"]["frechet_distance"] == 1.3  # realism.trained's, where no top-level one is
    assert [s["name"] for s in skipped] == ["aaaaaaa"]


def test_no_benchmark_shadows_a_package_pandas_imports():
    """A script run as `python benchmarks/X.py` has benchmarks/ first on sys.path: a benchmarks/bottleneck.py
    was imported by pandas as its optional `bottleneck` accelerator, and `import pandas` failed."""
    import subprocess

    code = f"import sys; sys.path.insert(0, {str(Path(bottleneck.__file__).parent)!r}); import pandas"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_notes_go_under_the_table_and_survive_regeneration(tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("What the demo world shows: a sentence of ours.\n")
    exp_json = tmp_path / "exp.json"
    exp_json.write_text(json.dumps(partial_sweep()))
    for _ in range(2):  # regenerating keeps the paragraph once, below the table
        bottleneck.main(["--exp-json", str(exp_json), "--out", str(tmp_path / "bottleneck"), "--notes", str(notes)])
    md = (tmp_path / "bottleneck.md").read_text()
    assert md.count("a sentence of ours") == 1
    assert md.index("| 128 |") < md.index("a sentence of ours") and md.endswith("a sentence of ours.\n")
