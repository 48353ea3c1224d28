"""Run a training stage on `--nproc` processes: in this process when 1, under torchrun otherwise.

    python -m pipeline.training.launch --nproc 4 pipeline.stages.translator

dvc.yaml calls the training stages this way with their `nproc` param, so that
`dvc exp run -S translator.nproc=4` trains on four GPUs (or four CPU processes
with gloo when there is no GPU) and nproc 1 runs the stage exactly as
`python -m pipeline.stages.translator` does. Several machines: run torchrun yourself
(docs/distributed.md).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys

import torch

STAGES = ("pipeline.stages.autoencoder", "pipeline.stages.translator", "pipeline.stages.informativity")


def torchrun_command(nproc: int, module: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", "-m", module]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nproc", type=int, default=1, help="processes on this machine (one per GPU)")
    parser.add_argument("stage", choices=STAGES)
    args = parser.parse_args(argv)
    if args.nproc < 1:
        parser.error(f"--nproc must be >= 1, got {args.nproc}")
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus and args.nproc > gpus:
        parser.error(f"--nproc {args.nproc} asks for more processes than the {gpus} visible GPUs")
    if args.nproc == 1:
        sys.argv = [args.stage]
        runpy.run_module(args.stage, run_name="__main__", alter_sys=True)
        return
    sys.stdout.flush()
    os.execv(sys.executable, torchrun_command(args.nproc, args.stage))


if __name__ == "__main__":
    main()
