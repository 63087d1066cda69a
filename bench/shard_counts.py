"""Counts of the real-data shard sets (bench/real_shards.sh) against the run-2/run-3 tables of bench/results/rex.md.

    python -m bench.shard_counts --root /work/out [--reference bench/results/rex.md]

For every shard set under ROOT with a manifest.json: input / accepted / rejected pairs (manifest), rows per
language as total (train/dev/test) read from the shards with pos = relation labels other than NA in the manifest's
`instances` (a row with two relations counts twice; the definition of the run-2/run-3 tables), and, when the reference
markdown has a row for the same set (e.g. `| wmt21/en-de |`, `| ntrex128 (shards-real) |`), its total and
positive rows next to ours. Prints a markdown table and the totals.

    python -m bench.shard_counts --root /work/out --relations

adds the relation mix: train instances per relation (manifest `instances`, every language of a set, a row with two
relations counted under both), one row per shard set for the person/organisation relations and the country-country
ones, then every relation pooled over the run-3 sets, over the sets added later (the other XQuAD languages and
wmt-news directions), and over both.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq

SETS = ["shards-real", "shards-xquad/en-de", "shards-xquad/en-es", "shards-xquad/en-zh"] + [
    f"shards-{year}/en-{p}" for year in ("wmt", "wmt21", "wmt23", "wmt24") for p in ("de", "zh", "ru", "ja", "cs")
] + [f"shards-{year}/{p}-en" for year in ("wmt21", "wmt22", "wmt23") for p in ("zh", "ja", "ru")]
# the later sets: the later XQuAD languages and the wmt-news pairs/directions not used before
NEW_SETS = [f"shards-xquad/en-{p}" for p in ("ar", "el", "hi", "ro", "ru", "th", "tr", "vi")] + [
    "shards-wmt24/en-es", "shards-wmt24/en-hi", "shards-wmt21/cs-en", "shards-wmt21/de-en", "shards-wmt22/cs-en",
    "shards-wmt22/de-en", "shards-wmt23/de-en"]
RUN3_SETS = list(SETS)
SETS = SETS + NEW_SETS
# person/organisation relations, then the country-country ones that dominate news and Wikipedia shards
FOCUS = ["P108", "P159", "P463", "P39", "P19", "P27", "P127", "P106", "P17"]
COUNTRY_PAIRS = ["P530", "P47"]


def label(name: str) -> str:
    """The reference tables' name: shards-real -> ntrex128 (shards-real), shards-wmt21/en-de -> wmt21/en-de."""
    return "ntrex128 (shards-real)" if name == "shards-real" else name.removeprefix("shards-")


