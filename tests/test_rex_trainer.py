"""rex.trainer: the loss goes down, exact resume after an interruption, warm start, schedule, early stop."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from rex.api import train
from rex.optim import lr_factor
from rex.synthetic import tiny_config, write_synthetic_shards
from rex.trainer import Trainer
from tests.conftest import REPO


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return str(write_synthetic_shards(tmp_path_factory.mktemp("shards"), num_pairs=40))


def _log(out):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_lr_warmup_and_decay():
    assert [round(lr_factor(s, 4, 10), 3) for s in range(11)] == [
        0.25, 0.5, 0.75, 1.0, 1.0, 0.833, 0.667, 0.5, 0.333, 0.167, 0.0]
    assert lr_factor(4, 4, 10, "cosine") == pytest.approx(1.0)
    assert lr_factor(7, 4, 10, "cosine") == pytest.approx(0.5)
    assert lr_factor(0, 0, 10) == 1.0


def test_a_few_steps_lower_the_loss_and_write_artefacts(shards, tmp_path):
    cfg = tiny_config([shards], steps=24, warmup_steps=1, log_every=4)
    cfg.model.consistency_weight = 0.5
    results = train(cfg, tmp_path)
    losses = [r["loss"] for r in _log(tmp_path) if "loss" in r]
    assert losses[-1] < 0.7 * losses[0]
    assert any(r.get("consistency", 0) > 0 for r in _log(tmp_path))
    assert set(results["test"]) >= {"all", "en", "de"} and "pr_auc" in results["test"]["all"]
    # the saved model carries dev's best-F1 threshold, and dev F1 at it is the F1 the tuning found
    saved = json.loads((tmp_path / "model" / "config.json").read_text())["model"]["threshold"]
    assert saved == results["threshold"]["threshold"] != 0.5
    assert results["dev"]["all"]["micro_f1"] == pytest.approx(results["threshold"]["dev_f1_at_threshold"])
    for name in ("model/config.json", "model/labels.json", "model/model.safetensors", "model/spm.model",
                 "metrics.json", "pr_curve.png", "checkpoints/step-0000024/trainer_state.pt"):
        assert (tmp_path / name).exists(), name


@pytest.mark.parametrize("ema_decay", [0.0, 0.5])
def test_interrupted_and_resumed_equals_uninterrupted(shards, tmp_path, monkeypatch, ema_decay):
    kw = {"save_every": 3, "eval_every": 3, "keep_checkpoints": 5, "ema_decay": ema_decay}
    train(tiny_config([shards], steps=7, **kw), tmp_path / "full")
    # killed during step 5 (after the step-3 checkpoint, with step 4 done and lost)
    real_step, calls = Trainer._optimizer_step, []

    def dying_step(self):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt("killed")
        real_step(self)

    monkeypatch.setattr(Trainer, "_optimizer_step", dying_step)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config([shards], steps=7, **kw), tmp_path / "cut")
    monkeypatch.setattr(Trainer, "_optimizer_step", real_step)
    state = json.loads((tmp_path / "cut" / "checkpoints" / "step-0000003" / "state.json").read_text())
    assert state["step"] == 3 and state["batch_in_epoch"] > 0
    results = train(tiny_config([shards], steps=7, **kw), tmp_path / "cut")
    assert results["steps"] == 7
    full = load_file(str(tmp_path / "full" / "checkpoints" / "step-0000007" / "model.safetensors"))
    resumed = load_file(str(tmp_path / "cut" / "checkpoints" / "step-0000007" / "model.safetensors"))
    assert full.keys() == resumed.keys()
    for name in full:
        torch.testing.assert_close(resumed[name], full[name], rtol=0, atol=1e-6, msg=name)
    # the saved model (dev's best; with ema_decay, the averaged weights, restored on resume) is the same too
    best_full = load_file(str(tmp_path / "full" / "model" / "model.safetensors"))
    best_cut = load_file(str(tmp_path / "cut" / "model" / "model.safetensors"))
    for name in best_full:
        torch.testing.assert_close(best_cut[name], best_full[name], rtol=0, atol=1e-6, msg=name)
    if ema_decay:  # the checkpoint carries the averaged weights, and they are not the step's own
        ema = torch.load(tmp_path / "cut" / "checkpoints" / "step-0000007" / "trainer_state.pt",
                         weights_only=True)["ema"]
        assert ema and any(not torch.equal(value, resumed[name]) for name, value in ema.items() if name in resumed)
    tail = [r["loss"] for r in _log(tmp_path / "full") if "loss" in r and r["step"] > 4]
    assert tail == pytest.approx([r["loss"] for r in _log(tmp_path / "cut") if "loss" in r and r["step"] > 4])


def test_warm_start_from_a_previous_model(shards, tmp_path):
    train(tiny_config([shards], steps=4), tmp_path / "old")
    cfg = tiny_config([shards], steps=1, lr=1e-12, warmup_steps=0)
    cfg.train.init_from = str(tmp_path / "old" / "model")
    train(cfg, tmp_path / "new")
    old = load_file(str(tmp_path / "old" / "model" / "model.safetensors"))
    new = load_file(str(tmp_path / "new" / "model" / "model.safetensors"))
    for name in old:  # one step at lr ~ 0: the weights are the old ones
        torch.testing.assert_close(new[name], old[name], rtol=0, atol=1e-6, msg=name)


def test_early_stopping_on_dev_pr_auc(shards, tmp_path):
    results = train(tiny_config([shards], steps=60, eval_every=1, patience=2, lr=1e-9, warmup_steps=0), tmp_path)
    assert results["steps"] < 60 and results["best_step"] >= 1
    evals = [r for r in _log(tmp_path) if r.get("split") == "dev"]
    assert len(evals) == results["steps"]


def test_no_training_bags_is_a_clear_error(shards, tmp_path):
    with pytest.raises(ValueError, match="no training batches"):
        train(tiny_config([shards], steps=2, batch_size=10_000), tmp_path)


@pytest.mark.slow
def test_ddp_two_cpu_ranks_with_torchrun(shards, tmp_path):
    """Two gloo ranks on CPU through torchrun: same step count on both ranks, rank 0 writes the artefacts."""
    import socket
    import subprocess
    import sys

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "run.py"
    script.write_text(
        "import json, os, sys\nfrom rex.api import train\nfrom rex.synthetic import tiny_config\n"
        f"r = train(tiny_config([{shards!r}], steps=4, save_every=2, eval_every=2), sys.argv[1])\n"
        # one file per rank: two ranks printing to one pipe can interleave their lines
        f"open(os.path.join({str(tmp_path)!r}, 'result-' + os.environ['RANK']), 'w')"
        ".write(json.dumps({'steps': r['steps'], 'test': 'test' in r}))\n"
    )
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                           "--master_port", str(port), str(script), str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert done.returncode == 0, done.stderr[-3000:]
    results = [json.loads((tmp_path / f"result-{rank}").read_text()) for rank in (0, 1)]
    assert results == [{"steps": 4, "test": True}, {"steps": 4, "test": False}]
    assert (tmp_path / "out" / "checkpoints" / "step-0000004" / "state.json").exists()
    assert json.loads((tmp_path / "out" / "checkpoints" / "step-0000004" / "state.json").read_text())["world"] == 2
