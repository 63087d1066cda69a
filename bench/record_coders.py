"""Encode + decode cost per record: the pipeline's typed records with their RecordCoder against the dicts they
replaced, with the coders Beam gave those dicts (FastPrimitivesCoder on untyped PCollections) and plain pickle.

    python -m bench.record_coders [--repeat 200]

The records are the bundled EN-DE example (examples/data/en-de.jsonl, examples/kb) run through the pure stage
functions; each dict is the same record in the shape the stages passed before the records existed (a bitext dict
that grew ``src_tok``, ``src_mentions``, ``src_instances``... keys). Times are CPU time (time.process_time), so
other jobs on the machine change them less than wall time; the load average is printed.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import apache_beam as beam

from pipelines.config import PipelineConfig
from pipelines.label import label_pair
from pipelines.link import link_pair
from pipelines.read import read_unit
from pipelines.records import Reject, ShardRow
from pipelines.resources import KBSpec, build_resources
from pipelines.tokenize import Tokenizers, tokenize_pair
from pipelines.validate import validate_pair

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def example_records() -> dict[str, list[tuple]]:
    """(record, the same record as the dict the stages passed before) for every record type, from the EN-DE
    example."""
    config = PipelineConfig(inputs=(), src_lang="en", tgt_langs=("de",), kb=str(EXAMPLES / "kb"), output="unused",
                            no_relation_rate=1.0)
    resources, tokenizers = build_resources(KBSpec.of(config)), Tokenizers(config.langs)
    out: dict[str, list[tuple]] = {name: [] for name in ("BitextPair", "TokenizedPair", "LinkedPair", "LabelledPair",
                                                        "ShardRow", "Reject")}
    for item in read_unit(("de", str(EXAMPLES / "data" / "en-de.jsonl")), "jsonl", "en"):
        if not isinstance(item, Reject):
            out["BitextPair"].append((item, item._asdict()))
            item = validate_pair(item)
        if not isinstance(item, Reject):
            item = tokenize_pair(item, tokenizers, 200)
        if isinstance(item, Reject):
            out["Reject"].append((item, item.to_dict()))
            continue
        tokenized = {**item.pair._asdict(), **{f"{side}_tok": _tok(item.tok(side)) for side in ("src", "tgt")}}
        out["TokenizedPair"].append((item, tokenized))
        linked, rejects = link_pair(item, resources)
        mentions = {f"{side}_mentions": [m._asdict() for m in linked.mentions(side)] for side in ("src", "tgt")}
        out["LinkedPair"].append((linked, {**tokenized, **mentions}))
        out["Reject"] += [(r, r.to_dict()) for r in rejects]
        labelled = label_pair(linked, resources, max_distance=40, na_rate=1.0, version="bench")
        out["LabelledPair"].append((labelled, {**tokenized, **mentions,
                                               "src_instances": [_row(r) for r in labelled.src_instances],
                                               "tgt_instances": [_row(r) for r in labelled.tgt_instances]}))
        rows = [row._replace(split="train") for row in labelled.src_instances + labelled.tgt_instances]
        out["ShardRow"] += [(row, _row(row)) for row in rows]
    return out


def _tok(tok) -> dict:
    return {"tokens": list(tok.tokens), "starts": list(tok.starts), "ends": list(tok.ends)}


def _row(row: ShardRow) -> dict:
    """The row dict as the stages built it (lists, not tuples)."""
    out = row.to_dict()
    return {**out, **{k: list(out[k]) for k in ("tokens", "token_starts", "token_ends", "relations")}}


def cost(coder, values: list, repeat: int) -> tuple[float, float]:
    """(CPU microseconds per encode + decode, bytes per value)."""
    encode, decode = coder.encode, coder.decode
    start = time.process_time()
    for _ in range(repeat):
        for value in values:
            decode(encode(value))
    seconds = time.process_time() - start
    return 1e6 * seconds / (repeat * len(values)), sum(len(encode(v)) for v in values) / len(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    records = example_records()
    print(f"load average {os.getloadavg()[0]:.1f}; CPU us per encode+decode (bytes), {args.repeat} passes")
    print(f"{'record':14s} {'n':>4s} {'dict FastPrimitives':>22s} {'dict pickle':>18s} {'RecordCoder':>18s} "
          f"{'dict FP / Record':>17s}")
    for name, pairs in records.items():
        values, dicts = [v for v, _ in pairs], [d for _, d in pairs]
        record_coder = beam.coders.registry.get_coder(type(values[0]))
        if any(record_coder.decode(record_coder.encode(v)) != v for v in values):
            raise RuntimeError(f"{record_coder} does not round-trip {name}")
        fast, fast_bytes = cost(beam.coders.FastPrimitivesCoder(), dicts, args.repeat)
        pickled, pickled_bytes = cost(beam.coders.PickleCoder(), dicts, args.repeat)
        typed, typed_bytes = cost(record_coder, values, args.repeat)
        print(f"{name:14s} {len(values):4d} {fast:10.2f} ({fast_bytes:6.0f}) {pickled:10.2f} ({pickled_bytes:5.0f}) "
              f"{typed:10.2f} ({typed_bytes:5.0f}) {fast / typed:17.2f}")


if __name__ == "__main__":
    main()
