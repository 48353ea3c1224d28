"""Stage files: checkpoint modes, damaged embeddings and labels files (issue 11)."""

import os

import numpy as np
import pytest
import torch
import yaml

from pipeline.commands import label
from pipeline.core.errors import InputFileError
from pipeline.stages import autoencoder, translator
from stage_fixtures import AE_PARAMS, DEFAULTS, TRANSLATOR_PARAMS, write_synthetic_shards


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    params = {
        "emb_dim": 16,
        "autoencoder": {**AE_PARAMS, "epochs": 1},
        "translator": TRANSLATOR_PARAMS,
        "informativity": {**DEFAULTS["informativity"], "seed": 0},
    }  # params sections are strict (no key missing)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def test_checkpoints_follow_the_umask(workspace):
    write_synthetic_shards(workspace)
    old = os.umask(0o022)
    try:
        autoencoder.main()
    finally:
        os.umask(old)
    for name in ("best.pt", "last.pt"):
        assert (workspace / "models/autoencoder" / name).stat().st_mode & 0o777 == 0o644


def test_checkpoints_are_byte_identical_across_runs(workspace, monkeypatch):
    """DVC caches a stage by its outputs' bytes: the same run twice must write the same files."""
    runs = []
    for run in ("a", "b"):
        folder = workspace / run
        folder.mkdir()
        (folder / "params.yaml").write_text((workspace / "params.yaml").read_text())
        monkeypatch.chdir(folder)
        write_synthetic_shards(folder)
        autoencoder.main()
        runs.append({name: (folder / "models/autoencoder" / name).read_bytes() for name in ("best.pt", "last.pt")})
    assert runs[0] == runs[1]


def test_damaged_embeddings_name_the_file_and_the_fix(workspace):
    folder = workspace / "data/embeddings"
    folder.mkdir(parents=True)
    (folder / "train.npz").write_bytes(b"PK\x03\x04 this is not a whole zip file")
    with pytest.raises(InputFileError) as stop:
        translator.main()
    message = str(stop.value)
    assert message.startswith("data/embeddings/train.npz: unreadable embeddings (BadZipFile: ")
    assert message.endswith("rebuild it with `dvc repro embed` (or `python -m pipeline.stages.embed`)")
    assert "\n" not in message
    np.savez(folder / "train.npz", keys=np.array(["a"]), emb=np.zeros((1, 16), np.float32))
    with pytest.raises(InputFileError, match=r"train.npz: embeddings lack arrays \['class_index'\]"):
        translator.main()


ROW = "img0001abcdef01,generator_00005.pt,Dog,informative,tester,2026-01-01T00:00:00Z"


@pytest.mark.parametrize(
    "body, problem",
    [
        ("\n" + ROW.replace("informative", "maybe") + "\n", "line 3: label 'maybe'"),
        (ROW + ",extra\n", "line 2: more fields than the 6 of the header"),
        ("\n\nimg0001abcdef01,generator_00005.pt,Dog\n", "line 4: fewer fields than the 6 of the header"),
    ],
)
def test_labels_csv_errors_give_the_real_line(body, problem, workspace, capsys):
    from pipeline.evaluation.labelsets import LABEL_COLUMNS

    csv_path = workspace / "labels.csv"
    csv_path.write_text(",".join(LABEL_COLUMNS) + "\n" + body)
    assert label.main(["--labels", str(csv_path), "--params", str(workspace / "params.yaml")]) == 1
    out = capsys.readouterr().out.strip()
    assert out.startswith(f"s2i label: {csv_path}: {problem}") and "\n" not in out
