"""Knowledge-base tables and the KB reader both the pipeline and ``rex`` use.

Layout read by :func:`load_kb` (the X-FACTR layout of ``../shared/data/xfactr-kb`` loads as it is)::

    KB_DIR/
      facts/*.jsonl | facts/*.tsv | facts.jsonl | facts.tsv
          JSONL: {"sub_uri", "predicate_id", "obj_uri"} (X-FACTR) or {"head", "relation", "tail"}
          TSV:   head<TAB>relation<TAB>tail
      aliases/<lang>.txt        entity_id<TAB>alias1<TAB>alias2 ...
      relations.tsv             optional: relation_id<TAB>name
      TREx_prompts.csv          optional (X-FACTR): relation names from its 'relation' column
      entities.jsonl            optional: {"id", "popularity"}

Extra alias folders (``extra_alias_dirs``, e.g. ``xfactr-aliases-extra``) hold more ``<lang>.txt``.
A folder may be local or on any Beam FileSystem (``gs://bucket/kb``): remote paths are listed and read through
``apache_beam.io.filesystems.FileSystems`` (imported only then), so Dataflow workers read the KB from GCS.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from schemas.version import field as sfield
from schemas.version import with_meta

logger = logging.getLogger(__name__)

ENTITY_SCHEMA = with_meta(
    "kb_entities",
    [
        sfield("entity_id", pa.string(), "KB id, e.g. a Wikidata Q-id."),
        sfield(
            "aliases",
            pa.map_(pa.string(), pa.list_(pa.string())),
            "Language code -> names of the entity in that language (label and aliases).",
        ),
        sfield(
            "popularity", pa.float64(), "Optional prior (default: number of facts the entity is in).", nullable=True
        ),
    ],
    "KB entities with multilingual aliases.",
)

FACT_SCHEMA = with_meta(
    "kb_facts",
    [
        sfield("fact_id", pa.string(), "Stable id: '<head>|<relation>|<tail>'."),
        sfield("head", pa.string(), "Subject entity id."),
        sfield("relation", pa.string(), "Relation id, e.g. a Wikidata property P19."),
        sfield("tail", pa.string(), "Object entity id."),
    ],
    "KB facts (head, relation, tail).",
)


RELATIONS_TABLE = "relations.parquet"  # beside a shard set's manifest: the KB's relations (KB_RELATION_SCHEMA)
ENTITIES_TABLE = "entities.parquet"  # beside it: the names of the shards' entities (KB_ENTITY_LABEL_SCHEMA)

_TEMPLATE = pa.struct([pa.field("lang", pa.string(), nullable=False),
                       pa.field("template", pa.string(), nullable=False)])

KB_RELATION_SCHEMA = with_meta(
    "kb_relations",
    [
        sfield("relation", pa.string(), "Relation id as in the shards' relations column (e.g. Wikidata P19)."),
        sfield("name", pa.string(), "The KB's name of the relation (relations.tsv or X-FACTR's TREx_prompts.csv: "
               "English); null when the KB has none.", nullable=True),
        sfield("instances", pa.int64(), "Instances of the relation in this shard set, every split and language (a "
               "multi-label row counts once per label); 0 for a KB relation the shards do not hold."),
        sfield("templates", pa.list_(_TEMPLATE), "The KB's cloze template of the relation per language of the run "
               "('[X] was born in [Y] .', TREx_prompts.csv), where it has one; sorted by language."),
    ],
    "Every relation of the KB a shard set was labelled with, with its name and count.",
)

KB_ENTITY_LABEL_SCHEMA = with_meta(
    "kb_entity_labels",
    [
        sfield("kb_id", pa.string(), "Entity id as in the shards' head.kb_id and tail.kb_id."),
        sfield("lang", pa.string(), "A language of the run: one row per entity and language."),
        sfield("label", pa.string(), "The entity's first name in the KB in this language; null when the KB has "
               "none (join on kb_id and lang).", nullable=True),
        sfield("aliases", pa.list_(pa.string()), "Every name of the entity in this language in the KB, the label "
               "first; empty when none."),
    ],
    "The names of the entities a shard set mentions, per language of the run.",
)


class KBFormatError(ValueError):
    """A KB file line that cannot be read; the message names the file and line."""


@dataclass
class KnowledgeBase:
    """An in-memory KB: facts, multilingual aliases, relation names and a content version.

    ``facts`` holds unique (head, relation, tail) triples in file order.
    """

    facts: list[tuple[str, str, str]]
    aliases: dict[str, dict[str, list[str]]]  # lang -> entity_id -> aliases
    relation_names: dict[str, str] = field(default_factory=dict)
    popularity: dict[str, float] = field(default_factory=dict)
    version: str = ""  # facts and the alias languages loaded: changes when either does
    facts_version: str = ""  # the facts alone: what the labels and a fact index come from
    aliases_version: str = ""  # the aliases of the languages loaded
    _pair_index: dict[tuple[str, str], list[str]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], set[str]] = defaultdict(set)
        for h, r, t in self.facts:
            index[(h, t)].add(r)
        self._pair_index = {k: sorted(v) for k, v in index.items()}
        if not self.popularity:
            counts: dict[str, float] = defaultdict(float)
            for h, _, t in self.facts:
                counts[h] += 1
                counts[t] += 1
            self.popularity = dict(counts)
        if not self.version:
            self.version = _content_version(self.facts, self.aliases)
        if not self.facts_version:
            self.facts_version = "facts-" + _digest(f"{h}\t{r}\t{t}\n" for h, r, t in self.facts)
        if not self.aliases_version:
            self.aliases_version = "aliases-" + _digest(
                f"{lang}\t{entity}\t{'|'.join(names)}\n" for lang in sorted(self.aliases)
                for entity, names in sorted(self.aliases[lang].items()))

    @property
    def languages(self) -> list[str]:
        return sorted(self.aliases)

    @property
    def relations(self) -> list[str]:
        return sorted({r for _, r, _ in self.facts})

    def relations_between(self, head: str, tail: str) -> list[str]:
        """Sorted relation ids r with (head, r, tail) in the KB; [] when none."""
        return self._pair_index.get((head, tail), [])

    def alias_items(self, lang: str) -> Iterator[tuple[str, str]]:
        """(alias, entity_id) for every alias in ``lang``."""
        for entity, names in self.aliases.get(lang, {}).items():
            for name in names:
                yield name, entity

    def entity_table(self) -> pa.Table:
        ids = sorted({e for by_lang in self.aliases.values() for e in by_lang} | set(self.popularity))
        rows = [
            {
                "entity_id": e,
                "aliases": [(lang, self.aliases[lang][e]) for lang in self.languages if e in self.aliases[lang]],
                "popularity": self.popularity.get(e),
            }
            for e in ids
        ]
        return pa.Table.from_pylist(rows, schema=ENTITY_SCHEMA)

    def fact_table(self) -> pa.Table:
        rows = [{"fact_id": f"{h}|{r}|{t}", "head": h, "relation": r, "tail": t} for h, r, t in self.facts]
        return pa.Table.from_pylist(rows, schema=FACT_SCHEMA)


def _digest(lines: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode())
    return digest.hexdigest()[:16]


def _content_version(facts: Sequence[tuple[str, str, str]], aliases: dict[str, dict[str, list[str]]]) -> str:
    digest = hashlib.sha256()
    for h, r, t in facts:
        digest.update(f"{h}\t{r}\t{t}\n".encode())
    for lang in sorted(aliases):
        for entity in sorted(aliases[lang]):
            digest.update(f"{lang}\t{entity}\t{'|'.join(aliases[lang][entity])}\n".encode())
    return "kb-" + digest.hexdigest()[:16]


def _remote(path: str) -> bool:
    return "://" in path


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts]) if _remote(root) else os.path.join(root, *parts)


def _glob(pattern: str) -> list[str]:
    if not _remote(pattern):
        return glob.glob(pattern)
    from apache_beam.io.filesystems import FileSystems

    return [m.path for m in FileSystems.match([pattern])[0].metadata_list]


def _exists(path: str) -> bool:
    if not _remote(path):
        return os.path.exists(path)
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.exists(path)


def _isdir(path: str) -> bool:
    """A local folder, or a remote prefix with at least one file under it (object stores have no folders)."""
    return os.path.isdir(path) if not _remote(path) else bool(_glob(_join(path, "**")))


def _open_binary(path: str):
    if not _remote(path):
        return open(path, "rb")
    from apache_beam.io.filesystems import FileSystems

    return FileSystems.open(path, compression_type="uncompressed")


def _lines(path: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of the non-blank lines; KBFormatError naming file and line for bytes that are not UTF-8."""
    with _open_binary(path) as handle:
        for number, raw in enumerate(iter(handle.readline, b""), 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise KBFormatError(f"{path}:{number}: not UTF-8 ({err.reason} at byte {err.start})") from None
            line = line.rstrip("\n").rstrip("\r")
            if number == 1:
                line = line.removeprefix("\ufeff")
            if line.strip():
                yield number, line


def read_facts(path: str) -> Iterator[tuple[str, str, str]]:
    """Facts of one JSONL or TSV file; KBFormatError naming file and line on a bad line."""
    is_jsonl = path.endswith((".jsonl", ".json"))
    for number, line in _lines(path):
        if is_jsonl:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as err:
                raise KBFormatError(f"{path}:{number}: not JSON ({err.msg})") from err
            if not isinstance(obj, dict):
                raise KBFormatError(f"{path}:{number}: expected a JSON object")
            triple = (
                obj.get("sub_uri", obj.get("head")),
                obj.get("predicate_id", obj.get("relation")),
                obj.get("obj_uri", obj.get("tail")),
            )
            if not all(isinstance(x, str) and x for x in triple):
                raise KBFormatError(
                    f"{path}:{number}: a fact needs head/relation/tail (or sub_uri/predicate_id/obj_uri) strings"
                )
            yield triple  # type: ignore[misc]
        else:
            parts = line.split("\t")
            if len(parts) != 3 or not all(parts):
                raise KBFormatError(f"{path}:{number}: expected 3 tab-separated fields, got {len(parts)}")
            yield parts[0], parts[1], parts[2]


def read_aliases(path: str) -> Iterator[tuple[str, list[str]]]:
    """(entity_id, aliases) per line of an alias file ``entity_id<TAB>alias...``."""
    for number, line in _lines(path):
        parts = [p.strip() for p in line.split("\t")]
        names = [p for p in parts[1:] if p]
        if not parts[0] or not names:
            raise KBFormatError(f"{path}:{number}: expected 'entity_id<TAB>alias[<TAB>alias...]'")
        yield parts[0], names


def read_relation_names(path: str) -> dict[str, str]:
    """Relation id -> name from a KB folder (its ``TREx_prompts.csv``, then ``relations.tsv``, which wins), or from
    one such file: a CSV with ``pid`` and ``relation`` columns, or a ``relation_id<TAB>name`` table."""
    if not path.endswith((".csv", ".tsv")) and _isdir(path):
        names: dict[str, str] = {}
        for name in ("TREx_prompts.csv", "relations.tsv"):
            if _exists(_join(path, name)):
                names.update(read_relation_names(_join(path, name)))
        return names
    if path.endswith(".csv"):
        try:
            with io.TextIOWrapper(_open_binary(path), encoding="utf-8", newline="") as handle:
                rows = csv.DictReader(handle)
                return {row["pid"]: row["relation"] for row in rows if row.get("pid") and row.get("relation")}
        except UnicodeDecodeError as err:
            raise KBFormatError(f"{path}: not UTF-8 ({err.reason} at byte {err.start} of the file)") from None
        except csv.Error as err:
            raise KBFormatError(f"{path}:{rows.line_num}: not CSV ({err})") from None
    names = {}
    for number, line in _lines(path):
        parts = line.split("\t")
        if len(parts) < 2:
            raise KBFormatError(f"{path}:{number}: expected 'relation_id<TAB>name'")
        names[parts[0]] = parts[1]
    return names


def read_relation_templates(path: str) -> dict[str, dict[str, str]]:
    """X-FACTR's ``TREx_prompts.csv`` -> {relation id: {lang: cloze template}} (templates without both ``[X`` and
    ``[Y`` left out); local or any Beam FileSystem path."""
    try:
        with io.TextIOWrapper(_open_binary(path), encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    except UnicodeDecodeError as err:
        raise KBFormatError(f"{path}: not UTF-8 ({err.reason} at byte {err.start} of the file)") from None
    except csv.Error as err:
        raise KBFormatError(f"{path}: not CSV ({err})") from None
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        pid = row.pop("pid", None)
        row.pop("relation", None)
        if pid:
            out[pid] = {lang: text.strip() for lang, text in row.items()
                        if lang and text and "[X" in text and "[Y" in text}
    return out


def kb_templates(kb_dir: str) -> dict[str, dict[str, str]]:
    """The KB folder's relation templates ({} when it has no ``TREx_prompts.csv``)."""
    path = _join(kb_dir, "TREx_prompts.csv")
    return read_relation_templates(path) if _exists(path) else {}


def relation_rows(kb: KnowledgeBase, instances: dict[str, int], langs: Sequence[str],
                  templates: dict[str, dict[str, str]] | None = None) -> list[dict]:
    """KB_RELATION_SCHEMA rows: every relation of the KB and of ``instances`` (relation -> instances in the
    shards), sorted by id."""
    templates = templates or {}
    return [{"relation": r, "name": kb.relation_names.get(r), "instances": int(instances.get(r, 0)),
             "templates": [{"lang": lang, "template": templates[r][lang]} for lang in sorted(langs)
                           if lang in templates.get(r, {})]}
            for r in sorted(set(kb.relations) | set(instances))]


def entity_label_rows(kb: KnowledgeBase, entity_ids: Iterable[str], langs: Sequence[str]) -> list[dict]:
    """KB_ENTITY_LABEL_SCHEMA rows: one per entity x language, sorted, with the KB's names in that language."""
    rows = []
    for entity in sorted(set(entity_ids)):
        for lang in sorted(langs):
            names = kb.aliases.get(lang, {}).get(entity, [])
            rows.append({"kb_id": entity, "lang": lang, "label": names[0] if names else None,
                         "aliases": list(names)})
    return rows


def _fact_files(kb_dir: str) -> list[str]:
    files = sorted(_glob(_join(kb_dir, "facts", "*.jsonl")) + _glob(_join(kb_dir, "facts", "*.tsv")))
    files += [p for p in (_join(kb_dir, "facts.jsonl"), _join(kb_dir, "facts.tsv")) if _exists(p)]
    return files


def _alias_files(dirs: Iterable[str], langs: Sequence[str] | None) -> dict[str, list[str]]:
    by_lang: dict[str, list[str]] = defaultdict(list)
    for d in dirs:
        for path in sorted(_glob(_join(d, "*.txt")) + _glob(_join(d, "*.tsv"))):
            lang = path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
            if langs is None or lang in langs:
                by_lang[lang].append(path)
    return by_lang


def load_kb(
    kb_dir: str,
    extra_alias_dirs: Sequence[str] = (),
    langs: Sequence[str] | None = None,
) -> KnowledgeBase:
    """Load a KB folder (see the module docstring). ``langs`` limits the alias languages loaded.

    Raises FileNotFoundError when the folder has no fact file, KBFormatError on a bad line (naming file and line)
    and when the fact files hold no fact at all (labels from an empty KB would all be no-relation).
    """
    if not _isdir(kb_dir):
        raise FileNotFoundError(f"KB folder not found: {kb_dir}")
    fact_files = _fact_files(kb_dir)
    if not fact_files:
        raise FileNotFoundError(f"{kb_dir}: no facts/*.jsonl, facts/*.tsv, facts.jsonl or facts.tsv")
    seen: set[tuple[str, str, str]] = set()
    facts: list[tuple[str, str, str]] = []
    for path in fact_files:
        for triple in read_facts(path):
            if triple not in seen:
                seen.add(triple)
                facts.append(triple)
    if not facts:
        raise KBFormatError(f"{kb_dir}: no facts in {', '.join(fact_files)} (every line blank)")
    aliases: dict[str, dict[str, list[str]]] = {}
    alias_dirs = [_join(kb_dir, "aliases"), *extra_alias_dirs]
    for lang, paths in _alias_files(alias_dirs, langs).items():
        table: dict[str, list[str]] = aliases.setdefault(lang, {})
        for path in paths:
            for entity, names in read_aliases(path):
                merged = table.setdefault(entity, [])
                merged.extend(n for n in names if n not in merged)
    popularity: dict[str, float] = {}
    entities = _join(kb_dir, "entities.jsonl")
    if _exists(entities):
        for number, line in _lines(entities):
            try:
                obj = json.loads(line)
                popularity[obj["id"]] = float(obj["popularity"])
            except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
                raise KBFormatError(f"{entities}:{number}: expected {{'id', 'popularity'}} ({err})") from err
    kb = KnowledgeBase(facts=facts, aliases=aliases, relation_names=read_relation_names(kb_dir), popularity=popularity)
    logger.info(
        "KB %s: %d facts, %d relations, alias languages %s", kb.version, len(facts), len(kb.relations), kb.languages
    )
    return kb
