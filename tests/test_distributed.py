"""Data-parallel training on CPU with gloo: 2 processes launched by torchrun, as a user launches them."""

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.training import launch
from pipeline.training.distributed import Ranks, context

sys.path.insert(0, str(Path(__file__).parent))
from ddp_scenarios import SCENARIOS  # noqa: E402

TESTS = Path(__file__).resolve().parent


def torchrun_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS.parent)}


def max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a if a[k].is_floating_point())


@pytest.fixture(scope="module")
def two_rank_weights(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "weights.pt"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(TESTS / "ddp_worker.py"), str(out)],
        env=torchrun_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("scenario,model", [("plain", "model"), ("gan_sync_bn", "generator"), ("gan_sync_bn", "discriminator"), ("classifier", "classifier")])
def test_two_ranks_of_batch_8_equal_one_process_of_batch_16(two_rank_weights, scenario, model, one_thread):
    assert not context().distributed
    single = SCENARIOS[scenario](context())
    assert max_difference(two_rank_weights[scenario][model], single[model]) < 1e-5
    assert max_difference(single[model], single[f"{model}/start"]) > 1e-3  # the steps moved the weights


def test_batchnorm_per_process_differs_from_the_global_batch(two_rank_weights):
    """sync_bn false normalises each rank's 8 samples on their own (like nn.DataParallel): other weights."""
    synced, per_process = two_rank_weights["gan_sync_bn"], two_rank_weights["gan_per_process_bn"]
    assert max_difference(synced["generator"], per_process["generator"]) > 1e-4


def test_ranks_come_from_torchrun_variables():
    assert Ranks.from_env({}) == Ranks(0, 1, 0)
    assert Ranks.from_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == Ranks(3, 4, 1)
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        Ranks.from_env({"WORLD_SIZE": "two"})
    with pytest.raises(ValueError, match="RANK 4 does not fit WORLD_SIZE 4"):
        Ranks.from_env({"RANK": "4", "WORLD_SIZE": "4"})


def test_launcher_rejects_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        launch.main(["--nproc", "0", "pipeline.stages.translator"])
    assert "--nproc must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        launch.main(["--nproc", "2", "pipeline.stages.acquire"])
    assert "invalid choice" in capsys.readouterr().err


def translator_workspace(root: Path, epochs: int) -> Path:
    """Synthetic shards, embeddings of matching keys and a params.yaml for 2-process training."""
    import numpy as np

    from pipeline.dataset.loader import load_split
    from stage_fixtures import write_synthetic_shards

    root.mkdir(exist_ok=True)
    write_synthetic_shards(root)
    rng = np.random.default_rng(0)
    (root / "data" / "embeddings").mkdir(parents=True)
    for split in ("train", "val", "test"):
        arrays = load_split(root / "data" / "shards", split)
        np.savez(
            root / "data" / "embeddings" / f"{split}.npz",
            keys=np.asarray(arrays.keys),
            emb=rng.uniform(-1, 1, (len(arrays.keys), 32)).astype(np.float32),
            class_index=arrays.class_index,
        )
    set_epochs(root, epochs)
    return root


def set_epochs(root: Path, epochs: int) -> None:
    import yaml

    from stage_fixtures import TRANSLATOR_PARAMS

    params = {**TRANSLATOR_PARAMS, "nproc": 2, "epochs": epochs, "snapshot_every": 100}
    (root / "params.yaml").write_text(yaml.safe_dump({"translator": params}))


def launch_translator(root: Path, log: str) -> subprocess.Popen:
    with open(root / log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "pipeline.training.launch", "--nproc", "2", "pipeline.stages.translator"], cwd=root, env=torchrun_env(), stdout=out, stderr=subprocess.STDOUT
        )


def finish(proc: subprocess.Popen, root: Path, log: str) -> str:
    proc.wait(timeout=300)
    text = (root / log).read_text()
    assert proc.returncode == 0, text[-4000:]
    return text


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (torchrun starts each worker in a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        todo += children.get(tree[-1], [])
    return tree


def test_killed_two_process_translator_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    import signal
    import time

    from s2i_models import CheckpointError, load_checkpoint

    killed = translator_workspace(tmp_path / "killed", epochs=1000)
    proc = launch_translator(killed, "first.log")
    last, deadline, epoch = killed / "models" / "translator" / "last.pt", time.monotonic() + 240, 0
    try:
        while epoch < 2:
            assert proc.poll() is None, (killed / "first.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "no checkpoint after epoch 2"
            time.sleep(0.1)
            try:
                epoch = load_checkpoint(last)["epoch"]
            except CheckpointError:
                pass
    finally:
        for pid in process_tree(proc.pid):  # torchrun and both workers, mid-run
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
    stopped = load_checkpoint(last)["epoch"]
    assert not (killed / "models" / "translator" / "generator.pt").exists()
    epochs = stopped + 2

    set_epochs(killed, epochs)
    log = finish(launch_translator(killed, "resumed.log"), killed, "resumed.log")
    assert f"resuming from models/translator/last.pt after epoch {stopped}" in log
    straight = translator_workspace(tmp_path / "straight", epochs=epochs)
    finish(launch_translator(straight, "straight.log"), straight, "straight.log")

    for name in ("generator", "discriminator"):
        resumed = load_checkpoint(killed / "models" / "translator" / f"{name}.pt")
        reference = load_checkpoint(straight / "models" / "translator" / f"{name}.pt")
        assert resumed["epoch"] == reference["epoch"] == epochs
        for key, tensor in reference["models"][name].items():
            torch.testing.assert_close(resumed["models"][name][key], tensor, msg=f"{name} {key}")
    # one writer: one dvclive row per epoch, the test grid from rank 0
    steps = (straight / "models/translator_live/plots/metrics/train/g_pixel.tsv").read_text().splitlines()
    assert len(steps) == 1 + epochs
    assert (straight / "models" / "translator" / "test_grid.png").stat().st_size > 1000


def test_a_checkpoint_of_another_process_count_is_not_resumed(tmp_path, capsys):
    from pipeline.training.distributed import Context
    from s2i_models import save_checkpoint
    from s2i_models.checkpoint import rng_state

    last = tmp_path / "models" / "last.pt"
    save_checkpoint(last, models={"model": torch.nn.Linear(2, 2)}, emb_dim=0, width=1.0, epoch=3, extra={"settings": "abc", "rank_rng": [rng_state(), rng_state()]})
    (tmp_path / "models" / "snapshot.pt").write_bytes(b"old run")
    one_process = Context(Ranks(), torch.device("cpu"))
    assert one_process.resumable(last, "abc", epochs=5) is None
    assert "written by a run of 2 processes, this one has 1" in capsys.readouterr().out
    assert list((tmp_path / "models").iterdir()) == []
