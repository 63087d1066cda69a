"""KB verbalisation: relation-template sentences from the KB's own facts, written as a shard set.

Distant supervision from news and Wikipedia bitext labels the relations that bitext happens to mention: mostly
countries (shares border, diplomatic relation), almost never employer, birthplace or membership. This job adds
what the KB itself can say: for every fact (head, relation, tail) of a sample it writes the relation's cloze
template (X-FACTR's ``TREx_prompts.csv``, written by native speakers, one per relation and language) with the two
entities' aliases in that language, e.g. ``Marie Curie was born in Warsaw .``, as a shard row of label source
``verbalized``. rex then trains on these rows beside the bitext rows (``data.label_sources`` filters them).

* Rows are **train only**: a fact whose unordered entity pair hashes to dev or test (the same ``split_of`` as the
  pipeline) is not written, so template sentences never enter an evaluation split and no held-out pair is seen
  in training. Those facts are counted in the manifest as rejects (``verbalize/heldout_pair``), as are facts with
  no alias in a language (``verbalize/no_alias``) and relations with no template (``verbalize/no_template``).
* Labels are every KB relation from head to tail, not only the template's, so a row is never a false negative
  for a relation the KB knows.
* The template markup is rendered simply: the first alternative of ``[né;X-Gender=MASC|née;...]``, a default word
  for French/Spanish article and preposition tags, Turkish case suffixes after an apostrophe with vowel harmony
  (``Ankara'da``); the entity span is the name alone.

    python -m pipelines.verbalize --kb ../shared/data/xfactr-kb \\
        --kb-extra-aliases ../shared/data/xfactr-aliases-extra --langs en fr es tr --per-relation 200 \\
        --output out/shards-verbalized
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from apache_beam.io.filesystems import FileSystems
from tqdm import tqdm

from pipelines.commit import commit, new_staging
from pipelines.hashing import unit_hash
from pipelines.kb_tables import table_keys, write_kb_tables
from pipelines.manifest import build_manifest, instance_keys, write_manifest
from pipelines.read import fingerprint
from pipelines.resources import code_version, load_run_kb, pipeline_version
from pipelines.split import split_of
from schemas.cli import HelpFormatter, add_deprecated, add_kb_arguments, progress_off, split_codes
from schemas.io import write_parquet
from schemas.kb import KnowledgeBase, read_relation_templates
from schemas.manifest import DATASET_ROOT
from schemas.shard import SHARD_SCHEMA, make_instance_id

logger = logging.getLogger(__name__)

LABEL_SOURCE = "verbalized"
DEFAULT_LANGS = ("en", "fr", "es", "tr")
_TAG = re.compile(r"\[([^\]]*)\]")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_NO_SPACE = frozenset({"zh", "ja"})  # scripts written without spaces between words

# Default words for the article / preposition tags of the French and Spanish templates ("" drops the tag).
_TAG_WORDS = {
    "fr": {"ARTDEF": "", "ARTIND": "un", "PREPDEF": "de", "PREPDEF-à": "à", "PREPLOC": "à"},
    "es": {"ART": "un", "DEF": "el"},
}


@dataclass(frozen=True)
class Sentence:
    """A rendered template: the text and the half-open character spans of the head (X) and the tail (Y)."""

    text: str
    head: tuple[int, int]
    tail: tuple[int, int]


def read_templates(path: str) -> dict[str, dict[str, str]]:
    """``TREx_prompts.csv`` -> {relation id: {lang: template}} (empty templates left out)."""
    return read_relation_templates(path)


_BACK_VOWELS, _FRONT_VOWELS = "aıou", "eiöü"
_HARD = "çfhkpsştÇFHKPSŞT"


def turkish_suffix(name: str, case: str) -> str:
    """The apostrophe case suffix of a proper name, by vowel harmony: ``Ankara`` + Loc -> ``'da``.

    Cases: Loc (-da/-de/-ta/-te), Gen (-(n)ın/in/un/ün), Dat (-(y)a/e), Acc (-(y)ı/i/u/ü), Abl (-dan/den/tan/ten).
    A name with no Turkish vowel (an acronym, a foreign script) takes the front-vowel forms."""
    vowels = [c for c in name.lower() if c in _BACK_VOWELS + _FRONT_VOWELS]
    last = vowels[-1] if vowels else "e"
    a = "a" if last in _BACK_VOWELS else "e"
    i = {"a": "ı", "ı": "ı", "o": "u", "u": "u", "e": "i", "i": "i", "ö": "ü", "ü": "ü"}[last]
    ends_vowel = bool(name) and name[-1].lower() in _BACK_VOWELS + _FRONT_VOWELS
    d = "t" if name and name[-1] in _HARD else "d"
    forms = {"Loc": f"{d}{a}", "Abl": f"{d}{a}n", "Gen": ("n" if ends_vowel else "") + f"{i}n",
             "Dat": ("y" if ends_vowel else "") + a, "Acc": ("y" if ends_vowel else "") + i}
    return "'" + forms[case] if case in forms else ""


def render(template: str, lang: str, head: str, tail: str) -> Sentence | None:
    """The template with X = head and Y = tail, or None when it does not hold both exactly once."""
    pieces: list[tuple[str, str | None]] = []  # (text, "X"/"Y"/None), joined by spaces (or not, zh/ja)
    last = 0
    for match in _TAG.finditer(template):
        before = template[last:match.start()].strip()
        if before:
            pieces.append((before, None))
        last = match.end()
        tag = match.group(1)
        if tag in ("X", "Y") or re.fullmatch(r"[XY]\.[A-Za-z]+", tag):
            role, _, case = tag.partition(".")
            name = head if role == "X" else tail
            pieces.append((name, role))
            if case and lang == "tr":
                pieces.append((turkish_suffix(name, case), "suffix"))
        elif re.fullmatch(r"[XY];be", tag):  # Turkish copula after a noun: drop, the name is enough
            pieces.append((head if tag[0] == "X" else tail, tag[0]))
        elif "|" in tag or "=" in tag:  # agreement alternatives: the first one
            pieces.append((tag.split("|")[0].split(";")[0], None))
        else:
            word = _TAG_WORDS.get(lang, {}).get(tag.split(";")[0], "")
            if word:
                pieces.append((word, None))
    rest = template[last:].strip()
    if rest:
        pieces.append((rest, None))
    roles = [role for _, role in pieces]
    if roles.count("X") != 1 or roles.count("Y") != 1:
        return None
    text, spans = "", {}
    for piece, role in pieces:
        if text and role != "suffix" and lang not in _NO_SPACE:
            text += " "
        if role in ("X", "Y"):
            spans[role] = (len(text), len(text) + len(piece))
        text += piece
    return Sentence(text, spans["X"], spans["Y"])


def tokens_of(text: str) -> tuple[list[str], list[int], list[int]]:
    """Word and punctuation tokens with their character offsets (entity names are whole pieces, so their spans
    fall on token boundaries)."""
    found = list(_TOKEN.finditer(text))
    return [m.group() for m in found], [m.start() for m in found], [m.end() for m in found]


def pick_alias(kb: KnowledgeBase, entity: str, lang: str) -> str | None:
    """One alias of ``entity`` in ``lang``, chosen by a hash of (entity, lang) so a rerun picks the same."""
    names = kb.aliases.get(lang, {}).get(entity)
    if not names:
        return None
    return sorted(names)[int(unit_hash(f"alias|{entity}|{lang}") * len(names))]


def _span(kb_id: str, span: tuple[int, int], text: str, starts: list[int], ends: list[int]) -> dict:
    return {"kb_id": kb_id, "token_start": starts.index(span[0]), "token_end": ends.index(span[1]) + 1,
            "char_start": span[0], "char_end": span[1], "surface": text[span[0]:span[1]]}


def verbalize(kb: KnowledgeBase, templates: dict[str, dict[str, str]], langs: Sequence[str], per_relation: int,
              fractions: Sequence[float], version: str) -> Iterator[tuple[str, dict | str]]:
    """Yields ("row", SHARD_SCHEMA row) for the train-split facts and ("reject", reason) for every fact x
    language that gives no row. ``per_relation`` facts per relation are taken (by a hash of the fact, so the
    sample is stable and the same facts are chosen in every language); 0 takes all."""
    by_relation: dict[str, list[tuple[str, str]]] = {}
    for head, relation, tail in kb.facts:
        by_relation.setdefault(relation, []).append((head, tail))
    for relation in sorted(by_relation):
        facts = sorted(set(by_relation[relation]), key=lambda ht: unit_hash(f"fact|{relation}|{ht[0]}|{ht[1]}"))
        if per_relation:
            facts = facts[:per_relation]
        for head, tail in facts:
            heldout = split_of(head, tail, fractions) != "train"
            labels = sorted(kb.relations_between(head, tail))
            for lang in langs:
                template = templates.get(relation, {}).get(lang)
                if heldout or not template:
                    yield "reject", "heldout_pair" if heldout else "no_template"
                    continue
                head_name, tail_name = pick_alias(kb, head, lang), pick_alias(kb, tail, lang)
                sentence = render(template, lang, head_name, tail_name) if head_name and tail_name else None
                if sentence is None:
                    yield "reject", "no_alias" if not (head_name and tail_name) else "bad_template"
                    continue
                tokens, starts, ends = tokens_of(sentence.text)
                row = {
                    "pair_id": f"kb-template:{relation}:{head}:{tail}:{lang}",
                    "source_instance_id": None,
                    "lang": lang,
                    "text": sentence.text,
                    "tokens": tokens,
                    "token_starts": starts,
                    "token_ends": ends,
                    "head": _span(head, sentence.head, sentence.text, starts, ends),
                    "tail": _span(tail, sentence.tail, sentence.text, starts, ends),
                    "relations": labels,
                    "label_source": LABEL_SOURCE,
                    "projection_confidence": None,
                    "aligner": None,
                    "split": "train",
                    "kb_version": kb.version,
                    "pipeline_version": version,
                }
                row["instance_id"] = make_instance_id(row)
                yield "row", row


def run(kb_dir: str, extra_alias_dirs: Sequence[str], templates_path: str | None, langs: Sequence[str],
        per_relation: int, output: str, fractions: Sequence[float] = (0.8, 0.1, 0.1), progress: bool = False) -> dict:
    """Writes ``<output>/data/train/lang=<lang>/verbalized-00000-of-00001.parquet`` and ``<output>/manifest.json``;
    returns the manifest. ``progress``: a tqdm count of facts x languages on stderr (on a terminal only)."""
    kb = load_run_kb(kb_dir, tuple(extra_alias_dirs), tuple(langs))
    templates_path = templates_path or FileSystems.join(kb_dir, "TREx_prompts.csv")
    templates = read_templates(templates_path)
    version = pipeline_version()
    rows, rejects = [], Counter()
    for kind, item in tqdm(verbalize(kb, templates, langs, per_relation, fractions, version), desc="verbalize",
                           unit=" facts x langs", disable=progress_off(not progress)):
        if kind == "row":
            rows.append(item)
        else:
            rejects[("verbalize", item)] += 1
    staging = new_staging(output)  # written aside, then committed with its complete manifest last
    outputs = []
    for lang in sorted({row["lang"] for row in rows}):  # the pipeline's layout: data/<split>/lang=<lang>/
        relative = f"{DATASET_ROOT}/train/lang={lang}/verbalized-00000-of-00001.parquet"
        FileSystems.mkdirs(FileSystems.join(staging, relative.rsplit("/", 1)[0]))
        write_parquet([row for row in rows if row["lang"] == lang], FileSystems.join(staging, relative), SHARD_SCHEMA)
        outputs.append(("train", relative))
    counts = Counter(key for row in rows for key in table_keys(row["head"]["kb_id"], row["tail"]["kb_id"],
                                                               row["relations"]))
    outputs += write_kb_tables(staging, kb, counts.items(), langs, templates)  # relations.parquet, entities.parquet
    instances = Counter(key for row in rows for key in instance_keys(row))
    config = {"job": "verbalize", "kb": kb_dir, "extra_alias_dirs": list(extra_alias_dirs),
              "templates": templates_path, "langs": list(langs), "per_relation": per_relation,
              "fractions": list(fractions)}
    manifest = build_manifest(
        config_json=json.dumps(config, sort_keys=True), kb_version=kb.version, kb_facts_version=kb.facts_version,
        pipeline_version=version,
        read_records=len(rows) + sum(rejects.values()), accepted_pairs=len(rows),
        instance_counts=instances.items(), row_counts=Counter(("train", row["lang"]) for row in rows).items(),
        reject_counts=rejects.items(), inputs=[fingerprint(templates_path)], outputs=outputs,
        dataset_root=DATASET_ROOT, code_version=code_version())
    write_manifest(manifest, FileSystems.join(staging, "manifest.json"))
    manifest = commit(staging, output)
    logger.info("verbalized %d rows (%s); not written: %s", len(rows),
                dict(Counter(row["lang"] for row in rows)), dict(rejects))
    return manifest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipelines.verbalize", description=__doc__.split("\n\n")[0],
                                     formatter_class=HelpFormatter,
                                     epilog="Old spellings of renamed flags (--extra-alias-dir) still work and print a "
                                     "deprecation warning.")
    add_kb_arguments(parser, "KB folder (facts/, aliases/; TREx_prompts.csv unless --templates)",
                     "more alias folders, as given to the pipeline")
    parser.add_argument("--templates", metavar="CSV", help="template CSV (pid,relation,<lang>...); default "
                        "<kb>/TREx_prompts.csv")
    parser.add_argument("--langs", action="extend", nargs="+", metavar="LANG",
                        help="languages, 'en fr' or 'en,fr' (default: en fr es tr)")
    parser.add_argument("--per-relation", type=int, default=200, help="facts per relation, 0 = all")
    parser.add_argument("--output", required=True, metavar="DIR", help="shard folder to write")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging and tracebacks")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no info lines")
    add_deprecated(parser, "--kb-extra-aliases", "--extra-alias-dir")
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(message)s")
    langs = split_codes(args.langs) or list(DEFAULT_LANGS)
    try:
        run(args.kb, args.kb_extra_aliases, args.templates, langs, args.per_relation, args.output,
            progress=not args.quiet)
    except (OSError, ValueError) as err:  # a missing KB or template file, a bad KB line: one line; -v traceback
        if args.verbose:
            raise
        parser.exit(2, f"{parser.prog}: error: {err}\n")


if __name__ == "__main__":
    main()
