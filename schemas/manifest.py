"""The run manifest (``manifest.json``): what went in, what came out, with which config and versions.

The manifest is written as JSON for people and tools; its shape is this schema, and
:func:`validate_manifest` checks a dict against it (the writer calls it before writing).

Since manifest version 1.1 the manifest is also the output folder's completion marker: the pipeline writes it
last, with ``complete: true`` and ``files`` (every shard and reject file with its rows, bytes and sha256).
Readers use exactly the listed files (:func:`listed_shards`); a folder whose manifest is not complete is not read.
1.0 manifests (no ``complete``, no ``files``) still validate: their new fields read as null.
"""

from __future__ import annotations

import json

import pyarrow as pa

from schemas.shard import SPLITS
from schemas.version import SCHEMA_VERSION, field, with_meta

MANIFEST_NAME = "manifest.json"
STAGING_PREFIX = ".staging-"  # <output>/.staging-<run id>/: a run in progress (or one that died) writes here
LOCK_NAME = ".xds-run.lock"  # <output>/.xds-run.lock: held while a run writes into <output>
# 1.1: manifest_version, complete, files; 1.2: kb_facts_version; 1.3: dataset_root (shards under
# data/<split>/lang=<lang>/), code_version, run_seconds (all nullable: 1.0 manifests still validate); 1.4: files
# may list relations.parquet and entities.parquet (split 'relations' / 'entities': the KB's names, schemas.kb)
MANIFEST_VERSION = "1.4"
KB_TABLE_SPLITS = ("relations", "entities")
DATASET_ROOT = "data"  # <output>/data: the shards alone, the folder pyarrow, datasets and DuckDB read as one dataset

