"""The training loop: bags -> model -> AdamW, with checkpoints, exact resume, early stopping and DDP.

Output directory layout: ``bag-cache/`` (see rex.data.bags), ``feature-cache/`` (frozen encoders, see
rex.encoder.features; ``data.feature_cache`` moves it), ``checkpoints/step-*/`` (rex.checkpoint), ``model/``
(the best model by dev PR-AUC, a model directory), ``relation_stats.json`` (bags and instances per relation and
language in each split), ``metrics.jsonl`` (one JSON object per log or evaluation), ``metrics.json`` (final dev
and test metrics) and ``pr_curve.png``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm import tqdm

from rex.checkpoint import (
    Progress,
    latest_checkpoint,
    load_trainer_state,
    prune_checkpoints,
    trainer_state,
    write_extra,
)
from rex.config import DataConfig, ModelConfig, RexConfig
from rex.data import BagBatches, BagCache, build_bag_cache, resolve_shards
from rex.data.loader import instance_texts
from rex.distributed import barrier, broadcast, setup_distributed
from rex.encoder import load_tokenizer, new_tokenizer
from rex.encoder.features import FeatureStore, fill
from rex.evaluate import ALL, facts_for, metrics_from_scores, positive_share_shifts, score_bags, to_device
from rex.lineage import shard_lineage
from rex.metrics import best_f1_threshold
from rex.model.card import CardFacts, write_model_card
from rex.model.io import WEIGHTS, base_reference_of, build_model, load_model_dir, load_weights, save_model_dir
from rex.model.relation import class_weights, relation_loss
from rex.optim import amp_dtype, autocast, build_optimizer
from rex.relation_names import relation_names_for
from rex.resume import check_resume, record_run, run_identity
from rex.retrieval.policy import build_retriever
from schemas.cli import progress_off
from schemas.shard import SPLITS

logger = logging.getLogger(__name__)

LOSS_PARTS = ("bce", "consistency", "lang_bags")  # relation_loss's parts, logged as window means


def tune_thresholds(model_cfg: ModelConfig, scored: dict[str, tuple[np.ndarray, np.ndarray]],
                    min_lang_positives: int) -> dict:
    """Set ``model_cfg.threshold`` to the best micro-F1 cut of the whole bags (group ALL of rex.evaluate.score_bags;
    kept when they hold no positive) and ``model_cfg.lang_thresholds`` to a cut for every language of dev: its own
    best cut when its sub-bags hold at least ``min_lang_positives`` positive bags, else the best cut of all
    languages' sub-bags pooled (0 = no per-language cuts); returns the tuning record (also logged).

    A language's sub-bags score lower than the whole bags, where English dominates, so the whole-bag cut leaves
    other languages with almost no recall. A best-F1 cut over a few dozen positives is noise, though: chosen on one
    half of dev and scored on the other, cuts of languages with 10-70 positives gave a lower mean F1 than one cut
    tuned on every language's sub-bags together (bench/RESULTS.md, "Languages read alone"). The per-language cuts are
    replaced, not merged, so a warm-started model's old cuts do not linger."""
    before, before_langs = model_cfg.threshold, dict(model_cfg.lang_thresholds)
    found = best_f1_threshold(*scored[ALL]) if ALL in scored else None
    if found is not None:
        model_cfg.threshold = found[0]
    groups = {lang: pair for lang, pair in sorted(scored.items()) if lang != ALL}
    # a positive bag: one with at least one gold relation
    positives = {lang: int((np.asarray(gold).reshape(len(gold), -1) > 0).any(axis=1).sum())
                 for lang, (gold, _) in groups.items()}
    pooled = None
    if min_lang_positives and groups:
        pooled = best_f1_threshold(np.concatenate([g for g, _ in groups.values()]),
                                   np.concatenate([s for _, s in groups.values()]))
        pooled = pooled if pooled is not None and 0.0 < pooled[0] < 1.0 else None
    langs: dict[str, float] = {}
    lang_f1: dict[str, float] = {}
    for lang, (gold, scores) in groups.items() if min_lang_positives else ():
        cut = best_f1_threshold(gold, scores) if positives[lang] >= min_lang_positives else None
        if cut is not None and 0.0 < cut[0] < 1.0:
            langs[lang], lang_f1[lang] = cut
        elif pooled is not None:
            langs[lang] = pooled[0]
    if found is not None or not min_lang_positives:
        model_cfg.lang_thresholds = langs
    record = {"threshold": model_cfg.threshold, "threshold_before": before,
              "dev_f1_at_threshold": None if found is None else found[1],
              "lang_thresholds": dict(model_cfg.lang_thresholds), "lang_thresholds_before": before_langs,
              "dev_f1_at_lang_threshold": lang_f1,
              "pooled_lang_threshold": None if pooled is None else pooled[0],
              "dev_f1_at_pooled_lang_threshold": None if pooled is None else pooled[1],
              "dev_positive_bags": positives, "min_lang_threshold_positives": min_lang_positives}
    logger.info("model.threshold %.4g -> %.4g (dev micro F1 %s)", before, model_cfg.threshold,
                "n/a" if found is None else f"{found[1]:.3f}")
    if found is not None:
        for lang, count in positives.items():
            if lang in lang_f1:
                logger.info("model.lang_thresholds[%s] = %.4g (dev micro F1 %.3f, %d positive bags)", lang,
                            langs[lang], lang_f1[lang], count)
            elif lang in langs:
                logger.info("model.lang_thresholds[%s] = %.4g, the pooled cut of every language's sub-bags (%d "
                            "positive bags < %d)", lang, langs[lang], count, min_lang_positives)
            else:
                logger.info("language %s: the global threshold (%d positive dev bags, %s)", lang, count,
                            "per-language thresholds off" if not min_lang_positives else "no pooled cut")
    return record


