"""Markdown table of a cpu_ablation.py run: python ablation_table.py OUT/results.jsonl"""
import json
import sys
from collections import defaultdict

from cpu_ablation import VARIANTS, run_name


def cell(rows):
    inf = sum(r["inf"] for r in rows) / len(rows)
    per = [sum(r["per"][c] for r in rows) / len(rows) for c in range(5)]
    cm = sum(r["cm"] for r in rows) / len(rows)
    return f"{inf:.2f} ({' '.join(f'{x:.2f}' for x in per)}) / {cm:.2f}"


def table(lines):
    by = defaultdict(lambda: defaultdict(list))
    for r in lines:
        if "tag" in r:
            by[r["name"]][r["tag"]].append(r)
    out = ["| variant | last snapshot | mean of the last 3 snapshots | shuffled sounds, last snapshot |",
           "|---|---|---|---|"]
    for variant in VARIANTS:
        runs = by.get(run_name(variant))
        if not runs or not runs["G"]:
            out.append(f"| {variant} | not measured around this default yet | | |")
            continue
        g = sorted(runs["G"], key=lambda r: r["epoch"])
        sh = sorted(runs["shuffled"], key=lambda r: r["epoch"])
        out.append(f"| {variant} | {cell(g[-1:])} (epoch {g[-1]['epoch']}) | {cell(g[-3:])} | {cell(sh[-1:])} |")
    ridge = [r for runs in by.values() for r in runs.get("ridge", [])]
    if ridge:
        out.append(f"| ridge from the same embeddings (control) | {cell(ridge[:1])} | | |")
    return "\n".join(out)


if __name__ == "__main__":
    print(table([json.loads(line) for line in open(sys.argv[1]) if line.strip()]))
