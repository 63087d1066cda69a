"""Summarise several bench/rex_quality.py runs (their results.json): whole-bag figures and per-language win counts.

    python -m bench.rex_quality_summary LABEL=OUT_DIR [LABEL=OUT_DIR ...]

Prints (1) one row per (run, system): `all` micro F1 / macro F1 / PR-AUC; (2) one row per (run, rex system): the
`all` figure against the better of the two baselines *of the same run*, and the languages where the system is
strictly above both baselines, per metric.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.rex_quality import ALL, wins


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="LABEL=OUT_DIR (a bench/rex_quality.py --out folder)")
    args = parser.parse_args()
    runs = []
    for spec in args.runs:
        label, _, path = spec.partition("=")
        runs.append((label, json.loads((Path(path) / "results.json").read_text(encoding="utf-8"))["results"]))
    print("| run | system | micro F1 | macro F1 | PR-AUC |\n|---|---|---:|---:|---:|")
    for label, results in runs:
        for name, metrics in results.items():
            m = metrics[ALL]
            print(f"| {label} | {name} | {m['micro_f1']:.3f} | {m['macro_f1']:.3f} | {m['pr_auc']:.3f} |")
    print()
    for i, (label, results) in enumerate(runs):
        lines = wins(results).splitlines()
        if i == 0:
            print("| run " + lines[0])
            print("|---" + lines[1])
        for line in lines[2:]:
            print(f"| {label} " + line)


if __name__ == "__main__":
    main()
