"""Read stage: bitext from TSV, JSONL or Moses file pairs on any Beam FileSystem (gzip and globs too).

Formats (one record per line; every line is a record, so a bad or blank line becomes a reject):

* ``tsv``: ``src<TAB>tgt``.
* ``jsonl``: ``{"src": ..., "tgt": ...}`` or keyed by the language codes (``{"en": ..., "de": ...}``);
  optional ``id`` (becomes the pair_id) and ``doc_id``.
* ``moses``: ``PREFIX.<src-lang>`` and ``PREFIX.<tgt-lang>``, line k of one translating line k of the other;
  ``--input SRC_FILE,TGT_FILE`` names two files explicitly.

Several target languages (``--tgt-lang de,zh``): a Moses PREFIX is read once per target language; a
JSONL line keyed by language codes yields one pair per target language (its ``id`` then gets the
suffix ``:<tgt-lang>``); TSV and explicit ``SRC_FILE,TGT_FILE`` inputs need a single target language.

Output: BitextPair records (texts in NFC) on the main output, Reject records on ``rejects``.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import itertools
import json
import unicodedata
import zlib
from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from pipelines.deadletter import REJECTS, reject, route
from pipelines.records import BitextPair, Reject
from schemas.bitext import make_pair_id

STAGE = "read"
Unit = tuple[str, ...]  # (tgt_lang, path) for tsv/jsonl, (tgt_lang, src_path, tgt_path) for moses


def expand_inputs(patterns: Sequence[str], fmt: str, src_lang: str, tgt_langs: Sequence[str]) -> list[Unit]:
    """Resolve globs to sorted read units; FileNotFoundError naming a pattern that matches nothing."""
    units: list[Unit] = []
    single = len(tgt_langs) == 1
    for pattern in patterns:
        if (fmt == "tsv" or (fmt == "moses" and "," in pattern)) and not single:
            raise ValueError(f"input {pattern!r}: {fmt} with explicit files needs a single --tgt-lang")
        if fmt == "moses" and "," in pattern:
            src, tgt = pattern.split(",", 1)
            units.append((tgt_langs[0], _match_one(src), _match_one(tgt)))
        elif fmt == "moses":
            suffix = f".{src_lang}"
            for src in _match(pattern + suffix):
                units.extend((lang, src, src[: -len(suffix)] + f".{lang}") for lang in tgt_langs)
        else:
            units.extend((lang, path) for path in _match(pattern) for lang in tgt_langs)
    return units


def _match(pattern: str) -> list[str]:
    result = FileSystems.match([pattern])[0]
    paths = sorted(m.path for m in result.metadata_list)
    if not paths:
        raise FileNotFoundError(f"input {pattern!r} matches no file")
    return paths


def _match_one(path: str) -> str:
    paths = _match(path)
    if len(paths) != 1:
        raise ValueError(f"moses input {path!r} must name one file, matches {len(paths)}")
    return paths[0]


class UnreadableInput(Exception):
    """A file that cannot be read to its end (truncated or corrupt compression): ``line`` is the first line
    that could not be read."""

    def __init__(self, path: str, line: int, cause: BaseException) -> None:
        super().__init__(f"{path}: unreadable from line {line} on ({type(cause).__name__}: {cause})")
        self.path, self.line = path, line


_DECOMPRESSORS = {".gz": lambda raw: gzip.GzipFile(fileobj=raw), ".bz2": bz2.BZ2File}


def iter_lines(path: str) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes without the line break); gzip/bzip2 by extension (other compressions as
    Beam detects them). UnreadableInput when the file cannot be read to its end: a truncated or corrupt .gz/.bz2
    (the line cut by the break is not yielded), or a plain file named .gz."""
    opener = next((fn for ext, fn in _DECOMPRESSORS.items() if path.endswith(ext)), None)
    number = 0
    with FileSystems.open(path, **({"compression_type": "uncompressed"} if opener else {})) as raw:
        handle = opener(raw) if opener else raw
        try:
            for number, line in enumerate(iter(handle.readline, b""), 1):  # CompressedFile is not iterable
                yield number, line.rstrip(b"\n").rstrip(b"\r")
        except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            raise UnreadableInput(path, number + 1, err) from err


def fingerprint(path: str) -> dict:
    """{'path', 'bytes', 'sha256'} of a file (for the manifest)."""
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"path": path, "bytes": size, "sha256": digest.hexdigest()}


def make_record(src: str, tgt: str, src_lang: str, tgt_lang: str, origin: str,
                pair_id: str | None = None, doc_id: str | None = None) -> BitextPair:
    """A bitext pair; texts NFC-normalised, pair_id given or the content hash."""
    src, tgt = unicodedata.normalize("NFC", src), unicodedata.normalize("NFC", tgt)
    return BitextPair(pair_id or make_pair_id(src_lang, tgt_lang, src, tgt), src_lang, tgt_lang, src, tgt, origin,
                      doc_id)


def _decode(raw: bytes, origin: str) -> str | Reject:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return reject(STAGE, "undecodable", f"not UTF-8: {err.reason} at byte {err.start}", origin=origin,
                      raw=raw.decode("utf-8", errors="replace"))


