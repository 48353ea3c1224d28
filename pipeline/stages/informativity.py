"""Stage `informativity`: the five per-class binary classifiers, and the 5-way class-match classifier.

    python -m pipeline.stages.informativity

Reads the generator snapshots of the run (`translator.snapshot_every`,
`translator.epochs`), data/embeddings/val.npz (the pool translates validation
sounds only; evaluate judges the test sounds), the train/val frames in
data/shards and data/labels/informativity.csv (human labels; when it has none
and data/acquire.json says the data are the demo world's, the demo rater labels
the pool instead). Writes models/informativity/: <class_code>.pt (binary
classifiers), class_match.pt (5-way, real train frames), sets.csv (which image
went where, with its label and source video); models/informativity_metrics.json
(classifier accuracies, a DVC metric).

A class whose labels allow no classifier set split by source video, or whose
classifier says the same on every image of its set, is unmeasured: its
checkpoint records the reason and evaluate reports its informativity as null.
"""

from __future__ import annotations

import json
import sys

from pipeline.core.errors import InputFileError, exit_status
from pipeline.core.settings import stage_params
from pipeline.evaluation.classifiers import run

READS = ("informativity", "translator.snapshot_every", "translator.epochs", "translator.d_every", "translator.d_unit")


def main() -> None:
    try:
        params = stage_params(READS)
        report = run(params.informativity, params.translator)
    except FileNotFoundError as err:  # an output of an earlier stage is missing
        raise InputFileError(str(err)) from err
    print(json.dumps({k: report[k] for k in ("label_source", "mean_accuracy", "classes_measured", "class_match")}, indent=1))


if __name__ == "__main__":
    sys.exit(exit_status("informativity", main))
