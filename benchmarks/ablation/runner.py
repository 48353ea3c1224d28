"""What both sweeps share: one process per variant, JSON result lines collected into OUT/results.jsonl."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = Path(os.environ.get("OUT", "/tmp/out"))
WORK = Path(os.environ.get("EXP_OUT", "/tmp/exp"))
SCALE = json.loads(os.environ.get("SCALE", "{}"))   # e.g. {"epochs": 1} for a smoke run
OUT.mkdir(parents=True, exist_ok=True)
WORK.mkdir(parents=True, exist_ok=True)
results = open(OUT / "results.jsonl", "a")


def launch(script, name, cfg, extra=(), env=None):
    """Start `script NAME JSON [extra]` on one thread; stderr goes to WORK/NAME.log."""
    e = {**os.environ, "EXP_OUT": str(WORK), "THREADS": "1", "OMP_NUM_THREADS": "1", **(env or {})}
    log = open(WORK / f"{name}.log", "w")
    return name, subprocess.Popen([sys.executable, str(HERE / script), name, json.dumps(cfg), *extra],
                                  stdout=subprocess.PIPE, stderr=log, text=True, env=e)


def collect(procs, limit):
    """Wait up to `limit` seconds for all; keep their JSON lines; return the names killed at the limit."""
    t0, killed = time.time(), []
    for name, p in procs:
        try:
            out, _ = p.communicate(timeout=max(1, limit - (time.time() - t0)))
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            killed.append(name)
        for line in out.splitlines():
            if line.startswith("{"):
                results.write(line + "\n")
                results.flush()
        if p.returncode and name not in killed:
            print(f"{name}: exit {p.returncode}; " + (WORK / f"{name}.log").read_text()[-600:], flush=True)
    return killed
