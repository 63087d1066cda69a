"""The nightly job's typed configuration: one JSON or YAML file, dataclasses validated in ``__post_init__``.

Relative paths in a config file are resolved against the file's folder; URIs (``gs://...``) are kept.
Unknown sections or keys are errors naming the file, so a typo fails before the night starts.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.config import INPUT_FORMATS
from rex.config import RexConfig, load_config

GATE_METRICS = ("pr_auc", "micro_f1", "macro_f1")
REX_PRESETS = ("default", "quick")
DEFAULT_SPAN_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(msg)


def is_uri(path: str) -> bool:
    """True for ``scheme://...`` paths (Beam/fsspec file systems), which are never resolved locally."""
    return "://" in path


@dataclass
class SourceConfig:
    """One kind of file inside a span folder and how the pipeline reads it.

    ``pattern`` is a glob over the file names of a span folder (``en-de*.jsonl``); for ``moses`` it matches
    the prefix: the span must hold ``<prefix>.<src_lang>`` and ``<prefix>.<tgt>`` files.
    """

    name: str
    pattern: str
    format: str
    src_lang: str
    tgt_langs: list[str]

    def __post_init__(self) -> None:
        _check(bool(re.fullmatch(r"[A-Za-z0-9_.-]+", self.name)), f"source name {self.name!r}: use [A-Za-z0-9_.-]")
        _check(self.format in INPUT_FORMATS, f"source {self.name}: format must be one of {INPUT_FORMATS}")
        _check(bool(self.tgt_langs), f"source {self.name}: tgt_langs is empty")
        _check(self.format != "tsv" or len(self.tgt_langs) == 1, f"source {self.name}: tsv takes one target language")
        _check(bool(self.pattern), f"source {self.name}: empty pattern")

    @property
    def langs(self) -> tuple[str, ...]:
        """The run's languages, sorted (as the pipeline loads the KB aliases for them)."""
        return tuple(sorted({self.src_lang, *self.tgt_langs}))


@dataclass
class BitextConfig:
    """Where spans arrive: ``root/<span>/<files>``; span folder names match ``span_pattern`` (sorted = time order)."""

    root: str
    sources: list[SourceConfig]
    span_pattern: str = DEFAULT_SPAN_PATTERN

    def __post_init__(self) -> None:
        self.sources = [s if isinstance(s, SourceConfig) else SourceConfig(**s) for s in self.sources]
        _check(bool(self.sources), "bitext.sources is empty")
        names = [s.name for s in self.sources]
        _check(len(set(names)) == len(names), f"bitext.sources: duplicate names in {names}")
        try:
            re.compile(self.span_pattern)
        except re.error as err:
            raise ValueError(f"bitext.span_pattern: {err}") from err


@dataclass
class KBConfig:
    """The KB, extra alias folders, and aliases mined from the night's own projections.

    ``mine_aliases``: target languages to mine aliases for after the shards step (pipelines.mine_aliases over
    every unit's shards). A mined set is adopted into ``<work_dir>/aliases-mined`` (and used from the next night
    on, as one more alias folder) only when it adds at least ``mine_min_new`` aliases to the adopted one: each
    adoption changes the KB version, and a KB change rebuilds every span."""

    dir: str
    extra_aliases: list[str] = field(default_factory=list)
    mine_aliases: list[str] = field(default_factory=list)
    mine_min_new: int = 20

    def __post_init__(self) -> None:
        _check(self.mine_min_new >= 1, "kb.mine_min_new must be >= 1")


@dataclass
class PipelineSection:
    """Flags for every pipeline run (``--no-relation-rate 0.3``, ...) and Beam runner flags (``--runner ...``).

    ``reuse_priors``: build spans with eflomal priors fitted once on all of a source's spans and stored
    (nightly.priors), refitted when the source has grown ``priors_refit_growth`` times since (1.0: doubled);
    off: every span fits its own priors, as a plain pipeline run does."""

    args: list[str] = field(default_factory=list)
    beam_args: list[str] = field(default_factory=list)
    reuse_priors: bool = True
    priors_refit_growth: float = 1.0

    def __post_init__(self) -> None:
        _check(self.priors_refit_growth >= 0, "pipeline.priors_refit_growth must be >= 0")
        own = {"--input", "--input-format", "--src-lang", "--tgt-lang", "--kb", "--kb-extra-aliases", "--output",
               "--priors"}
        bad = sorted(a.split("=")[0] for a in self.args if a.split("=")[0] in own)
        _check(not bad, f"pipeline.args: {bad} are set by the nightly job from bitext/kb")


