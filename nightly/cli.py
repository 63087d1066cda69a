"""``xds-nightly run|status|promote|rollback --config nightly.yaml``.

Exit codes: 0 promoted or nothing to do, 3 candidate not promoted (gate refused), 1 failed, 2 usage or
config error, 75 another run holds the lock. Errors are one line; ``-v`` shows tracebacks and INFO logs.
``run`` prints a line as each step starts and as each unit's shards are built (``-q``: none).
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from nightly.config import NightlyConfig, load_nightly_config
from nightly.lock import LockedError, nightly_lock
from nightly.night import EXIT_CODES, STEPS, Night, NightError
from nightly.registry import Registry, RegistryError
from nightly.report import gate_table

logger = logging.getLogger(__name__)
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="xds-nightly", description="Nightly retraining: spans in, gated model out.",
                                epilog="Exit codes: 0 promoted or nothing to do, 3 not promoted, 1 failed, 2 usage or "
                                "config error, 75 another run holds the lock.")
    p.add_argument("-v", "--verbose", action="store_true", help="INFO logs and tracebacks.")
    # -v also after the subcommand (`xds-nightly run --config c.yaml -v`); SUPPRESS keeps a -v given before it
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="INFO logs and tracebacks.")
    sub = p.add_subparsers(dest="command", required=True)
    add = functools.partial(sub.add_parser, parents=[verbose])
    run = add("run", help="Run (or resume) one night.")
    run.add_argument("--config", required=True)
    run.add_argument("--night", default=None, help="Night id (default: today's UTC date); rerun it to resume.")
    run.add_argument("--allow-split-change", action="store_true",
                     help="Accept new split fractions (the next gate compares on pairs the champion trained on).")
    run.add_argument("--device", default=None, help="torch device for training and the gate (default: cuda if any).")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="No step and unit lines (the closing lines still print).")
    status = add("status", help="Champion, versions, last nights, lock holder.")
    status.add_argument("--config", required=True)
    status.add_argument("--json", action="store_true")
    promote = add("promote", help="Make a version the champion.")
    promote.add_argument("--config", required=True)
    promote.add_argument("version")
    promote.add_argument("--force", action="store_true", help="Also promote a version the gate refused.")
    rollback = add("rollback", help="Point the champion back at the previous champion.")
    rollback.add_argument("--config", required=True)
    rollback.add_argument("--to", default=None, help="An earlier champion (default: the one before the current).")
    return p


def step_lines(night_id: str) -> Callable[[str], None]:
    """A Night.before_step hook: ``night <id>: <step> (k of n, M:SS in)`` on stderr as each step starts."""
    started = time.monotonic()

    def announce(step: str) -> None:
        minutes, seconds = divmod(int(time.monotonic() - started), 60)
        print(f"night {night_id}: {step} ({STEPS.index(step) + 1} of {len(STEPS)}, {minutes}:{seconds:02d} in)",
              file=sys.stderr, flush=True)

    return announce


def cmd_run(cfg: NightlyConfig, args: argparse.Namespace) -> int:
    night = Night(cfg, args.night, allow_split_change=args.allow_split_change, device=args.device)
    loggers = [logging.getLogger(name) for name in ("nightly.night", "nightly.shards")]
    levels = [lg.level for lg in loggers]
    if not args.quiet:
        night.before_step = step_lines(night.night)
        for lg in loggers:  # 'building <unit>: <why>', 'built <unit> in N s'
            lg.setLevel(min(lg.getEffectiveLevel(), logging.INFO))
    try:
        result = night.run()
    finally:  # a caller in the same process (a scheduler, the tests) keeps its own levels
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)
    s = result.summary
    print(f"night {result.night}: {result.outcome} (exit {result.exit_code}); champion {s.get('champion') or '-'}")
    if s.get("nothing_reason"):
        print(f"nothing to do: {s['nothing_reason']}")
    if s.get("gate", {}).get("table"):
        print(gate_table(s["gate"]["table"], s["gate"]["decision"]["metric"]))
        for reason in s["gate"]["decision"]["reasons"]:
            print(f"  - {reason}")
    print(f"report: {night.dir / 'report.md'}  summary: {night.dir / 'summary.json'}")
    return result.exit_code


def status_dict(cfg: NightlyConfig) -> dict:
    reg = Registry(cfg.registry, cfg.model_name)
    versions = []
    for v in reg.versions():
        rec = reg.version(v)
        versions.append({"version": v, "night": rec.get("night"), "gate": rec["gate"]["promote"],
                         "gated_against": rec.get("gated_against"), "parent": rec["lineage"].get("parent"),
                         "kb_version": rec["lineage"]["kb_version"], "spans": len(rec["lineage"]["spans"])})
    nights_dir = Path(cfg.work_dir) / "nights"
    nights = []
    if nights_dir.is_dir():
        for d in sorted(p for p in nights_dir.iterdir() if (p / "state.json").exists())[-5:]:
            st = json.loads((d / "state.json").read_text(encoding="utf-8"))
            nights.append({"night": d.name, "status": st.get("status"), "outcome": st.get("outcome"),
                           "failed_step": st.get("failed_step"), "error": st.get("error")})
    return {"champion": reg.champion(), "versions": versions, "nights": nights,
            "lock": nightly_lock(cfg.registry, cfg.lock_stale_seconds).holder()}


def cmd_status(cfg: NightlyConfig, args: argparse.Namespace) -> int:
    st = status_dict(cfg)
    if args.json:
        print(json.dumps(st, indent=2, sort_keys=True))
        return 0
    champ = st["champion"]
    print(f"champion: {champ['version'] if champ else '-'}" + (f" (since {champ['moved_at']}: {champ['reason']})"
                                                             if champ else ""))
    for v in st["versions"]:
        print(f"  {v['version']} night {v['night']}: gate {'passed' if v['gate'] else 'refused'} vs "
              f"{v['gated_against'] or 'always-NA'}; parent {v['parent'] or '-'}; {v['spans']} spans; "
              f"{v['kb_version']}")
    for n in st["nights"]:
        print(f"night {n['night']}: {n['outcome'] or n['status']}" +
              (f" at {n['failed_step']}: {n['error']}" if n["failed_step"] else ""))
    if st["lock"]:
        print(f"lock held by {st['lock'].get('host')} pid {st['lock'].get('pid')} "
              f"(heartbeat {st['lock']['age_seconds']} s ago)")
    return 0


def cmd_promote(cfg: NightlyConfig, args: argparse.Namespace) -> int:
    reg = Registry(cfg.registry, cfg.model_name)
    with nightly_lock(cfg.registry, cfg.lock_stale_seconds):
        record = reg.version(args.version)
        if not record["gate"]["promote"] and not args.force:
            raise RegistryError(f"{args.version} was refused by its gate ({'; '.join(record['gate']['reasons'])}); "
                                "pass --force to promote it anyway")
        pointer = reg.promote(args.version, reason="manual promote" + (" (forced)" if args.force else ""))
    print(f"champion: {pointer['version']}")
    return 0


def cmd_rollback(cfg: NightlyConfig, args: argparse.Namespace) -> int:
    reg = Registry(cfg.registry, cfg.model_name)
    with nightly_lock(cfg.registry, cfg.lock_stale_seconds):
        pointer = reg.rollback(args.to)
    print(f"champion: {pointer['version']} (was {pointer['rolled_back_from']})")
    return 0


COMMANDS = {"run": cmd_run, "status": cmd_status, "promote": cmd_promote, "rollback": cmd_rollback}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    if args.verbose:
        for name in ("nightly", "pipelines", "rex"):
            logging.getLogger(name).setLevel(logging.INFO)
    try:
        cfg = load_nightly_config(args.config)
    except ValueError as err:
        print(f"xds-nightly: {err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return COMMANDS[args.command](cfg, args)
    except LockedError as err:
        print(f"xds-nightly: {err}", file=sys.stderr)
        return EXIT_CODES["locked"]
    except RegistryError as err:
        if args.verbose:
            raise
        print(f"xds-nightly: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001 - a failed night: one line (state.json names the step); -v re-raises
        if args.verbose:
            raise
        kind = "" if isinstance(err, NightError) else f"{type(err).__name__}: "
        print(f"xds-nightly: {args.command} failed: {kind}{err}".splitlines()[0], file=sys.stderr)
        return EXIT_CODES["failed"]


if __name__ == "__main__":
    sys.exit(main())
