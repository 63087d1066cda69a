"""Dead-letter rows: every record a stage rejects, with where it came from and why."""

from __future__ import annotations

import pyarrow as pa

from schemas.version import field, with_meta

REJECT_SCHEMA = with_meta(
    "rejects",
    [
        field("stage", pa.string(), "Pipeline stage that rejected the record (read, validate, link, project, ...)."),
        field("reason", pa.string(), "Machine-readable reason, e.g. 'empty_side', 'wrong_language:tgt'."),
        field("detail", pa.string(), "Human-readable detail.", nullable=True),
        field("origin", pa.string(), "'<file>:<line>' of the input record.", nullable=True),
        field("pair_id", pa.string(), "Pair id when known.", nullable=True),
        field("instance_id", pa.string(), "Instance id when the rejected record is an instance.", nullable=True),
        field("raw", pa.string(), "The rejected record, truncated to 2,000 characters.", nullable=True),
    ],
    "Records rejected by the pipeline.",
)
