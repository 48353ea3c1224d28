"""Checkpoints are versioned artifacts: push to the remote, lose the cache, pull them back byte-identical."""

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from stage_fixtures import AE_PARAMS, write_synthetic_shards

REPO = Path(__file__).resolve().parents[1]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*args, cwd):
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def test_default_remote_is_a_folder_outside_the_repo():
    config = (REPO / ".dvc" / "config").read_text()
    assert "remote = local" in config
    url = config.split("url = ")[1].split()[0]
    remote = (REPO / ".dvc" / url).resolve()
    assert not remote.is_relative_to(REPO)


def test_push_clear_cache_pull_gives_identical_checkpoints(tmp_path):
    work, remote = tmp_path / "work", tmp_path / "remote"
    work.mkdir()
    shutil.copy(REPO / "dvc.yaml", work)
    shutil.copytree(REPO / "pipeline", work / "pipeline")
    shutil.copytree(REPO / "s2i_models", work / "s2i_models")
    params = yaml.safe_load((REPO / "params.yaml").read_text())  # dvc.yaml's ${...} need every section
    params.update(emb_dim=16, autoencoder={**AE_PARAMS, "epochs": 1})
    (work / "params.yaml").write_text(yaml.safe_dump(params))
    write_synthetic_shards(work)
    dvc = [sys.executable, "-m", "dvc"]
    run("git", "init", "-q", cwd=work)
    run(*dvc, "init", "-q", cwd=work)
    run(*dvc, "remote", "add", "-d", "local", str(remote), cwd=work)
    run("git", "add", "-A", cwd=work)
    run("git", "commit", "-qm", "project", cwd=work)
    run(*dvc, "repro", "--single-item", "autoencoder", cwd=work)
    ckpts = sorted((work / "models" / "autoencoder").glob("*.pt"))
    assert [p.name for p in ckpts] == ["best.pt", "last.pt"]
    before = {p.name: sha(p) for p in ckpts}
    run(*dvc, "push", "autoencoder", cwd=work)
    shutil.rmtree(work / ".dvc" / "cache")
    shutil.rmtree(work / "models" / "autoencoder")
    run(*dvc, "pull", "autoencoder", cwd=work)
    assert {p.name: sha(p) for p in sorted((work / "models" / "autoencoder").glob("*.pt"))} == before
