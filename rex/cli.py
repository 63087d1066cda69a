"""``rex train | evaluate | predict | export-encoder | index``.

Every config field is also a flag, ``--<section>.<field> VALUE`` (e.g. ``--train.max_steps 500``,
``--data.langs en de``, ``--model.retrieval.index_dir idx``), spelled as the key in a config file; flags
override the ``--config`` file (JSON or YAML), which overrides the defaults. The resolved config is validated
before anything runs. The command flags follow the project's conventions (schemas.cli): ``--output`` for what a
command writes, ``--retrieval-index`` for a fact index (``= --model.retrieval.index_dir`` in training),
``-`` for stdin/stdout in ``rex predict``, ``-q`` for no progress bars, ``-v`` for tracebacks.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any

from rex.config import SECTIONS, RetrievalConfig, RexConfig, load_config
from rex.retrieval.cli import register
from schemas.cli import STDIO, HelpFormatter, add_deprecated
from schemas.shard import SPLITS

logger = logging.getLogger(__name__)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field, grouped by section; the type comes from the dataclass annotation, the help text
    and choices from the field metadata (rex.config.opt), the default from the dataclass."""
    for section, klass in [*SECTIONS.items(), ("model.retrieval", RetrievalConfig)]:
        group = parser.add_argument_group(f"--{section}.*", (klass.__doc__ or "").strip().splitlines()[0])
        for f in dataclasses.fields(klass):
            kind = str(f.type)
            if "RetrievalConfig" in kind:  # a nested section: its fields are the --model.retrieval.* flags
                continue
            opts: dict[str, Any] = {"dest": f"{section}.{f.name}", "default": argparse.SUPPRESS,
                                    "help": _help_text(f)}
            if f.metadata.get("choices"):
                opts["choices"] = f.metadata["choices"]  # argparse shows them as {a,b,c} and rejects others
            if kind.startswith("list"):
                opts["nargs"] = "+"
            if kind.startswith("bool"):
                opts.update(type=_bool, metavar="{true,false}")
            elif kind.startswith("int"):
                opts.update(type=int, metavar="INT")
            elif kind.startswith("float"):
                opts.update(type=float, metavar="FLOAT")
            elif "choices" not in opts:
                opts["metavar"] = "STR"
            group.add_argument(f"--{section}.{f.name}", **opts)


def _help_text(f: dataclasses.Field) -> str:
    """The field's help with its default, unless the help already says what the default means (argparse's
    %-formatting escaped)."""
    text = f.metadata.get("help", "")
    if "default:" in text:
        return text.replace("%", "%%")
    if f.default_factory is not dataclasses.MISSING:
        default = f.default_factory()
    else:
        default = f.default
    if default is None:
        shown = "none"
    elif isinstance(default, bool):
        shown = str(default).lower()
    elif isinstance(default, list):
        shown = " ".join(map(str, default)) or "none"
    else:
        shown = repr(default) if default == "" else str(default)
    return f"{text} (default: {shown})".replace("%", "%%")


def resolve_config(args: argparse.Namespace) -> RexConfig:
    """Defaults <- config file <- flags, validated."""
    raw = load_config(args.config).to_dict() if args.config else RexConfig().to_dict()
    for dest, value in vars(args).items():
        parts = dest.split(".")
        if len(parts) < 2 or parts[0] not in SECTIONS:
            continue
        node = raw
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    if getattr(args, "shards", None):
        raw["data"]["shards"] = args.shards
    return RexConfig.from_dict(raw, where="command line")


