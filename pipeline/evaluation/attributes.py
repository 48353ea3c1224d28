"""Within-class detail on the demo world: does a translation's attribute meter follow its sound's ground truth?

Per class, the Spearman rank correlation between the demo world's attribute meter on each
test image (`demo_world.meters`) and the ground truth of that image's sound
(`demo_world.truth`, re-derived from the demo world's params). On the real test frames it is
the meter's own validity on the run; on translations it says whether the translator draws a
louder cry, bark, bang, passing train or water as the scene does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from pipeline.core.params import PARAMS_FILE, load_params
from pipeline.core.tables import CLASSES
from pipeline.demo_world.meters import measure_all
from pipeline.demo_world.truth import SegmentTruth

MIN_PAIRS = 3


def spearman(x, y) -> float | None:
    """Spearman's rho of two equal-length samples; None with fewer than MIN_PAIRS pairs or a constant side."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} values against {len(y)}")
    if len(x) < MIN_PAIRS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y)[0])


def attribute_correlations(images_u8: np.ndarray, classes: np.ndarray, truth: np.ndarray) -> dict:
    """{class name: Spearman of the class's meter on its images against their truth, or None}, plus "mean"
    over the classes that have one (None when none has)."""
    classes, truth = np.asarray(classes), np.asarray(truth, np.float64)
    if not len(images_u8) == len(classes) == len(truth):
        raise ValueError(f"attribute_correlations: {len(images_u8)} images, {len(classes)} classes, {len(truth)} truth values")
    meter = measure_all(images_u8, [CLASSES[c] for c in classes])
    out = {name: spearman(meter[classes == c], truth[classes == c]) for c, name in enumerate(CLASSES)}
    measured = [r for r in out.values() if r is not None]
    return {**out, "mean": float(np.mean(measured)) if measured else None}


def segment_truth(meta: list[dict], params: dict) -> np.ndarray:
    """Ground truth of each segment (shard `json`) of the demo world that params.yaml's `data.demo` renders."""
    demo = params["data"]["demo"]
    truth = SegmentTruth(demo["clips_per_class"], demo["seed"], demo["broken"], params["shards"]["frame_fps"])
    return np.asarray([truth(m) for m in meta], np.float64)


def run_correlations(meta: list[dict], classes: np.ndarray, images: dict[str, np.ndarray], params_file: str | Path = PARAMS_FILE) -> dict | None:
    """attribute_correlations of each named image set (one image per segment of `meta`), or None (with the
    reason printed) when the segments are not ones the demo world of params_file cut."""
    try:
        truth = segment_truth(meta, load_params(params_file))
    except (OSError, KeyError, ValueError) as err:
        print(f"evaluate: attribute correlations not measured: no demo-world ground truth ({err})")
        return None
    return {name: attribute_correlations(imgs, classes, truth) for name, imgs in images.items()}
