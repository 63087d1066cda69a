"""``rex predict``: relation scores for sentences with two marked entities (JSONL in, JSONL out).

Input line: ``{"text": ..., "language": "en", "head": {"start": 0, "end": 5}, "tail": {"start": 9, "end": 15}}``
(half-open character spans; ``[start, end]`` lists work too) or ``{"marked_text": "[E1]Ada[/E1] ... [E2]x[/E2]",
"language": "en"}``. Optional: ``id`` (echoed), ``head_id``/``tail_id`` KB ids (required by models that
fuse retrieved KB facts). Output line: ``{"id", "language", "scores": {relation: p}, "relations": [...],
"predictions": [{"relation", "name", "score"}, ...]}``; ``relations`` lists the ids at or above the model's
threshold for the record's ``language`` (its ``model.lang_thresholds`` cut, else ``model.threshold``; empty = no
relation), ``predictions`` the same relations with their names (the id when the model does not know the name),
highest score first; ``warning`` (only then) when an entity lies beyond the model's maximum
length, so its score cannot see it (also logged with file:line). The Python API over the same code: rex.inference.

Bad lines (not UTF-8, not JSON, not a usable record): by default the first one stops the run with ``file:line``
and the reason (predictions of the lines before it stay in the output). With a rejects file (``rex predict
--rejects FILE``) every bad line is written there as ``{"origin": "file:line", "reason", "line"}`` instead, counted,
and the run goes on; every input line is then either a prediction or a reject.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from tqdm import tqdm

from rex.config import PLAIN_POOLINGS
from rex.data.lexical import lexical_features
from rex.encoder import MARKERS, encode_batch, mark_text
from rex.encoder.base import MarkedTokenizer, token_range, unmark, window_start
from rex.evaluate import facts_for, to_device
from rex.model.io import LoadedModel
from rex.relation_names import display_name
from schemas.cli import STDIO, open_input, open_output, progress_off

logger = logging.getLogger(__name__)
REJECT_TEXT_CHARS = 1000  # of a bad line kept in its reject record
STDIN_NAME = "<stdin>"  # how errors and rejects name an input read from stdin


class InputError(ValueError):
    """A prediction input line that cannot be used; the message names the file and line (``where``)."""

    def __init__(self, message: str, where: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.where, self.reason = where, reason or message


def _bad(where: str, reason: str) -> InputError:
    return InputError(f"{where}: {reason}", where, reason)


def parse_line(line: str, where: str) -> dict:
    """One JSONL record -> {'id', 'language', 'marked', 'pair'}; InputError naming ``where`` when malformed."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise _bad(where, f"not JSON ({err.msg})") from err
    except RecursionError:
        raise _bad(where, "JSON nested too deeply") from None
    parsed = parse_record(record, where)
    try:  # a lone surrogate escape ("\\ud800") parses but could not be tokenised or written back
        parsed["marked"].encode("utf-8")
        json.dumps(parsed["id"], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(where, "a lone surrogate escape in the text or id") from None
    return parsed


def read_lines(path: str, keep_going: bool = False) -> Iterator[str | InputError]:
    """The lines of a UTF-8 file (``-``: stdin); InputError naming file and line for bytes that are not UTF-8
    (raised, or with ``keep_going`` yielded in the line's place so the caller can reject it and read on)."""
    name = STDIN_NAME if path == STDIO else path
    with open_input(path, binary=True) as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as err:
                bad = _bad(f"{name}:{number}", f"not UTF-8 ({err.reason} at byte {err.start})")
                if not keep_going:
                    raise bad from None
                yield bad


def parse_record(record, where: str) -> dict:
    """One input record (a dict in the JSONL format) -> {'id', 'language', 'marked', 'pair'}."""
    if not isinstance(record, dict):
        raise _bad(where, "expected a JSON object")
    if "marked_text" in record:
        marked = record["marked_text"]
        counts = [marked.count(m) if isinstance(marked, str) else 0 for m in MARKERS]
        if counts != [1, 1, 1, 1]:
            raise _bad(where, f"marked_text must contain each of {MARKERS} exactly once")
    elif "text" in record:
        text = record["text"]
        if not isinstance(text, str):
            raise _bad(where, "'text' must be a string")
        head, tail = (_span(record.get(k), k, len(text), where) for k in ("head", "tail"))
        if head[0] < tail[1] and tail[0] < head[1]:
            raise _bad(where, f"head {head} and tail {tail} overlap")
        marked = mark_text(text, head, tail)
    else:
        raise _bad(where, "needs 'text' with 'head'/'tail' spans, or 'marked_text'")
    pair = (str(record.get("head_id", "")), str(record.get("tail_id", "")))
    return {"id": record.get("id"), "language": record.get("language"), "marked": marked, "pair": pair}


def _span(value, name: str, length: int, where: str) -> tuple[int, int]:
    if isinstance(value, dict):
        value = (value.get("start"), value.get("end"))
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise _bad(where, f"'{name}' must be {{'start': int, 'end': int}} or [start, end]")
    start, end = value
    if not 0 <= start < end <= length:
        raise _bad(where, f"'{name}' span {value} is not inside the text (length {length})")
    return start, end


def entities_cut(tokenizer: MarkedTokenizer, marked_texts: list[str], max_length: int, pooling: str) -> list[list[str]]:
    """For each marked text, the entities ('head', 'tail') not wholly inside the token window the encoder sees
    (rex.encoder.base.window / encode_plain_batch keep at most ``max_length`` tokens around both entities)."""
    max_body = max_length - len(tokenizer.prefix) - len(tokenizer.suffix)
    out: list[list[str]] = [[] for _ in marked_texts]
    # a body token covers at least one UTF-8 byte (a few tokenizers add one word-start piece): shorter texts fit
    long = [i for i, m in enumerate(marked_texts) if len(m.encode("utf-8")) + 2 > max_body]
    if not long:
        return out
    if pooling in PLAIN_POOLINGS:
        items = [unmark(marked_texts[i]) for i in long]
        for i, (_, head, tail), (ids, offsets) in zip(long, items, tokenizer.encode_plain([t for t, _, _ in items]),
                                                      strict=True):
            ranges = [token_range(offsets, span) for span in (head, tail)]
            lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges) - 1
            start = window_start(len(ids), lo, hi, max_body)
            out[i] = [name for name, (first, end) in zip(("head", "tail"), ranges, strict=True)
                      if first < start or end > start + max_body]
        return out
    e1, e1_end, e2, e2_end = tokenizer.marker_ids
    for i, ids in zip(long, tokenizer.encode_body([marked_texts[j] for j in long]), strict=True):
        where = {t: k for k, t in reversed(list(enumerate(ids))) if t in tokenizer.marker_ids}  # first of each
        if len(ids) <= max_body or len(where) < 4:
            continue
        start = window_start(len(ids), min(where.values()), max(where.values()), max_body)
        inside = {t for t, k in where.items() if start <= k < start + max_body}
        out[i] = [name for name, markers in (("head", (e1, e1_end)), ("tail", (e2, e2_end)))
                  if not set(markers) <= inside]
    return out


