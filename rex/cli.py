"""``rex train | evaluate | predict | index``.

Every config field is also a flag, ``--<section>.<field> VALUE`` (e.g. ``--train.max_steps 500``,
``--data.langs en de``, ``--model.retrieval.index_dir idx``); flags override the ``--config`` file
(JSON or YAML), which overrides the defaults. The resolved config is validated before anything runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from typing import Any

from rex.config import SECTIONS, RetrievalConfig, RexConfig, load_config
from rex.retrieval.cli import register
from schemas.shard import SPLITS

logger = logging.getLogger(__name__)


def _bool(text: str) -> bool:
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {text!r}")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field; the type comes from the dataclass annotation."""
    fields = [(f"{s}.{f.name}", f) for s, klass in SECTIONS.items() for f in dataclasses.fields(klass)]
    fields += [(f"model.retrieval.{f.name}", f) for f in dataclasses.fields(RetrievalConfig)]
    for dest, f in fields:
        kind = str(f.type)
        if "RetrievalConfig" in kind:
            continue
        opts: dict[str, Any] = {"dest": dest, "default": argparse.SUPPRESS, "metavar": f.name.upper()}
        if kind.startswith("list"):
            opts["nargs"] = "+"
        elif kind.startswith("bool"):
            opts["type"] = _bool
        elif kind.startswith("int"):
            opts["type"] = int
        elif kind.startswith("float"):
            opts["type"] = float
        parser.add_argument(f"--{dest}", **opts)


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rex", description="Relation extraction from distant-supervision shards.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train a model (resumes from OUT's last checkpoint)")
    train.add_argument("--config", help="JSON or YAML config file")
    train.add_argument("--shards", nargs="+", help="shard roots, files or globs (= --data.shards)")
    train.add_argument("--out", required=True, help="output directory (checkpoints, model/, metrics)")
    _add_config_flags(train)
    ev = sub.add_parser("evaluate", help="metrics of a saved model on a split of some shards")
    ev.add_argument("--model", required=True, help="model directory")
    ev.add_argument("--shards", nargs="+", required=True)
    ev.add_argument("--split", default="test", choices=SPLITS)
    ev.add_argument("--out", help="write the metrics JSON here")
    ev.add_argument("--plot", help="write the PR curve PNG here")
    pr = sub.add_parser("predict", help="relation scores for JSONL sentences with two entity spans")
    pr.add_argument("--model", required=True, help="model directory")
    pr.add_argument("--input", required=True, help="JSONL input (see docs/rex.md)")
    pr.add_argument("--output", required=True, help="JSONL output")
    pr.add_argument("--retrieval-index", help="fact index for models that use retrieval")
    ex = sub.add_parser("export-encoder", help="write a model's Hugging Face encoder (LoRA merged) for AutoModel")
    ex.add_argument("--model", required=True, help="model directory (encoder.kind='hf')")
    ex.add_argument("--out", required=True, help="folder to write (AutoModel/AutoTokenizer.from_pretrained load it)")
    register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command == "train":
        from rex.api import train

        results = train(resolve_config(args), args.out)
        print(json.dumps(results, indent=1, sort_keys=True))
        return 0
    if args.command == "evaluate":
        from rex.api import evaluate_model

        metrics = evaluate_model(args.model, args.shards, args.split, plot=args.plot)
        text = json.dumps(metrics, indent=1, sort_keys=True)
        if args.out:
            with open(args.out, "w", encoding="utf-8") as out:
                out.write(text + "\n")
        print(text)
        return 0
    if args.command == "predict":
        return _predict(args)
    if args.command == "export-encoder":
        from rex.export import export_encoder

        print(f"encoder written to {export_encoder(args.model, args.out)}", file=sys.stderr)
        return 0
    if hasattr(args, "func"):  # subcommands registered by rex.retrieval.cli
        return int(args.func(args) or 0)
    return 2


def _predict(args: argparse.Namespace) -> int:
    from rex.inference import RelationExtractor
    from rex.predict import predict_file

    model = RelationExtractor.load(args.model, retrieval_index=args.retrieval_index)
    count = predict_file(model.loaded, args.input, args.output, model.device, model.retriever)
    print(f"{count} predictions written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