@dataclass
class RexSection:
    """The run's rex config: a file (or rex's defaults, or the seconds-scale 'quick' preset) plus overrides.

    ``data.shards`` and ``train.init_from`` are set by the job. ``warm_max_steps`` (when set) replaces
    ``train.max_steps`` for a warm-started candidate. ``window_spans`` > 0 trains on the newest N spans only;
    the gate always evaluates on the test split of every current span.
    """

    config: str | None = None
    preset: str = "default"
    max_steps: int | None = None
    warm_max_steps: int | None = None
    warm_start: bool = True
    window_spans: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _check(self.preset in REX_PRESETS, f"rex.preset must be one of {REX_PRESETS}")
        _check(self.max_steps is None or self.max_steps >= 1, "rex.max_steps must be >= 1")
        _check(self.warm_max_steps is None or self.warm_max_steps >= 1, "rex.warm_max_steps must be >= 1")
        _check(self.window_spans >= 0, "rex.window_spans must be >= 0 (0 = all spans)")
        _check(isinstance(self.overrides, dict), "rex.overrides must be a mapping of sections")

    def build(self, shard_dirs: list[str], init_from: str | None) -> RexConfig:
        """The candidate's RexConfig on ``shard_dirs``, warm-started from ``init_from`` when given."""
        if self.config:
            base = load_config(self.config).to_dict()
        elif self.preset == "quick":
            from rex.api import quick_config

            base = quick_config(shard_dirs, self.max_steps or 150).to_dict()
        else:
            base = RexConfig().to_dict()
        merged = _deep_merge(base, self.overrides)
        merged["data"]["shards"] = list(shard_dirs)
        steps = self.warm_max_steps if init_from and self.warm_max_steps else self.max_steps
        if steps:
            merged["train"]["max_steps"] = steps
        merged["train"]["init_from"] = init_from
        return RexConfig.from_dict(merged, where="rex section of the nightly config")


@dataclass
class RetrievalSection:
    """KB fact index (rex.retrieval). Held-out pairs come from the split rule, not from the shards seen so far,
    so the index stays leak-free for every future span and is rebuilt only when the KB or the fractions change."""

    enabled: bool = False
    k: int = 8
    dim: int = 64
    epochs: int = 20
    seed: int = 13

    def __post_init__(self) -> None:
        _check(self.k >= 1 and self.dim >= 2 and self.epochs >= 1, "retrieval: k >= 1, dim >= 2, epochs >= 1")


@dataclass
class GateConfig:
    """Promote the candidate only if, on the same current test bags (and each extra eval set):
    ``metric`` over whole bags >= champion's - ``tolerance``, and for every language with at least
    ``min_positive_bags`` positive bags, the language's metric >= champion's - ``max_language_drop``.
    With no champion: promote only if ``metric`` > the always-no-relation baseline's + ``first_night_margin``."""

    metric: str = "pr_auc"
    tolerance: float = 0.01
    min_positive_bags: int = 20
    max_language_drop: float = 0.05
    first_night_margin: float = 0.0
    extra_eval: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check(self.metric in GATE_METRICS, f"gate.metric must be one of {GATE_METRICS}")
        _check(self.tolerance >= 0 and self.max_language_drop >= 0, "gate tolerances must be >= 0")
        _check(self.min_positive_bags >= 1, "gate.min_positive_bags must be >= 1")
        _check(self.first_night_margin >= 0, "gate.first_night_margin must be >= 0")