def parse_tsv_line(raw: bytes, origin: str, src_lang: str, tgt_lang: str) -> BitextPair | Reject:
    """A bitext pair, or a reject for an undecodable line or a wrong field count."""
    text = _decode(raw, origin)
    if isinstance(text, Reject):
        return text
    fields = text.split("\t")
    if len(fields) != 2:
        return reject(STAGE, "wrong_field_count", f"expected 2 tab-separated fields, got {len(fields)}",
                      origin=origin, raw=text)
    return make_record(fields[0], fields[1], src_lang, tgt_lang, origin)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def parse_jsonl_line(raw: bytes, origin: str, src_lang: str, tgt_lang: str,
                     id_suffix: str = "") -> BitextPair | Reject:
    """A bitext pair from one JSON object line, or a reject. ``id_suffix`` is appended to an ``id``."""
    text = _decode(raw, origin)
    if isinstance(text, Reject):
        return text
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as err:
        return reject(STAGE, "bad_json", f"{err.msg} at column {err.colno}", origin=origin, raw=text)
    except RecursionError:
        return reject(STAGE, "bad_json", "nested too deeply", origin=origin, raw=text[:1000])
    if not isinstance(obj, dict):
        return reject(STAGE, "bad_json", "expected a JSON object", origin=origin, raw=text)
    src, tgt = obj.get("src", obj.get(src_lang)), obj.get("tgt", obj.get(tgt_lang))
    if not isinstance(src, str) or not isinstance(tgt, str):
        return reject(STAGE, "wrong_field_count", f"needs string fields src/tgt (or {src_lang}/{tgt_lang})",
                      origin=origin, raw=text)
    # a lone surrogate escape ("\\ud800") parses but cannot be written: rejected here, not at the Parquet writer
    if not all(_encodable(str(v)) for v in (src, tgt, obj.get("id"), obj.get("doc_id")) if v is not None):
        return reject(STAGE, "undecodable", "a lone surrogate escape in src/tgt/id/doc_id", origin=origin,
                      raw=text.encode("utf-8", errors="replace").decode("utf-8"))
    pair_id = obj.get("id")
    doc_id = obj.get("doc_id")
    return make_record(src, tgt, src_lang, tgt_lang, origin, f"{pair_id}{id_suffix}" if pair_id is not None else None,
                       str(doc_id) if doc_id is not None else None)


def read_unit(unit: Unit, fmt: str, src_lang: str, id_suffix: str = "") -> Iterator[BitextPair | Reject]:
    """Every line of one read unit as a bitext pair or a reject. A file that cannot be read to its end keeps the
    complete lines before the break and adds one ``read/unreadable_file`` reject whose origin is the first line
    that could not be read (so the manifest counts it and names the file)."""
    try:
        yield from _read_unit(unit, fmt, src_lang, id_suffix)
    except UnreadableInput as err:
        yield reject(STAGE, "unreadable_file", str(err), origin=f"{err.path}:{err.line}", raw="")


def _read_unit(unit: Unit, fmt: str, src_lang: str, id_suffix: str) -> Iterator[BitextPair | Reject]:
    tgt_lang, path = unit[0], unit[1]
    if fmt == "moses":
        yield from _read_moses(path, unit[2], src_lang, tgt_lang)
    elif fmt == "tsv":
        for number, raw in iter_lines(path):
            yield parse_tsv_line(raw, f"{path}:{number}", src_lang, tgt_lang)
    else:
        for number, raw in iter_lines(path):
            yield parse_jsonl_line(raw, f"{path}:{number}", src_lang, tgt_lang, id_suffix.format(tgt=tgt_lang))


def _read_moses(src_path: str, tgt_path: str, src_lang: str, tgt_lang: str) -> Iterator[BitextPair | Reject]:
    for (number, src_raw), (_, tgt_raw) in _zip_lines(src_path, tgt_path):
        origin = f"{src_path}:{number}"
        if src_raw is None or tgt_raw is None:
            missing = tgt_path if tgt_raw is None else src_path
            yield reject(STAGE, "line_count_mismatch", f"{missing} has no line {number}", origin=origin,
                         raw=(src_raw or tgt_raw or b"").decode("utf-8", errors="replace"))
            continue
        src, tgt = _decode(src_raw, origin), _decode(tgt_raw, f"{tgt_path}:{number}")
        bad = src if isinstance(src, Reject) else tgt if isinstance(tgt, Reject) else None
        yield bad if bad is not None else make_record(src, tgt, src_lang, tgt_lang, origin)  # type: ignore[arg-type]


def _zip_lines(src_path: str, tgt_path: str) -> Iterator[tuple[tuple[int, bytes | None], tuple[int, bytes | None]]]:
    pairs = itertools.zip_longest(iter_lines(src_path), iter_lines(tgt_path), fillvalue=None)
    for number, (a, b) in enumerate(pairs, 1):
        yield (number, a[1] if a else None), (number, b[1] if b else None)


class _ReadUnitFn(beam.DoFn):
    def __init__(self, fmt: str, src_lang: str, id_suffix: str) -> None:
        self.fmt, self.src_lang, self.id_suffix = fmt, src_lang, id_suffix

    def process(self, unit: Unit):
        for item in read_unit(unit, self.fmt, self.src_lang, self.id_suffix):
            yield from route(item, "read.pairs")


class ReadBitext(beam.PTransform):
    """Read units -> (bitext pairs, rejects). Units are resolved with :func:`expand_inputs`."""

    def __init__(self, units: Sequence[Unit], fmt: str, src_lang: str) -> None:
        super().__init__()
        self.units, self.fmt, self.src_lang = list(units), fmt, src_lang
        # A JSONL id names one line; with several target languages it must name each pair of that line.
        self.id_suffix = ":{tgt}" if len({u[0] for u in self.units}) > 1 else ""

    def expand(self, pbegin):
        out = (
            pbegin
            | "Units" >> beam.Create(self.units)
            | "ReadLines" >> beam.ParDo(_ReadUnitFn(self.fmt, self.src_lang, self.id_suffix))
            .with_output_types(BitextPair, **{REJECTS: Reject}).with_outputs(REJECTS, main="records")
        )
        records = out.records | "Spread" >> beam.Reshuffle()
        return records, out[REJECTS]
