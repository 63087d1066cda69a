"""``python -m alignment.sentence``: document-level bitext -> the pipeline's sentence-pair JSONL."""

from alignment.sentence.cli import main

raise SystemExit(main())
