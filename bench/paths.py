"""Where the benchmarks find the project's shared data: ``../shared/data`` beside the repository, or
``$XDS_SHARED_DATA`` (the same variable the tests read)."""

import os
from pathlib import Path

SHARED_DATA = Path(os.environ.get("XDS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
