"""Reading and writing our Parquet tables with explicit schemas and a version check."""

from __future__ import annotations

from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.version import NAME_KEY, SCHEMA_VERSION, VERSION_KEY


class SchemaMismatchError(ValueError):
    """A file's schema is not the one this version of the code reads."""


def check_schema(actual: pa.Schema, expected: pa.Schema, where: str) -> None:
    """Raise SchemaMismatchError naming ``where`` when ``actual`` cannot be read as ``expected``.

    Field names and types must match; the schema version's major part must match ours. A nullable field the file
    lacks (one a later minor version added) is not a mismatch: readers get nulls for it.
    """
    meta = actual.metadata or {}
    name = meta.get(NAME_KEY, b"").decode()
    want = expected.metadata[NAME_KEY].decode()
    if name and name != want:
        raise SchemaMismatchError(f"{where}: is a '{name}' table, expected '{want}'")
    version = meta.get(VERSION_KEY, b"").decode()
    if not version:
        raise SchemaMismatchError(f"{where}: no schema version in the file metadata (not written by this project?)")
    if version.split(".")[0] != SCHEMA_VERSION.split(".")[0]:
        raise SchemaMismatchError(f"{where}: schema version {version}, this code reads {SCHEMA_VERSION}")
    problems = []
    for f in expected:
        idx = actual.get_field_index(f.name)
        if idx < 0 and f.nullable:  # added by a later minor version: older files read it as null
            continue
        if idx < 0:
            problems.append(f"missing field '{f.name}'")
        elif not actual.field(idx).type.equals(f.type):
            problems.append(f"field '{f.name}' is {actual.field(idx).type}, expected {f.type}")
    if problems:
        raise SchemaMismatchError(f"{where}: " + "; ".join(problems))


def to_table(rows: Iterable[dict], schema: pa.Schema) -> pa.Table:
    """Rows to a table with exactly ``schema`` (never an inferred one)."""
    return pa.Table.from_pylist(list(rows), schema=schema)


def write_parquet(rows_or_table: Iterable[dict] | pa.Table, path: str, schema: pa.Schema) -> None:
    """Write rows with ``schema`` (metadata included), atomically enough for local paths."""
    table = rows_or_table if isinstance(rows_or_table, pa.Table) else to_table(rows_or_table, schema)
    table = table.cast(schema) if not table.schema.equals(schema, check_metadata=True) else table
    pq.write_table(table, path)


def read_parquet(path: str, schema: pa.Schema) -> pa.Table:
    """Read a table written with ``schema``; SchemaMismatchError (naming the file) when it is not."""
    try:
        actual = pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise SchemaMismatchError(f"{path}: not a readable Parquet file ({err})") from err
    check_schema(actual, schema, path)
    return pq.read_table(path, schema=schema)
