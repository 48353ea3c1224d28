"""Random streams of their own for code that draws from torch's global generators.

Dropout, weight initialisation and `randperm` without a generator draw from torch's global CPU generator
(and the CUDA device's). A library function that called `torch.manual_seed` would change the stream of
every other caller in the process. Instead:

    with RandomStream(seed, device):        # seeded as torch.manual_seed(seed) would
        images = generator(embeddings)      # the same dropout masks as after torch.manual_seed(seed)

inside the block the global generators of the CPU and of `device` (a CUDA device) continue the stream;
on leaving, the caller's generator states are back as if the block drew nothing, and the stream keeps its
place, so a long-lived stream (one per server) goes on where it stopped on the next `with`.
A stream is for one block at a time; the global state it borrows is the process's, so concurrent torch
draws in another thread during the block would interleave with it.
"""

from __future__ import annotations

import torch


class RandomStream:
    def __init__(self, seed: int, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self._cpu = torch.Generator().manual_seed(int(seed)).get_state()
        self._cuda = torch.Generator(self.device).manual_seed(int(seed)).get_state() if self.device.type == "cuda" else None
        self._fork = None

    def __enter__(self) -> "RandomStream":
        if self._fork is not None:
            raise RuntimeError("a RandomStream is for one block at a time")
        self._fork = torch.random.fork_rng(devices=[self.device] if self._cuda is not None else [])
        self._fork.__enter__()
        torch.set_rng_state(self._cpu)
        if self._cuda is not None:
            torch.cuda.set_rng_state(self._cuda, self.device)
        return self

    def __exit__(self, *exc) -> None:
        self._cpu = torch.get_rng_state()
        if self._cuda is not None:
            self._cuda = torch.cuda.get_rng_state(self.device)
        fork, self._fork = self._fork, None
        fork.__exit__(*exc)
