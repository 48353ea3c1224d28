"""Stage `translator`: the conditional GAN from sound embeddings to 96x96 images.

    python -m pipeline.stages.translator

Reads data/embeddings and the images in data/shards; writes
models/translator/{generator.pt,discriminator.pt,last.pt,snapshots/,test_grid.png}
and dvclive logs in models/translator_live/. A killed run resumes from last.pt.
"""

from __future__ import annotations

import sys

from pipeline.core.errors import exit_status
from pipeline.core.settings import stage_params
from pipeline.training.translator import train

READS = ("translator",)


def main() -> None:
    train(stage_params(READS).translator)


if __name__ == "__main__":
    sys.exit(exit_status("translator", main))
