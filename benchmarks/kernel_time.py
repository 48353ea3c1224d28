"""How much of a training loop's wall time the device spends outside kernels, from torch.profiler.

    outside_kernels_fraction = 1 - (union of the device's busy intervals) / (wall time of the window)

On CUDA the busy intervals are the GPU's kernels, copies and memsets in the profiled window (overlaps
counted once); the rest is time the GPU waited on the CPU (Python, launches, host reads). On a CPU,
where there are no device kernels, they are the aten operators' intervals, and the rest is the
Python and framework time between them. The profiler's own overhead per operator inflates the
outside share a little: the result also gives the window's wall time per iteration, to be set
against the same iterations timed without the profiler.
"""

from __future__ import annotations

from typing import Callable, Iterable

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, record_function

WINDOW = "s2i_profiled_window"
METHODS = {
    "cuda": "1 - (union of the GPU's kernel, copy and memset intervals) / wall time of the profiled iterations",
    "cuda_kernel_sum": "1 - (sum of the GPU kernel durations the profiler attached to CPU ops) / wall time of the profiled iterations (no device intervals in the trace)",
    "cpu": "1 - (union of the aten operators' intervals) / wall time of the profiled iterations (CPU: no device kernels)",
}


def union_length(intervals: Iterable[tuple[float, float]]) -> float:
    """Total length covered by the intervals, overlaps counted once."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(intervals):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total


def clipped(intervals: Iterable[tuple[float, float]], start: float, stop: float) -> list[tuple[float, float]]:
    return [(max(a, start), min(b, stop)) for a, b in intervals if b > start and a < stop]


def outside_kernels(run: Callable[[], None], device: torch.device, iterations: int) -> dict:
    """Profile `run()` (which takes `iterations` loop iterations) and measure the share of its wall time
    that the device spends outside kernels (see the module docstring)."""
    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        with record_function(WINDOW):
            run()
            if cuda:
                torch.cuda.synchronize(device)
    events = prof.events()
    windows = [e for e in events if e.name == WINDOW and e.device_type == DeviceType.CPU]
    start, stop = windows[0].time_range.start, windows[0].time_range.end
    wall = stop - start
    annotations = {e.name for e in events if getattr(e, "is_user_annotation", False)} | {WINDOW}
    if cuda:
        device_events = [e for e in events if e.device_type == DeviceType.CUDA and e.name not in annotations and not getattr(e, "is_user_annotation", False)]
        if device_events:
            busy, method = union_length(clipped(((e.time_range.start, e.time_range.end) for e in device_events), start, stop)), "cuda"
        else:
            busy = sum(k.duration for e in events if e.device_type == DeviceType.CPU for k in e.kernels)
            method = "cuda_kernel_sum"
    else:
        ops = [(e.time_range.start, e.time_range.end) for e in events if e.device_type == DeviceType.CPU and e.name.startswith("aten::")]
        busy, method = union_length(clipped(ops, start, stop)), "cpu"
    busy = min(busy, wall)
    return {
        "outside_kernels_fraction": 1.0 - busy / wall if wall > 0 else None,
        "profiled_iteration_s": wall / 1e6 / iterations,
        "kernel_busy_s_per_iteration": busy / 1e6 / iterations,
        "outside_kernels_method": METHODS[method],
    }