@dataclass
class NightlyConfig:
    """Everything one night needs. ``work_dir`` (local) holds nights/ (state, candidate, reports) and the index;
    ``shards`` (default ``<work_dir>/shards``, may be ``gs://...``) the pipeline's output; ``registry`` the versions."""

    bitext: BitextConfig
    kb: KBConfig
    work_dir: str
    registry: str
    shards: str | None = None
    pipeline: PipelineSection = field(default_factory=PipelineSection)
    rex: RexSection = field(default_factory=RexSection)
    retrieval: RetrievalSection = field(default_factory=RetrievalSection)
    gate: GateConfig = field(default_factory=GateConfig)
    lock_stale_seconds: float = 600.0
    model_name: str = "rex"

    def __post_init__(self) -> None:
        _check(self.lock_stale_seconds > 0, "lock_stale_seconds must be > 0")
        _check(not is_uri(self.work_dir), "work_dir must be a local (or mounted) path; put shards on a remote file "
                                          "system with the 'shards' key")

    @property
    def mined_aliases_dir(self) -> str:
        """Where mined aliases are adopted (used as an alias folder once it exists)."""
        return str(Path(self.work_dir) / "aliases-mined")

    def alias_dirs(self) -> list[str]:
        """The alias folders the pipeline loads: ``kb.extra_aliases`` and, once adopted, the mined aliases."""
        mined = self.mined_aliases_dir
        adopted = bool(self.kb.mine_aliases) and Path(mined, "mined.json").exists()
        return [*self.kb.extra_aliases, *([mined] if adopted else [])]

    @property
    def shards_root(self) -> str:
        return (self.shards or f"{self.work_dir.rstrip('/')}/shards").rstrip("/")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], where: str = "config", base_dir: Path | None = None) -> NightlyConfig:
        """Build from a nested dict; unknown keys are errors naming ``where``; paths resolved against ``base_dir``."""
        _known(raw, cls, where)
        sections = {"bitext": BitextConfig, "kb": KBConfig, "pipeline": PipelineSection, "rex": RexSection,
                    "retrieval": RetrievalSection, "gate": GateConfig}
        values: dict[str, Any] = {}
        try:
            for key, value in raw.items():
                if key in sections:
                    if not isinstance(value, dict):
                        raise ValueError(f"section '{key}' must be a mapping")
                    _known(value, sections[key], f"{where}: section '{key}'")
                    values[key] = sections[key](**value)
                else:
                    values[key] = value
            config = cls(**values)
        except TypeError as err:
            raise ValueError(f"{where}: {err}") from err
        except ValueError as err:
            raise ValueError(f"{where}: {err}") from err
        if base_dir is not None:
            config.resolve_paths(base_dir)
        return config

    def resolve_paths(self, base: Path) -> None:
        """Make relative local paths absolute against ``base`` (the config file's folder)."""
        def fix(path: str) -> str:
            return path if is_uri(path) or Path(path).is_absolute() else str((base / path).resolve())

        self.bitext.root = fix(self.bitext.root)
        self.kb.dir = fix(self.kb.dir)
        self.kb.extra_aliases = [fix(p) for p in self.kb.extra_aliases]
        self.work_dir = fix(self.work_dir)
        self.shards = fix(self.shards) if self.shards else None
        self.registry = fix(self.registry)
        if self.rex.config:
            self.rex.config = fix(self.rex.config)
        self.gate.extra_eval = [fix(p) for p in self.gate.extra_eval]


def _known(raw: dict[str, Any], klass: type, where: str) -> None:
    known = {f.name for f in dataclasses.fields(klass)}
    bad = sorted(set(raw) - known)
    if bad:
        raise ValueError(f"{where}: unknown keys {bad} (known: {sorted(known)})")


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_nightly_config(path: str | Path) -> NightlyConfig:
    """Read a JSON or YAML (.yaml/.yml) nightly config; ValueError naming the file on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ValueError(f"{path}: cannot read the config ({err.strerror})") from err
    try:
        raw = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else json.loads(text)
    except (ValueError, yaml.YAMLError) as err:
        raise ValueError(f"{path}: not a valid config file ({err})") from err
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: the config must be a mapping")
    return NightlyConfig.from_dict(raw, where=str(path), base_dir=path.resolve().parent)
