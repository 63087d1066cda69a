"""Two nights on the bundled example (examples/data, examples/kb): night 1 promotes, night 2 adds a span,
warm-starts from the champion and is gated.

    python -m nightly.demo --out out/nightly-demo

Each example corpus is cut in two: its first 30 lines are span 2024-01-01, the rest (with the corpora's
deliberately bad lines) span 2024-01-02, which arrives before night 2. The config is written to
``<out>/nightly.json`` so ``xds-nightly status --config <out>/nightly.json`` works afterwards.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from nightly.config import NightlyConfig
from nightly.night import Night
from nightly.report import gate_table

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIRST_SPAN_LINES = 30
# (source config, files of the corpus) per example corpus
SOURCES = [
    ({"name": "en-de", "pattern": "en-de*.jsonl", "format": "jsonl", "src_lang": "en", "tgt_langs": ["de"]},
     ["en-de.jsonl"]),
    ({"name": "en-zh", "pattern": "en-zh*.tsv", "format": "tsv", "src_lang": "en", "tgt_langs": ["zh"]},
     ["en-zh.tsv"]),
    ({"name": "en-fr", "pattern": "en-fr*", "format": "moses", "src_lang": "en", "tgt_langs": ["fr"]},
     ["en-fr.en", "en-fr.fr"]),
]


def write_spans(bitext: Path, span: str, part: int) -> None:
    """Span ``part`` 0 = the first FIRST_SPAN_LINES lines of every example file, 1 = the rest."""
    for _, files in SOURCES:
        for name in files:
            lines = (EXAMPLES / "data" / name).read_bytes().splitlines(keepends=True)
            chosen = lines[:FIRST_SPAN_LINES] if part == 0 else lines[FIRST_SPAN_LINES:]
            out = bitext / span / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"".join(chosen))


def demo_config(out_dir: Path, steps: int = 120, warm_steps: int = 60) -> NightlyConfig:
    return NightlyConfig.from_dict({
        "bitext": {"root": str(out_dir / "bitext"), "sources": [s for s, _ in SOURCES]},
        "kb": {"dir": str(EXAMPLES / "kb")}, "work_dir": str(out_dir / "work"), "registry": str(out_dir / "registry"),
        "rex": {"preset": "quick", "max_steps": steps, "warm_max_steps": warm_steps},
        "gate": {"min_positive_bags": 3},
    })


def print_night(summary: dict) -> None:
    print(f"\n== night {summary['night']}: {summary['outcome']} (exit {summary['exit_code']}); "
          f"built {len(summary['built'])} units, skipped {len(summary['skipped'])}; "
          f"trained {summary['training'].get('steps')} steps from "
          f"{summary['training'].get('parent') or 'scratch'}; champion {summary['champion']}")
    gate = summary["gate"]
    if gate["table"]:
        print(gate_table(gate["table"], gate["decision"]["metric"]))
        for reason in gate["decision"]["reasons"]:
            print(f"   - {reason}")
    print(f"   report: {summary['folder']}/report.md")


def run_two_nights(out_dir: str | Path, steps: int = 120, warm_steps: int = 60) -> dict:
    """Run the two demo nights into ``out_dir`` (its bitext/, work/ and registry/ are recreated); print each
    night's gate table; return {'nights': [summary, summary], 'champion', 'config'}."""
    out = Path(out_dir)
    for name in ("bitext", "work", "registry"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    cfg = demo_config(out, steps, warm_steps)
    out.mkdir(parents=True, exist_ok=True)
    (out / "nightly.json").write_text(json.dumps(cfg.to_dict(), indent=2), encoding="utf-8")
    write_spans(out / "bitext", "2024-01-01", 0)
    first = Night(cfg, "night-1").run()
    print_night(first.summary)
    write_spans(out / "bitext", "2024-01-02", 1)
    second = Night(cfg, "night-2").run()
    print_night(second.summary)
    return {"nights": [first.summary, second.summary], "champion": second.summary["champion"],
            "config": str(out / "nightly.json")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/nightly-demo")
    parser.add_argument("--steps", type=int, default=120)
    parser.add_argument("--warm-steps", type=int, default=60)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_two_nights(args.out, args.steps, args.warm_steps)


if __name__ == "__main__":
    main()
