# The two quick-start commands: `make demo` and `make test`. Each creates (or reuses) .venv.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench-pipeline clean

$(STAMP): setup.py Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,cpu,gcp]'  # gcp: the Dataflow dry-run test (about 30 s more)
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m examples.demo --output out/demo

test: $(STAMP)
	$(PY) -m pytest -q tests

lint: $(STAMP)
	$(PY) -m ruff check .

bench-pipeline: $(STAMP)
	$(PY) -m bench.pipeline

clean:
	rm -rf out build *.egg-info
