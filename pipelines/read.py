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

Input patterns are matched inside the pipeline (:class:`ReadBitext`: patterns -> read units -> lines), so the
launching machine needs neither the data nor access to it. A line longer than ``MAX_LINE_BYTES`` becomes a
``read/line_too_long`` reject; the reader never holds more than that of one line in memory.

Output: BitextPair records (texts in NFC) on the main output, Reject records on ``rejects``, and the input
files (for the manifest's fingerprints).
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
from apache_beam.io.filesystem import CompressedFile
from apache_beam.io.filesystems import FileSystems

from pipelines.deadletter import REJECTS, reject, route
from pipelines.records import BitextPair, Reject
from schemas.bitext import make_pair_id

STAGE = "read"
Unit = tuple[str, ...]  # (tgt_lang, path) for tsv/jsonl, (tgt_lang, src_path, tgt_path) for moses
# Longest input line read (bytes, before decompression is irrelevant: after it). Two sides at the hard cap of
# 20,000 characters (pipelines.config) are at most 160 kB of UTF-8, or 240 kB as JSON \u escapes; anything
# beyond 1 MiB is rejected as read/line_too_long without being held in memory.
MAX_LINE_BYTES = 1 << 20
_SKIP_CHUNK = 1 << 16  # the rest of an over-long line is skipped in blocks of this size


def check_patterns(patterns: Sequence[str], fmt: str, tgt_langs: Sequence[str]) -> None:
    """ValueError when an input cannot serve several target languages (checked without reading anything)."""
    if len(tgt_langs) == 1:
        return
    for pattern in patterns:
        if fmt == "tsv" or (fmt == "moses" and "," in pattern):
            raise ValueError(f"input {pattern!r}: {fmt} with explicit files needs a single --tgt-lang")


def expand_pattern(pattern: str, fmt: str, src_lang: str, tgt_langs: Sequence[str]) -> list[Unit]:
    """The sorted read units of one input pattern; FileNotFoundError naming a pattern that matches nothing."""
    if fmt == "moses" and "," in pattern:
        src, tgt = pattern.split(",", 1)
        return [(tgt_langs[0], _match_one(src), _match_one(tgt))]
    if fmt == "moses":
        suffix = f".{src_lang}"
        return [(lang, src, src[: -len(suffix)] + f".{lang}") for src in _match(pattern + suffix) for lang in tgt_langs]
    return [(lang, path) for path in _match(pattern) for lang in tgt_langs]


def expand_inputs(patterns: Sequence[str], fmt: str, src_lang: str, tgt_langs: Sequence[str]) -> list[Unit]:
    """Resolve globs to sorted read units (on the calling machine); FileNotFoundError naming a pattern that
    matches nothing, ValueError for an input that cannot serve several target languages."""
    check_patterns(patterns, fmt, tgt_langs)
    return [unit for pattern in patterns for unit in expand_pattern(pattern, fmt, src_lang, tgt_langs)]


def unit_paths(unit: Unit) -> tuple[str, ...]:
    """The files a read unit reads."""
    return tuple(unit[1:])


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


class LineTooLong:
    """Yielded by :func:`iter_lines` instead of a line longer than the limit: its first bytes and its length."""

    __slots__ = ("head", "size")

    def __init__(self, head: bytes, size: int) -> None:
        self.head, self.size = head, size


class UnreadableInput(Exception):
    """A file that cannot be read to its end (truncated or corrupt compression): ``line`` is the first line
    that could not be read."""

    def __init__(self, path: str, line: int, cause: BaseException) -> None:
        super().__init__(f"{path}: unreadable from line {line} on ({type(cause).__name__}: {cause})")
        self.path, self.line = path, line


_DECOMPRESSORS = {".gz": lambda raw: gzip.GzipFile(fileobj=raw), ".bz2": bz2.BZ2File}


def iter_lines(path: str, max_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes | LineTooLong]]:
    """(1-based line number, raw bytes without the line break); gzip/bzip2 by extension (other compressions as
    Beam detects them). A line longer than ``max_bytes`` is yielded as a :class:`LineTooLong` and skipped in
    bounded blocks. UnreadableInput when the file cannot be read to its end: a truncated or corrupt .gz/.bz2
    (the line cut by the break is not yielded), or a plain file named .gz."""
    opener = next((fn for ext, fn in _DECOMPRESSORS.items() if path.endswith(ext)), None)
    number = 0
    with FileSystems.open(path, **({"compression_type": "uncompressed"} if opener else {})) as raw:
        handle = opener(raw) if opener else raw
        readline = _bounded_readline(handle)
        try:
            for number, line in enumerate(iter(lambda: readline(max_bytes + 1), b""), 1):
                if len(line) > max_bytes and not line.endswith(b"\n"):
                    yield number, LineTooLong(line[:RAW_HEAD], len(line) + _skip_rest(readline))
                else:
                    yield number, line.rstrip(b"\n").rstrip(b"\r")
        except (EOFError, OSError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
            raise UnreadableInput(path, number + 1, err) from err


RAW_HEAD = 1000  # bytes of an over-long line kept in its reject


def _bounded_readline(handle):
    """``readline(limit)`` for any handle: Beam's CompressedFile (other compressions) has no limit argument,
    so its lines are cut from a buffer filled in blocks."""
    return _BlockLines(handle).readline if isinstance(handle, CompressedFile) else handle.readline


class _BlockLines:
    def __init__(self, handle) -> None:
        self.handle, self.buffer = handle, b""

    def readline(self, limit: int) -> bytes:
        while b"\n" not in self.buffer and len(self.buffer) < limit:
            block = self.handle.read(_SKIP_CHUNK)
            if not block:
                break
            self.buffer += block
        end = self.buffer.find(b"\n")
        cut = min(limit, end + 1 if end >= 0 else len(self.buffer))
        line, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return line


def _skip_rest(readline) -> int:
    """Read and drop the rest of the current line in bounded blocks; return its bytes (line break left out)."""
    skipped = 0
    while True:
        block = readline(_SKIP_CHUNK)
        if block.endswith(b"\n"):
            return skipped + len(block.rstrip(b"\n").rstrip(b"\r"))
        skipped += len(block)
        if not block:
            return skipped


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


def too_long(line: LineTooLong, origin: str) -> Reject:
    """The reject of a line longer than MAX_LINE_BYTES (its first bytes kept)."""
    return reject(STAGE, "line_too_long", f"{line.size} bytes, longer than the {MAX_LINE_BYTES}-byte line limit",
                  origin=origin, raw=line.head.decode("utf-8", errors="replace"))


def _read_unit(unit: Unit, fmt: str, src_lang: str, id_suffix: str) -> Iterator[BitextPair | Reject]:
    tgt_lang, path = unit[0], unit[1]
    if fmt == "moses":
        yield from _read_moses(path, unit[2], src_lang, tgt_lang)
        return
    suffix = id_suffix.format(tgt=tgt_lang)
    for number, raw in iter_lines(path):
        origin = f"{path}:{number}"
        if isinstance(raw, LineTooLong):
            yield too_long(raw, origin)
        elif fmt == "tsv":
            yield parse_tsv_line(raw, origin, src_lang, tgt_lang)
        else:
            yield parse_jsonl_line(raw, origin, src_lang, tgt_lang, suffix)


def _read_moses(src_path: str, tgt_path: str, src_lang: str, tgt_lang: str) -> Iterator[BitextPair | Reject]:
    for (number, src_raw), (_, tgt_raw) in _zip_lines(src_path, tgt_path):
        origin = f"{src_path}:{number}"
        if isinstance(src_raw, LineTooLong) or isinstance(tgt_raw, LineTooLong):
            yield (too_long(src_raw, origin) if isinstance(src_raw, LineTooLong)
                   else too_long(tgt_raw, f"{tgt_path}:{number}"))  # type: ignore[arg-type]
            continue
        if src_raw is None or tgt_raw is None:
            missing = tgt_path if tgt_raw is None else src_path
            yield reject(STAGE, "line_count_mismatch", f"{missing} has no line {number}", origin=origin,
                         raw=(src_raw or tgt_raw or b"").decode("utf-8", errors="replace"))
            continue
        src, tgt = _decode(src_raw, origin), _decode(tgt_raw, f"{tgt_path}:{number}")
        bad = src if isinstance(src, Reject) else tgt if isinstance(tgt, Reject) else None
        yield bad if bad is not None else make_record(src, tgt, src_lang, tgt_lang, origin)  # type: ignore[arg-type]


def _zip_lines(src_path: str, tgt_path: str) -> Iterator[tuple[tuple[int, bytes | LineTooLong | None],
                                                                tuple[int, bytes | LineTooLong | None]]]:
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
    """Input patterns -> (bitext pairs, rejects, input files). The patterns are matched in the pipeline (on a
    worker, like ``fileio.MatchFiles``), each read unit is read by one worker, and the records are spread."""

    def __init__(self, patterns: Sequence[str], fmt: str, src_lang: str, tgt_langs: Sequence[str]) -> None:
        super().__init__()
        check_patterns(patterns, fmt, tgt_langs)
        self.patterns, self.fmt, self.src_lang, self.tgt_langs = list(patterns), fmt, src_lang, tuple(tgt_langs)
        # A JSONL id names one line; with several target languages it must name each pair of that line.
        self.id_suffix = ":{tgt}" if len(set(self.tgt_langs)) > 1 else ""

    def expand(self, pbegin):
        units = (
            pbegin
            | "Patterns" >> beam.Create(self.patterns)
            | "Match" >> beam.FlatMap(expand_pattern, self.fmt, self.src_lang, self.tgt_langs)
            .with_output_types(tuple[str, ...])
            | "SpreadUnits" >> beam.Reshuffle()
        )
        out = (
            units
            | "ReadLines" >> beam.ParDo(_ReadUnitFn(self.fmt, self.src_lang, self.id_suffix))
            .with_output_types(BitextPair, **{REJECTS: Reject}).with_outputs(REJECTS, main="records")
        )
        records = out.records | "Spread" >> beam.Reshuffle()
        files = units | "Files" >> beam.FlatMap(unit_paths).with_output_types(str) | "DistinctFiles" >> beam.Distinct()
        return records, out[REJECTS], files
