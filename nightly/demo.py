"""Two nights on the bundled example (examples/data, examples/kb): night 1 promotes, night 2 adds a span,
warm-starts from the champion and is gated.

    python -m nightly.demo --output out/nightly-demo

Each example corpus is cut in two: its first 30 lines are span 2024-01-01, the rest (with the corpora's
deliberately bad lines) span 2024-01-02, which arrives before night 2. The bundled example alone would leave
the gate about 6 test bags (its KB has 46 facts, a tenth of the pairs go to test), so each span also carries
``en-de-templates.jsonl``: EN-DE template sentences (nightly.synthetic) over a generated KB of invented people,
cities and countries that the demo adds to the example KB (``<out>/kb``: the example's files plus
``facts/generated.tsv`` and, as extra aliases, ``<out>/generated-kb/aliases``). Night 2's gate then compares
the two models on a few dozen positive test bags per language (en, de) instead of a handful.
The config is written to ``<out>/nightly.json`` so ``xds-nightly status --config <out>/nightly.json`` works.
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
from nightly.synthetic import write_kb, write_span
from schemas.cli import HelpFormatter, add_deprecated

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
FIRST_SPAN_LINES = 30
# the generated part of the demo KB: Q-ids shifted past the example KB's, 180 people -> about 340 facts
GENERATED_KB = {"people": 180, "cities": 24, "countries": 6, "id_base": 900000}
# (source config, files of the corpus) per example corpus
SOURCES = [
    ({"name": "en-de", "pattern": "en-de*.jsonl", "format": "jsonl", "src_lang": "en", "tgt_langs": ["de"]},
     ["en-de.jsonl"]),
    ({"name": "en-zh", "pattern": "en-zh*.tsv", "format": "tsv", "src_lang": "en", "tgt_langs": ["zh"]},
     ["en-zh.tsv"]),
    ({"name": "en-fr", "pattern": "en-fr*", "format": "moses", "src_lang": "en", "tgt_langs": ["fr"]},
     ["en-fr.en", "en-fr.fr"]),
]


def write_demo_kb(out_dir: Path) -> dict:
    """``<out>/kb`` = the example KB + the generated facts; the generated aliases in ``<out>/generated-kb``.
    Returns the generated KB (for write_span)."""
    generated = write_kb(out_dir / "generated-kb", **GENERATED_KB)
    shutil.copytree(EXAMPLES / "kb", out_dir / "kb")
    shutil.copy(out_dir / "generated-kb" / "facts" / "facts.tsv", out_dir / "kb" / "facts" / "generated.tsv")
    return generated


def write_spans(bitext: Path, span: str, part: int, generated: dict) -> None:
    """Span ``part`` 0 = the first FIRST_SPAN_LINES lines of every example file, 1 = the rest; each with
    template EN-DE pairs over the generated KB (its own sample of the facts)."""
    for _, files in SOURCES:
        for name in files:
            lines = (EXAMPLES / "data" / name).read_bytes().splitlines(keepends=True)
            chosen = lines[:FIRST_SPAN_LINES] if part == 0 else lines[FIRST_SPAN_LINES:]
            out = bitext / span / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(b"".join(chosen))
    write_span(bitext, span, generated, seed=part + 1, name="en-de-templates.jsonl")


def demo_config(out_dir: Path, steps: int = 120, warm_steps: int = 60) -> NightlyConfig:
    return NightlyConfig.from_dict({
        "bitext": {"root": str(out_dir / "bitext"), "sources": [s for s, _ in SOURCES]},
        "kb": {"dir": str(out_dir / "kb"), "extra_aliases": [str(out_dir / "generated-kb" / "aliases")]},
        "work_dir": str(out_dir / "work"), "registry": str(out_dir / "registry"),
        "rex": {"preset": "quick", "max_steps": steps, "warm_max_steps": warm_steps},
        "gate": {"min_positive_bags": 20},
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
    for name in ("bitext", "work", "registry", "kb", "generated-kb"):
        if (out / name).exists():
            shutil.rmtree(out / name)
    out.mkdir(parents=True, exist_ok=True)
    generated = write_demo_kb(out)
    cfg = demo_config(out, steps, warm_steps)
    (out / "nightly.json").write_text(json.dumps(cfg.to_dict(), indent=2), encoding="utf-8")
    write_spans(out / "bitext", "2024-01-01", 0, generated)
    first = Night(cfg, "night-1").run()
    print_night(first.summary)
    write_spans(out / "bitext", "2024-01-02", 1, generated)
    second = Night(cfg, "night-2").run()
    print_night(second.summary)
    return {"nights": [first.summary, second.summary], "champion": second.summary["champion"],
            "config": str(out / "nightly.json")}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m nightly.demo", description=__doc__.splitlines()[0],
                                     formatter_class=HelpFormatter)
    parser.add_argument("--output", default="out/nightly-demo", metavar="DIR", help="the demo's folder (its bitext "
                        "spans, KB, registry and work dir are recreated)")
    parser.add_argument("--steps", type=int, default=120, help="rex steps of night 1 (from scratch)")
    parser.add_argument("--warm-steps", type=int, default=60, help="rex steps of night 2 (warm start)")
    add_deprecated(parser, "--output", "--out")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return run_two_nights(args.output, args.steps, args.warm_steps)


if __name__ == "__main__":
    main()
