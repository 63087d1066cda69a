"""The pipeline's projection code of two checkouts on identical word alignments (real ntrex128 text).

An end-to-end A/B of the pipeline (bench/pipeline.py --ab-tree) mixes two things: the code under test and eflomal's
run-to-run noise (a corpus of a few thousand pairs gets 3 samplers, which ``--eflomal-seed`` does not make
reproducible). This bench removes the second: it tokenises ntrex128 EN->DE and EN->ZH as the pipeline does, aligns
each once with eflomal, and gives the same links to both checkouts' pipelines through ``--alignments`` (line k =
input line k; the links score 1.0, so weak-link weighting is not exercised). It prints, per language, the projected
target rows, the project-stage rejects by reason, and how many rows differ.

    git archive REV | tar -x -C /tmp/old
    python -m bench.projection_same_links --old /tmp/old --out /tmp/same-links
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.paths import SHARED_DATA
from bench.pipeline import NTREX

REPO = Path(__file__).resolve().parent.parent


def write_inputs(out: Path, tgt: str) -> tuple[Path, Path]:
    """The EN-``tgt`` JSONL corpus and the Pharaoh links of its pipeline tokens (one eflomal run)."""
    from alignment.word.core import write_pharaoh
    from alignment.word.eflomal_aligner import EflomalAligner, EflomalConfig
    from pipelines.tokenize import load_spacy, tokenize_text

    lines = {lang: (SHARED_DATA / "ntrex128" / NTREX[lang]).read_text(encoding="utf-8").splitlines()
             for lang in ("en", tgt)}
    corpus, links = out / f"en-{tgt}.jsonl", out / f"en-{tgt}.links"
    with open(corpus, "w", encoding="utf-8") as handle:
        for i, (src, dst) in enumerate(zip(lines["en"], lines[tgt], strict=True)):
            handle.write(json.dumps({"id": str(i), "en": src, tgt: dst}, ensure_ascii=False) + "\n")
    en, other = load_spacy("en"), load_spacy(tgt)
    pairs = [(list(tokenize_text(en, a).tokens), list(tokenize_text(other, b).tokens))
             for a, b in zip(lines["en"], lines[tgt], strict=True)]
    write_pharaoh(str(links), EflomalAligner(EflomalConfig()).align(pairs))
    return corpus, links


def run_tree(tree: Path, corpus: Path, links: Path, tgt: str, output: Path) -> None:
    argv = [sys.executable, "-m", "pipelines.distant_supervision", "-q", "--input", str(corpus), "--input-format",
            "jsonl", "--src-lang", "en", "--tgt-lang", tgt, "--kb", str(SHARED_DATA / "xfactr-kb"), "--output",
            str(output), "--alignments", str(links), "--overwrite"]
    subprocess.run(argv, cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, check=True)


def summary(output: Path, tgt: str) -> tuple[Counter, Counter]:
    """(target rows by their text and spans, project rejects by reason)."""
    import pyarrow.dataset as ds

    rows = ds.dataset(output / "data", partitioning="hive").to_table(columns=["lang", "text", "head", "tail"])
    spans = Counter(json.dumps([r["text"], r["head"], r["tail"]], default=str) for r in rows.to_pylist()
                    if r["lang"] == tgt)
    rejects = ds.dataset(output / "rejects").to_table(columns=["stage", "reason"]).to_pylist()
    return spans, Counter(r["reason"] for r in rejects if r["stage"] == "project")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=Path, required=True, help="the other checkout (e.g. a git archive)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/projection-same-links"))
    parser.add_argument("--langs", nargs="+", default=["de", "zh"], choices=["de", "zh"])
    args = parser.parse_args()
    if not (SHARED_DATA / "ntrex128").exists():
        sys.exit(f"{SHARED_DATA / 'ntrex128'} not found: this bench needs ../shared/data")
    args.out.mkdir(parents=True, exist_ok=True)
    for tgt in args.langs:
        corpus, links = write_inputs(args.out, tgt)
        found = {}
        for name, tree in (("old", args.old.resolve()), ("new", REPO)):
            run_tree(tree, corpus, links, tgt, args.out / f"{name}-{tgt}")
            found[name] = summary(args.out / f"{name}-{tgt}", tgt)
        (old_rows, old_rejects), (new_rows, new_rejects) = found["old"], found["new"]
        print(f"en-{tgt}: target rows {sum(old_rows.values())} -> {sum(new_rows.values())}; rows only in old "
              f"{sum((old_rows - new_rows).values())}, only in new {sum((new_rows - old_rows).values())}")
        print(f"  project rejects old {dict(old_rejects.most_common())}")
        print(f"  project rejects new {dict(new_rejects.most_common())}")


if __name__ == "__main__":
    main()
