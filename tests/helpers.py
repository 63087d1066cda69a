"""Records, configurations and sentence pairs that several test modules share (fixtures: conftest.py)."""

from __future__ import annotations

import itertools

from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline

from pipelines.aligners import AlignerSpec, Builder, build_aligner
from pipelines.config import PipelineConfig
from pipelines.label import label_pair
from pipelines.link import link_pair
from pipelines.priors import priors_file
from pipelines.project import AlignProject
from pipelines.read import make_record
from pipelines.records import LabelledPair, TokenizedPair
from pipelines.resources import KBSpec, build_resources
from pipelines.tokenize import Tokenizers, tokenize_pair
from tests.conftest import REPO, shared_path

EXAMPLE_KB = str(REPO / "examples" / "kb")
EN_ZH_CONFIG = PipelineConfig(inputs=(), src_lang="en", tgt_langs=("zh",), kb=EXAMPLE_KB, output="unused")
EN_DE_CONFIG = PipelineConfig(inputs=(), src_lang="en", tgt_langs=("de",), kb=EXAMPLE_KB, output="unused",
                              no_relation_rate=1.0)
EN_ZH_KB, EN_DE_KB = KBSpec.of(EN_ZH_CONFIG), KBSpec.of(EN_DE_CONFIG)


def stage_pipeline() -> TestPipeline:
    """The TestPipeline every stage test runs on: Beam's in-process FnApiRunner, named explicitly, because the
    default DirectRunner first tries to download the Prism runner from GitHub (no network in tests)."""
    return TestPipeline(runner=FnApiRunner(), options=PipelineOptions(flags=[]))


def tokenized_en_zh(src: str, tgt: str, origin: str = "f:1") -> TokenizedPair:
    """An EN-ZH record after the Tokenize stage."""
    return tokenize_pair(make_record(src, tgt, "en", "zh", origin), Tokenizers(("en", "zh")), 200)


def labelled_en_de(src: str, tgt: str, origin: str = "f:1") -> LabelledPair:
    """An EN-DE record after the Link and Label stages, on the example KB, every unrelated pair kept."""
    record = tokenize_pair(make_record(src, tgt, "en", "de", origin), Tokenizers(("de", "en")), 200)
    resources = build_resources(EN_DE_KB)
    return label_pair(link_pair(record, resources)[0], resources, max_distance=40, na_rate=1.0, version="0")


def align_project(config: PipelineConfig, build: Builder = build_aligner) -> AlignProject:
    """The Align+Project stage with the arguments the pipeline gives it for ``config``."""
    return AlignProject(config.tgt_langs, AlignerSpec.of(config), KBSpec.of(config),
                        batch_size=config.align_batch_size, prior_sample_size=config.prior_sample_size,
                        min_confidence=config.min_projection_confidence, build=build,
                        realign_unaligned=config.realign_unaligned,
                        stored_priors={t: priors_file(config.priors, t) for t in config.tgt_langs}
                        if config.priors else None)


LITERAL_PAIRS = [
    ("The cat sat on the mat .".split(), "Die Katze saß auf der Matte .".split()),
    ("Barack Obama visited Berlin in 2013 .".split(), "Barack Obama besuchte 2013 Berlin .".split()),
    ("I saw unbelievably beautiful mountains".split(), "Ich sah unglaublich schöne Berge".split()),
    ("Hello !".split(), "Hallo !".split()),
    ("One".split(), "Eins zwei drei".split()),
    ("Angela Merkel met the Welsh AMs on Tuesday , officials said".split(),
     "Angela Merkel traf am Dienstag die walisischen Abgeordneten , sagten Beamte".split()),
]


def real_pairs(count: int = 12) -> list[tuple[list[str], list[str]]]:
    folder = shared_path("ntrex128")
    with open(folder / "newstest2019-src.eng.txt", encoding="utf-8") as eng, open(
        folder / "newstest2019-ref.deu.txt", encoding="utf-8"
    ) as deu:
        return [(e.split(), d.split()) for e, d in itertools.islice(zip(eng, deu, strict=True), count)]


def build_vocab(pairs) -> dict[str, int]:
    """Whole words for short words, character pieces for the rest, so long words span several subwords."""
    words = {w.lower() for src, tgt in pairs for w in [*src, *tgt]}
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(w for w in words if len(w) <= 4)
    chars = sorted({c for w in words for c in w})
    pieces += chars + ["##" + c for c in chars]
    return {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}
