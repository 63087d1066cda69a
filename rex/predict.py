"""``rex predict``: relation scores for sentences with two marked entities (JSONL in, JSONL out).

Input line: ``{"text": ..., "language": "en", "head": {"start": 0, "end": 5}, "tail": {"start": 9, "end": 15}}``
(half-open character spans; ``[start, end]`` lists work too) or ``{"marked_text": "[E1]Ada[/E1] ... [E2]x[/E2]",
"language": "en"}``. Optional: ``id`` (echoed), ``head_id``/``tail_id`` KB ids (required by models that
fuse retrieved KB facts). Output line: ``{"id", "language", "scores": {relation: p}, "relations": [...],
"predictions": [{"relation", "name", "score"}, ...]}``; ``relations`` lists the ids at or above the model's
threshold (empty = no relation), ``predictions`` the same relations with their names (the id when the model does
not know the name), highest score first. The Python API over the same code: rex.inference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch

from rex.encoder import MARKERS, encode_batch, mark_text
from rex.evaluate import facts_for, to_device
from rex.model.io import LoadedModel
from rex.relation_names import display_name


class InputError(ValueError):
    """A prediction input line that cannot be used; the message names the file and line."""


def parse_line(line: str, where: str) -> dict:
    """One JSONL record -> {'id', 'language', 'marked', 'pair'}; InputError naming ``where`` when malformed."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}: not JSON ({err.msg})") from err
    except RecursionError:
        raise InputError(f"{where}: JSON nested too deeply") from None
    parsed = parse_record(record, where)
    try:  # a lone surrogate escape ("\\ud800") parses but could not be tokenised or written back
        parsed["marked"].encode("utf-8")
        json.dumps(parsed["id"], ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{where}: a lone surrogate escape in the text or id") from None
    return parsed


def read_lines(path: str) -> Iterator[str]:
    """The lines of a UTF-8 file; InputError naming file and line for bytes that are not UTF-8."""
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(f"{path}:{number}: not UTF-8 ({err.reason} at byte {err.start})") from None


def parse_record(record, where: str) -> dict:
    """One input record (a dict in the JSONL format) -> {'id', 'language', 'marked', 'pair'}."""
    if not isinstance(record, dict):
        raise InputError(f"{where}: expected a JSON object")
    if "marked_text" in record:
        marked = record["marked_text"]
        counts = [marked.count(m) if isinstance(marked, str) else 0 for m in MARKERS]
        if counts != [1, 1, 1, 1]:
            raise InputError(f"{where}: marked_text must contain each of {MARKERS} exactly once")
    elif "text" in record:
        text = record["text"]
        if not isinstance(text, str):
            raise InputError(f"{where}: 'text' must be a string")
        head, tail = (_span(record.get(k), k, len(text), where) for k in ("head", "tail"))
        if head[0] < tail[1] and tail[0] < head[1]:
            raise InputError(f"{where}: head {head} and tail {tail} overlap")
        marked = mark_text(text, head, tail)
    else:
        raise InputError(f"{where}: needs 'text' with 'head'/'tail' spans, or 'marked_text'")
    pair = (str(record.get("head_id", "")), str(record.get("tail_id", "")))
    return {"id": record.get("id"), "language": record.get("language"), "marked": marked, "pair": pair}


def _span(value, name: str, length: int, where: str) -> tuple[int, int]:
    if isinstance(value, dict):
        value = (value.get("start"), value.get("end"))
    if not (isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value)):
        raise InputError(f"{where}: '{name}' must be {{'start': int, 'end': int}} or [start, end]")
    start, end = value
    if not 0 <= start < end <= length:
        raise InputError(f"{where}: '{name}' span {value} is not inside the text (length {length})")
    return start, end


@torch.no_grad()
def predict_records(loaded: LoadedModel, records: list[dict], device: torch.device, retriever=None) -> list[dict]:
    """Score parsed records (each a one-instance bag)."""
    batch = encode_batch(loaded.tokenizer, [r["marked"] for r in records], loaded.config.data.max_length,
                         loaded.config.encoder.pooling)
    batch["bag_index"] = torch.arange(len(records))
    batch["keys"] = [r["pair"] for r in records]
    batch = to_device(batch, device)
    facts = facts_for(retriever, batch["keys"], device)
    probs = torch.sigmoid(loaded.model(batch, **facts)["bag_logits"]).cpu()  # (B, R)
    threshold = loaded.config.model.threshold
    out = []
    for record, row in zip(records, probs.tolist(), strict=True):
        scores = {label: round(p, 6) for label, p in zip(loaded.labels, row, strict=True)}
        above = sorted((label for label, p in scores.items() if p >= threshold), key=lambda r: -scores[r])
        out.append({"id": record["id"], "language": record["language"], "scores": scores,
                    "relations": [label for label in scores if label in above],
                    "predictions": [{"relation": r, "name": display_name(loaded.relation_names, r),
                                     "score": scores[r]} for r in above]})
    return out


def predict_lines(loaded: LoadedModel, lines: Iterable[str], source: str, device: torch.device,
                  retriever=None, batch_size: int = 64) -> Iterator[dict]:
    """Predictions for JSONL lines (blank lines skipped), in input order."""
    loaded.model.eval()
    pending: list[dict] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        pending.append(parse_line(line, f"{source}:{number}"))
        if len(pending) == batch_size:
            yield from predict_records(loaded, pending, device, retriever)
            pending = []
    if pending:
        yield from predict_records(loaded, pending, device, retriever)


def predict_file(loaded: LoadedModel, in_path: str, out_path: str, device: torch.device, retriever=None) -> int:
    """Predict every line of ``in_path`` into ``out_path``; returns the number of predictions."""
    if Path(out_path).resolve() == Path(in_path).resolve():
        # opening the output for writing would empty the input before a line is read
        raise InputError(f"{out_path}: the output is the input file; write the predictions elsewhere")
    count = 0
    with open(out_path, "w", encoding="utf-8") as dst:
        for result in predict_lines(loaded, read_lines(in_path), str(Path(in_path)), device, retriever):
            dst.write(json.dumps(result, ensure_ascii=False) + "\n")
            count += 1
    return count
