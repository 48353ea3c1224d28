"""The demo generator's training pass with its resize layers folded (NearestUpConv) against the
textbook order (nearest x2, then the k3 conv) in the same process.

    python benchmarks/bench_resize_layer.py --width 0.125 --batch 16 --threads 2

Prints one "name: value" line per figure: the median forward+backward time of each order and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from s2i_models.generator import DenseGenerator, NearestUpConv


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=float, default=0.125)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    G = DenseGenerator(512, args.width, output_bn=False, upsample="resize")
    emb = torch.randn(args.batch, 512)
    folded = NearestUpConv.forward
    timings = {}
    for name, forward in (("textbook", NearestUpConv.plain_forward), ("folded", folded)):
        NearestUpConv.forward = forward
        timings[name] = median_ms(lambda: G(emb).mean().backward(), args.repeats)
    NearestUpConv.forward = folded
    for name, ms in timings.items():
        print(f"G forward+backward, {name} resize layers (ms): {ms:.1f}")
    print(f"folded / textbook: {timings['folded'] / timings['textbook']:.2f}")


if __name__ == "__main__":
    main()
