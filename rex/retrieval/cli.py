"""`rex index build` and `rex index query`: the fact index on the command line.

rex/cli.py calls :func:`register`; ``python -m rex.retrieval.cli index ...`` works on its own too.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence

from rex.retrieval.kge import KGE_MODELS, KGEConfig
from schemas.cli import HelpFormatter, add_deprecated, add_kb_arguments, interactive

logger = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, parents: Sequence[argparse.ArgumentParser] = ()) -> None:
    """Add the ``index`` command with ``build`` and ``query`` sub-commands (``parents``: the -v/-q flags)."""
    index = subparsers.add_parser("index", help="KB fact index (FAISS) for retrieval during training")
    sub = index.add_subparsers(dest="index_command", required=True)

    build = sub.add_parser("build", parents=list(parents), formatter_class=HelpFormatter,
                           help="train KB embeddings on the non-held-out facts and index them",
                           description="Train KB embeddings on the facts of pairs not held out and index them "
                           "(docs/retrieval.md); prints the index's metadata as one JSON line.")
    add_kb_arguments(build, "KB folder (schemas.kb.load_kb layout, e.g. xfactr-kb)",
                     "extra alias folders (as given to the pipeline, so the KB version matches the shards')")
    build.add_argument("--output", required=True, metavar="DIR", help="index folder to write")
    build.add_argument("--heldout-shards", action="extend", nargs="+", default=[], metavar="PATH",
                       help="shard folders/globs whose dev and test pairs are held out of the KGE and the index")
    build.add_argument("--heldout-pairs", default=None, metavar="FILE",
                       help="file of 'head<TAB>tail' pairs to hold out as well")
    build.add_argument("--kge-model", choices=KGE_MODELS, default="transe",
                       help="KGE model (transe: best link-prediction MRR on xfactr-kb)")
    build.add_argument("--dim", type=int, default=64, help="entity embedding size d (facts are 3d)")
    build.add_argument("--epochs", type=int, default=20, help="KGE training epochs")
    build.add_argument("--batch-size", type=int, default=1024, help="KGE training facts per batch")
    build.add_argument("--lr", type=float, default=0.01, help="KGE learning rate")
    build.add_argument("--seed", type=int, default=0, help="KGE seed")
    build.add_argument("--factory", default=None,
                       help="FAISS factory string overriding the size-based choice, e.g. 'HNSW32'")
    build.add_argument("--search-params", default=None, help="FAISS search parameters, e.g. 'efSearch=128'")
    add_deprecated(build, "--output", "--out")
    add_deprecated(build, "--kb-extra-aliases", "--extra-alias-dir")
    add_deprecated(build, "--kge-model", "--model")
    build.set_defaults(func=_build)

    query = sub.add_parser("query", parents=list(parents), formatter_class=HelpFormatter,
                           help="print the facts retrieved for entity pairs (JSON lines)",
                           description="Print the facts retrieved for entity pairs, one JSON line per pair on "
                           "stdout, in input order.")
    query.add_argument("--index", required=True, metavar="DIR", help="index folder")
    query.add_argument("--pair", nargs=2, action="append", default=[], metavar=("HEAD", "TAIL"),
                       help="a (head, tail) kb-id pair; repeatable")
    query.add_argument("--pairs", default=None, metavar="FILE", help="file of 'head<TAB>tail' lines, '-' for stdin")
    query.add_argument("--k", type=int, default=8, help="facts per pair")
    query.add_argument("--exclude-pairs", default=None, metavar="FILE",
                       help="file of 'head<TAB>tail' pairs never to retrieve")
    query.add_argument("--allow-kge-leak", action="store_true",
                       help="only warn (instead of failing) when the index holds facts of excluded pairs")
    query.set_defaults(func=_query)


def _build(args: argparse.Namespace) -> int:
    from rex.retrieval.build import build_fact_index, heldout_pairs_from_shards, read_pairs_tsv
    from schemas.kb import load_kb

    config = KGEConfig(model=args.kge_model, dim=args.dim, epochs=args.epochs, batch_size=args.batch_size,
                       lr=args.lr, seed=args.seed)
    heldout = heldout_pairs_from_shards(args.heldout_shards) if args.heldout_shards else set()
    if args.heldout_pairs:
        heldout |= read_pairs_tsv(args.heldout_pairs)
    kb = load_kb(args.kb, extra_alias_dirs=args.kb_extra_aliases)
    fact_index = build_fact_index(kb, heldout, config, factory=args.factory, search_params=args.search_params,
                                  progress=not getattr(args, "quiet", False) and interactive())
    fact_index.save(args.output)
    meta = fact_index.meta
    print(json.dumps({k: meta[k] for k in ("kb_version", "model_hash", "factory", "search_params", "n_facts",
                                            "n_kb_facts", "fact_dim", "kge_train_seconds", "index_build_seconds")}))
    return 0


def _query(args: argparse.Namespace) -> int:
    from rex.retrieval.build import read_pair_lines, read_pairs_tsv
    from rex.retrieval.retriever import load_retriever

    pairs = [tuple(p) for p in args.pair]
    if args.pairs:
        pairs += read_pair_lines(args.pairs)
    if not pairs:
        print("rex index query: give --pair HEAD TAIL or --pairs FILE", file=sys.stderr)
        return 2
    exclude = read_pairs_tsv(args.exclude_pairs) if args.exclude_pairs else set()
    retriever = load_retriever(args.index, k=args.k, exclude_pairs=exclude, allow_kge_leak=args.allow_kge_leak)
    found = retriever.retrieve(pairs)
    for i, (head, tail) in enumerate(pairs):
        ids = found.fact_ids[i]
        # scores are padded to k; fewer facts come back for unknown pairs, small KBs or k above the facts
        facts = [{"fact_id": f, "score": round(float(s), 4)} for f, s in zip(ids, found.scores[i][:len(ids)],
                                                                               strict=True)]
        line = {"head": head, "tail": tail, "facts": facts}
        if len(ids) < args.k:
            line["note"] = f"{len(ids)} of k={args.k} facts found"
        print(json.dumps(line, ensure_ascii=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rex", description=__doc__, formatter_class=HelpFormatter)
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    sys.exit(main())
