"""The layout: pipeline/stages holds exactly the DAG, each stage's deps cover the code it imports,
libraries never import a stage or a command, and each package says what it holds and may import."""

import ast
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipeline"
LIBRARIES = sorted(p.name for p in PIPELINE.iterdir() if (p / "__init__.py").exists() and p.name not in ("stages", "commands"))


def module_file(module: str) -> Path | None:
    path = REPO / module.replace(".", "/")
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def pipeline_imports(path: Path) -> set[Path]:
    """Files of the pipeline modules and packages that `path` imports (absolute or relative)."""
    parts = path.relative_to(REPO).with_suffix("").parts
    package = parts[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".") if node.module else []
            if node.level:
                base = list(package[: len(package) - node.level + 1]) + base
            if not base or base[0] != "pipeline":
                continue
            for i in range(1, len(base) + 1):
                found.add(module_file(".".join(base[:i])))
            for alias in node.names:
                found.add(module_file(".".join(base + [alias.name])))
        elif isinstance(node, ast.Import):
            found |= {module_file(a.name) for a in node.names if a.name.startswith("pipeline")}
    return {f for f in found if f is not None}


def closure(start: Path) -> set[Path]:
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path not in seen:
            seen.add(path)
            todo += pipeline_imports(path)
    return seen


def is_docstring_only(path: Path) -> bool:
    return all(isinstance(node, ast.Expr) for node in ast.parse(path.read_text()).body)


def dvc_stages() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def test_stages_folder_lists_exactly_the_dag():
    modules = {p.stem for p in (PIPELINE / "stages").glob("*.py") if p.name != "__init__.py"}
    assert modules == set(dvc_stages())
    for name, stage in dvc_stages().items():
        assert f"pipeline.stages.{name}" in stage["cmd"], stage["cmd"]


def test_each_stage_lists_the_code_it_imports():
    for name, stage in dvc_stages().items():
        deps = [REPO / d for d in stage["deps"]]
        needed = {p for p in closure(PIPELINE / "stages" / f"{name}.py") if not (p.name == "__init__.py" and is_docstring_only(p))}
        missing = [str(p.relative_to(REPO)) for p in needed if not any(p == d or d in p.parents for d in deps)]
        assert not missing, f"stage {name}: deps lack {sorted(missing)}"


def stage_code_deps_without_use(stage: dict, stage_file: Path) -> list[str]:
    """The pipeline files and folders among a stage's deps that neither the stage nor its cmd's runner imports."""
    runners = [module_file(word) for word in stage["cmd"].split() if word.startswith("pipeline.")]
    used = set().union(*(closure(f) for f in [stage_file, *runners] if f is not None))
    return [d for d in stage["deps"] if d.startswith("pipeline") and not any(REPO / d == p or REPO / d in p.parents for p in used)]


def test_each_stage_lists_only_code_it_runs():
    for name, stage in dvc_stages().items():
        extra = stage_code_deps_without_use(stage, PIPELINE / "stages" / f"{name}.py")
        assert not extra, f"stage {name}: deps list code it never imports {extra}"


def test_a_dep_on_code_the_stage_does_not_import_is_caught():
    stage = dict(dvc_stages()["embed"])
    stage["deps"] = [*stage["deps"], "pipeline/training/translator.py"]
    assert stage_code_deps_without_use(stage, PIPELINE / "stages" / "embed.py") == ["pipeline/training/translator.py"]


def test_libraries_import_no_stage_and_no_command():
    for package in LIBRARIES:
        for path in (PIPELINE / package).rglob("*.py"):
            bad = [p for p in pipeline_imports(path) if p.parent.name in ("stages", "commands")]
            assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_commands_import_no_stage():
    for path in (PIPELINE / "commands").glob("*.py"):
        bad = [p for p in pipeline_imports(path) if p.parent.name == "stages"]
        assert not bad, f"{path.relative_to(REPO)} imports {bad}"


def test_each_package_says_what_it_holds_and_may_import():
    for package in [PIPELINE, *[PIPELINE / name for name in LIBRARIES + ["stages", "commands"]]]:
        doc = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert doc, f"{package.relative_to(REPO)}/__init__.py has no docstring"
        where = package.relative_to(REPO)
        assert "import" in doc.split("\n\n")[0].lower(), f"{where}: the first paragraph must say what it may import"
