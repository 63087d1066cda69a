"""Mine target-language KB aliases from the pipeline's own projections: a small Beam job over shard sets.

A language the KB has no aliases for (German in X-FACTR) can only be projected, never linked. But every
projected row says "the source mention of entity Q is written <surface> in this target sentence". Seen often
enough for the same entity, with the same spelling, that surface is a name of Q in the language. This job
reads projected rows of finished shard sets, counts each (language, entity, surface) over distinct target
mentions, and keeps a surface as an alias when

* it is seen in at least ``--min-count`` distinct sentence pairs, with mean projection confidence of at least
  ``--min-confidence``;
* it is a stable name of the entity: at least ``--min-share`` of that entity's projected mentions in the
  language use this exact surface (a stray projection is spread thin; names repeat);
* it looks like a name: letters, not only stop words, no stop word at either edge ("der Ukraine"), and, in a
  script with case, not starting with a lower-case letter (a derived adjective "deutschen" is not a name);
* no other entity claims the same surface with at least half its count (as the alias matcher's ambiguity
  margin: then neither gets it).

Shard folders may be on any Beam file system; the output is a local folder. Output, in ``--output`` (written
to a staging folder and renamed, so it is whole or absent):
``<lang>.txt`` in the KB's alias format (``entity<TAB>alias<TAB>...``), usable as is with
``--kb-extra-aliases``; ``provenance.jsonl``: per alias its count, share, mean confidence and up to three
example pair ids; ``mined.json``: the inputs (shard folders and their KB versions), settings and counts.

    python -m pipelines.mine_aliases --shards out/shards-wmt21/en-de out/shards-wmt22/en-de \\
        --langs de --output out/aliases-mined
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.resources import pipeline_version
from pipelines.tokenize import stop_words
from schemas.manifest import MANIFEST_NAME, listed_shards

logger = logging.getLogger(__name__)

COLUMNS = ["lang", "pair_id", "label_source", "projection_confidence", "head", "tail"]
Observation = tuple[str, str, str, float, str]  # (lang, entity, surface, confidence, mention key)


@dataclass(frozen=True)
class MiningSettings:
    """Thresholds of :func:`choose_aliases` (module docstring)."""

    min_count: int = 3
    min_share: float = 0.2
    min_confidence: float = 0.5
    margin: float = 2.0


@dataclass(frozen=True)
class MinedAlias:
    lang: str
    entity: str
    alias: str
    count: int
    share: float
    mean_confidence: float
    examples: tuple[str, ...]


def observations(row: dict) -> Iterator[Observation]:
    """The target mentions of a projected shard row: (lang, entity, surface, confidence, mention key). The
    key (pair, character span) lets a mention that appears in several rows (one per entity pair) count once."""
    if row.get("label_source") != "projected":
        return
    for role in ("head", "tail"):
        mention = row[role]
        key = f"{row['pair_id']}:{mention['char_start']}:{mention['char_end']}"
        yield (row["lang"], mention["kb_id"], mention["surface"], float(row.get("projection_confidence") or 0.0),
               key)


def looks_like_name(surface: str, lang: str) -> bool:
    """Letters, not only stop words, no stop word at an edge, no lower-case start in a cased script."""
    words = surface.split()
    if not words or not any(ch.isalpha() for ch in surface) or len(surface) < 2:
        return False
    stops = stop_words(lang)
    if words[0].lower() in stops or words[-1].lower() in stops:
        return False
    first = next(ch for ch in surface if ch.isalpha())
    return not first.islower()


def choose_aliases(lang: str, entity: str, mentions: Iterable[tuple[str, float, str]],
                   settings: MiningSettings = MiningSettings()) -> list[MinedAlias]:
    """The surfaces of one entity's distinct projected mentions ((surface, confidence, pair id)) that pass the
    count, share, confidence and name checks; the ambiguity check across entities is :func:`resolve_conflicts`."""
    by_surface: dict[str, list[tuple[float, str]]] = defaultdict(list)
    total = 0
    for surface, confidence, pair in mentions:
        by_surface[surface].append((confidence, pair))
        total += 1
    out = []
    for surface, seen in sorted(by_surface.items()):
        pairs = sorted({pair for _, pair in seen})
        mean = sum(c for c, _ in seen) / len(seen)
        share = len(seen) / total
        if (len(pairs) >= settings.min_count and share >= settings.min_share and mean >= settings.min_confidence
                and looks_like_name(surface, lang)):
            out.append(MinedAlias(lang, entity, surface, len(pairs), round(share, 4), round(mean, 4),
                                  tuple(pairs[:3])))
    return out


def resolve_conflicts(aliases: Iterable[MinedAlias], margin: float = 2.0) -> tuple[list[MinedAlias], int]:
    """Per (language, surface) the entity that has it at least ``margin`` times as often as any other;
    surfaces without such a winner are dropped. (kept, sorted; number of dropped surfaces)."""
    by_surface: dict[tuple[str, str], list[MinedAlias]] = defaultdict(list)
    for alias in aliases:
        by_surface[(alias.lang, alias.alias)].append(alias)
    kept, dropped = [], 0
    for claims in by_surface.values():
        claims.sort(key=lambda a: (-a.count, a.entity))
        if len(claims) == 1 or claims[0].count >= margin * claims[1].count:
            kept.append(claims[0])
        else:
            dropped += 1
    return sorted(kept, key=lambda a: (a.lang, a.entity, -a.count, a.alias)), dropped


def _read_manifest(folder: str) -> dict:
    path = FileSystems.join(folder, MANIFEST_NAME)
    if not FileSystems.exists(path):
        raise ValueError(f"{folder}: no {MANIFEST_NAME} (not a finished shard folder)")
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        return json.loads(handle.read().decode("utf-8"))


def shard_files(folder: str) -> list[str]:
    """The Parquet shard files of a finished shard folder (any Beam file system): the manifest's list, or, for
    a manifest without one (1.0), the split folders' Parquet files. ValueError without a manifest."""
    listed = listed_shards(_read_manifest(folder), folder)
    if listed:
        return [FileSystems.join(folder, f["path"]) for f in listed]
    found = []
    for split in ("train", "dev", "test"):
        pattern = FileSystems.join(folder, split, "**.parquet")
        found += [m.path for result in FileSystems.match([pattern]) for m in result.metadata_list]
    return sorted(found)