@torch.no_grad()
def predict_records(loaded: LoadedModel, records: list[dict], device: torch.device, retriever=None) -> list[dict]:
    """Score parsed records (each a one-instance bag). A record whose entity lies beyond the model's maximum
    length gets a ``warning`` (logged with the record's ``where``, when it has one)."""
    max_length, pooling = loaded.config.data.max_length, loaded.config.encoder.pooling
    marked = [r["marked"] for r in records]
    batch = encode_batch(loaded.tokenizer, marked, max_length, pooling)
    if loaded.config.model.lexical_buckets:
        batch.update(lexical_features(marked, loaded.config.model.lexical_buckets))
    batch["bag_index"] = torch.arange(len(records))
    batch["keys"] = [r["pair"] for r in records]
    batch = to_device(batch, device)
    facts = facts_for(retriever, batch["keys"], device)
    probs = torch.sigmoid(loaded.model(batch, **facts)["bag_logits"]).cpu()  # (B, R)
    out = []
    for record, row, cut in zip(records, probs.tolist(), entities_cut(loaded.tokenizer, marked, max_length, pooling),
                                strict=True):
        scores = {label: round(p, 6) for label, p in zip(loaded.labels, row, strict=True)}
        threshold = loaded.config.model.threshold_for(record.get("language"))
        above = sorted((label for label, p in scores.items() if p >= threshold), key=lambda r: -scores[r])
        result = {"id": record["id"], "language": record["language"], "scores": scores,
                  "relations": [label for label in scores if label in above],
                  "predictions": [{"relation": r, "name": display_name(loaded.relation_names, r),
                                   "score": scores[r]} for r in above]}
        if cut:
            result["warning"] = (f"{' and '.join(cut)} entity beyond the model's maximum length ({max_length} "
                                 "tokens around both entities): the scores do not see it whole")
            logger.warning("%s: %s", record.get("where", f"id {record['id']!r}"), result["warning"])
        out.append(result)
    return out


