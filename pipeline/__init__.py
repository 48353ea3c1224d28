"""s2i's pipeline: `stages/` holds the DVC DAG (one module per dvc.yaml stage), `commands/` the `s2i`
command line; every other package is library code that stages and commands import (never the reverse).
"""