class _Parser(argparse.ArgumentParser):
    """A bad flag value fails on one line (argparse would print the 30-line usage of `rex train` first)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rex", description="Relation extraction from distant-supervision shards.",
                     epilog="'-' for stdin/stdout works where a command streams lines (predict --input/--output, "
                     "index query --pairs); not for folders (train, export-encoder, index build --output) nor for "
                     "evaluate --output (the metrics JSON is printed on stdout anyway). Old spellings of renamed "
                     "flags (--out) still work and print a deprecation warning.")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging; errors with their traceback")
    # -v after the command too (`rex train ... -v`); SUPPRESS keeps a subcommand from resetting a leading -v
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="debug logging; errors with their traceback")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars (they show only on a terminal anyway)")
    sub = parser.add_subparsers(dest="command", required=True)
    add = functools.partial(sub.add_parser, formatter_class=HelpFormatter)
    train = add("train", parents=[verbose, quiet], help="train a model (resumes from --output's last checkpoint)",
                description="Train a model. Every config field is a flag --<section>.<field>; flags override "
                "--config, which overrides the defaults shown.")
    train.add_argument("--config", help="JSON or YAML config file")
    train.add_argument("--shards", nargs="+", help="shard roots, files or globs (= --data.shards)")
    train.add_argument("--output", required=True, metavar="DIR",
                       help="output directory (checkpoints, model/, metrics); rerun with the same one to resume; "
                       "a folder, so not '-'")
    train.add_argument("--retrieval-index", dest="model.retrieval.index_dir", default=argparse.SUPPRESS,
                       metavar="DIR", help="fact index from `rex index build` (= --model.retrieval.index_dir)")
    add_deprecated(train, "--output", "--out")
    _add_config_flags(train)
    ev = add("evaluate", parents=[verbose, quiet], help="metrics of a saved model on a split of some shards",
             description="Metrics of a saved model on one split of some shards, printed as JSON.")
    ev.add_argument("--model", required=True, metavar="DIR", help="model directory")
    ev.add_argument("--shards", nargs="+", required=True, help="shard roots, files or globs")
    ev.add_argument("--split", default="test", choices=SPLITS, help="split to score")
    ev.add_argument("--output", metavar="FILE", help="also write the metrics JSON here (stdout always gets it)")
    ev.add_argument("--plot", metavar="PNG", help="write the PR curves here")
    ev.add_argument("--retrieval-index", metavar="DIR",
                    help="fact index for a model trained with retrieval (default: the one it was trained with)")
    add_deprecated(ev, "--output", "--out")
    pr = add("predict", parents=[verbose, quiet], help="relation scores for JSONL sentences with two entity spans",
             description="Relation scores for JSONL sentences with two entity spans (docs/rex.md): a line per "
             "input line, in order, with the input's id echoed (blank lines skipped; a bad line stops the run, or "
             "goes to --rejects). '-' reads stdin / writes stdout.")
    pr.add_argument("--model", required=True, metavar="DIR", help="model directory")
    pr.add_argument("--input", required=True, metavar="FILE", help="JSONL input, '-' for stdin (see docs/rex.md)")
    pr.add_argument("--output", required=True, metavar="FILE", help="JSONL output, '-' for stdout")
    pr.add_argument("--retrieval-index", metavar="DIR",
                    help="fact index for a model trained with retrieval (default: the one it was trained with)")
    pr.add_argument("--rejects", metavar="FILE", help="write bad input lines here (JSONL: origin file:line, reason, "
                    "line) and go on; '-' is not accepted (stdout may hold the predictions); default: stop at the "
                    "first bad line")
    ex = add("export-encoder", parents=[verbose], help="write a model's Hugging Face encoder (LoRA merged) for "
             "AutoModel")
    ex.add_argument("--model", required=True, metavar="DIR", help="model directory (encoder.kind='hf')")
    ex.add_argument("--output", required=True, metavar="DIR",
                    help="folder to write (AutoModel/AutoTokenizer.from_pretrained load it)")
    add_deprecated(ex, "--output", "--out")
    register(sub, parents=[verbose, quiet])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except (ValueError, OSError) as err:  # bad input, config, paths: one line; -v for the traceback
        if args.verbose:
            raise
        print(f"rex {args.command}: error: {err} (-v for the traceback)", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    if args.command == "train":
        from rex.api import train

        config = resolve_config(args)
        if args.quiet:
            config.train.progress = False
        results = train(config, args.output)
        print(json.dumps(results, indent=1, sort_keys=True))
        if "model_dir" in results:  # rank 0 only under torchrun
            best = results.get("test", {}).get("all", {}).get("pr_auc")
            print(f"model saved to {results['model_dir']} (model card: {results['model_dir']}/README.md; metrics: "
                  f"{Path(args.output) / 'metrics.json'}" + (f"; test PR-AUC {best:.3f}" if best is not None else "")
                  + ")", file=sys.stderr)
        return 0
    if args.command == "evaluate":
        from rex.api import evaluate_model

        metrics = evaluate_model(args.model, args.shards, args.split, plot=args.plot,
                                 retrieval_index=args.retrieval_index, progress=not args.quiet)
        text = json.dumps(metrics, indent=1, sort_keys=True)
        if args.output:
            with open(args.output, "w", encoding="utf-8") as out:
                out.write(text + "\n")
        print(text)
        return 0
    if args.command == "predict":
        return _predict(args)
    if args.command == "export-encoder":
        from rex.export import export_encoder

        print(f"encoder written to {export_encoder(args.model, args.output)}", file=sys.stderr)
        return 0
    if hasattr(args, "func"):  # subcommands registered by rex.retrieval.cli
        return int(args.func(args) or 0)
    return 2


def _predict(args: argparse.Namespace) -> int:
    from rex.inference import RelationExtractor
    from rex.predict import predict_file

    if args.rejects == STDIO:
        raise ValueError("--rejects -: give a file (stdout holds the predictions when --output is -)")
    model = RelationExtractor.load(args.model, retrieval_index=args.retrieval_index)
    count, rejected = predict_file(model.loaded, args.input, args.output, model.device, model.retriever,
                                   rejects_path=args.rejects, progress=not args.quiet)
    where = "stdout" if args.output == STDIO else args.output
    print(f"{count} predictions written to {where}"
          + (f"; {rejected} bad lines written to {args.rejects}" if args.rejects else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
