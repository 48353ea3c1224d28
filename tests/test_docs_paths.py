"""Every repository path and pipeline module that README.md and docs/*.md name exists (issue 22).

What counts as a path:
- the target of a Markdown link [text](target) that is not a URL or an in-page anchor, relative to the
  file that holds the link; an #anchor into a .md file must be one of its headings (GitHub's slugs);
- a backticked word without spaces that has a slash or is a top-level file, and starts with a top-level
  folder or file of the repository (`pipeline/...`, `tests/...`, `dvc.yaml`, ...), relative to the root;
- a backticked dotted module name `pipeline.x.y` or `s2i_models.x` (optionally followed by a name defined
  in that module: `pipeline.core.errors.S2IError`), or `python -m pipeline.x.y` in a code line.
Skipped: URLs, words with placeholders (`*`, `<`, `{`, `NNN`, `...`, `$`), and outputs that a run writes
(under data/, models/, reports/): those must be, lie inside or hold an output, dep or metric of dvc.yaml,
or exist.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
GENERATED = ("data/", "models/", "reports/")
TOP_LEVEL = {p.name for p in REPO.iterdir() if not p.name.startswith(".")} | {".ci", ".dvc"} | {g.rstrip("/") for g in GENERATED}
PLACEHOLDER = re.compile(r"[*<>{}$]|NNN|\.\.\.|\bX\b")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
BACKTICKED = re.compile(r"`([^`\s]+)`")
MODULE = re.compile(r"^(?:pipeline|s2i_models)(?:\.[A-Za-z_][A-Za-z0-9_]*)+$")
RUN_MODULE = re.compile(r"python -m ((?:pipeline|s2i_models)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")


def dvc_paths() -> set[str]:
    """Every out, metric, plot and dep that dvc.yaml declares."""
    found = set()
    for stage in yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"].values():
        for key in ("outs", "metrics", "plots", "deps"):
            for entry in stage.get(key, []):
                found |= set(entry) if isinstance(entry, dict) else {entry}
    return {p.rstrip("/") for p in found}


def module_problem(name: str, module_only: bool = False) -> str | None:
    """None when `name` is a module of the repository, or (unless `module_only`) a name defined at the top of one."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        base = REPO.joinpath(*parts[:cut])
        for file in (base.with_suffix(".py"), base / "__init__.py"):
            if file.is_file():
                rest = parts[cut:]
                if not rest:
                    return None
                if module_only:
                    return "no such module"
                if len(rest) == 1 and rest[0] in top_level_names(file):
                    return None
                return f"{'.'.join(rest)} is not defined in {file.relative_to(REPO)}"
    return "no such module"


def top_level_names(file: Path) -> set[str]:
    names = set()
    for node in ast.parse(file.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names


def heading_slugs(markdown: Path) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown file."""
    slugs = set()
    for line in markdown.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


def path_problem(relative: str, base: Path, declared: set[str]) -> str | None:
    """None when `relative` (from `base`) names something that exists or that a run writes."""
    target = (base / relative).resolve()
    if target.exists():
        return None
    try:
        inside = target.relative_to(REPO).as_posix()
    except ValueError:
        return "outside the repository"
    if inside.startswith(GENERATED) and any(inside == d or inside.startswith(d + "/") or d.startswith(inside + "/") for d in declared):
        return None  # written by a stage (dvc.yaml): an output, inside one, or a folder holding one
    return "no such file or folder" + (" (and not inside an output of dvc.yaml)" if inside.startswith(GENERATED) else "")


def problems_in(text: str, doc: Path, declared: set[str]) -> list[str]:
    """`doc: line N: `path`: reason` for every named path or module that does not exist."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{doc.name}: line {number}"
        for target in LINK.findall(line):
            if "://" in target or target.startswith(("#", "mailto:")):
                continue
            relative, _, anchor = target.partition("#")
            problem = path_problem(relative, doc.parent, declared) if relative else None
            if not problem and anchor and relative.endswith(".md") and anchor not in heading_slugs(doc.parent / relative):
                problem = f"no heading #{anchor} in {relative}"
            if problem:
                found.append(f"{where}: link ({target}): {problem}")
        for module in RUN_MODULE.findall(line):
            problem = module_problem(module, module_only=True)
            if problem:
                found.append(f"{where}: `python -m {module}`: {problem}")
        for word in BACKTICKED.findall(line):
            word = word.rstrip(".,;:")
            if "://" in word or PLACEHOLDER.search(word):
                continue
            if MODULE.match(word):
                problem = module_problem(word)
            elif word.split("/")[0] in TOP_LEVEL and ("/" in word or (REPO / word).suffix):
                problem = path_problem(word, REPO, declared)
            else:
                continue
            if problem:
                found.append(f"{where}: `{word}`: {problem}")
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_named_path_exists(doc):
    assert problems_in(doc.read_text(), doc, dvc_paths()) == []


def test_a_wrong_path_module_or_link_is_found():
    """The check on a deliberately broken copy of the README: each kind of pointer, once right, once wrong."""
    readme = REPO / "README.md"
    broken = "\n".join(
        [
            "See `pipeline/sources/ledger.py` and `pipeline/sources/leger.py`.",
            "Run `python -m pipeline.stages.acquire`, not python -m pipeline.stages.fetch.",
            "`pipeline.core.errors.S2IError` is raised, `pipeline.core.errors.ExitError` is not; `s2i_models.rng` holds streams.",
            "[the data](docs/data.md#stages), [gone](docs/nothing.md), [web](https://dvc.org), [no](docs/data.md#stagez).",
            "A run writes `data/raw/ledger.parquet` and `models/translator/generator.pt`, never `reports/nowhere.txt`.",
            "Placeholders are skipped: `data/shards/{train,val,test}-NNNNNN.tar`, `pipeline/stages/<stage>.py`.",
        ]
    )
    assert problems_in(broken, readme, dvc_paths()) == [
        "README.md: line 1: `pipeline/sources/leger.py`: no such file or folder",
        "README.md: line 2: `python -m pipeline.stages.fetch`: no such module",
        "README.md: line 3: `pipeline.core.errors.ExitError`: ExitError is not defined in pipeline/core/errors.py",
        "README.md: line 4: link (docs/nothing.md): no such file or folder",
        "README.md: line 4: link (docs/data.md#stagez): no heading #stagez in docs/data.md",
        "README.md: line 5: `reports/nowhere.txt`: no such file or folder (and not inside an output of dvc.yaml)",
    ]
