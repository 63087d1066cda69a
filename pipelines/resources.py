"""Heavy per-worker resources: the KB and its alias matchers, loaded once per process and shared by threads.

Stages hold a :class:`apache_beam.utils.shared.Shared` handle and call :func:`acquire_kb` in
``DoFn.setup()``; the Link and Label stages pass the same handle, so a worker loads the KB once.
The KB folder must be readable where the workers run (local path, or baked into the container image
on Dataflow: see docs/pipeline.md).
"""

from __future__ import annotations

import functools
import importlib.metadata
import logging
from dataclasses import dataclass

from apache_beam.utils import shared

from pipelines.config import PipelineConfig
from pipelines.linking import AliasMatcher
from schemas.kb import KnowledgeBase, load_kb

logger = logging.getLogger(__name__)


def pipeline_version() -> str:
    """Version of the installed ``xds`` package ('0+unknown' when run from an uninstalled tree)."""
    try:
        return importlib.metadata.version("xds")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass
class KBResources:
    """The KB and one alias matcher per language of the run (weak-referenceable, for Shared)."""

    kb: KnowledgeBase
    matchers: dict[str, AliasMatcher]

    @property
    def version(self) -> str:
        return self.kb.version


@functools.lru_cache(maxsize=2)
def load_run_kb(kb_dir: str, extra_alias_dirs: tuple[str, ...], langs: tuple[str, ...]) -> KnowledgeBase:
    """load_kb, cached per process: the launcher (which needs the KB version) and in-process workers
    (FnApiRunner) share one load."""
    return load_kb(kb_dir, extra_alias_dirs, langs=langs)


def build_resources(config: PipelineConfig) -> KBResources:
    """Load the KB (aliases of the run's languages only) and build the matchers."""
    langs = config.langs
    kb = load_run_kb(config.kb, config.kb_extra_aliases, langs)
    matchers = {
        lang: AliasMatcher(lang, kb.alias_items(lang), kb.popularity, case_policy=config.case_policy_for(lang),
                           min_chars=config.min_alias_chars, min_chars_cjk=config.min_alias_chars_cjk,
                           margin=config.ambiguity_margin, keep_lowercase=config.keep_lowercase_aliases)
        for lang in langs
    }
    for lang, matcher in matchers.items():
        logger.info("alias matcher %s: %d aliases, %d ambiguous, %d lower-case skipped", lang, len(matcher),
                    matcher.ambiguous_aliases, matcher.skipped_lowercase)
        if not len(matcher):
            logger.warning("KB %s has no %s aliases: nothing is linked on the %s side", config.kb, lang, lang)
    return KBResources(kb, matchers)


def acquire_kb(handle: shared.Shared, config: PipelineConfig) -> KBResources:
    """The worker's shared KBResources for ``config`` (built on first use)."""
    return handle.acquire(lambda: build_resources(config), tag=("kb", config.to_json()))