@dataclass
class Start:
    """Where a run starts: the effective config, the tokenizer, the label set, and the warm-start model."""

    config: RexConfig  # the user's, with encoder/model sections from the checkpoint or warm-start model
    tokenizer: object
    labels: list[str]
    warm: object | None = None  # a LoadedModel to copy weights from (train.init_from), never on resume
    names: dict[str, str] | None = None  # relation names the checkpoint or warm-start model already knew


class Trainer:
    """Builds data, tokenizer, model and optimizer from a RexConfig; ``train()`` runs to the end.

    Setup order matters: the bag caches come first (the label set and a new tokenizer are learned from the
    train split), then the start point (a resumed run takes its encoder and label set from the checkpoint),
    the retriever (its dimensions shape the model), the model, its frozen-feature cache, and the optimizer."""

    def __init__(self, config: RexConfig, out_dir: str | Path):
        self.out = Path(out_dir)
        self.env = setup_distributed()
        self.device = self.env.device
        self.out.mkdir(parents=True, exist_ok=True)
        self.ckpt_root = self.out / "checkpoints"
        torch.manual_seed(config.train.seed)
        if config.train.cpu_threads and self.device.type == "cpu":
            torch.set_num_threads(config.train.cpu_threads)
        resume = latest_checkpoint(self.ckpt_root)
        # a resume must continue the same run (same shard files, same requested config): rex.resume
        identity = run_identity(config.to_dict(), resolve_shards(config.data.shards))
        if resume is not None:
            check_resume(self.out, identity)
        elif self.env.is_main:
            record_run(self.out, identity)
        self.caches = build_caches(config, self.out, self.env)
        write_relation_stats(self.caches, self.out, self.env.is_main)
        start = starting_point(config, resume, self.caches["train"], self.out, self.env.is_main)
        self.cfg, self.tokenizer, self.labels = start.config, start.tokenizer, start.labels
        if self.cfg.train.ema_decay and 3 / (1 - self.cfg.train.ema_decay) > self.cfg.train.max_steps:
            logger.warning("train.ema_decay %g averages over ~%d steps; in %d steps the average keeps more than 5 %% "
                           "of the initial weights", self.cfg.train.ema_decay, 1 / (1 - self.cfg.train.ema_decay),
                           self.cfg.train.max_steps)
        if self.cfg.train.warmup_steps > self.cfg.train.max_steps:
            logger.warning("train.warmup_steps (%d) > train.max_steps (%d): the learning rate never reaches "
                           "train.lr", self.cfg.train.warmup_steps, self.cfg.train.max_steps)
        self.card = CardFacts(shard_lineage(self.cfg.data.shards), self.caches["train"].relation_stats())
        self.relation_names = relation_names_for(self.labels, self.cfg.data.relation_names, self.card.lineage,
                                                 start.names)
        self.retriever = self._retriever()
        self.fact_dim = self.retriever.dim if self.retriever is not None else None
        self.role_dim = getattr(self.retriever, "role_dim", None) or None
        self.model = self._model(resume, start.warm)
        self.features = self._features()
        self.class_weight = self._class_weight()
        self.optimizer, self.scheduler = build_optimizer(self.model, self.cfg.train)
        self.amp = amp_dtype(self.cfg.train, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if self.amp == torch.float16 else None
        # train.ema_decay: a moving average of the trained parameters only (a frozen encoder never moves)
        self.ema = {n: q.detach().clone() for n, q in self.model.named_parameters() if q.requires_grad} \
            if self.cfg.train.ema_decay > 0 else None
        # the tensors the per-step update reads and writes, in one order, built once (not on every step)
        params = dict(self.model.named_parameters())
        self._ema_pairs = ([*self.ema.values()], [params[n].detach() for n in self.ema]) if self.ema else None
        self.progress = self._progress(resume)
        self.net = self.model
        if self.env.world > 1:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.train_data = self._batches("train", shuffle=True)
        if len(self.train_data) == 0:
            raise ValueError(f"no training batches: {self.caches['train'].num_bags} train bags for batch size "
                             f"{self.cfg.train.batch_size} x {self.env.world} ranks (shards: {self.cfg.data.shards})")

    # ----- setup -----
    def _model(self, resume: Path | None, warm) -> torch.nn.Module:
        model = build_model(self.cfg, self.tokenizer, self.labels, self.fact_dim,
                            role_dim=self.role_dim).to(self.device)
        if resume is not None:
            load_weights(model, resume, self.cfg, str(self.device))
        elif warm is not None:
            _warm_start(model, warm, self.labels)
        return model

    def _progress(self, resume: Path | None) -> Progress:
        """A new run's counters, or the checkpoint's (which also restores optimizer, scheduler and scaler)."""
        if resume is None:
            return Progress(world=self.env.world)
        progress = load_trainer_state(resume, self.optimizer, self.scheduler, self.scaler, self.device, self.ema)
        if progress.world != self.env.world:
            logger.warning("resuming a %d-rank run on %d ranks: the data order changes", progress.world,
                           self.env.world)
        logger.info("resumed from %s at step %d", resume, progress.step)
        return progress

    def _class_weight(self) -> torch.Tensor | None:
        bags = self.caches["train"].relation_stats()["bags"]
        weights = class_weights([bags.get(r, 0) for r in self.labels], self.cfg.model.class_weighting)
        return None if weights is None else weights.to(self.device)

    def _features(self) -> FeatureStore | None:
        """Frozen encoders: the feature cache, filled with every instance of every split not yet in it."""
        if self.cfg.encoder.tune != "frozen":
            return None
        root = self.cfg.data.feature_cache or str(self.out / "feature-cache")
        encoder = self.model.encoder
        store = FeatureStore(root, base_reference_of(self.cfg), self.cfg.encoder.pooling, self.cfg.data.max_length,
                             encoder.output_size)
        if self.env.is_main:
            items = (item for cache in self.caches.values() for item in instance_texts(cache))
            start = time.perf_counter()
            done = fill(store, encoder, self.tokenizer, items, self.cfg.data.max_length, self.device,
                        self.cfg.data.feature_batch_size, progress=self.cfg.train.progress)
            elapsed = time.perf_counter() - start
            self._log({"feature_cache": str(store.directory), "encoded": done, "cached": len(store),
                       "encode_seconds": round(elapsed, 2)})
        barrier()
        store.refresh()
        return store

    def _retriever(self):
        """KB fact retrieval (rex.retrieval) when enabled; dev and test pairs are excluded (leak-free)."""
        ret = self.cfg.model.retrieval
        if ret is None or not ret.enabled:
            return None
        heldout = self.caches["dev"].pairs() | self.caches["test"].pairs()
        retriever = build_retriever(ret, "train", heldout_pairs=heldout,
                                    shards=self.cfg.data.shards)  # shards: the index must come from their KB facts
        if hasattr(retriever, "prefetch"):
            # dev and test are scored in full, train too when the run covers an epoch: their pairs are searched
            # now in large FAISS batches instead of batch by batch in the steps (same facts; docs/retrieval.md)
            t = self.cfg.train
            epoch = t.max_steps * t.batch_size * t.accum_steps * self.env.world >= self.caches["train"].num_bags
            start = time.perf_counter()
            searched = retriever.prefetch(heldout | self.caches["train"].pairs() if epoch else heldout)
            self._log({"retrieval_prefetch_pairs": searched,
                       "retrieval_prefetch_seconds": round(time.perf_counter() - start, 2)})
        return retriever

    def _batches(self, split: str, shuffle: bool) -> BagBatches:
        d, t = self.cfg.data, self.cfg.train
        rank, world = (self.env.rank, self.env.world) if shuffle else (0, 1)
        return BagBatches.for_config(self.caches[split], self.tokenizer, self.labels, self.cfg,
                                     batch_size=t.batch_size if shuffle else t.eval_batch_size, seed=t.seed,
                                     shuffle=shuffle, buffer_partitions=d.buffer_partitions, rank=rank, world=world,
                                     features=self.features)

    def _loader(self, data: BagBatches) -> DataLoader:
        # A private generator: creating a loader must not draw from the global RNG (exact resume).
        return DataLoader(data, batch_size=None, num_workers=self.cfg.data.num_workers,
                          pin_memory=self.device.type == "cuda", generator=torch.Generator().manual_seed(0))

    # ----- training -----
    def train(self) -> dict:
        """Train to max_steps or early stop; returns {'dev': best dev metrics, 'test': test metrics, ...}."""
        t, p = self.cfg.train, self.progress
        # on resume, skip the batches of the interrupted epoch already trained on: the data order is a function
        # of (seed, epoch), so the resumed run sees exactly the batches the uninterrupted one would have
        self.train_data.set_epoch(p.epoch, p.batch_in_epoch)
        batches, accum, stop = iter(self._loader(self.train_data)), 0, False
        window = self._new_window()
        # on a terminal only (schemas.cli): a log file gets the metrics.jsonl lines, not carriage-return redraws
        bar = tqdm(total=t.max_steps, initial=p.step, disable=progress_off(not (t.progress and self.env.is_main)),
                   desc="train")
        while p.step < t.max_steps and not stop:
            batch = next(batches, None)
            if batch is None:  # next epoch
                p.epoch, p.batch_in_epoch = p.epoch + 1, 0
                self.train_data.set_epoch(p.epoch)
                batches = iter(self._loader(self.train_data))
                continue
            p.batch_in_epoch += 1
            accum += 1
            # gradients add up over accum_steps micro-batches; DDP syncs them only on the last one
            self._micro_step(batch, sync=accum == t.accum_steps, window=window)
            if accum < t.accum_steps:
                continue
            accum = 0
            self._optimizer_step()
            p.step += 1
            bar.update(1)
            if p.step % t.log_every == 0:
                self._log_train(window, bar)
            # dev picks the model (best PR-AUC) and may stop early; a checkpoint follows the evaluation so a
            # resumed run knows the best score so far
            if p.step % t.eval_every == 0 or p.step == t.max_steps:
                stop = self._evaluate_dev()
            if p.step % t.save_every == 0 or p.step == t.max_steps or stop:
                self.save_checkpoint()
        bar.close()
        return self._finish()

    def _micro_step(self, batch: dict, sync: bool, window: dict) -> None:
        batch = to_device(batch, self.device)
        facts = self._drop_facts(facts_for(self.retriever, batch["keys"], self.device))
        self.net.train()
        no_sync = self.net.no_sync() if isinstance(self.net, DistributedDataParallel) and not sync else None
        with no_sync or contextlib.nullcontext():
            with autocast(self.device, self.amp):
                out = self.net(batch, **facts)
            loss, parts = relation_loss(out, batch, self.cfg.model, self.class_weight)
            scaled = loss / self.cfg.train.accum_steps
            (self.scaler.scale(scaled) if self.scaler else scaled).backward()
        window["loss"] += float(loss.detach())
        for name in LOSS_PARTS:
            window[name] += parts.get(name, 0.0)
        window["n"] += 1
        window["examples"] += int(batch["bag_index"].shape[0])

    def _drop_facts(self, facts: dict) -> dict:
        """retrieval.fact_dropout: withhold all facts of a random share of the batch's bags (training only)."""
        ret = self.cfg.model.retrieval
        if not facts or ret is None or ret.fact_dropout <= 0:
            return facts
        keep = torch.rand(facts["fact_mask"].shape[0], device=self.device) >= ret.fact_dropout  # (NB,)
        out = dict(facts, fact_mask=facts["fact_mask"] & keep[:, None])
        if "fact_roles" in facts:
            out["fact_roles"] = facts["fact_roles"] * keep[:, None]
        return out

    def _optimizer_step(self) -> None:
        # fp16 gradients are scaled: unscale before clipping, so the clip norm is in true units
        if self.scaler is not None:
            self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.train.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self._ema_pairs is not None:
            # a constant decay, as measured (a TF-style ramp, min(decay, (1+t)/(10+t)), did worse on 36k steps:
            # bench/RESULTS.md, "Weight averaging")
            with torch.no_grad():  # ema += (1 - decay) * (weights - ema), all tensors in one call
                torch._foreach_lerp_(*self._ema_pairs, 1.0 - self.cfg.train.ema_decay)

    def _log_train(self, window: dict, bar) -> None:
        n, elapsed = max(1, window["n"]), time.perf_counter() - window["t0"]
        record = {"step": self.progress.step, "epoch": self.progress.epoch, "loss": window["loss"] / n,
                  **{name: window[name] / n for name in LOSS_PARTS},
                  "lr": self.scheduler.get_last_lr()[0], "examples_per_s": window["examples"] / max(elapsed, 1e-9)}
        self._log(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}")
        window.update(self._new_window())

    @staticmethod
    def _new_window() -> dict:
        """The running sums of one logging window: the loss, its parts (rex.model.relation.relation_loss), steps,
        examples, start time."""
        return {"loss": 0.0, **dict.fromkeys(LOSS_PARTS, 0.0), "n": 0, "examples": 0, "t0": time.perf_counter()}

    def _log(self, record: dict) -> None:
        if self.env.is_main:
            with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as log:
                log.write(json.dumps(record, sort_keys=True) + "\n")

    # ----- evaluation, checkpoints -----
    def score(self, split: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The split's (gold, scores) per group (rex.evaluate.score_bags)."""
        return score_bags(self.model, self._loader(self._batches(split, shuffle=False)), self.device, self.retriever)

    def evaluate(self, split: str, plot: Path | None = None,
                 scored: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> dict:
        """Metrics of ``split`` at the model's cuts, from ``scored`` when the split was already scored."""
        return metrics_from_scores(self.score(split) if scored is None else scored, self.cfg.model.threshold, plot,
                                   title=f"{split} PR curve", lang_thresholds=self.cfg.model.lang_thresholds)

    def _evaluate_dev(self) -> bool:
        """Evaluate on dev (rank 0), keep the best model, return whether to stop early."""
        p, stop = self.progress, False
        if self.env.is_main and self.caches["dev"].num_bags:
            raw = self._swap_in(self.ema)  # dev sees, and the model folder keeps, the averaged weights
            metrics = self.evaluate("dev")
            score = metrics["all"]["pr_auc"]
            self._log({"step": p.step, "split": "dev", **{f"{g}/{k}": v for g, m in metrics.items()
                                                          for k, v in m.items()}})
            if score > p.best_score:
                p.best_score, p.best_step, p.bad_evals = score, p.step, 0
                self.save_model(self.out / "model")
            else:
                p.bad_evals += 1
                stop = bool(self.cfg.train.patience) and p.bad_evals >= self.cfg.train.patience
            self._swap_in(raw)
        p.best_score, p.best_step, p.bad_evals, stop = broadcast((p.best_score, p.best_step, p.bad_evals, stop))
        return stop

    def _swap_in(self, weights: dict[str, torch.Tensor] | None) -> dict[str, torch.Tensor] | None:
        """Copy ``weights`` (name -> tensor) into the model's parameters; return the values they replace."""
        if weights is None:
            return None
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            replaced = {n: params[n].detach().clone() for n in weights}
            for n, value in weights.items():
                params[n].copy_(value)
        return replaced

    def save_model(self, directory: Path, extra=None) -> None:
        save_model_dir(directory, self.model, self.tokenizer, self.cfg, self.labels, self.fact_dim, extra,
                       role_dim=self.role_dim, relation_names=self.relation_names, card=self.card)

    def save_checkpoint(self) -> None:
        if self.env.is_main:
            state = trainer_state(self.optimizer, self.scheduler, self.scaler, self.ema)
            self.save_model(self.ckpt_root / f"step-{self.progress.step:07d}",
                            extra=lambda tmp: write_extra(tmp, state, self.progress))
            prune_checkpoints(self.ckpt_root, self.cfg.train.keep_checkpoints)
        barrier()

    def _tune_threshold(self, scored: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict:
        """Dev's best micro-F1 threshold (``scored``: dev's scores) becomes model.threshold of the saved model (kept
        when dev has none), and each language with enough positive dev bags gets its own cut in
        model.lang_thresholds."""
        record = tune_thresholds(self.cfg.model, scored, self.cfg.train.min_lang_threshold_positives)
        if (record["threshold"], record["lang_thresholds"]) != (record["threshold_before"],
                                                                record["lang_thresholds_before"]):
            self.save_model(self.out / "model")
        self._log(record)
        return record

    def _check_shares(self, results: dict) -> None:
        """Record and warn about groups (of 30 bags or more) whose positive share differs between dev and test by
        more than 1.5x: their dev-tuned cuts transfer poorly, so their test P/R/F1 say as much about the split as
        about the model."""
        shifts = positive_share_shifts(results["dev"], results["test"])
        if shifts:
            results["positive_share_shifts"] = shifts
            logger.warning("the share of positive bags differs between dev and test by more than 1.5x in %s; "
                           "their dev-tuned cuts predict too few or too many pairs on test",
                           ", ".join(f"{g} ({v['dev']:.2f} vs {v['test']:.2f})" for g, v in shifts.items()))

    def _finish(self) -> dict:
        results: dict = {"steps": self.progress.step, "best_step": self.progress.best_step}
        if self.env.is_main:
            if not (self.out / "model" / WEIGHTS).exists():  # no dev split: the last weights are the model
                self.save_model(self.out / "model")
            load_weights(self.model, self.out / "model", self.cfg, str(self.device))
            if self.caches["dev"].num_bags:
                dev = self.score("dev")  # scored once: the cuts are tuned on it, then it is measured at them
                if self.cfg.train.tune_threshold:
                    results["threshold"] = self._tune_threshold(dev)
                results["dev"] = self.evaluate("dev", scored=dev)
            if self.caches["test"].num_bags:
                results["test"] = self.evaluate("test", plot=self.out / "pr_curve.png")
            if "dev" in results and "test" in results:
                self._check_shares(results)
            (self.out / "metrics.json").write_text(json.dumps(results, indent=1, sort_keys=True), encoding="utf-8")
            # the final model's card gains the metrics (checkpoints' cards say they have none)
            write_model_card(self.out / "model", self.cfg, self.labels, self.relation_names,
                             CardFacts(self.card.lineage, self.card.train_stats, results))
            results["model_dir"] = str(self.out / "model")
        barrier()
        return results


def build_caches(config: RexConfig, out: Path, env) -> dict[str, BagCache]:
    """The bag cache of every split (rank 0 builds; the others then find the finished cache)."""
    shards = resolve_shards(config.data.shards)
    root = config.data.cache_dir or str(out / "bag-cache")
    caches = {}
    for split in SPLITS:
        if env.is_main:
            caches[split] = build_bag_cache(shards, split, config.data, root)
        barrier()
        if not env.is_main:
            caches[split] = build_bag_cache(shards, split, config.data, root)
    return caches


def write_relation_stats(caches: dict[str, BagCache], out: Path, is_main: bool) -> None:
    """relation_stats.json: bags and instances per relation and language of each split."""
    stats = {split: cache.relation_stats() for split, cache in caches.items()}
    if is_main:
        (out / "relation_stats.json").write_text(json.dumps(stats, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    train = stats["train"]["bags"]
    logger.info("train bags per relation: %s", ", ".join(f"{r}={n}" for r, n in
                                                          sorted(train.items(), key=lambda kv: -kv[1])))


def select_labels(labels: list[str], data: DataConfig) -> list[str]:
    """data.relations / data.exclude_relations applied to the train split's relations."""
    keep = [r for r in labels if (data.relations is None or r in data.relations) and r not in data.exclude_relations]
    if not keep:
        raise ValueError(f"no relation left to train: train has {labels}, data.relations={data.relations}, "
                         f"data.exclude_relations={data.exclude_relations}")
    return keep


def starting_point(config: RexConfig, resume: Path | None, train: BagCache, out: Path, is_main: bool) -> Start:
    """From the checkpoint (resume), the warm-start model (train.init_from), or new: a sentencepiece tokenizer
    trained on the train split's text (scratch encoders; Hugging Face encoders load their own)."""
    if resume is not None:
        # a resumed run must rebuild the network it saved: its encoder and model sections win over the flags
        saved = json.loads((resume / "config.json").read_text(encoding="utf-8"))
        cfg = RexConfig.from_dict({**config.to_dict(), "encoder": saved["encoder"], "model": saved["model"]})
        info = json.loads((resume / "labels.json").read_text(encoding="utf-8"))
        return Start(cfg, load_tokenizer(cfg.encoder, str(resume)), info["relations"], names=info.get("names"))
    train_labels = select_labels(train.labels, config.data) if train.labels else []
    if not train_labels:
        raise ValueError(f"the training split has no relation labels (shards: {config.data.shards})")
    if config.train.init_from:
        warm = load_model_dir(config.train.init_from)
        cfg = RexConfig.from_dict({**config.to_dict(), "encoder": warm.config.to_dict()["encoder"]})
        # the previous labels keep their classifier rows; new relations are appended
        labels = warm.labels + [r for r in train_labels if r not in warm.labels]
        return Start(cfg, warm.tokenizer, labels, warm, names=warm.relation_names)
    tok_dir = out / "tokenizer-init"
    if is_main:
        tok_dir.mkdir(exist_ok=True)
        new_tokenizer(config.encoder, _train_sentences(train, config.encoder.spm_max_sentences)).save(str(tok_dir))
    barrier()
    return Start(config, load_tokenizer(config.encoder, str(tok_dir)), train_labels)


def _train_sentences(train: BagCache, limit: int) -> Iterator[str]:
    """Distinct train sentences, at most ``limit``, for the tokenizer."""
    seen: set[str] = set()
    for part in range(len(train.meta["partitions"])):
        for bag in train.read_partition(part):
            for text in bag.column("text"):
                if text not in seen and len(seen) < limit:
                    seen.add(text)
                    yield text


def _warm_start(model: torch.nn.Module, warm, labels: list[str]) -> None:
    """Copy the previous model's weights; label-indexed tensors keep the rows of the previous labels."""
    old = warm.model.state_dict()
    new = model.state_dict()
    for name, tensor in old.items():
        if name not in new:
            continue
        if new[name].shape == tensor.shape:
            new[name] = tensor
        elif new[name].shape[1:] == tensor.shape[1:] and new[name].shape[0] > tensor.shape[0]:
            new[name][: tensor.shape[0]] = tensor  # classifier rows / attention queries of the old labels
        else:
            logger.warning("warm start: %s has shape %s, previous model %s: not copied", name,
                           tuple(new[name].shape), tuple(tensor.shape))
    model.load_state_dict(new)
