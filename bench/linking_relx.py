"""Alias-linking recall per language on relx-dev's gold mentions, as the pipeline links them.

Each relx-dev mention whose English text is a KB alias names its entity (the most popular one for that
alias). In every language the sentence is normalised and tokenised as in the pipeline and searched with the
pipeline's alias matcher (:class:`pipelines.alias_matcher.AliasMatcher` with the pipeline's default settings,
concepts skipped as in ``pipelines.resources.cached_matcher``);
a gold mention is *found* when the matcher returns that entity on a span overlapping the gold mention, and
*exact* when the span is the tokens the gold mention covers. Recall is over the mentions whose entity has an
alias in that language (the KB's, and the ``--extra-aliases`` folders'); "KB has an alias" says how many do.

    python -m bench.linking_relx                                   # the KB and its extra aliases
    python -m bench.linking_relx --extra-aliases out/aliases-mined # + aliases mined from projections
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from alignment.text import fold
from bench.paths import SHARED_DATA
from bench.projection_relx import english_entities, load_mentions, token_span
from pipelines.alias_matcher import AliasMatcher, concept_entities
from pipelines.config import PipelineConfig
from pipelines.normalize import normalize_text
from pipelines.tokenize import load_spacy, tokenize_text
from schemas.kb import load_kb

LANGS = ("en", "de", "fr", "es", "tr")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--langs", nargs="*", default=list(LANGS))
    parser.add_argument("--extra-aliases", nargs="*", default=[], help="more alias folders (<lang>.txt)")
    args = parser.parse_args(argv)
    extra = (str(SHARED_DATA / "xfactr-aliases-extra"), *args.extra_aliases)
    kb = load_kb(str(SHARED_DATA / "xfactr-kb"), extra, langs=tuple(sorted({"en", *args.langs})))
    config = PipelineConfig(inputs=("-",), src_lang="en", tgt_langs=("de",), kb="-", output="-")
    entity_of = english_entities(kb)
    print("| lang | mentions with a known entity | KB has an alias | found | exact span | recall | exact recall |")
    print("|---|---|---|---|---|---|---|")
    for lang in args.langs:
        matcher = AliasMatcher(lang, kb.alias_items(lang), kb.popularity, case_policy=config.case_policy_for(lang),
                               min_chars=config.min_alias_chars, min_chars_cjk=config.min_alias_chars_cjk,
                               margin=config.ambiguity_margin, keep_lowercase=config.keep_lowercase_aliases,
                               skip_entities=frozenset() if config.keep_lowercase_aliases
                               else concept_entities(kb.aliases["en"]))
        nlp = load_spacy(lang)
        mentions = load_mentions("de" if lang == "en" else lang)
        known = has_alias = found = exact = 0
        for m in mentions:
            entity = entity_of.get(fold(m.src_text[m.src_span[0]:m.src_span[1]]))
            if entity is None:
                continue
            known += 1
            if not kb.aliases.get(lang, {}).get(entity):
                continue
            has_alias += 1
            text, span = (m.src_text, m.src_span) if lang == "en" else (m.tgt_text, m.tgt_span)
            text = normalize_text(text, lang)
            tokens = tokenize_text(nlp, text)
            hits, _ = matcher.find(text, tokens.starts, tokens.ends)
            ours = [h for h in hits if h.kb_id == entity and h.char_start < span[1] and span[0] < h.char_end]
            found += bool(ours)
            gold = token_span(tokens, span)
            exact += any((h.token_start, h.token_end) == gold for h in ours)
        recall = found / has_alias if has_alias else 0.0
        exact_recall = exact / has_alias if has_alias else 0.0
        print(f"| {lang} | {known} | {has_alias} | {found} | {exact} | {recall:.3f} | {exact_recall:.3f} |", flush=True)


if __name__ == "__main__":
    main()
