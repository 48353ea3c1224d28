"""What the training stages share: settings digests, resumable checkpoints, dvclive logs."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from s2i_models import CheckpointError, load_checkpoint

from pipeline.core.paths import live_plots


def digest(settings: dict) -> str:
    """Fingerprint of the settings a checkpoint was trained with (resume only on a match).

    The epoch count is left out: a longer run continues a shorter one.
    """
    kept = {k: v for k, v in settings.items() if k != "epochs"}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()[:16]


def resumable(path: Path, settings_digest: str, epochs: int, clear: bool = True, live_dir: Path | None = None) -> dict | None:
    """The last checkpoint if it was written under the same settings, else None.

    With `live_dir`, also None when that folder holds no dvclive plots: the logs of the epochs the
    checkpoint has done are gone (DVC restored the model folder from its cache, or someone deleted
    them), and a resumed run would leave the stage's plots without those epochs, or missing
    altogether when the run had finished. Training again from the start gives the same weights.
    Without a checkpoint (and with `clear`), the folder of `path` is emptied: the stage output
    is persistent (so that a killed run can resume) and must not keep another run's files.
    """
    ckpt = _matching_checkpoint(path, settings_digest)
    if ckpt is not None and ckpt["epoch"] > epochs:
        print(f"not resuming: {path} is past epoch {epochs}")
        ckpt = None
    if ckpt is not None and live_dir is not None and not live_plots(live_dir).is_dir():
        print(f"not resuming: {live_dir} holds no logs of the epochs in {path}")
        ckpt = None
    if ckpt is None and clear:
        start_fresh(path)
    return ckpt


def start_fresh(path: Path) -> None:
    """Empty the output folder of checkpoint `path` (another run's files must not stay)."""
    shutil.rmtree(path.parent, ignore_errors=True)
    path.parent.mkdir(parents=True)


def _matching_checkpoint(path: Path, settings_digest: str) -> dict | None:
    if not path.exists():
        return None
    try:
        ckpt = load_checkpoint(path)
    except CheckpointError as err:
        print(f"not resuming: {err}")
        return None
    if ckpt["extra"].get("settings") != settings_digest:
        print(f"not resuming: {path} was trained with other settings")
        return None
    print(f"resuming from {path} after epoch {ckpt['epoch']}")
    return ckpt


def open_live(live_dir: Path, resume: bool):
    """dvclive logger writing metrics.json and plots/metrics/*.tsv under live_dir."""
    from dvclive import Live

    return Live(dir=str(live_dir), resume=resume, save_dvc_exp=False, dvcyaml=False, report=None)


def files_digest(paths) -> str:
    """Content fingerprint of a stage's input files, so a checkpoint of other data is never resumed."""
    h = hashlib.sha256()
    for path in sorted(str(p) for p in paths):
        h.update(path.encode())
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]
