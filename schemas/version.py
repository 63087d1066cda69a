"""Schema version and the metadata helpers every schema module uses."""

from __future__ import annotations

import pyarrow as pa

# Bump the minor part for additive changes (new nullable field), the major part for anything that
# breaks readers. Readers accept the same major version.
SCHEMA_VERSION = "1.0"

VERSION_KEY = b"xds.schema_version"
NAME_KEY = b"xds.schema"


def with_meta(name: str, fields: list[pa.Field], doc: str) -> pa.Schema:
    """Build a schema whose metadata names it, versions it and documents it."""
    return pa.schema(
        fields,
        metadata={NAME_KEY: name.encode(), VERSION_KEY: SCHEMA_VERSION.encode(), b"xds.doc": doc.encode()},
    )


def field(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    """A field with its documentation in the field metadata (so it travels with every file)."""
    return pa.field(name, type_, nullable=nullable, metadata={b"doc": doc.encode()})
