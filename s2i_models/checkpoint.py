"""Checkpoints: state_dicts + plain metadata, written atomically, read with weights_only=True."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

FORMAT = "s2i-checkpoint-1"
PLAIN_TYPES = (str, int, float, bool, type(None))


class CheckpointError(ValueError):
    pass


def _check_plain(value: Any, where: str) -> None:
    """Metadata must load under weights_only=True: plain values, lists, dicts, tensors."""
    if isinstance(value, PLAIN_TYPES) or isinstance(value, torch.Tensor):
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"checkpoint metadata {where}: key {key!r} is not str/int")
            _check_plain(item, f"{where}.{key}")
        return
    raise TypeError(f"checkpoint metadata {where}: {type(value).__name__} is not a plain value")


def rng_state() -> dict[str, Any]:
    """The torch CPU and CUDA generator states: the only global streams training draws from (a run's
    `RandomStream` lends them its own state, so these are the run's, not the caller's). Python's and NumPy's
    global generators are never recorded: no training code draws from them, and restoring them on resume
    would reseed the caller's process."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Back to `rng_state()`'s states (a checkpoint's older "python" / "numpy" entries are ignored)."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(
    path: str | os.PathLike,
    *,
    models: Mapping[str, nn.Module],
    emb_dim: int,
    width: float,
    epoch: int,
    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
    extra: Mapping[str, Any] | None = None,
    with_rng: bool = True,
) -> None:
    """Write {format, emb_dim, width, epoch, models, optimizers, rng, extra} to `path` atomically."""
    extra = dict(extra or {})
    _check_plain(extra, "extra")
    payload = {
        "format": FORMAT,
        "emb_dim": int(emb_dim),
        "width": float(width),
        "epoch": int(epoch),
        "models": {name: model.state_dict() for name, model in models.items()},
        "optimizers": {name: opt.state_dict() for name, opt in (optimizers or {}).items()},
        "rng": rng_state() if with_rng else None,
        "extra": extra,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_file_beside(path)
    try:
        with open(tmp, "wb") as f:  # a file object: the zip's inner folder is "archive", not the temp name
            torch.save(payload, f)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _new_file_beside(path: Path) -> Path:
    """An empty temp file beside `path`, created with mode 0666: the kernel applies the umask of the moment,
    so a checkpoint gets the mode of any other output (pipeline.core.tables.new_scratch does the same;
    s2i_models imports nothing of pipeline)."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue


def load_checkpoint(path: str | os.PathLike, *, emb_dim: int | None = None, width: float | None = None, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint (weights_only=True); check emb_dim / width when given."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(err).__name__}: {str(err).splitlines()[0]})") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not an s2i checkpoint (format {FORMAT!r} expected)")
    if emb_dim is not None and ckpt["emb_dim"] != emb_dim:
        raise CheckpointError(f"{path}: checkpoint has emb_dim {ckpt['emb_dim']}, but emb_dim {emb_dim} was asked for")
    if width is not None and ckpt["width"] != float(width):
        raise CheckpointError(f"{path}: checkpoint has width {ckpt['width']}, but width {width} was asked for")
    return ckpt


def restore(ckpt: Mapping[str, Any], models: Mapping[str, nn.Module], optimizers: Mapping[str, torch.optim.Optimizer] | None = None, rng: bool = False) -> None:
    """Load the named state_dicts (and optionally the RNG states) from a loaded checkpoint."""
    for name, model in models.items():
        if name not in ckpt["models"]:
            raise CheckpointError(f"checkpoint has no model {name!r} (has {sorted(ckpt['models'])})")
        model.load_state_dict(ckpt["models"][name])
    for name, opt in (optimizers or {}).items():
        if name not in ckpt["optimizers"]:
            raise CheckpointError(f"checkpoint has no optimizer {name!r} (has {sorted(ckpt['optimizers'])})")
        opt.load_state_dict(ckpt["optimizers"][name])
    if rng:
        if not ckpt.get("rng"):
            raise CheckpointError("checkpoint holds no RNG state")
        set_rng_state(ckpt["rng"])
