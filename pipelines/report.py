"""The run's quality report: ``report.md`` and its chart ``report.png`` beside the manifest.

What a reader checks before training on a run: rows per language and how they were labelled (linked on that side,
projected from the source, or written from the KB), the share of projected rows and of no-relation rows, instances
per language x relation, and every reject reason with its count. The counts come from the complete manifest and the
shard files it lists (three columns read); the report is deterministic for the same output (no clock in it: the run
time and code version are in the manifest). Written by the launcher after the commit, so a report never describes
an output that is not complete.

    python -m pipelines.report OUTPUT      # (re)write the report of a committed output
"""

from __future__ import annotations

import argparse
import io
import json
import logging
from collections import Counter
from collections.abc import Sequence

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.manifest import listed_shards

logger = logging.getLogger(__name__)
REPORT, CHART = "report.md", "report.png"
NO_RELATION = "NA"
TOP_RELATIONS = 12


def _join(root: str, name: str) -> str:
    return f"{root.rstrip('/')}/{name}"


def read_manifest(output: str) -> dict:
    with FileSystems.open(_join(output, "manifest.json"), compression_type="uncompressed") as handle:
        return json.loads(handle.read().decode("utf-8"))


def row_stats(output: str, manifest: dict) -> Counter:
    """(lang, label_source, 'rel' | 'na') -> rows, over the shard files the manifest lists."""
    stats: Counter = Counter()
    for entry in listed_shards(manifest, output):
        with FileSystems.open(_join(output, entry["path"]), compression_type="uncompressed") as handle:
            table = pq.read_table(handle, columns=["lang", "label_source", "relations"])
        for lang, source, relations in zip(*(table[c].to_pylist() for c in ("lang", "label_source", "relations")),
                                           strict=True):
            stats[(lang, source, "rel" if relations else "na")] += 1
    return stats


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(f"{c:,}" if isinstance(c, int) else str(c) for c in row) + " |" for row in rows]
    return lines


def render(manifest: dict, stats: Counter, chart: str | None = CHART) -> str:
    """The Markdown report (pure)."""
    langs = sorted({lang for lang, _, _ in stats} | {r["lang"] for r in manifest["rows"]})
    sources = ("linked", "projected", "verbalized")
    out = ["# Run report", ""]
    out += [f"- pairs: {manifest['input_pairs']:,} read, {manifest['accepted_pairs']:,} accepted, "
            f"{manifest['rejected_pairs']:,} rejected ({_pct(manifest['rejected_pairs'], manifest['input_pairs'])})",
            f"- KB {manifest['kb_version']}, code {manifest.get('code_version') or manifest['pipeline_version']}, "
            f"manifest {manifest.get('manifest_version')}; run time and config: manifest.json", ""]
    out += ["## Rows per language", ""]
    body = []
    for lang in langs:
        by_source = {s: stats[(lang, s, "rel")] + stats[(lang, s, "na")] for s in sources}
        total = sum(by_source.values())
        na = sum(stats[(lang, s, "na")] for s in sources)
        body.append([lang, total, *(by_source[s] for s in sources), _pct(by_source["projected"], total),
                     _pct(na, total)])
    out += _table(["lang", "rows", *sources, "projected share", "no-relation (NA) share"], body)
    if chart:
        out += ["", f"![rows per language by label source, and the most frequent relations]({chart})"]
    instances: Counter = Counter()
    for item in manifest["instances"]:
        instances[(item["relation"], item["lang"])] += item["count"]
    relations = Counter()
    for (relation, _), n in instances.items():
        relations[relation] += n
    shown = [r for r, _ in sorted(relations.items(), key=lambda kv: (-kv[1], kv[0]))]
    out += ["", f"## Instances per relation and language (all splits; a multi-label row counts once per label; "
                f"{len(shown)} relations)", ""]
    out += _table(["relation", *langs, "total"],
                  [[r, *(instances[(r, lang)] for lang in langs), relations[r]] for r in shown])
    out += ["", "## Rejects", ""]
    rejects = sorted(manifest["rejects"], key=lambda r: (r["stage"], -r["count"], r["reason"]))
    out += _table(["stage", "reason", "count"], [[r["stage"], r["reason"], r["count"]] for r in rejects]) if rejects \
        else ["none"]
    return "\n".join(out) + "\n"


def plot(manifest: dict, stats: Counter) -> bytes:
    """The chart as PNG bytes: rows per language stacked by label source; instances of the top relations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = sorted({lang for lang, _, _ in stats})
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 2]})
    bottom = [0] * len(langs)
    for source, colour in (("linked", "tab:blue"), ("projected", "tab:orange"), ("verbalized", "tab:green")):
        heights = [stats[(lang, source, "rel")] + stats[(lang, source, "na")] for lang in langs]
        if any(heights):
            left.bar(langs, heights, bottom=bottom, label=source, color=colour)
            bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    left.set_title("rows per language")
    left.legend(frameon=False)
    counts: Counter = Counter()
    for item in manifest["instances"]:
        if item["relation"] != NO_RELATION:
            counts[item["relation"]] += item["count"]
    top = [r for r, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_RELATIONS]]
    right.bar(top, [counts[r] for r in top], color="tab:gray")
    right.set_title(f"instances of the {len(top)} most frequent relations (no NA)")
    right.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def write_report(output: str) -> str:
    """Write ``report.md`` and ``report.png`` into a committed output; return the report's path."""
    manifest = read_manifest(output)
    stats = row_stats(output, manifest)
    with FileSystems.create(_join(output, CHART), mime_type="image/png") as handle:
        handle.write(plot(manifest, stats))
    with FileSystems.create(_join(output, REPORT), mime_type="text/markdown") as handle:
        handle.write(render(manifest, stats).encode("utf-8"))
    return _join(output, REPORT)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.report", description="(Re)write the quality report "
                                     "(report.md, report.png) of a committed pipeline output.")
    parser.add_argument("output", help="the pipeline's --output folder (local or any Beam FileSystem path)")
    args = parser.parse_args(argv)
    print(write_report(args.output))


if __name__ == "__main__":
    main()
