"""Stage `audit`: could any validation or test sound have been seen in training?

    python -m pipeline.stages.audit            (`s2i audit` runs the same checks on other paths)

Reads data/segments/index.parquet, data/raw/clips.parquet and data/shards; writes
reports/audit/leakage.json (a DVC metric) and reports/audit/leakage.html. The checks are
listed in `pipeline.audit.checks`. Exit code 1 when a leak is found and `audit.fail_on_leak`
is true (or an imbalance and `audit.fail_on_imbalance`).
"""

from __future__ import annotations

import sys

from pipeline.audit.checks import run
from pipeline.core import paths
from pipeline.core.errors import exit_status
from pipeline.core.params import PARAMS_FILE

READS = ("audit",)  # `pipeline.audit.checks.load_audit_params` reads them, as `s2i audit` does


def main() -> int:
    return run(PARAMS_FILE, paths.SEGMENT_INDEX, paths.CLIPS_TABLE, paths.SHARDS, paths.AUDIT_DIR)


if __name__ == "__main__":
    sys.exit(exit_status("audit", main))
