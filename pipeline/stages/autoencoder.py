"""Stage `autoencoder`: train the audio autoencoder on train-split log-Mels; keep the best val epoch.

    python -m pipeline.stages.autoencoder

Reads data/shards; writes models/autoencoder/{best.pt,last.pt} and dvclive logs
in models/autoencoder_live/. A killed run resumes from last.pt when the settings match.
"""

from __future__ import annotations

import sys

from pipeline.core.errors import exit_status
from pipeline.core.settings import stage_params
from pipeline.training.autoencoder import train

READS = ("emb_dim", "autoencoder")


def main() -> None:
    params = stage_params(READS)
    train(params.emb_dim, params.autoencoder)


if __name__ == "__main__":
    sys.exit(exit_status("autoencoder", main))