def reference(path: Path) -> dict[str, tuple[int, int, int]]:
    """name -> (accepted pairs, rows, positive rows) from the markdown tables' rows."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 6 or not re.fullmatch(r"[\d,]+", cells[2]):
            continue
        langs = re.findall(r"\b[a-z]{2} (\d+) \([\d/]+, pos (\d+)\)", cells[4])
        if langs:
            out[cells[0]] = (int(cells[2].replace(",", "")), sum(int(a) for a, _ in langs),
                             sum(int(b) for _, b in langs))
    return out


def counts(root: Path) -> tuple[dict, dict]:
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    rows: Counter = Counter()
    listed = [f["path"] for f in manifest.get("files") or [] if f["split"] in ("train", "dev", "test")]
    paths = [root / p for p in listed] or [p for split in ("train", "dev", "test")  # before manifest 1.1
                                            for p in sorted((root / split).glob("*.parquet"))]
    for path in sorted(paths):
        table = pq.read_table(path, columns=["lang", "split"]).to_pydict()
        for lang, split in zip(table["lang"], table["split"], strict=True):
            rows[(lang, split)] += 1
    for item in manifest["instances"]:
        if item["relation"] != "NA":
            rows[(item["lang"], "pos")] += item["count"]
    return manifest, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/work/out")
    parser.add_argument("--reference", default="bench/results/rex.md")
    parser.add_argument("--relations", action="store_true", help="also print the train relation mix")
    args = parser.parse_args()
    ref = reference(Path(args.reference)) if Path(args.reference).exists() else {}
    print("| shards | input pairs | accepted | rejected | rows per language: total (train/dev/test, pos) | rows (ref) "
          "| pos labels (ref) |")
    print("|---|---:|---:|---:|---|---:|---:|")
    total: Counter = Counter()
    for name in SETS:
        root = Path(args.root) / name
        if not (root / "manifest.json").exists():
            print(f"| {label(name)} | missing | | | | | |")
            continue
        manifest, rows = counts(root)
        langs = sorted({lang for lang, _ in rows})
        per_lang = "; ".join(
            f"{lang} {sum(rows[(lang, s)] for s in ('train', 'dev', 'test'))} "
            f"({rows[(lang, 'train')]}/{rows[(lang, 'dev')]}/{rows[(lang, 'test')]}, pos {rows[(lang, 'pos')]})"
            for lang in langs)
        n_rows = sum(v for (_, s), v in rows.items() if s != "pos")
        n_pos = sum(v for (_, s), v in rows.items() if s == "pos")
        r = ref.get(label(name))
        ref_rows = f"{n_rows} ({r[1]})" if r else f"{n_rows} (-)"
        ref_pos = f"{n_pos} ({r[2]})" if r else f"{n_pos} (-)"
        print(f"| {label(name)} | {manifest['input_pairs']} | {manifest['accepted_pairs']} | "
              f"{manifest['rejected_pairs']} | {per_lang} | {ref_rows} | {ref_pos} |")
        total.update(input=manifest["input_pairs"], accepted=manifest["accepted_pairs"],
                     rejected=manifest["rejected_pairs"], rows=n_rows, pos=n_pos,
                     ref_rows=r[1] if r else 0, ref_pos=r[2] if r else 0)
        for (_lang, split), v in rows.items():
            if split != "pos":
                total[f"split:{split}"] += v
    print(f"\ntotal: {total['input']} input pairs, {total['accepted']} accepted, {total['rejected']} rejected; "
          f"{total['rows']} rows (reference {total['ref_rows']}), {total['pos']} positive labels (reference "
          f"{total['ref_pos']}); train/dev/test {total['split:train']}/{total['split:dev']}/{total['split:test']}")
    if args.relations:
        print_relation_mix(Path(args.root))


def train_relations(root: Path) -> Counter:
    """relation -> train instances of one shard set (all languages; from manifest.json)."""
    manifest = json.loads((root / "manifest.json").read_text(encoding="utf-8"))
    out: Counter = Counter()
    for item in manifest["instances"]:
        if item["split"] == "train":
            out[item["relation"]] += item["count"]
    return out


def print_relation_mix(root: Path) -> None:
    """Markdown tables: focus relations per shard set, then every relation pooled (run-3 sets, new sets, all)."""
    cols = FOCUS + COUNTRY_PAIRS
    print("\n### Train instances per relation, per shard set (all languages of the set)\n")
    print("| shards | " + " | ".join(cols) + " | person/org sum | P530+P47 | all positive | NA |")
    print("|---|" + "---:|" * (len(cols) + 4))
    pooled = {"run3": Counter(), "new": Counter()}
    for name in SETS:
        if not (root / name / "manifest.json").exists():
            continue
        rel = train_relations(root / name)
        pooled["new" if name in NEW_SETS else "run3"].update(rel)
        positive = sum(v for k, v in rel.items() if k != "NA")
        print(f"| {label(name)} | " + " | ".join(str(rel[c]) for c in cols)
              + f" | {sum(rel[c] for c in FOCUS)} | {sum(rel[c] for c in COUNTRY_PAIRS)} | {positive} | {rel['NA']} |")
    both = pooled["run3"] + pooled["new"]
    print("\n### Train instances per relation, pooled\n")
    print("| relation | run-3 sets | share | later sets | share | all sets | share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    totals = {k: sum(v for r, v in c.items() if r != "NA") or 1 for k, c in
              (("run3", pooled["run3"]), ("new", pooled["new"]), ("all", both))}
    order = sorted((r for r in both if r != "NA"), key=lambda r: (-both[r], r))
    for relation in order:
        mark = "**" if relation in FOCUS or relation in COUNTRY_PAIRS else ""
        a, b, c = pooled["run3"][relation], pooled["new"][relation], both[relation]
        print(f"| {mark}{relation}{mark} | {a} | {a / totals['run3']:.1%} | {b} | {b / totals['new']:.1%} | {c} | "
              f"{c / totals['all']:.1%} |")
    for title, group in (("person/org (" + ", ".join(FOCUS) + ")", FOCUS), ("P530 + P47", COUNTRY_PAIRS)):
        a, b, c = (sum(x[r] for r in group) for x in (pooled["run3"], pooled["new"], both))
        print(f"| {title} | {a} | {a / totals['run3']:.1%} | {b} | {b / totals['new']:.1%} | {c} | "
              f"{c / totals['all']:.1%} |")
    print(f"| all positive | {totals['run3']} | | {totals['new']} | | {totals['all']} | |")
    print(f"| NA | {pooled['run3']['NA']} | | {pooled['new']['NA']} | | {both['NA']} | |")


if __name__ == "__main__":
    main()
