"""Schema version and the metadata helpers every schema module uses."""

from __future__ import annotations

import pyarrow as pa

# Bump the minor part for additive changes (new nullable field), the major part for anything that
# breaks readers. Readers accept the same major version.
SCHEMA_VERSION = "1.1"  # 1.1: shard rows carry their origin (nullable)

VERSION_KEY = b"xds.schema_version"
NAME_KEY = b"xds.schema"


def with_meta(name: str, fields: list[pa.Field], doc: str, version: str = SCHEMA_VERSION) -> pa.Schema:
    """Build a schema whose metadata names it, versions it and documents it. ``version`` is the table's own when
    it moves ahead of SCHEMA_VERSION (the manifest, which is JSON: bumping it leaves every Parquet file as it was)."""
    return pa.schema(
        fields,
        metadata={NAME_KEY: name.encode(), VERSION_KEY: version.encode(), b"xds.doc": doc.encode()},
    )


def field(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    """A field with its documentation in the field metadata (so it travels with every file)."""
    return pa.field(name, type_, nullable=nullable, metadata={b"doc": doc.encode()})
