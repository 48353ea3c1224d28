"""Read params.yaml (the stage's own section) the way `dvc exp run -S` leaves it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

PARAMS_FILE = Path("params.yaml")


class ParamsLoader(yaml.SafeLoader):
    """YAML 1.2 floats, as DVC (ruamel) reads and writes them: PyYAML's YAML 1.1 rules read `5e-05` and `1e4`
    (no dot) as strings, so a value that `dvc exp run -S lr=1e-4` or a hand edit leaves would not be a float."""


ParamsLoader.yaml_implicit_resolvers = {first: list(resolvers) for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
ParamsLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def parse_value(text: str):
    """One value as params.yaml would hold it: `parse_value("5e-05") == 5e-05`, `parse_value("a,b") == "a,b"`."""
    return yaml.load(text, Loader=ParamsLoader)


def load_params(path: str | Path = PARAMS_FILE) -> dict:
    with open(path) as f:
        return yaml.load(f, Loader=ParamsLoader) or {}
