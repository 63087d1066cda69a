"""One night: plan -> priors -> shards -> aliases -> index -> train -> gate -> register -> promote -> report, resumable.

The night's state is ``<work_dir>/nights/<night>/state.json`` (written atomically after every step). A step
recorded as done is skipped on a rerun of the same night; the plan (which units the night covers) is frozen
on the first attempt, so a resumed night trains and gates on the same data. A failure records the step and
the error and leaves the champion untouched (only the promote step moves it, after the version exists).

Outcomes and exit codes (``EXIT_CODES``): ``promoted`` 0, ``nothing_to_do`` 0, ``not_promoted`` 3,
``failed`` 1, ``locked`` 75 (another run holds the lock; retry later); 2 is a usage or config error (cli).
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from nightly import report
from nightly.config import NightlyConfig
from nightly.gate import build_eval_cache, compare, decide, score_model
from nightly.lock import nightly_lock
from nightly.registry import Registry, code_version, write_json_atomic
from nightly.shards import build_unit, manifest_summary, projection_share
from nightly.spans import FingerprintCache, Unit, discover, file_stats, labelling_config, unit_status
from pipelines.resources import load_run_kb, pipeline_version
from rex.config import RetrievalConfig, RexConfig

logger = logging.getLogger(__name__)

EXIT_CODES = {"promoted": 0, "nothing_to_do": 0, "not_promoted": 3, "failed": 1, "locked": 75}
STEPS = ("plan", "priors", "shards", "aliases", "index", "train", "gate", "register", "promote", "report")


class NightError(RuntimeError):
    """A night cannot go on for a reason the user must fix (message is one line)."""


@dataclass
class NightResult:
    night: str
    outcome: str
    summary: dict

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.outcome]


def default_night() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")


class Night:
    """The steps of one night over ``config``; ``run()`` holds the lock and runs or resumes them."""

    def __init__(self, config: NightlyConfig, night: str | None = None, *, allow_split_change: bool = False,
                 device: str | None = None) -> None:
        self.config = config
        self.night = night or default_night()
        self.dir = Path(config.work_dir) / "nights" / self.night
        self.registry = Registry(config.registry, config.model_name)
        self.registry_cache = Path(config.work_dir) / "registry-cache"  # local copies of a remote registry's models
        self.allow_split_change = allow_split_change
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.state: dict = {}
        # step hooks for tests and operators: called with the step name before it runs
        self.before_step: Callable[[str], None] | None = None

    # -- state ---------------------------------------------------------------------------------------------
    def _load_state(self) -> dict:
        path = self.dir / "state.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        return {"night": self.night, "status": "new", "steps": {}, "attempts": 0}

    def _save(self) -> None:
        write_json_atomic(self.dir / "state.json", self.state)

    def _done(self, step: str, **out) -> None:
        self.state["steps"][step] = {"status": "done", "at": time.time(), **out}
        self._save()

    def step_out(self, step: str) -> dict:
        return self.state["steps"].get(step, {})

    # -- the run -------------------------------------------------------------------------------------------
    def run(self) -> NightResult:
        with nightly_lock(self.config.registry, self.config.lock_stale_seconds):
            return self._run_locked()

    def _run_locked(self) -> NightResult:
        self.state = self._load_state()
        if self.state["status"] == "nothing_to_do":  # re-plan: data may have arrived since
            self.state = {"night": self.night, "status": "new", "steps": {}, "attempts": self.state["attempts"]}
        if self.state["status"] == "done":
            logger.info("night %s already finished (%s); pass another --night to run again", self.night,
                        self.state["outcome"])
            return NightResult(self.night, self.state["outcome"], self.state.get("summary", {}))
        self.state["attempts"] += 1
        self.state["status"] = "running"
        self.state.pop("error", None)
        resumed = [s for s in STEPS if self.step_out(s).get("status") == "done"]
        if resumed:
            logger.info("night %s: resuming; steps already done: %s", self.night, ", ".join(resumed))
        self._save()
        current = "plan"
        try:
            for current in STEPS:
                if self.step_out(current).get("status") == "done":
                    continue
                if self.before_step is not None:
                    self.before_step(current)
                started = time.perf_counter()
                getattr(self, f"step_{current}")()
                self.state["steps"][current]["seconds"] = round(time.perf_counter() - started, 2)
                self._save()
                if current == "plan" and self.step_out("plan")["nothing_to_do"]:
                    return self._finish("nothing_to_do")
        except BaseException as err:  # noqa: BLE001 - recorded and re-raised, including KeyboardInterrupt
            self.state.update(status="failed", failed_step=current, outcome="failed",
                              error=f"{type(err).__name__}: {err}".splitlines()[0])
            self._save()
            summary = report.summary(self)
            report.write(self, summary)
            raise
        decision = self.step_out("gate")["decision"]
        return self._finish("promoted" if decision["promote"] else "not_promoted")

    def _finish(self, outcome: str) -> NightResult:
        self.state.update(status="done" if outcome != "nothing_to_do" else "nothing_to_do", outcome=outcome)
        self.state.pop("failed_step", None)
        summary = report.summary(self)
        self.state["summary"] = summary
        self._save()
        report.write(self, summary)
        return NightResult(self.night, outcome, summary)

    # -- steps ---------------------------------------------------------------------------------------------
    def units(self) -> list[Unit]:
        """Tonight's units: the plan's, frozen on the first attempt."""
        planned = set(self.step_out("plan")["units"])
        found = {u.key: u for u in discover(self.config).units}
        missing = sorted(planned - set(found))
        if missing:
            raise NightError(f"night {self.night}: planned inputs vanished: {missing}")
        return [found[k] for k in self.step_out("plan")["units"]]

    def step_plan(self) -> None:
        found = discover(self.config)
        cache = FingerprintCache(Path(self.config.work_dir) / "fingerprints.json")
        stats = file_stats(self.config.bitext.root)
        statuses = [unit_status(u, self.config, cache, stats) for u in found.units]
        cache.save()
        fractions = self._fractions(found.units)
        langs = sorted({lang for s in self.config.bitext.sources for lang in s.langs})
        kb_version = load_run_kb(self.config.kb.dir, tuple(self.config.alias_dirs()), tuple(langs)).version
        lineage_units = {s.unit.key: {"inputs": s.fingerprints, "kb_version": s.kb_version} for s in statuses}
        latest = self.registry.versions()[-1] if self.registry.versions() else None
        same_as_latest = latest is not None and self.registry.version(latest)["lineage"]["units"] == lineage_units
        nothing = not found.units or (all(s.complete for s in statuses) and same_as_latest)
        kb_changed = [s.unit.key for s in statuses if s.reason.startswith("KB version changed")]
        self._done("plan", units=[u.key for u in found.units], spans=found.spans, kb_version=kb_version,
                   langs=langs, split_fractions=fractions, lineage_units=lineage_units,
                   statuses={s.unit.key: s.reason for s in statuses}, unmatched=found.unmatched,
                   ignored=found.ignored, kb_changed=kb_changed, nothing_to_do=nothing,
                   nothing_reason=("no spans under the bitext root" if not found.units else
                                   f"no new or stale spans; {latest} was trained on exactly these inputs")
                   if nothing else None)
        if kb_changed:
            logger.warning("KB changed: %d of %d units are rebuilt (%s)", len(kb_changed), len(statuses),
                           statuses[0].reason if statuses else "")

    def _fractions(self, units: list[Unit]) -> list[float]:
        fractions = {tuple(labelling_config(u, self.config)["split_fractions"]) for u in units}
        if len(fractions) > 1:
            raise NightError(f"sources use different split fractions {sorted(fractions)}: splits would overlap")
        current = list(fractions.pop()) if fractions else [0.8, 0.1, 0.1]
        recorded = self.registry.info().get("split_fractions")
        if recorded is not None and list(recorded) != current and not self.allow_split_change:
            raise NightError(f"split fractions changed ({recorded} -> {current}): pairs the champion trained on would "
                             "move to dev/test and the gate would leak; keep them, or pass --allow-split-change and "
                             "expect the first gate after it to be optimistic")
        return current

    def step_priors(self) -> None:
        """The stored eflomal priors of each source with units to build tonight (nightly.priors): reused, or
        fitted on all the source's units when it has grown enough since the last fit."""
        if not self.config.pipeline.reuse_priors:
            self._done("priors", sources={}, reason="pipeline.reuse_priors is off")
            return
        from nightly.priors import ensure_priors

        plan = self.step_out("plan")
        sources: dict[str, dict] = {}
        units = self.units()
        for name in sorted({u.source.name for u in units if plan["statuses"][u.key] != "complete"}):
            mine = [u for u in units if u.source.name == name]
            size = sum(f["bytes"] for u in mine for f in plan["lineage_units"][u.key]["inputs"])
            sources[name] = ensure_priors(mine, size, self.config, self.night)
        self._done("priors", sources=sources)

    def step_shards(self) -> None:
        cache = FingerprintCache(Path(self.config.work_dir) / "fingerprints.json")
        stats = file_stats(self.config.bitext.root)
        built, skipped = dict(self.step_out("shards").get("built", {})), []
        priors = self.step_out("priors").get("sources", {})
        for unit in self.units():
            status = unit_status(unit, self.config, cache, stats)
            if status.complete:
                if unit.key not in built:
                    skipped.append(unit.key)
                continue
            logger.info("building %s: %s", unit.key, status.reason)
            result = build_unit(unit, self.config, priors.get(unit.source.name, {}).get("dir"))
            built[unit.key] = {"reason": status.reason, "seconds": result["seconds"],
                               **manifest_summary(result["manifest"]),
                               "projection_share": projection_share(unit.output, result["manifest"])}
            self.state["steps"]["shards"] = {"status": "running", "built": built}  # a crash keeps the record
            self._save()
        cache.save()
        self._done("shards", built=built, skipped=skipped)

    def step_aliases(self) -> None:
        """Mine aliases from every unit's projections; adopt them for the next nights when they add enough."""
        langs = self.config.kb.mine_aliases
        if not langs:
            self._done("aliases", adopted=False, reason="alias mining off")
            return
        from nightly.aliases import mine_and_adopt

        self._done("aliases", **mine_and_adopt([u.output for u in self.units()], langs,
                                                self.config.mined_aliases_dir, self.config.kb.mine_min_new,
                                                self.dir / "aliases-mined"))

    def step_index(self) -> None:
        if not self.config.retrieval.enabled:
            self._done("index", index_dir=None, reason="retrieval disabled")
            return
        from nightly.index import ensure_index

        plan = self.step_out("plan")
        self._done("index", **ensure_index(self.config, plan["langs"], plan["split_fractions"]))

    def train_dirs(self) -> list[str]:
        """Shard folders the candidate trains on: every unit, or those of the newest ``window_spans`` spans."""
        units = self.units()
        window = self.config.rex.window_spans
        if window:
            keep = set(sorted({u.span for u in units})[-window:])
            units = [u for u in units if u.span in keep]
        return [u.output for u in units]

    def step_train(self) -> None:
        from rex.api import train

        champion = self.registry.champion_version()
        init_from = (str(self.registry.local_model_dir(champion, self.registry_cache))
                     if champion and self.config.rex.warm_start else None)
        rex_cfg = self.config.rex.build(self.train_dirs(), init_from)
        if rex_cfg.data.feature_cache is None:  # frozen encoders: one cache for every night (new instances only)
            rex_cfg.data.feature_cache = str(Path(self.config.work_dir) / "feature-cache")
        index = self.step_out("index").get("index_dir")
        if index:
            rex_cfg.model.retrieval = RetrievalConfig(index_dir=index, k=self.config.retrieval.k, enabled=True)
        out = self.dir / "candidate"
        started = time.perf_counter()
        metrics = train(rex_cfg, out)
        self._done("train", out_dir=str(out), model_dir=str(out / "model"), init_from=init_from,
                   parent=champion if init_from else None, rex_config=rex_cfg.to_dict(),
                   steps=metrics.get("steps"), best_step=metrics.get("best_step"),
                   train_seconds=round(time.perf_counter() - started, 2),
                   dev=metrics.get("dev", {}).get("all") if isinstance(metrics.get("dev"), dict) else None)

    def step_gate(self) -> None:
        train_out = self.step_out("train")
        rex_cfg = RexConfig.from_dict(train_out["rex_config"])
        champion = self.registry.champion_version()
        eval_sets = {"test": [u.output for u in self.units()]}
        for i, path in enumerate(self.config.gate.extra_eval):
            eval_sets[f"extra{i + 1}:{Path(path).name}"] = [path]
        comparisons = {}
        for name, shards in eval_sets.items():
            cache = build_eval_cache(shards, rex_cfg.data, self.dir / "eval-cache")
            cand = score_model(train_out["model_dir"], cache, rex_cfg.data, rex_cfg.train.seed, self.device,
                               shards=shards)
            champ = None
            if champion:
                champ = score_model(self.registry.local_model_dir(champion, self.registry_cache), cache, rex_cfg.data,
                                    rex_cfg.train.seed, self.device, shards=shards)
            plot = self.dir / ("pr.png" if name == "test" else f"pr-{len(comparisons)}.png")
            comparisons[name] = compare(cand, champ, plot,
                                        title=f"night {self.night}: candidate vs {champion or 'no champion'}")
            comparisons[name]["plot"] = plot.name
        decision = decide(comparisons, self.config.gate, champion is not None)
        write_json_atomic(self.dir / "gate.json", {"champion": champion, "comparisons": comparisons,
                                                   "decision": decision})
        self._done("gate", champion=champion, decision=decision, comparisons=comparisons)

    def step_register(self) -> None:
        plan, train_out, gate = self.step_out("plan"), self.step_out("train"), self.step_out("gate")
        self.registry.ensure(plan["split_fractions"])
        existing = self.registry.find(night=self.night, candidate_dir=train_out["out_dir"])
        if existing:  # registered before a crash that lost the state update
            self._done("register", version=existing)
            return
        record = {
            "night": self.night, "candidate_dir": train_out["out_dir"],
            "gate": gate["decision"], "gated_against": gate["champion"],
            "metrics": {name: {g: v["candidate"] for g, v in comp["groups"].items()}
                        for name, comp in gate["comparisons"].items()},
            "rex_config": train_out["rex_config"],
            "training": {k: train_out.get(k) for k in ("steps", "best_step", "train_seconds", "init_from")},
            "lineage": {
                "spans": plan["spans"], "units": plan["lineage_units"], "kb_version": plan["kb_version"],
                "kb_dir": self.config.kb.dir, "split_fractions": plan["split_fractions"],
                "pipeline_version": pipeline_version(), "pipeline_args": self.config.pipeline.args,
                "code_version": code_version(), "parent": train_out.get("parent"),
                "retrieval_index": self.step_out("index").get("index_dir"),
                "priors": {name: {k: v.get(k) for k in ("dir", "fitted_units", "fitted_bytes")}
                           for name, v in self.step_out("priors").get("sources", {}).items()},
                "train_shards": train_out["rex_config"]["data"]["shards"],
            },
        }
        self._done("register", version=self.registry.register(train_out["model_dir"], record))

    def step_promote(self) -> None:
        version = self.step_out("register")["version"]
        decision = self.step_out("gate")["decision"]
        if not decision["promote"]:
            self._done("promote", promoted=False, champion=self.registry.champion_version())
            return
        pointer = self.registry.promote(version, reason=f"night {self.night}: gate passed")
        self._done("promote", promoted=True, champion=pointer["version"])

    def step_report(self) -> None:
        self._done("report", files=["summary.json", "report.md"])


def run_night(config: NightlyConfig, night: str | None = None, **kwargs) -> NightResult:
    """Run (or resume) one night; raises on failure (the state and summary record it)."""
    return Night(config, night, **kwargs).run()
