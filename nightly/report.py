"""The night's JSON summary (for schedulers) and Markdown report (for people), from the night's state.

Both are written to the night's folder through a temporary file and a rename: ``summary.json`` and
``report.md`` (which embeds ``pr.png``, the PR curves of candidate and champion on the test bags).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nightly.registry import write_json_atomic

if TYPE_CHECKING:
    from nightly.night import Night

GATE_COLUMNS = ("pr_auc", "micro_f1", "macro_f1")


def summary(night: Night) -> dict:
    """Everything a scheduler or a person needs about the night, as one JSON-serialisable dict."""
    from nightly.night import EXIT_CODES

    state = night.state
    steps = state["steps"]
    plan, shards = steps.get("plan", {}), steps.get("shards", {})
    built = shards.get("built", {})
    statuses = plan.get("statuses", {})
    # complete before tonight and not rebuilt (a nothing-to-do night skips every unit without a shard step)
    skipped = sorted(u for u in plan.get("units", []) if u not in built and statuses.get(u) == "complete")
    outcome = state.get("outcome", "failed" if state.get("status") == "failed" else "running")
    gate = steps.get("gate", {})
    train = steps.get("train", {})
    spans_built = sorted({unit.split("/")[0] for unit in built})
    return {
        "night": night.night,
        "outcome": outcome,
        "exit_code": EXIT_CODES.get(outcome, 1),
        "failed_step": state.get("failed_step"),
        "error": state.get("error"),
        "attempts": state.get("attempts"),
        "nothing_reason": plan.get("nothing_reason"),
        "spans": plan.get("spans", []),
        "spans_processed": spans_built,
        "spans_skipped": [s for s in plan.get("spans", []) if s not in spans_built
                          and all(u in skipped for u in statuses if u.split("/")[0] == s)],
        "units": statuses,
        "built": sorted(built),
        "skipped": skipped,
        "units_built": {k: {f: v.get(f) for f in UNIT_FIELDS} for k, v in sorted(built.items())},
        "kb_version": plan.get("kb_version"),
        "kb_changed_units": plan.get("kb_changed", []),
        "unmatched_files": plan.get("unmatched", []),
        "rows_added": _sum_counts(v["rows"] for v in built.values()),
        "instances_added": _sum_counts(v["instances"] for v in built.values()),
        "rejects_added": _sum_counts(v["rejects"] for v in built.values()),
        "projection_share": {k: v["projection_share"] for k, v in sorted(built.items())},
        "pipeline_seconds": round(sum(v["seconds"] for v in built.values()), 2),
        "priors": steps.get("priors", {}).get("sources", {}),
        "index": {k: v for k, v in steps.get("index", {}).items() if k in ("index_dir", "built", "reason")},
        "training": {k: train.get(k) for k in ("steps", "best_step", "train_seconds", "init_from", "parent", "dev")}
        if train else {},
        "gate": {"champion": gate.get("champion"), "decision": gate.get("decision"),
                 "table": gate_rows(gate["comparisons"], gate["decision"]) if gate else []},
        "version": steps.get("register", {}).get("version"),
        "champion": night.registry.champion_version(),
        "step_seconds": {k: v.get("seconds") for k, v in steps.items()},
        "folder": str(night.dir),
    }


# per built unit in summary.json: why, how long, and its manifest's counts
UNIT_FIELDS = ("reason", "seconds", "input_pairs", "accepted_pairs", "rejected_pairs", "rows", "projection_share")


def _sum_counts(dicts) -> dict[str, int]:
    out: dict[str, int] = {}
    for counts in dicts:
        for key, n in counts.items():
            out[key] = out.get(key, 0) + n
    return dict(sorted(out.items()))


def gate_rows(comparisons: dict, decision: dict) -> list[dict]:
    """One row per (eval set, group): candidate / champion / always-NA metrics, positive bags, check result."""
    checks = {(c["eval"], c["group"]): c for c in decision["checks"]}
    out = []
    for eval_name, comp in comparisons.items():
        for group, metrics in comp["groups"].items():
            row = {"eval": eval_name, "group": group,
                   "positive_bags": metrics["candidate"]["positive_items"], "bags": metrics["candidate"]["items"]}
            for who in ("candidate", "champion", "baseline"):
                for m in GATE_COLUMNS:
                    row[f"{who}_{m}"] = metrics[who][m] if who in metrics else None
            check = checks.get((eval_name, group))
            row["check"] = None if check is None else ("pass" if check["ok"] else
                                                       "skip" if check["ok"] is None else "FAIL")
            out.append(row)
    return out


def _f(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def gate_table(rows: list[dict], metric: str = "pr_auc") -> str:
    """The gate table as Markdown (printed by the CLI and the demo)."""
    lines = [f"| eval | group | bags (pos) | candidate {metric} | champion {metric} | always-NA {metric} "
             "| candidate micro-F1 | champion micro-F1 | check |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['eval']} | {r['group']} | {r['bags']} ({r['positive_bags']}) "
                     f"| {_f(r[f'candidate_{metric}'])} "
                     f"| {_f(r[f'champion_{metric}'])} | {_f(r[f'baseline_{metric}'])} | {_f(r['candidate_micro_f1'])} "
                     f"| {_f(r['champion_micro_f1'])} | {r['check'] or ''} |")
    return "\n".join(lines)


def markdown(s: dict) -> str:
    """The human-readable night report."""
    out = [f"# Night {s['night']}: {s['outcome']}", ""]
    if s["error"]:
        out += [f"**Failed at step `{s['failed_step']}`**: {s['error']}. Rerun the same night to resume "
                "from that step; the champion is unchanged.", ""]
    if s["nothing_reason"]:
        out += [f"Nothing to do: {s['nothing_reason']}.", ""]
    out += [f"- spans: {len(s['spans'])}; processed tonight: {', '.join(s['spans_processed']) or 'none'}; "
            f"skipped (every unit complete): {', '.join(s['spans_skipped']) or 'none'}",
            f"- units built: {len(s['built'])}; skipped (complete): {len(s['skipped'])}; pipeline "
            f"{s['pipeline_seconds']} s",
            f"- KB version: {s['kb_version']}" + (f" (changed: {len(s['kb_changed_units'])} units rebuilt)"
                                                    if s["kb_changed_units"] else ""),
            f"- registered: {s['version'] or '-'}; champion now: {s['champion'] or '-'}"]
    for name, p in s.get("priors", {}).items():
        units = f"{p['fitted_units']} unit{'s' if p['fitted_units'] != 1 else ''}"
        out.append(f"- eflomal priors of {name}: " + (
            p["reason"] if p["dir"] is None else f"fitted on {units} in {p['seconds']} s ({p['reason']})"
            if p["refit"] else f"reused (fitted on {units})"))
    if s["index"]:
        out.append(f"- retrieval index: {s['index']['reason']}" + (f" ({s['index']['index_dir']})"
                                                                  if s["index"].get("index_dir") else ""))
    if s["unmatched_files"]:
        out.append(f"- **files no source reads**: {', '.join(s['unmatched_files'])}")
    out.append("")
    if s["units"]:
        out += ["## Units", "", "| unit | status before tonight | input pairs | accepted "
                "| rows train / dev / test (all langs) | projection share | seconds |", "|---|---|---|---|---|---|---|"]
        for unit, status in s["units"].items():
            b = s["units_built"].get(unit)
            if b is None:
                out.append(f"| {unit} | {status} | | | | | reused |")
                continue
            rows = {split: sum(n for k, n in b["rows"].items() if k.startswith(f"{split}/"))
                    for split in ("train", "dev", "test")}
            share = ", ".join(f"{lang} {v:.2f}" for lang, v in b["projection_share"].items())
            out.append(f"| {unit} | {status} | {b['input_pairs']} | {b['accepted_pairs']} | {rows['train']} / "
                       f"{rows['dev']} / {rows['test']} | {share} | {b['seconds']} |")
        out.append("")
    if s["rows_added"]:
        out += ["## Rows added", "", "Shard rows per split and language (all built units):", "",
                count_table(s["rows_added"], "split"), "",
                "Instances per relation and language (all splits; a multi-label row counts once per label):", "",
                count_table({f"{rel}/{lang}": n for k, n in s["instances_added"].items()
                             for lang, rel in [k.split("/", 1)]}, "relation"), ""]
        out += ["## Rejects added", "", "| stage/reason | count |", "|---|---|"]
        out += [f"| {k} | {v} |" for k, v in s["rejects_added"].items()] + [""]
    if s["training"]:
        t = s["training"]
        dev = t.get("dev") or {}
        out += ["## Training", "", f"{t['steps']} steps (best {t['best_step']}) in {t['train_seconds']} s; "
                f"warm start from {t['parent'] or 'nothing (from scratch)'}"
                + (f"; dev PR-AUC {dev['pr_auc']:.3f}, micro-F1 {dev['micro_f1']:.3f}" if "pr_auc" in dev else ""), ""]
    gate = s["gate"]
    if gate["decision"]:
        d = gate["decision"]
        out += ["## Gate", "", f"Candidate vs champion {gate['champion'] or '(none: first night, vs always-NA)'}: "
                f"**{'promote' if d['promote'] else 'refuse'}**", "", gate_table(gate["table"], d["metric"]), ""]
        out += [f"- {r}" for r in d["reasons"]] + ["", "![PR curves](pr.png)", ""]
    times = {k: v for k, v in s["step_seconds"].items() if v is not None}
    if times:
        out += ["Step times (s): " + ", ".join(f"{k} {v}" for k, v in times.items()), ""]
    return "\n".join(out)


def count_table(counts: dict[str, int], first: str) -> str:
    """{'<row>/<column>': n} as a Markdown table, one row per <row> and one column per <column>, with totals."""
    cells: dict[str, dict[str, int]] = {}
    for key, n in counts.items():
        row, _, col = key.partition("/")
        cells.setdefault(row, {})[col] = cells.get(row, {}).get(col, 0) + n
    cols = sorted({c for r in cells.values() for c in r})
    lines = [f"| {first} | " + " | ".join(cols) + " | total |", "|---" * (len(cols) + 2) + "|"]
    for row in sorted(cells):
        values = [cells[row].get(c, 0) for c in cols]
        lines.append(f"| {row} | " + " | ".join(str(v) for v in values) + f" | {sum(values)} |")
    return "\n".join(lines)


def write(night: Night, s: dict) -> None:
    night.dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(night.dir / "summary.json", s)
    tmp = night.dir / ".report.md.tmp"
    tmp.write_text(markdown(s), encoding="utf-8")
    tmp.replace(night.dir / "report.md")
