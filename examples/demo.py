"""Run the distant-supervision pipeline on the bundled example corpora, then train rex briefly on the shards.

    python -m examples.demo --output out/demo [--steps 150] [--skip-train] [--skip-nightly]

Then two nights of the nightly retraining job (nightly.demo) into ``out/demo/nightly``: night 1 builds the
spans' shards, trains and promotes a first champion; night 2 adds a span, warm-starts from the champion and is
gated against it on the same test bags (the gate table is printed; a refusal is a valid outcome). The nightly
spans add EN-DE template pairs over a generated KB to the example corpora, so the gate has a few dozen
positive test bags in EN and DE (the example alone gives about 6).

EN-DE is JSONL, EN-ZH is TSV, EN-FR is a Moses file pair; each corpus ends with a few deliberately bad
lines that land in the dead-letter output. The KB (examples/kb) is a small X-FACTR-layout KB.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from pipelines.distant_supervision import run
from schemas.cli import HelpFormatter, add_deprecated
from schemas.manifest import KB_TABLE_SPLITS
from schemas.shard import SPLITS

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
             "--kb", str(HERE / "kb"), "--output", str(output), "--overwrite", *aligner_args])
        manifest = json.loads((output / "manifest.json").read_text(encoding="utf-8"))
        results[pair] = {
            "output": str(output),
            "manifest": str(output / "manifest.json"),
            "shards": {split: str(output / manifest["dataset_root"] / split) for split in SPLITS
                       if any(o["split"] == split for o in manifest["outputs"])},
            "kb_tables": [str(output / o["path"]) for o in manifest["outputs"] if o["split"] in KB_TABLE_SPLITS],
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
        print("   names:   " + ", ".join(info["kb_tables"]))
        print("   rows:    " + ", ".join(f"{k}={v}" for k, v in sorted(info["rows"].items())))
        print("   rejects: " + ", ".join(f"{k}={v}" for k, v in sorted(info["rejects"].items())))


def train_rex(out_dir: str | Path, steps: int) -> dict:
    """A short from-scratch rex training on all the demo shards; returns rex's metrics dict."""
    from rex.api import train_quick

    model_dir = Path(out_dir) / "rex"
    # the shards were just rebuilt (EN-ZH's eflomal alignments differ run to run), so a second demo trains anew:
    # rex refuses to resume checkpoints of a run on other shard files
    shutil.rmtree(model_dir, ignore_errors=True)
    metrics = train_quick([str(Path(out_dir) / pair) for pair in CORPORA], model_dir, steps=steps)
    return {"model_dir": str(model_dir), "metrics": metrics}


def print_metrics(trained: dict) -> None:
    print(f"\n== rex: model and checkpoints in {trained['model_dir']}")
    for split in ("dev", "test"):
        groups = trained["metrics"].get(split)
        if not isinstance(groups, dict):
            continue
        flat = groups if "micro_f1" in groups else groups.get("all", {})
        shown = {k: v for k, v in flat.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        keys = [k for k in ("micro_f1", "macro_f1", "pr_auc", "bags", "positives") if k in shown] or sorted(shown)[:6]
        if not keys:
            continue
        print(f"   {split:5s} " + ", ".join(f"{k}={shown[k]:.3f}" if isinstance(shown[k], float) else f"{k}={shown[k]}"
                                        for k in keys))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m examples.demo", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--output", default="out/demo", metavar="DIR",
                        help="Output folder (one sub-folder per language pair).")
    parser.add_argument("--steps", type=int, default=150, help="rex training steps (from scratch, CPU).")
    parser.add_argument("--skip-train", action="store_true", help="Only run the pipeline.")
    parser.add_argument("--skip-nightly", action="store_true", help="Skip the two nightly-retraining nights.")
    add_deprecated(parser, "--output", "--out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    results = run_pipeline(args.output)
    print_summary(results)
    if not args.skip_train:
        results["rex"] = train_rex(args.output, args.steps)
        print_metrics(results["rex"])
    if not args.skip_train and not args.skip_nightly:
        from nightly.demo import run_two_nights

        print(f"\n== nightly retraining, two nights -> {Path(args.output) / 'nightly'}")
        results["nightly"] = run_two_nights(Path(args.output) / "nightly")
    return results


if __name__ == "__main__":
    main()
