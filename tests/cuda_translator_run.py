"""The translator stage in a workspace, on CUDA, deterministic, logging each epoch's metrics as a JSON line:

    python tests/cuda_translator_run.py ROOT EPOCHS LOG

A stand-in for dvclive (absent where the device image lacks it) appends every epoch's logged metrics
to LOG once the epoch's last.pt is written. cuDNN autotuning is off and torch's deterministic
algorithms are on (warn only), so that two runs on one GPU take the same steps and a resumed run can
be compared with an uninterrupted one; nothing else differs from the stage (test_cuda.py kills and
resumes it).
"""

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

import torch  # noqa: E402

from pipeline.core.paths import live_plots  # noqa: E402
from pipeline.training import distributed, translator  # noqa: E402
from stage_fixtures import TRANSLATOR_PARAMS  # noqa: E402


class JsonLinesLive:
    """Logs each epoch as a JSON line to `path`; keeps the plots folder dvclive would write, which a
    resumed run looks for (pipeline.training.runs.resumable)."""

    def __init__(self, path: Path, live_dir: Path):
        self.path, self.metrics = path, {}
        self.plots = live_plots(live_dir)

    def log_metric(self, name, value, plot=True):
        self.metrics[name] = value

    def next_step(self):
        self.plots.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(self.metrics) + "\n")
        self.metrics = {}

    def end(self):
        pass


def deterministic_kernels(device):
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True


def main(root: str, epochs: str, log: str) -> None:
    os.chdir(root)
    torch.use_deterministic_algorithms(True, warn_only=True)
    distributed.open_live = lambda live_dir, resume: JsonLinesLive(Path(log), live_dir)
    translator.enable_fast_kernels = deterministic_kernels
    translator.train({**TRANSLATOR_PARAMS, "epochs": int(epochs), "snapshot_every": 100})


if __name__ == "__main__":
    main(*sys.argv[1:])
