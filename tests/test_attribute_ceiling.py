"""benchmarks/attribute_ceiling.py on synthetic splits: a feature that encodes the truth linearly reads out near 1 in
every class, the same feature with its rows shuffled against the truth reads out near 0, and the table puts each
readout's figure in its own cell."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import attribute_ceiling  # noqa: E402

from pipeline.core.tables import CLASSES  # noqa: E402

SIZES = {"train": 60, "val": 20, "test": 21}


def splits(rng):
    classes = {s: np.repeat(np.arange(len(CLASSES)), n) for s, n in SIZES.items()}
    truth = {s: rng.random(len(c)) for s, c in classes.items()}
    mixing = rng.normal(size=(1, 16))
    encoded = {s: truth[s][:, None] @ mixing + 0.05 * rng.normal(size=(len(truth[s]), 16)) for s in SIZES}
    return classes, truth, encoded


def test_a_linear_code_of_the_truth_reads_out_and_a_shuffled_one_does_not():
    rng = np.random.default_rng(3)
    classes, truth, encoded = splits(rng)
    shuffled = {s: x[rng.permutation(len(x))] for s, x in encoded.items()}
    loudness = truth["test"] + 0.01 * rng.normal(size=len(truth["test"]))
    result = attribute_ceiling.ceilings({"encoded": encoded, "shuffled": shuffled}, classes, truth, loudness)
    assert list(result) == list(CLASSES)
    for row in result.values():
        assert row["encoded ridge"]["rho"] > 0.9
        low, high = row["encoded ridge"]["interval"]
        assert low <= row["encoded ridge"]["rho"] <= high
        assert abs(row["shuffled ridge"]["rho"]) < 0.6
        assert row["centre loudness"]["rho"] > 0.9
    assert np.mean([abs(row["shuffled ridge"]["rho"]) for row in result.values()]) < 0.35


def test_the_table_has_one_cell_per_readout_and_a_dash_for_none():
    row = {"a ridge": {"rho": 0.41, "interval": [0.1, 0.7]}, "centre loudness": {"rho": None, "interval": None}}
    lines = attribute_ceiling.table({"Dog": row}).splitlines()
    assert lines[0] == "| class | a ridge | centre loudness |"
    assert lines[2] == "| Dog | 0.41 (0.10 to 0.70) | — |"
