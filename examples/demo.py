"""Run the distant-supervision pipeline on the three bundled example corpora and print what it wrote.

    python -m examples.demo --out out/demo

EN-DE is JSONL, EN-ZH is TSV, EN-FR is a Moses file pair; each corpus ends with a few deliberately bad
lines that land in the dead-letter output. The KB (examples/kb) is a small X-FACTR-layout KB.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from pipelines.distant_supervision import run

HERE = Path(__file__).resolve().parent
CORPORA = {
    "en-de": ("jsonl", HERE / "data" / "en-de.jsonl"),
    "en-zh": ("tsv", HERE / "data" / "en-zh.tsv"),
    "en-fr": ("moses", HERE / "data" / "en-fr"),
}


def run_pipeline(out_dir: str | Path, aligner_args: tuple[str, ...] = ()) -> dict:
    """Run the pipeline once per corpus into ``out_dir/<pair>``; return paths and counts per pair."""
    results = {}
    for pair, (fmt, path) in CORPORA.items():
        src, tgt = pair.split("-")
        output = Path(out_dir) / pair
        run(["--input", str(path), "--input-format", fmt, "--src-lang", src, "--tgt-lang", tgt,
             "--kb", str(HERE / "kb"), "--output", str(output), *aligner_args])
        manifest = json.loads((output / "manifest.json").read_text(encoding="utf-8"))
        results[pair] = {
            "output": str(output),
            "manifest": str(output / "manifest.json"),
            "shards": {o["split"]: str(output / o["path"]) for o in manifest["outputs"]},
            "input_pairs": manifest["input_pairs"],
            "accepted_pairs": manifest["accepted_pairs"],
            "rows": {f"{r['split']}/{r['lang']}": r["count"] for r in manifest["rows"]},
            "rejects": {f"{r['stage']}/{r['reason']}": r["count"] for r in manifest["rejects"]},
        }
    return results


def print_summary(results: dict) -> None:
    for pair, info in results.items():
        print(f"\n== {pair}: {info['input_pairs']} input pairs, {info['accepted_pairs']} accepted -> {info['output']}")
        for split, path in sorted(info["shards"].items()):
            print(f"   {split:8s} {path}")
        print("   rows:    " + ", ".join(f"{k}={v}" for k, v in sorted(info["rows"].items())))
        print("   rejects: " + ", ".join(f"{k}={v}" for k, v in sorted(info["rejects"].items())))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/demo", help="Output folder (one sub-folder per language pair).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = run_pipeline(args.out)
    print_summary(results)
    return results


if __name__ == "__main__":
    main()