_COUNT = pa.struct(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("lang", pa.string(), nullable=False),
        pa.field("relation", pa.string(), nullable=False),  # "NA" for no relation
        pa.field("count", pa.int64(), nullable=False),
    ]
)
_REJECT_COUNT = pa.struct(
    [
        pa.field("stage", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("count", pa.int64(), nullable=False),
    ]
)
_INPUT = pa.struct(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
    ]
)
_FILE = pa.struct(
    [
        # train/dev/test, "rejects", or (1.4) "relations" / "entities" for the KB tables beside the shards
        pa.field("split", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # relative to the manifest's folder
        pa.field("rows", pa.int64(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
    ]
)
_OUTPUT = pa.struct(
    [
        pa.field("split", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
    ]
)

MANIFEST_SCHEMA = with_meta(
    "manifest",
    [
        field("schema_version", pa.string(), "SCHEMA_VERSION of the tables the run wrote."),
        field("pipeline_version", pa.string(), "Version of the package that ran."),
        field("kb_version", pa.string(), "KnowledgeBase.version."),
        field("created_at", pa.string(), "UTC time the manifest was written, ISO 8601."),
        field("input_pairs", pa.int64(), "Records read from the input (good and bad lines)."),
        field("accepted_pairs", pa.int64(), "Pairs that passed validation."),
        field("rejected_pairs", pa.int64(), "Pairs rejected; accepted_pairs + rejected_pairs == input_pairs."),
        field(
            "instances",
            pa.list_(_COUNT),
            "Instances per split x language x relation (a multi-label row counts once per label).",
        ),
        field("rows", pa.list_(_COUNT), "Rows per split x language (relation '*')."),
        field("rejects", pa.list_(_REJECT_COUNT), "Rejected records per stage and reason."),
        field("inputs", pa.list_(_INPUT), "Fingerprints of the input files."),
        field("outputs", pa.list_(_OUTPUT), "Shard files per split."),
        field("config", pa.string(), "The resolved pipeline configuration, as a JSON object string."),
        field(
            "versions", pa.map_(pa.string(), pa.string()), "Versions of the main libraries (beam, pyarrow, spacy, ...)."
        ),
        field("manifest_version", pa.string(), "MANIFEST_VERSION of this manifest (null: 1.0).", nullable=True),
        field("files", pa.list_(_FILE),
              "Every file of the run (split, 'rejects', or the KB tables 'relations' and 'entities' (1.4); path "
              "relative to this folder, rows, bytes, sha256); readers use exactly these (null: a 1.0 manifest).",
              nullable=True),
        field("kb_facts_version", pa.string(),
              "KnowledgeBase.facts_version: the facts alone (kb_version also changes with the alias languages "
              "loaded); a fact index used with these shards must have the same (null: before 1.2).", nullable=True),
        field("dataset_root", pa.string(),
              "Folder (relative to this manifest) holding the shards alone, as <split>/lang=<lang>/part-*.parquet: "
              "the root that pyarrow.dataset (partitioning='hive'), datasets.load_dataset('parquet', data_dir=...) "
              "and DuckDB read (null: before 1.3, shards under <split>/).", nullable=True),
        field("code_version", pa.string(),
              "Package version and, when run from a git checkout, its commit ('0.1.0+g<sha>', '.dirty' with "
              "uncommitted changes).", nullable=True),
        field("run_seconds", pa.float64(),
              "Wall time of the run from launch to commit (null: before 1.3, or a job that committed itself).",
              nullable=True),
        field("complete", pa.bool_(),
              "True: every listed file was in place when this manifest was written, last (null: a 1.0 manifest).",
              nullable=True),
    ],
    "One pipeline run.",
    version=MANIFEST_VERSION,
)


def _first_null(schema_field: pa.Field, array: pa.Array) -> str | None:
    """Name of the first non-nullable (nested) field holding a null; pyarrow does not check this."""
    if not schema_field.nullable and array.null_count:
        return schema_field.name
    if pa.types.is_list(schema_field.type):
        return _first_null(schema_field.type.value_field, array.flatten())
    if pa.types.is_struct(schema_field.type):
        for i in range(schema_field.type.num_fields):
            child = schema_field.type.field(i)
            found = _first_null(child, array.field(i))
            if found:
                return f"{schema_field.name}.{found}"
    return None


def validate_manifest(manifest: dict) -> dict:
    """Raise ValueError when ``manifest`` does not fit MANIFEST_SCHEMA; return it unchanged."""
    row = dict(manifest)
    if isinstance(row.get("config"), dict):
        row["config"] = json.dumps(row["config"], sort_keys=True)
    if isinstance(row.get("versions"), dict):
        row["versions"] = list(row["versions"].items())
    for optional in (f.name for f in MANIFEST_SCHEMA if f.nullable):
        row.setdefault(optional, None)
    missing = [f.name for f in MANIFEST_SCHEMA if f.name not in row]
    if missing:
        raise ValueError(f"manifest lacks fields {missing}")
    try:
        table = pa.Table.from_pylist([row], schema=MANIFEST_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as err:
        raise ValueError(f"manifest does not fit schema {SCHEMA_VERSION}: {err}") from err
    for schema_field, column in zip(MANIFEST_SCHEMA, table.columns, strict=True):
        where = _first_null(schema_field, column.combine_chunks())
        if where:
            raise ValueError(f"manifest does not fit schema {SCHEMA_VERSION}: null in non-nullable {where}")
    if row["accepted_pairs"] + row["rejected_pairs"] != row["input_pairs"]:
        raise ValueError(
            f"manifest counts do not add up: {row['accepted_pairs']} accepted + "
            f"{row['rejected_pairs']} rejected != {row['input_pairs']} input"
        )
    if row["complete"] and row["files"] is None:
        raise ValueError("manifest says complete but lists no files")
    if row["files"] is not None:
        listed = sum(f["rows"] for f in row["files"] if f["split"] in SPLITS)
        counted = sum(r["count"] for r in row["rows"])
        if listed != counted:
            raise ValueError(f"manifest files hold {listed} shard rows, its row counts say {counted}")
    return manifest


class IncompleteOutputError(ValueError):
    """A shard folder whose manifest does not mark it complete (a run that did not finish, or one in progress)."""


def listed_shards(manifest: dict, where: str, splits: tuple[str, ...] = SPLITS) -> list[dict]:
    """The manifest's file entries of ``splits`` (train/dev/test by default); IncompleteOutputError naming
    ``where`` when the manifest does not mark the folder complete. A 1.0 manifest (no file list) returns []
    (the caller falls back to listing the folder)."""
    if manifest.get("complete") is None and manifest.get("files") is None:
        return []
    if manifest.get("complete") is not True:
        raise IncompleteOutputError(f"{where}: the manifest does not mark this output complete (a run that did not "
                                    "finish, or one still running); rerun the pipeline into it")
    return [f for f in manifest["files"] if f["split"] in splits]