def read_rows(path: str) -> Iterator[dict]:
    """The mining columns of one shard file, row by row."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        table = pq.read_table(pa.BufferReader(handle.read()), columns=COLUMNS)
    yield from table.to_pylist()


def _by_entity(observation: Observation):
    lang, entity, surface, confidence, key = observation
    return (lang, entity), (surface, confidence, key.split(":")[0])


class MineAliases(beam.PTransform):
    """Shard rows (dicts of COLUMNS) -> MinedAlias candidates (before :func:`resolve_conflicts`)."""

    def __init__(self, langs: Sequence[str], settings: MiningSettings) -> None:
        super().__init__()
        self.langs, self.settings = frozenset(langs), settings

    def expand(self, rows):
        langs, settings = self.langs, self.settings
        return (
            rows
            | "Observations" >> beam.FlatMap(observations)
            | "InLangs" >> beam.Filter(lambda o: o[0] in langs)
            | "OncePerMention" >> beam.Distinct()
            | "ByEntity" >> beam.Map(_by_entity)
            | "GroupByEntity" >> beam.GroupByKey()
            | "Choose" >> beam.FlatMap(lambda kv: choose_aliases(kv[0][0], kv[0][1], kv[1], settings))
        )


def write_output(output: str, aliases: Sequence[MinedAlias], info: dict) -> None:
    """``<lang>.txt``, ``provenance.jsonl`` and ``mined.json`` into ``output``, replaced as a whole."""
    replace_folder(output, lambda staging: _fill(staging, aliases, info))


def replace_folder(output: str, fill: Callable[[str], None]) -> None:
    """Write a local folder whole: ``fill`` a staging folder beside it, then swap it in for ``output``."""
    staging = output.rstrip("/") + ".staging"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    fill(staging)
    if os.path.exists(output):
        shutil.rmtree(output)
    os.rename(staging, output)


def _fill(staging: str, aliases: Sequence[MinedAlias], info: dict) -> None:
    by_lang: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for alias in aliases:
        by_lang[alias.lang][alias.entity].append(alias.alias)
    for lang, entities in by_lang.items():
        with open(os.path.join(staging, f"{lang}.txt"), "w", encoding="utf-8") as handle:
            for entity in sorted(entities):
                handle.write("\t".join([entity, *entities[entity]]) + "\n")
    with open(os.path.join(staging, "provenance.jsonl"), "w", encoding="utf-8") as handle:
        for alias in aliases:
            handle.write(json.dumps(asdict(alias), ensure_ascii=False) + "\n")
    with open(os.path.join(staging, "mined.json"), "w", encoding="utf-8") as handle:
        json.dump(info, handle, indent=2, ensure_ascii=False)


def finish(candidates: Sequence[MinedAlias], output: str, info: dict, margin: float) -> None:
    """The last step: resolve conflicts across entities, count, write the folder."""
    kept, conflicts = resolve_conflicts(candidates, margin)
    info = {**info, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "aliases": dict(sorted(Counter(a.lang for a in kept).items())),
            "entities": len({(a.lang, a.entity) for a in kept}), "dropped_ambiguous_surfaces": conflicts}
    write_output(output, kept, info)


def run(shards: Sequence[str], langs: Sequence[str], output: str, settings: MiningSettings = MiningSettings()) -> dict:
    """Mine, write, and return the summary written to ``mined.json`` (local FnApiRunner; local paths)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.runners.portability.fn_api_runner import FnApiRunner

    files = [f for folder in shards for f in shard_files(folder)]
    inputs = []
    for folder in shards:
        manifest = _read_manifest(folder)
        where = folder if "://" in folder else os.path.abspath(folder)
        inputs.append({"shards": where, "kb_version": manifest.get("kb_version"),
                       "kb_facts_version": manifest.get("kb_facts_version")})
    info = {"pipeline_version": pipeline_version(), "inputs": inputs, "shard_files": len(files),
            "settings": asdict(settings), "langs": sorted(langs)}
    with beam.Pipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[])) as p:
        _ = (p | beam.Create(files) | "ReadRows" >> beam.FlatMap(read_rows) | MineAliases(langs, settings)
             | beam.combiners.ToList()
             | beam.Map(finish, output, info, settings.margin))
    with open(os.path.join(output, "mined.json"), encoding="utf-8") as handle:
        return json.load(handle)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.mine_aliases", description=__doc__.splitlines()[0])
    parser.add_argument("--shards", nargs="+", required=True, help="finished shard folders (with a manifest)")
    parser.add_argument("--langs", nargs="+", required=True, help="target languages to mine aliases for")
    parser.add_argument("--output", required=True, help="alias folder to write (replaced as a whole)")
    parser.add_argument("--min-count", type=int, default=3, help="distinct sentence pairs per alias (default 3)")
    parser.add_argument("--min-share", type=float, default=0.2,
                        help="least share of the entity's projected mentions with this surface (default 0.2)")
    parser.add_argument("--min-confidence", type=float, default=0.5,
                        help="least mean projection confidence (default 0.5)")
    parser.add_argument("-v", "--verbose", action="store_true", help="tracebacks and Beam's logs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    settings = MiningSettings(args.min_count, args.min_share, args.min_confidence)
    try:
        info = run(args.shards, args.langs, args.output, settings)
    except (ValueError, OSError) as err:
        if args.verbose:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{args.output}: {info['aliases']} aliases of {info['entities']} entities from {info['shard_files']} "
          f"shard files ({info['dropped_ambiguous_surfaces']} ambiguous surfaces dropped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
