"""Heavy per-worker resources: the KB and its alias matchers, loaded once per process and shared by threads.

Stages get a :class:`KBSpec` (which KB, which languages, how aliases are matched), hold a
:class:`apache_beam.utils.shared.Shared` handle and call :func:`acquire_kb` in ``DoFn.setup()``; the Link,
Label and Align+Project stages pass the same handle and spec, so a worker loads the KB once.
The loaded KB and each language's alias matcher are also cached per process, keyed by the KB folders' file
names, sizes and mtimes (a KB edited in place is reloaded): a process that runs the pipeline several times
(the nightly job, one run per span and source) builds a matcher once per language.
The KB folder must be readable where the workers run: a local path (baked into the container image on
Dataflow) or any Beam FileSystem path (``gs://...``), read through FileSystems. The launcher need not see it:
:class:`KBInfo` reads the KB's versions on a worker for the manifest and checks its aliases there
(docs/dataflow.md).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
import os
import subprocess
from collections import OrderedDict
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.utils import shared

from pipelines.alias_matcher import AliasMatcher, concept_entities
from pipelines.config import PipelineConfig
from pipelines.deadletter import count
from schemas.kb import KBFormatError, KnowledgeBase, load_kb

logger = logging.getLogger(__name__)


def pipeline_version() -> str:
    """Version of the installed ``xds`` package ('0+unknown' when run from an uninstalled tree)."""
    try:
        return importlib.metadata.version("xds")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def code_version() -> str:
    """pipeline_version, plus the commit when the code runs from a git checkout ('0.1.0+g1a2b3c4d5e6f', '.dirty'
    with uncommitted changes); just pipeline_version when git or the checkout is absent."""
    version = pipeline_version()
    where = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        sha = subprocess.run(["git", "-C", where, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", where, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return version
    return f"{version}+g{sha}{'.dirty' if dirty else ''}" if sha else version


@dataclass(frozen=True)
class KBSpec:
    """What the KB stages need of the configuration: the KB folders, the run's languages and the alias matching
    flags (case policy resolved per language). Also the key under which a worker shares its KBResources."""

    kb_dir: str
    extra_alias_dirs: tuple[str, ...] = ()
    langs: tuple[str, ...] = ()
    case_policies: tuple[tuple[str, str], ...] = ()  # (lang, 'exact' | 'fold') for every language of langs
    min_alias_chars: int = 3
    min_alias_chars_cjk: int = 2
    ambiguity_margin: float = 2.0
    keep_lowercase_aliases: bool = False

    @classmethod
    def of(cls, config: PipelineConfig) -> KBSpec:
        return cls(config.kb, tuple(config.kb_extra_aliases), config.langs,
                   tuple((lang, config.case_policy_for(lang)) for lang in config.langs), config.min_alias_chars,
                   config.min_alias_chars_cjk, config.ambiguity_margin, config.keep_lowercase_aliases)

    def matcher_settings(self, lang: str) -> tuple:
        """The settings tuple :func:`cached_matcher` takes for ``lang``."""
        return (dict(self.case_policies)[lang], self.min_alias_chars, self.min_alias_chars_cjk,
                self.ambiguity_margin, self.keep_lowercase_aliases)


@dataclass
class KBResources:
    """The KB and one alias matcher per language of the run (weak-referenceable, for Shared)."""

    kb: KnowledgeBase
    matchers: dict[str, AliasMatcher]

    @property
    def version(self) -> str:
        return self.kb.version


def kb_stamp(kb_dir: str, extra_alias_dirs: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    """(path, bytes, mtime_ns) of every file under the KB folders: part of the cache keys below (on a remote
    file system: bytes and last-update time as FileSystems reports them)."""
    out = []
    for root in (kb_dir, *extra_alias_dirs):
        if "://" in root:
            found = FileSystems.match([root.rstrip("/") + "/**"])[0].metadata_list
            out.extend((m.path, m.size_in_bytes, int((m.last_updated_in_seconds or 0) * 1e9)) for m in found)
            continue
        for folder, _, names in os.walk(root):
            for name in names:
                st = os.stat(os.path.join(folder, name))
                out.append((os.path.join(folder, name), st.st_size, st.st_mtime_ns))
    return tuple(sorted(out))


def load_run_kb(kb_dir: str, extra_alias_dirs: tuple[str, ...], langs: tuple[str, ...]) -> KnowledgeBase:
    """load_kb, cached per process while the KB's files are unchanged: the launcher (which needs the KB
    version) and in-process workers (FnApiRunner) share one load."""
    return _load_kb(kb_dir, tuple(extra_alias_dirs), tuple(langs), kb_stamp(kb_dir, tuple(extra_alias_dirs)))


@functools.lru_cache(maxsize=2)
def _load_kb(kb_dir: str, extra_alias_dirs: tuple[str, ...], langs: tuple[str, ...], stamp: tuple) -> KnowledgeBase:
    return load_kb(kb_dir, extra_alias_dirs, langs=langs)


_MATCHERS: OrderedDict[tuple, AliasMatcher] = OrderedDict()  # (KB stamp, lang, settings) -> matcher, newest last
_MATCHER_CACHE_SIZE = 6


def cached_matcher(kb: KnowledgeBase, stamp: tuple, lang: str, settings: tuple) -> AliasMatcher:
    """The alias matcher of ``lang`` for the KB whose files are ``stamp``. A language's aliases and the
    popularity do not depend on which other languages were loaded, so runs over en-de and en-zh share 'en'."""
    key = (stamp, lang, settings, "en" in kb.aliases)  # concepts are known from the English aliases
    if key in _MATCHERS:
        _MATCHERS.move_to_end(key)
        return _MATCHERS[key]
    case_policy, min_chars, min_chars_cjk, margin, keep_lowercase = settings
    concepts = frozenset() if keep_lowercase else concept_entities(kb.aliases.get("en", {}))
    matcher = AliasMatcher(lang, kb.alias_items(lang), kb.popularity, case_policy=case_policy, min_chars=min_chars,
                           min_chars_cjk=min_chars_cjk, margin=margin, keep_lowercase=keep_lowercase,
                           skip_entities=concepts)
    _MATCHERS[key] = matcher
    while len(_MATCHERS) > _MATCHER_CACHE_SIZE:
        _MATCHERS.popitem(last=False)
    return matcher


def build_resources(spec: KBSpec) -> KBResources:
    """Load the KB (aliases of the spec's languages only) and build the matchers (both cached per process)."""
    kb = load_run_kb(spec.kb_dir, spec.extra_alias_dirs, spec.langs)
    stamp = kb_stamp(spec.kb_dir, spec.extra_alias_dirs)
    matchers = {lang: cached_matcher(kb, stamp, lang, spec.matcher_settings(lang)) for lang in spec.langs}
    for lang, matcher in matchers.items():
        logger.info("alias matcher %s: %d aliases, %d ambiguous, %d lower-case skipped, %d aliases of concepts "
                    "skipped", lang, len(matcher), matcher.ambiguous_aliases, matcher.skipped_lowercase,
                    matcher.skipped_concepts)
        if not len(matcher):
            logger.warning("KB %s has no %s aliases: nothing is linked on the %s side", spec.kb_dir, lang, lang)
    return KBResources(kb, matchers)


def acquire_kb(handle: shared.Shared, spec: KBSpec) -> KBResources:
    """The worker's shared KBResources for ``spec`` (built on first use)."""
    return handle.acquire(lambda: build_resources(spec), tag=("kb", spec))


def alias_counts(kb: KnowledgeBase, langs: tuple[str, ...]) -> dict[str, int]:
    """Entities with aliases per language of the run."""
    return {lang: len(kb.aliases.get(lang, {})) for lang in langs}


def check_aliases(counts: dict[str, int], kb_dir: str, src_lang: str, tgt_langs: tuple[str, ...],
                  allow_missing: bool) -> list[str]:
    """The KB must have aliases for the source language: without them nothing is linked and the run would write
    zero rows (KBFormatError; ``allow_missing`` makes it a warning). A target language without aliases is a
    warning: its rows can only be projected (the X-FACTR KB has no German aliases, by design). Returns the
    warnings, each naming the alias counts."""
    listed = ", ".join(f"{lang}={n}" for lang, n in sorted(counts.items()))
    warnings = []
    if not counts.get(src_lang):
        message = f"{kb_dir}: no aliases for the source language {src_lang} (entities with aliases: {listed})"
        if not allow_missing:
            raise KBFormatError(f"{message}; pass --allow-missing-aliases to run anyway")
        warnings.append(message)
    missing = [lang for lang in tgt_langs if not counts.get(lang)]
    if missing:
        warnings.append(f"{kb_dir}: no aliases for {', '.join(missing)} (entities with aliases: {listed}): those "
                        "rows can only be projected")
    return warnings


class _KBInfoFn(beam.DoFn):
    def __init__(self, spec: KBSpec, handle: shared.Shared, src_lang: str, tgt_langs: tuple[str, ...],
                 allow_missing: bool) -> None:
        self.spec, self.handle = spec, handle
        self.src_lang, self.tgt_langs, self.allow_missing = src_lang, tgt_langs, allow_missing

    def setup(self) -> None:
        self.resources = acquire_kb(self.handle, self.spec)

    def process(self, _):
        kb = self.resources.kb
        counts = alias_counts(kb, self.spec.langs)
        for warning in check_aliases(counts, self.spec.kb_dir, self.src_lang, self.tgt_langs, self.allow_missing):
            logger.warning("%s", warning)
        for lang, n in counts.items():
            if not n:
                count(f"kb.no_aliases.{lang}")
        yield {"kb_version": kb.version, "kb_facts_version": kb.facts_version, "aliases": counts}


class KBInfo(beam.PTransform):
    """The KB's versions and alias counts, read on a worker (one dict): the manifest takes its versions from here,
    so the launching machine never needs the KB. A KB without source-language aliases fails the job with the
    KBFormatError of :func:`check_aliases` (unless allowed); a language without aliases is counted
    (``kb.no_aliases.<lang>``) and logged."""

    def __init__(self, spec: KBSpec, handle: shared.Shared, src_lang: str, tgt_langs: tuple[str, ...],
                 allow_missing: bool = False) -> None:
        super().__init__()
        self.fn = _KBInfoFn(spec, handle, src_lang, tuple(tgt_langs), allow_missing)

    def expand(self, pbegin):
        return pbegin | "Once" >> beam.Create([None]) | "Read" >> beam.ParDo(self.fn).with_output_types(dict)
