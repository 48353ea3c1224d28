"""Stage `evaluate`: every generator snapshot judged on the test split, the paper's summaries, figures, report.

    python -m pipeline.stages.evaluate

For each snapshot of the run (every `translator.snapshot_every`-th epoch and the
last) the test sounds (unknown videos) are translated with test-time dropout on,
and scored per class and on average:
- informativity: share of images that their own class's classifier calls informative
  (null for a class whose classifier could not be trained or is constant, with the
  reason; the mean covers the measured classes and says how many);
- class match: share a 5-way classifier trained on real frames puts in the sound's
  class (the paper warns this one is inflated; a contrast only);
- Frechet distance between generated and real test frames (torchmetrics), and retrieval
  accuracy (the nearest real train frame has the sound's class), both in the class-match
  classifier's feature space;
- diversity: mean absolute pixel difference between dropout samples of one sound;
- test pixel loss (MSE in [-1, 1]).
Summaries over epochs follow the paper: the 2 epochs after a discriminator update
take the mean of the 5 before, then the mean over an epoch window and the maximum
moving average. For the final generator also: memorisation (train sounds whose
output's nearest training frame comes from the sound's own video; test videos never
occur in training, so it is measured on train sounds) and three controls: the same
generator untrained, the final generator fed shuffled sounds (test embeddings
permuted, seeded), and a ridge regression from the same embeddings to pixels
(`pipeline.training.ridge`). Realism, for the final generator, the controls and real train frames (the
floor): Frechet distance and KID to real test frames; beside it the within-class spread of the
translations and of real test frames, and their mean distance to the nearest train frame, all in the
class-match features (`pipeline.evaluation.realism`). On the demo world the demo rater also judges the final
generator's and the controls' test images: its own informativity, and how often the
classifiers agree with it.
There also the attribute meters (`pipeline.demo_world.meters`) read the final generator's and the
ridge control's test images and the real test frames, and `attribute_correlation` gives per class
their Spearman correlation with the ground truth of each test sound (`pipeline.demo_world.truth`,
from `data.demo`).

Writes reports/metrics.json (DVC metrics), reports/plots/per_epoch.tsv (dvc plots),
reports/figures/*.png and reports/report.html.
"""

from __future__ import annotations

import json
import sys

from pipeline.core.errors import InputFileError, exit_status
from pipeline.core.settings import stage_params
from pipeline.evaluation.judging import run

# data.demo and shards.frame_fps: the demo world's ground truth (`pipeline.evaluation.attributes`, which
# reads them from params.yaml itself).
READS = ("evaluate", "translator.d_every", "translator.d_unit", "translator.snapshot_every", "translator.epochs", "informativity.rater_threshold", "data.demo", "shards.frame_fps")


def main() -> None:
    params = stage_params(READS)
    try:
        result = run(params.evaluate, params.translator, params.informativity.rater_threshold)
    except FileNotFoundError as err:  # an output of an earlier stage is missing
        raise InputFileError(str(err)) from err
    shown = ("informativity", "informativity_classes_covered", "class_match", "rater_informativity", "classifier_rater_agreement", "untrained", "shuffled", "ridge")
    print(json.dumps({k: result[k] for k in shown if k in result}, indent=1))


if __name__ == "__main__":
    sys.exit(exit_status("evaluate", main))
