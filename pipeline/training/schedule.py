"""When the translator trains its discriminator and keeps generator snapshots (epochs, from its params)."""

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
