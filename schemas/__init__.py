"""The pyarrow schemas of every table the project reads or writes: the one source of truth.

Every schema carries ``SCHEMA_VERSION`` in its metadata (key ``b"xds.schema_version"``) and its
name (``b"xds.schema"``); :func:`schemas.io.check_schema` compares a file's schema with ours and
raises :class:`schemas.io.SchemaMismatchError` naming the file and the differing fields.

This package imports nothing else of the project. See ``docs/schemas.md`` for every field.
"""

from schemas.bitext import BITEXT_SCHEMA, make_pair_id
from schemas.kb import ENTITY_SCHEMA, FACT_SCHEMA, KnowledgeBase, load_kb
from schemas.manifest import MANIFEST_SCHEMA
from schemas.rejects import REJECT_SCHEMA
from schemas.shard import SHARD_SCHEMA, SPAN_TYPE, make_instance_id
from schemas.version import SCHEMA_VERSION

__all__ = [
    "BITEXT_SCHEMA",
    "ENTITY_SCHEMA",
    "FACT_SCHEMA",
    "KnowledgeBase",
    "MANIFEST_SCHEMA",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "SHARD_SCHEMA",
    "SPAN_TYPE",
    "load_kb",
    "make_instance_id",
    "make_pair_id",
]
