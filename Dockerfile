# Dataflow custom worker container that can also run `rex`.
#   docker build -t REGION-docker.pkg.dev/PROJECT/REPO/xds:0.1.0 .
#   python -m pipelines.distant_supervision --runner DataflowRunner \
#       --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/xds:0.1.0 --sdk_location container ...
#   docker run --entrypoint rex IMAGE train --help
# The base image matches the Beam version pinned in setup.py; its /opt/apache/beam/boot entrypoint
# is what Dataflow starts, so it is kept.
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/xds
COPY setup.py pyproject.toml README.md ./
COPY schemas ./schemas
COPY alignment ./alignment
COPY pipelines ./pipelines
COPY rex ./rex

# The same setup.py the tests install (`make test` runs `pip install -e '.[dev,cpu]'`); `gcp` adds the
# Dataflow client libraries. On a GPU worker image, use '.[gcp,gpu]' (faiss-gpu) instead of '.[gcp,cpu]'.
RUN pip install --no-cache-dir '.[gcp,cpu]' \
    && python -c "import schemas, alignment, pipelines, rex, apache_beam, torch, faiss, spacy"

ENV PYTHONUNBUFFERED=1
ENTRYPOINT ["/opt/apache/beam/boot"]
