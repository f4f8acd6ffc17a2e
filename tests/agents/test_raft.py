"""RAFT++ and Reinforce-Rej (arXiv 2504.11343): advantages and kept sets, and the trainer's loss
and gradient, against values worked out by hand from the paper's losses; one short SmolLM2 run
each (``slow``, ~30 s each on one core)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from agents import GRPOConfig, GRPOTrainer
from agents.algorithms.raft import raft_advantages, reinforce_rej_advantages
from agents.policy import PolicyOutput
from agents.rollout.batch import Sample, collate
from agents.run.presets import PRESETS
from tests.agents.smollm2_step import smollm2_step

# groups: 0 mixed, 1 all wrong, 2 all right, 3 graded, 4 a single response
REWARDS = torch.tensor([1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0.3, 0.7, 0.7, 0.1, 2.0])
GROUPS = torch.tensor([0] * 4 + [1] * 4 + [2] * 4 + [3] * 4 + [4])


def test_raft_keeps_each_groups_best_positive_responses():
    adv, kept = raft_advantages(REWARDS, GROUPS)
    want = [1, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 1, 0, 1]
    assert kept.tolist() == [bool(w) for w in want]
    assert adv.tolist() == [float(w) for w in want]


def test_reinforce_rej_drops_all_right_and_all_wrong_groups():
    adv, kept = reinforce_rej_advantages(REWARDS, GROUPS, baseline=0.5)
    assert kept.tolist() == [True] * 4 + [False] * 8 + [True] * 5
    assert adv.tolist() == pytest.approx([0.5, -0.5, 0.5, -0.5] + [0.0] * 8
                                         + [-0.2, 0.2, 0.2, -0.4, 1.5])
    plain, _ = reinforce_rej_advantages(REWARDS, GROUPS, baseline=0.0)  # A = r
    assert plain[:4].tolist() == [1.0, 0.0, 1.0, 0.0]


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(ValueError, match="same length"):
        raft_advantages(torch.ones(3), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="finite"):
        reinforce_rej_advantages(torch.tensor([1.0, float("nan")]), torch.tensor([0, 0]))


def _trainer_loss(cfg, rewards, groups, ratios, lengths):
    """Our trainer's path: ``_advantages`` (rejection), ``prepare_step``, ``compute_loss`` per
    row; ratios s_t = exp(logp − old) with logp a leaf at 0. Returns loss, d loss/d logp."""
    trainer = object.__new__(GRPOTrainer)
    trainer.config = cfg
    width = max(lengths)
    logp = torch.zeros((len(lengths), width), dtype=torch.float64, requires_grad=True)
    samples = []
    for s_row, n in zip(ratios, lengths, strict=True):
        old = torch.zeros(width, dtype=torch.float64)
        old[:n] = -torch.log(torch.tensor(s_row, dtype=torch.float64))
        mask = torch.zeros(width)
        mask[:n] = 1
        samples.append(Sample([1], [0] * width, mask, {"old_logprobs": old}))
    trajs = [SimpleNamespace(advantages=None)] * len(samples)
    adv, stats = trainer._advantages(trajs, samples, rewards, groups)
    for s, a in zip(samples, adv, strict=True):
        s.tokens["advantages"] = a.expand(width).clone()
        s.scalars["advantage"] = float(a)
    trainer.prepare_step(samples, list(range(len(samples))))
    total = torch.zeros((), dtype=torch.float64)
    for i in range(len(samples)):
        mb = collate([samples[i]], 0, [i])
        mb.tokens = {k: v.double() for k, v in mb.tokens.items()}
        mb.mask = mb.mask.double()
        out = PolicyOutput(logprobs=logp[[i]], entropy=torch.zeros((1, width)))
        total = total + trainer.compute_loss(out, mb)[0]
    total.backward()
    return total.item(), logp.grad, stats


def _cfg(**kw):
    return GRPOConfig(**{**dict(per_device_train_batch_size=3, num_generations=3,
                                max_completion_length=8), **kw})


@pytest.mark.parametrize(("loss_type", "want"), [("grpo", -0.775), ("dapo", -2.6 / 3)])
def test_raft_plus_plus_loss_by_hand(loss_type, want):
    """Rewards (1, 0, 1), ε = 0.2. Kept rows 0 (ratios 1.5, 0.9) and 2 (0.5); row 1 rejected.
    min(s, clip(s, 0.8, 1.2)) = (1.2, 0.9) and 0.5. grpo: −(1/2)·((1.2+0.9)/2 + 0.5) = −0.775;
    dapo: −(1.2+0.9+0.5)/3. Gradients (grpo): clipped token 0, row 0 token 2 −0.9/4, row 2
    −0.5/2; the rejected row none."""
    loss, grad, stats = _trainer_loss(_cfg(advantage_estimator="raft", loss_type=loss_type),
                                      torch.tensor([1.0, 0.0, 1.0]), torch.tensor([0, 0, 0]),
                                      [[1.5, 0.9], [2.0, 0.3, 1.1], [0.5]], [2, 3, 1])
    assert loss == pytest.approx(want, abs=1e-6)  # float32 weights
    assert stats == {"raft/kept_frac": pytest.approx(2 / 3)}
    assert grad[1].abs().sum() == 0.0
    if loss_type == "grpo":
        assert grad[0].tolist()[:2] == pytest.approx([0.0, -0.225])
        assert grad[2, 0].item() == pytest.approx(-0.25)


@pytest.mark.parametrize(("loss_type", "want"), [("dapo", 0.25 / 6),
                                                 ("grpo", (-0.525 + 1.55 / 3 - 0.25) / 3)])
def test_reinforce_rej_loss_by_hand(loss_type, want):
    """Group 0 rewards (1, 0, 1) -> A = (0.5, −0.5, 0.5); group 1 (1, 1) rejected. Row 0 ratios
    (1.5, 0.9): −0.5·(1.2 + 0.9) = −1.05; row 1 (A < 0) ratios (1.0, 0.7, 1.3): 0.5·max(s,
    clip(s)) = 0.5·(1.0 + 0.8 + 1.3) = 1.55; row 2 (0.5): −0.25. dapo: 0.25 / 6 kept tokens;
    grpo: mean over the 3 kept rows of (−1.05/2, 1.55/3, −0.25)."""
    loss, grad, stats = _trainer_loss(
        _cfg(advantage_estimator="reinforce_rej", loss_type=loss_type,
             per_device_train_batch_size=5, num_generations=5),
        torch.tensor([1.0, 0.0, 1.0, 1.0, 1.0]), torch.tensor([0, 0, 0, 1, 1]),
        [[1.5, 0.9], [1.0, 0.7, 1.3], [0.5], [3.0, 3.0], [0.1]], [2, 3, 1, 2, 1])
    assert loss == pytest.approx(want, abs=1e-6)  # float32 weights
    assert stats == {"reinforce_rej/kept_frac": pytest.approx(3 / 5)}
    assert grad[3:].abs().sum() == 0.0


def test_presets_and_verl_names():
    assert PRESETS["raft++"] == ("GRPOTrainer", {"advantage_estimator": "raft"})
    assert PRESETS["reinforce_rej"] == ("GRPOTrainer", {"advantage_estimator": "reinforce_rej"})
    for name in ("raft", "reinforce_rej"):
        cfg = GRPOConfig.from_dict({"algorithm.adv_estimator": name})
        assert cfg.advantage_estimator == name
    from agents.cli import config_for  # what `rlenvs train --algo raft++` builds

    assert config_for("raft++", {"num_generations": 4}).advantage_estimator == "raft"
    assert config_for("reinforce_rej", {}).advantage_estimator == "reinforce_rej"


ARITHMETIC = {"level": 1, "lenient": True}  # binary: 1 when the last number is right


@pytest.mark.slow
def test_raft_plus_plus_trains_smollm2_on_arithmetic(tmp_path):
    """On-policy every ratio is 1: RAFT++'s token-mean loss over the kept (correct) responses is
    exactly −1, whatever their number or length; rejected rows have no loss tokens."""
    run = smollm2_step(tmp_path, "raft++", "rlenvs/Arithmetic-v0", ARITHMETIC)
    assert 0 < run.record["raft/kept_frac"] < 1, "no signal in this batch"
    assert run.record["loss"] == pytest.approx(-1.0, abs=1e-5)
    for s in run.samples:
        assert s.scalars["advantage"] in (0.0, 1.0)
        assert (s.scalars["advantage"] == 1.0) == bool(s.mask.any())
    assert run.moved, "no weight moved"


@pytest.mark.slow
def test_reinforce_rej_trains_smollm2_on_arithmetic(tmp_path):
    """On-policy the loss is −Σ A·M / Σ M over the kept groups' tokens, A = r − 0.5 = ±0.5."""
    run = smollm2_step(tmp_path, "reinforce_rej", "rlenvs/Arithmetic-v0", ARITHMETIC)
    assert 0 < run.record["reinforce_rej/kept_frac"] <= 1, "no signal in this batch"
    tokens = sum(float(s.mask.sum()) for s in run.samples)
    want = -sum(float((s.tokens["advantages"] * s.mask).sum()) for s in run.samples) / tokens
    assert math.isfinite(run.record["loss"])
    assert run.record["loss"] == pytest.approx(want, abs=1e-5)
    kept = [s.scalars["advantage"] for s in run.samples if s.mask.any()]
    assert kept and set(kept) <= {-0.5, 0.5} and -0.5 in kept and 0.5 in kept
    assert run.moved, "no weight moved"
