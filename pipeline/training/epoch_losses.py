"""An epoch's per-step losses, held on the device until the epoch ends and read back in one copy.

The training steps return their losses as detached device tensors (`s2i_models.gan`); reading
each back with `.item()` would make the CPU wait for the GPU after every step. `EpochLosses`
keeps them as they come and turns them into Python floats once, with one device-to-host copy:
the floats are exactly those `.item()` would have given, so the epoch means logged from them
are the numbers the loops logged before.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import torch


class EpochLosses:
    """Rows of named 0-dim tensors, one row per step (a D step taken after a G step may join its row)."""

    def __init__(self):
        self.rows: list[dict[str, torch.Tensor]] = []

    def add(self, losses: Mapping[str, torch.Tensor]) -> None:
        self.rows.append(dict(losses))

    def join_last(self, losses: Mapping[str, torch.Tensor]) -> None:
        """Add `losses` to the last row (as the translator logs a D step after the G step of its batch)."""
        self.rows[-1].update(losses)

    def __len__(self) -> int:
        return len(self.rows)

    def floats(self) -> dict[str, list[float]]:
        """Every name's values in step order, as Python floats, from one device-to-host copy."""
        names = sorted({name for row in self.rows for name in row})
        cells = [(name, row[name]) for row in self.rows for name in names if name in row]
        if not cells:
            return {name: [] for name in names}
        # float32 -> float64 is exact, so these are the floats .item() gives for each value
        host = torch.stack([value.detach().reshape(()).double() for _, value in cells]).tolist()
        out: dict[str, list[float]] = {name: [] for name in names}
        for (name, _), value in zip(cells, host):
            out[name].append(value)
        return out

    def means(self) -> dict[str, float]:
        """Each name's mean over the steps that logged it (numpy's mean of the floats, as the loops took it)."""
        return {name: float(np.mean(values)) for name, values in self.floats().items()}
