"""The command-line conventions every xds command shares (README, "Command-line conventions").

Lives in ``schemas`` because every other package depends on it. What it gives the commands:

* :class:`HelpFormatter`: ``--help`` shows each flag's default when the default says something;
* :func:`add_deprecated`: an old flag spelling keeps working, hidden from ``--help``, with a one-line warning;
* :func:`split_codes`: language lists as ``de zh``, ``de,zh`` or repeated flags;
* :func:`progress_off`: tqdm's ``disable`` for a command's ``-q`` (progress only on an interactive stderr);
* :func:`open_input` / :func:`open_output`: ``-`` for stdin / stdout;
* :func:`quiet_beam_import`: Beam imported without its warning about the missing gcp extra.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import logging
import sys
from collections.abc import Iterable, Iterator
from typing import IO

STDIO = "-"
_warned: set[tuple[str, str]] = set()


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter plus ``(default: X)`` after a flag's help, unless the default is empty (None, False,
    an empty list) or the help already names it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text or default is None or default is False or default is argparse.SUPPRESS:
            return text
        if isinstance(default, list | tuple):
            if not default:
                return text
            default = " ".join(map(str, default))
        if not action.option_strings and action.nargs not in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return text
        shown = str(default).replace("%", "%%")
        return f"{text} (default: {shown})" if text else f"default: {shown}"


class _WarnsOnOldName:
    """Mixed into an action that has deprecated spellings: a one-line warning (once per spelling) when one is used."""

    deprecated_names: dict[str, str]

    def __call__(self, parser, namespace, values, option_string=None):
        new = self.deprecated_names.get(option_string or "")
        if new:
            warn_renamed(parser.prog, option_string, new)
        super().__call__(parser, namespace, values, option_string)  # type: ignore[misc]


def warn_renamed(prog: str, old: str, new: str) -> None:
    """``<prog>: warning: <old> is deprecated, use <new>`` on stderr, once per process and spelling."""
    if (prog, old) in _warned:
        return
    _warned.add((prog, old))
    print(f"{prog}: warning: {old} is deprecated, use {new}", file=sys.stderr)


def add_kb_arguments(parser: argparse.ArgumentParser, kb_help: str, extra_help: str, required: bool = True) -> None:
    """``--kb DIR`` (required unless told) and ``--kb-extra-aliases DIR ...``: the two flags of every command that
    reads a KB."""
    parser.add_argument("--kb", required=required, metavar="DIR", help=kb_help)
    parser.add_argument("--kb-extra-aliases", action="extend", nargs="+", default=[], metavar="DIR", help=extra_help)


def add_deprecated(parser: argparse.ArgumentParser, new: str, *old: str) -> None:
    """Make each ``old`` spelling parse as the flag ``new`` (same action, so ``required`` and the value are shared),
    hidden from ``--help`` (it is not among the action's option strings), with a deprecation warning when used."""
    action = parser._option_string_actions[new]  # noqa: SLF001 - argparse keeps its option table here
    if not isinstance(action, _WarnsOnOldName):
        action.__class__ = type(type(action).__name__, (_WarnsOnOldName, type(action)), {})
        action.deprecated_names = {}  # type: ignore[attr-defined]
    for name in old:
        if name in parser._option_string_actions:  # noqa: SLF001
            raise ValueError(f"{name} is already a flag of {parser.prog}")
        parser._option_string_actions[name] = action  # noqa: SLF001
        action.deprecated_names[name] = new  # type: ignore[attr-defined]


def split_codes(values: Iterable[str] | None) -> list[str]:
    """Codes given as separate values, comma-separated or both (``["de,zh", "fr"]`` -> ``["de", "zh", "fr"]``)."""
    return [code.strip() for value in values or () for code in value.split(",") if code.strip()]


def progress_off(quiet: bool) -> bool | None:
    """tqdm's ``disable`` for a command: off with ``-q``; otherwise None, tqdm's own rule (shown on a terminal,
    left out of logs and pipes)."""
    return True if quiet else None


def interactive() -> bool:
    """stderr is a terminal (progress lines and bars go there)."""
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


@contextlib.contextmanager
def open_input(path: str, binary: bool = False) -> Iterator[IO]:
    """``path`` opened for reading, or stdin for ``-`` (left open)."""
    if path == STDIO:
        yield sys.stdin.buffer if binary else sys.stdin
        return
    with open(path, "rb" if binary else "r", encoding=None if binary else "utf-8") as handle:
        yield handle


@contextlib.contextmanager
def open_output(path: str) -> Iterator[IO[str]]:
    """``path`` opened for writing UTF-8 text, or stdout for ``-`` (flushed, left open)."""
    if path == STDIO:
        out = sys.stdout
        if isinstance(out, io.TextIOWrapper) and out.encoding.lower().replace("-", "") != "utf8":
            out.reconfigure(encoding="utf-8")
        yield out
        out.flush()
        return
    with open(path, "w", encoding="utf-8") as handle:
        yield handle


class _DropMessage(logging.Filter):
    def __init__(self, start: str) -> None:
        super().__init__()
        self.start = start

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.start)


def quiet_beam_import() -> None:
    """Import Beam's BigQuery client stubs without their warning. Without the gcp extra they log "apitools not
    found ..." on the root logger at import time, on every command, and that call also configures the root
    logger (so a command's own ``logging.basicConfig`` would do nothing). Here the one message is dropped and the
    handler that call installs is removed again. The packages that use Beam call this first."""
    name = "apache_beam.io.gcp.internal.clients.bigquery"
    if name in sys.modules:
        return
    root = logging.getLogger()
    handlers, drop = list(root.handlers), _DropMessage("apitools not found")
    root.addFilter(drop)
    try:
        importlib.import_module(name)
    except ImportError:  # no Beam (a rex-only install): nothing to quieten
        pass
    finally:
        root.removeFilter(drop)
        for handler in root.handlers[len(handlers):] if root.handlers[: len(handlers)] == handlers else []:
            root.removeHandler(handler)
