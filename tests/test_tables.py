"""pipeline.core.tables: atomic writes take the umask of the moment, and importing never touches it (issue 22)."""

import os
import subprocess
import sys

import pytest
import torch
from torch import nn

from conftest import REPO
from pipeline.core.tables import write_text
from s2i_models.checkpoint import save_checkpoint


@pytest.fixture
def umask():
    """set(mask) for the rest of the test; the old mask comes back afterwards."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o077, 0o600), (0o002, 0o664), (0o022, 0o644)])
def test_atomic_writes_follow_the_umask_set_after_import(tmp_path, umask, mask, mode):
    umask(mask)
    write_text("x\n", tmp_path / "out.txt")
    save_checkpoint(tmp_path / "model.pt", models={"m": nn.Linear(1, 1)}, emb_dim=1, width=1.0, epoch=0, with_rng=False)
    assert (tmp_path / "out.txt").read_text() == "x\n"
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == mode
    assert (tmp_path / "model.pt").stat().st_mode & 0o777 == mode
    assert torch.load(tmp_path / "model.pt", weights_only=True)["epoch"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.pt", "out.txt"]  # no temp file left


def test_scratch_folders_follow_the_umask(tmp_path, umask):
    from pipeline.core.tables import new_scratch

    umask(0o027)
    folder = new_scratch(tmp_path, ".work.", ".tmp", folder=True)
    file = new_scratch(tmp_path, ".work.", ".tmp")
    assert folder.is_dir() and folder.stat().st_mode & 0o777 == 0o750
    assert file.is_file() and file.stat().st_size == 0 and file.stat().st_mode & 0o777 == 0o640
    assert folder.name.startswith(".work.") and folder.name.endswith(".tmp") and folder != file


WATCH_UMASK = """
import os, sys
calls = []
real = os.umask
os.umask = lambda mask: calls.append(mask) or real(mask)
import pipeline.core.tables, s2i_models.checkpoint
print(len(calls))
"""


def test_importing_never_sets_the_process_umask():
    """Another thread creating files during the import would get the temporary mask 0."""
    done = subprocess.run([sys.executable, "-c", WATCH_UMASK], cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "0"