Rejecter = Callable[[InputError, str], None]


def predict_lines(loaded: LoadedModel, lines: Iterable[str | InputError], source: str, device: torch.device,
                  retriever=None, batch_size: int = 64, reject: Rejecter | None = None) -> Iterator[dict]:
    """Predictions for JSONL lines (blank lines skipped), in input order. A bad line raises InputError naming
    ``source:line``, or, with ``reject``, is passed to ``reject(error, line)`` and skipped."""
    loaded.model.eval()
    pending: list[dict] = []
    for number, line in enumerate(lines, start=1):
        try:
            if isinstance(line, InputError):
                raise line
            if not line.strip():
                continue
            parsed = parse_line(line, f"{source}:{number}")
        except InputError as err:
            if reject is None:
                raise
            reject(err, "" if isinstance(line, InputError) else line)
            continue
        pending.append({**parsed, "where": f"{source}:{number}"})
        if len(pending) == batch_size:
            yield from predict_records(loaded, pending, device, retriever)
            pending = []
    if pending:
        yield from predict_records(loaded, pending, device, retriever)


def predict_file(loaded: LoadedModel, in_path: str, out_path: str, device: torch.device, retriever=None,
                 rejects_path: str | None = None, progress: bool = False) -> tuple[int, int]:
    """Predict every line of ``in_path`` into ``out_path`` (``-``: stdin, stdout); returns (predictions, rejected
    lines). Without ``rejects_path`` the first bad line raises InputError; with it, bad lines go there and the run
    goes on. ``progress``: a tqdm count of predictions on stderr (on a terminal only)."""
    paths = {Path(p).resolve() for p in (out_path, rejects_path) if p and p != STDIO}
    if in_path != STDIO and Path(in_path).resolve() in paths:
        # opening the output for writing would empty the input before a line is read
        bad = out_path if Path(out_path).resolve() == Path(in_path).resolve() else rejects_path
        raise InputError(f"{bad}: the output is the input file; write the predictions elsewhere")
    if rejects_path and out_path != STDIO and Path(rejects_path).resolve() == Path(out_path).resolve():
        raise InputError(f"{rejects_path}: the rejects file is the output file; give another path")
    count, rejected = 0, 0
    with contextlib.ExitStack() as stack:
        dst = stack.enter_context(open_output(out_path))
        dead = stack.enter_context(open(rejects_path, "w", encoding="utf-8")) if rejects_path else None

        def reject(err: InputError, line: str) -> None:
            nonlocal rejected
            rejected += 1
            dead.write(json.dumps({"origin": err.where, "reason": err.reason, "line": line[:REJECT_TEXT_CHARS]},
                                  ensure_ascii=False) + "\n")

        lines = read_lines(in_path, keep_going=dead is not None)
        source = STDIN_NAME if in_path == STDIO else str(Path(in_path))
        results = predict_lines(loaded, lines, source, device, retriever, reject=reject if dead is not None else None)
        for result in tqdm(results, desc="predict", unit=" lines", disable=progress_off(not progress)):
            dst.write(json.dumps(result, ensure_ascii=False) + "\n")
            count += 1
    if rejected:
        logger.warning("%d bad lines of %s written to %s", rejected, in_path, rejects_path)
    return count, rejected
