"""Data-parallel training on CPU with gloo: 2 processes launched by torchrun, as a user launches them."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline import launch
from pipeline.distributed import Ranks, context

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
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
                           str(TESTS / "ddp_worker.py"), str(out)], env=torchrun_env(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return torch.load(out, weights_only=True)


@pytest.mark.parametrize("scenario,model", [("plain", "model"), ("gan_sync_bn", "generator"),
                                            ("gan_sync_bn", "discriminator"), ("classifier", "classifier")])
def test_two_ranks_of_batch_8_equal_one_process_of_batch_16(two_rank_weights, scenario, model, one_thread):
    assert not context().distributed
    single = SCENARIOS[scenario](context())
    assert max_difference(two_rank_weights[scenario][model], single[model]) < 1e-5
    assert max_difference(single[model], single[f"{model}/start"]) > 1e-3   # the steps moved the weights


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
        launch.main(["--nproc", "0", "pipeline.translator"])
    assert "--nproc must be >= 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        launch.main(["--nproc", "2", "pipeline.acquire"])
    assert "invalid choice" in capsys.readouterr().err
