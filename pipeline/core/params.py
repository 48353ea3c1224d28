"""Read params.yaml (the stage's own section) the way `dvc exp run -S` leaves it."""
from __future__ import annotations

from pathlib import Path

import yaml

PARAMS_FILE = Path("params.yaml")


def load_params(path: str | Path = PARAMS_FILE) -> dict:
    with open(path) as f:
        return yaml.safe_load(f) or {}
