"""When the translator trains its discriminator, keeps generator snapshots and lowers its learning rate (epochs, from its params)."""

from __future__ import annotations


def d_update_epochs(last_epoch: int, every: int, unit: str = "epoch") -> list[int]:
    """Epochs after which the discriminator trained (only unit "epoch" has such epochs)."""
    if unit not in ("epoch", "iteration"):
        raise ValueError(f"unknown discriminator unit {unit!r}")
    if unit == "iteration":
        return []
    return list(range(every, last_epoch + 1, every))


def snapshot_epochs(last_epoch: int, snapshot_every: int, d_every: int, d_unit: str) -> list[int]:
    """The epochs whose generator the translator keeps: every `snapshot_every`-th, the last, and,
    with epoch-unit discriminator passes, the epoch after each pass that lands on a snapshot,
    so the paper's post-update correction has an epoch to replace and one to average."""
    regular = set(range(snapshot_every, last_epoch + 1, snapshot_every)) | {last_epoch}
    after = {d + 1 for d in d_update_epochs(last_epoch, d_every, d_unit) if d in regular}
    return sorted(e for e in regular | after if e <= last_epoch)


def translator_snapshots(translator_p: dict) -> list[int]:
    """`snapshot_epochs` for the translator stage's params."""
    return snapshot_epochs(translator_p["epochs"], translator_p["snapshot_every"], translator_p["d_every"], translator_p["d_unit"])


def lr_factor(epoch: int, epochs: int, decay: float) -> float:
    """The learning-rate multiplier of `epoch` (1-based) in a run of `epochs`: 1, then over the last `decay`
    share of the epochs a linear fall that would reach 0 one epoch after the last (pix2pix's schedule; decay 0:
    always 1, the paper)."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"lr_decay must be in [0, 1], got {decay}")
    falling = round(decay * epochs)
    if epoch <= epochs - falling:
        return 1.0
    return (epochs + 1 - epoch) / (falling + 1)
