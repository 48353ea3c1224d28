"""Each stage reads exactly the params dvc.yaml declares for it (issue 22), through the typed sections of
pipeline/core/settings.py: READS == dvc.yaml params per stage, reading an undeclared param raises, and
params.yaml's sections are strict (unknown, missing or mistyped keys are errors naming the key)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from pipeline.core.errors import SettingError
from pipeline.core.params import load_params, parse_value
from pipeline.core.settings import SECTIONS, InformativityParams, PartialSection, StageParams, TranslatorParams, UndeclaredParam, load_sections, read_names, stage_params
from pipeline.evaluation import labelsets

REPO = Path(__file__).resolve().parents[1]
PARAMS = REPO / "params.yaml"


def dvc_params(dvc_text: str) -> dict[str, set[str]]:
    """stage -> the params dvc.yaml declares for it (entries of params.yaml, the default file)."""
    out = {}
    for name, stage in yaml.safe_load(dvc_text)["stages"].items():
        declared = set()
        for entry in stage.get("params", []):
            declared |= {entry} if isinstance(entry, str) else set().union(*entry.values())
        out[name] = declared
    return out


def reads_problems(dvc_text: str) -> list[str]:
    """Where a stage's READS and its dvc.yaml params differ; empty when every stage agrees."""
    problems = []
    for name, declared in dvc_params(dvc_text).items():
        reads = set(importlib.import_module(f"pipeline.stages.{name}").READS)
        problems += [f"stage {name} reads {p}, which dvc.yaml does not declare" for p in sorted(reads - declared)]
        problems += [f"stage {name}: dvc.yaml declares {p}, which it does not read" for p in sorted(declared - reads)]
    return problems


def test_every_stage_reads_the_params_dvc_yaml_declares():
    assert reads_problems((REPO / "dvc.yaml").read_text()) == []


def test_a_param_missing_from_a_stage_in_dvc_yaml_is_reported():
    text = (REPO / "dvc.yaml").read_text()
    line = "      - translator.d_unit\n"
    assert text.count(line) == 2  # informativity's and evaluate's
    at = text.index("  evaluate:")
    broken = text[:at] + text[at:].replace(line, "", 1)
    assert reads_problems(broken) == ["stage evaluate reads translator.d_unit, which dvc.yaml does not declare"]


def test_each_stage_can_build_its_params_from_params_yaml():
    for name in dvc_params((REPO / "dvc.yaml").read_text()):
        reads = importlib.import_module(f"pipeline.stages.{name}").READS
        params = stage_params(reads, PARAMS)
        assert set(params) == set(read_names(reads))


@pytest.mark.parametrize("stage", ["informativity", "evaluate"])
def test_the_snapshots_a_stage_finds_read_only_declared_translator_params(tmp_path, stage):
    """The stages after the translator find its snapshots from the translator's params (snapshot_every,
    epochs, and the discriminator schedule d_every / d_unit, which add epochs): reading one the stage does
    not declare would leave dvc unaware that a change of it changes the stage's inputs."""
    params = stage_params(importlib.import_module(f"pipeline.stages.{stage}").READS, PARAMS)
    translator = dict(load_sections(["translator"], PARAMS)["translator"])
    for epoch in range(1, translator["epochs"] + 1):
        (tmp_path / f"generator_{epoch:05d}.pt").touch()
    found = labelsets.run_snapshots(tmp_path, params.translator)
    assert [e for e, _ in found] == labelsets.schedule.translator_snapshots(translator)


def assert_same(built, raw, where: str) -> None:
    if isinstance(raw, dict):
        assert list(built) == list(raw), where
        for key in raw:
            assert_same(built[key], raw[key], f"{where}.{key}")
    else:  # the very value yaml gave: nothing converted
        assert built == raw and type(built) is type(raw), where


def test_params_yaml_sections_read_back_as_the_same_values():
    raw = yaml.safe_load(PARAMS.read_text())
    sections = load_sections(SECTIONS, PARAMS)
    assert set(raw) == set(SECTIONS)
    for name, value in raw.items():
        assert_same(sections[name], value, name)
    assert {**sections["translator"]} == raw["translator"]
    assert sections["informativity"].class_match.epochs == raw["informativity"]["class_match"]["epochs"]


def test_an_unknown_missing_or_mistyped_key_is_an_error_naming_it(tmp_path):
    raw = yaml.safe_load(PARAMS.read_text())
    translator = raw["translator"]
    with pytest.raises(SettingError, match=r"unknown param translator\.d_evry"):
        TranslatorParams.from_params({**translator, "d_evry": 5}, "translator")
    with pytest.raises(SettingError, match=r"missing param translator\.d_unit"):
        TranslatorParams.from_params({k: v for k, v in translator.items() if k != "d_unit"}, "translator")
    with pytest.raises(SettingError, match=r"translator\.d_every must be int, got '5'"):
        TranslatorParams.from_params({**translator, "d_every": "5"}, "translator")
    with pytest.raises(SettingError, match=r"translator\.bf16 must be bool, got 1"):
        TranslatorParams.from_params({**translator, "bf16": 1}, "translator")
    assert TranslatorParams.from_params({**translator, "lr": 1}, "translator").lr == 1  # an int is a number
    info = raw["informativity"]
    with pytest.raises(SettingError, match=r"unknown param informativity\.class_match\.lr"):
        InformativityParams.from_params({**info, "class_match": {**info["class_match"], "lr": 0.1}}, "informativity")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({**raw, "translater": {}}))
    with pytest.raises(SettingError, match=r"unknown param translater"):
        load_sections(["translator"], tmp_path / "params.yaml")


def test_reading_an_undeclared_param_raises():
    params = StageParams({"translator": {"epochs": 3, "lr": 0.1}, "evaluate": {"seed": 0}}, ("translator.epochs", "evaluate"))
    assert params.translator.epochs == 3 and params["evaluate"] == {"seed": 0}
    assert dict(params.translator) == {"epochs": 3}
    with pytest.raises(UndeclaredParam, match=r"translator\.lr is read"):
        params.translator["lr"]
    with pytest.raises(UndeclaredParam, match=r"translator\.lr is read"):
        params.translator.get("lr", 0.5)
    with pytest.raises(UndeclaredParam, match="section 'data' is read"):
        params.data
    assert isinstance(params.translator, PartialSection)
    with pytest.raises(ValueError, match="has no key 'd_evry'"):
        read_names(("translator.d_evry",))


def test_a_float_without_a_dot_is_read_as_a_float(tmp_path):
    """`5e-05` is what json.dumps and a hand edit write and what DVC (YAML 1.2) reads as a float; PyYAML's
    YAML 1.1 rules made it the string '5e-05', and a strict section refused it (the CI failure of stop 28)."""
    text = PARAMS.read_text().replace("weight_decay: 5.0e-5", "weight_decay: 5e-05")
    assert "weight_decay: 5e-05" in text
    (tmp_path / "params.yaml").write_text(text.replace("  lr: 0.0003", "  lr: 3e-4"))
    informativity = load_sections(["informativity"], tmp_path / "params.yaml")["informativity"]
    assert informativity.weight_decay == 5e-05
    assert load_params(tmp_path / "params.yaml")["autoencoder"]["lr"] == 3e-4
    assert parse_value("5e-05") == 5e-05 and parse_value("1e4") == 10000.0
    assert parse_value("1.2.3") == "1.2.3" and parse_value("translation,cutout") == "translation,cutout"
    assert yaml.safe_load("5e-05") == "5e-05"  # the stock loader is left as it was
