"""What pixel MSE alone can draw: the demo rater on each class's mean train frame (the image that
minimises pixel MSE for the class) beside its real frames.

    .venv/bin/python benchmarks/ablation/mean_frames.py [SHARD_DIR]     # default data/shards
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from pipeline.core.tables import CLASSES  # noqa: E402
from pipeline.dataset.loader import load_split  # noqa: E402
from pipeline.demo_world import rater  # noqa: E402


def foam_share(img: np.ndarray) -> float:
    h, s, v = rater._hsv(img)
    return float(rater._masks(h, s, v)["foam"].mean())


def main(shard_dir: str = "data/shards") -> None:
    split = load_split(shard_dir, "train")
    print("| class | real frames: foam share / rater informative | the class's mean frame: rater score / foam share |")
    print("|---|---|---|")
    for c, name in enumerate(CLASSES):
        frames = split.images[split.class_index == c]
        mean = frames.astype(np.float32).mean(0).round().astype(np.uint8)
        informative = np.mean([rater.is_informative(f, name) for f in frames])
        print(f"| {name} | {np.mean([foam_share(f) for f in frames]):.2f} / {informative:.2f} | "
              f"{rater.rate_image(mean, name):.2f} / {foam_share(mean):.3f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
