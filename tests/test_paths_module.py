"""pipeline/core/paths.py and dvc.yaml name the same artifacts (issue 22): its STAGE_OUTPUTS are exactly
dvc.yaml's outs, metrics and plots; every dvc.yaml dep that is an artifact (not code) is a constant there;
and every other constant lies inside an output, holds one, or is such a dep."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from pipeline.core import paths
from pipeline.core.params import load_params

REPO = Path(__file__).resolve().parents[1]
CODE = ("pipeline", "s2i_models")


def dvc_artifacts(dvc_text: str) -> tuple[set[str], set[str]]:
    """(outs + metrics + plots, deps that are not code) of every stage."""
    outputs, deps = set(), set()
    for stage in yaml.safe_load(dvc_text)["stages"].values():
        for key in ("outs", "metrics", "plots"):
            for entry in stage.get(key, []):
                outputs |= set(entry) if isinstance(entry, dict) else {entry}
        deps |= {d for d in stage.get("deps", []) if not d.startswith(CODE)}
    return {p.rstrip("/") for p in outputs}, {p.rstrip("/") for p in deps}


def path_problems(dvc_text: str, module) -> list[str]:
    """Where the paths module and a dvc.yaml text disagree; empty when they agree."""
    outputs, deps = dvc_artifacts(dvc_text)
    declared = {Path(p).as_posix() for p in module.STAGE_OUTPUTS}
    named = {v.as_posix() for v in vars(module).values() if isinstance(v, Path)}
    problems = [f"paths.STAGE_OUTPUTS has {p}, which no dvc.yaml stage outputs" for p in sorted(declared - outputs)]
    problems += [f"dvc.yaml outputs {p}, which paths.STAGE_OUTPUTS lacks" for p in sorted(outputs - declared)]
    problems += [f"dvc.yaml dep {p} is not named in paths.py" for p in sorted(deps - named)]
    for p in sorted(named - declared - deps):
        related = [o for o in declared if Path(o) in Path(p).parents or Path(p) in Path(o).parents]
        if not related:
            problems.append(f"paths.py names {p}: neither inside nor around a stage output, nor a dvc.yaml dep")
    return problems


def test_paths_module_and_dvc_yaml_name_the_same_artifacts():
    assert path_problems((REPO / "dvc.yaml").read_text(), paths) == []


def test_a_renamed_out_is_reported_both_ways():
    text = (REPO / "dvc.yaml").read_text()
    embed_out = "    outs:\n      - data/embeddings\n"
    assert text.count(embed_out) == 1
    broken = text.replace(embed_out, "    outs:\n      - data/embedding\n")
    assert path_problems(broken, paths) == [
        "paths.STAGE_OUTPUTS has data/embeddings, which no dvc.yaml stage outputs",
        "dvc.yaml outputs data/embedding, which paths.STAGE_OUTPUTS lacks",
    ]


def test_a_dep_or_constant_paths_py_does_not_cover_is_reported():
    text = (REPO / "dvc.yaml").read_text()
    broken = text.replace("      - data/vegas_paper_split.csv\n", "      - data/vegas_split.csv\n")
    assert "dvc.yaml dep data/vegas_split.csv is not named in paths.py" in path_problems(broken, paths)
    stray = SimpleNamespace(**{k: v for k, v in vars(paths).items() if not k.startswith("__")}, STRAY=Path("data/nowhere.csv"))
    assert path_problems(text, stray) == ["paths.py names data/nowhere.csv: neither inside nor around a stage output, nor a dvc.yaml dep"]


def test_the_paper_split_dep_is_the_params_default():
    assert Path(load_params(REPO / "params.yaml")["segment"]["split"]["paper_csv"]) == paths.PAPER_SPLIT_CSV
