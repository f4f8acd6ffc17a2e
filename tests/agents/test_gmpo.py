"""GMPO (arXiv 2507.20673): our trainer's loss against TRL 1.16's ``GMPOTrainer._compute_loss``
and verl 0.9.1's ``compute_policy_loss_geo_mean`` on fixed tensors (value and gradient to 1e-6),
a value worked out by hand from the paper's objective, the names, and one short SmolLM2 run
(``slow``, ~30 s on one core)."""

from __future__ import annotations

import math

import pytest
import torch
from verl.trainer.ppo import core_algos as V
from verl.workers.config import ActorConfig

from agents import GRPOConfig
from agents.algorithms.gmpo import gmpo_sequence_loss
from tests.agents.fidelity.harness import _trl_self, fixture, ours_grpo
from tests.agents.smollm2_step import smollm2_step

TOL = dict(rtol=1e-6, atol=1e-7)
# level 1, lenient answers, 0.1 for a boxed wrong answer: SmolLM2's replies differ in reward
ARITHMETIC = {"level": 1, "lenient": True, "format_credit": 0.1, "reward": "dense"}


def _cfg(**kw):
    base = dict(per_device_train_batch_size=2, gradient_accumulation_steps=2, num_generations=2,
                max_completion_length=8, importance_sampling_level="geo_mean")
    return GRPOConfig(**{**base, **kw})


def trl_gmpo(data, *, epsilon, epsilon_high, beta=0.0, per_device=2):
    """TRL 1.16's experimental ``GMPOTrainer._compute_loss``, one call per micro-batch (it
    divides by the accumulation steps itself), summed."""
    import warnings

    with warnings.catch_warnings():  # "importing from trl.experimental"
        warnings.simplefilter("ignore")
        from trl.experimental.gmpo import GMPOTrainer

    batch = data["logp"].shape[0]
    ga = batch // per_device
    trl = _trl_self(GMPOTrainer, epsilon_low=epsilon, epsilon_high=epsilon_high, beta=beta,
                    current_gradient_accumulation_steps=ga)
    logp = data["logp"].clone().requires_grad_(True)
    total = torch.zeros((), dtype=torch.float64)
    for k in range(ga):
        rows = list(range(k * per_device, (k + 1) * per_device))
        width = logp.shape[1]
        trl._get_per_token_logps_and_entropies = (
            lambda *a, _r=rows, **kw: (logp[_r], data["entropy"][_r], None))
        inputs = {
            "prompt_ids": torch.ones((len(rows), 1), dtype=torch.long),
            "prompt_mask": torch.ones((len(rows), 1), dtype=torch.long),
            "completion_ids": torch.zeros((len(rows), width), dtype=torch.long),
            "completion_mask": data["mask"][rows],
            "advantages": data["adv"][rows],
            "old_per_token_logps": data["old"][rows],
            "ref_per_token_logps": data["ref"][rows],
        }
        total = total + GMPOTrainer._compute_loss(trl, None, inputs)
    total.backward()
    return total.detach(), logp.grad


def verl_gmpo(data, *, clip_low, clip_high, mode="token-mean", kl_coef=0.0):
    """verl's actor loss with ``policy_loss.loss_mode=geo_mean`` (+ its KL loss)."""
    cfg = ActorConfig(strategy="fsdp", rollout_n=2, ppo_micro_batch_size_per_gpu=4,
                      clip_ratio=0.2, clip_ratio_low=clip_low, clip_ratio_high=clip_high,
                      loss_agg_mode=mode)
    logp = data["logp"].clone().requires_grad_(True)
    mask = data["mask"]
    adv = data["adv"][:, None].expand_as(logp) * mask
    loss, _ = V.get_policy_loss_fn("geo_mean")(old_log_prob=data["old"], log_prob=logp,
                                               advantages=adv, response_mask=mask.bool(),
                                               loss_agg_mode=mode, config=cfg)
    if kl_coef:
        kld = V.kl_penalty(logp, data["ref"], "low_var_kl")
        loss = loss + kl_coef * V.agg_loss(kld, mask.bool(), mode)
    loss.backward()
    return loss.detach(), logp.grad


@pytest.mark.parametrize(("epsilon", "epsilon_high"), [(0.4, 0.4), (0.2, 0.3)])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_gmpo_loss_matches_trl(epsilon, epsilon_high, beta):
    """Ratios beyond the clip on both advantage signs, a zero advantage, a fully masked row."""
    data = fixture()
    ours = ours_grpo(_cfg(epsilon=epsilon, epsilon_high=epsilon_high, beta=beta), data)
    theirs = trl_gmpo(data, epsilon=epsilon, epsilon_high=epsilon_high, beta=beta)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)


@pytest.mark.parametrize("mode", ["token-mean", "seq-mean-token-mean"])
def test_gmpo_loss_matches_verl_under_verl_names(mode):
    data = fixture()
    cfg = GRPOConfig.from_dict({
        "actor_rollout_ref": {"actor": {
            "loss_agg_mode": mode, "clip_ratio_low": 0.3, "clip_ratio_high": 0.4,
            "policy_loss": {"loss_mode": "geo_mean"}, "use_kl_loss": True,
            "kl_loss_coef": 0.04, "kl_loss_type": "low_var_kl"}},
        "per_device_train_batch_size": 4, "num_generations": 2,
        "max_completion_length": data["logp"].shape[1]})
    assert (cfg.importance_sampling_level, cfg.semantics, cfg.dual_clip) == \
        ("geo_mean", "verl", None)
    ours = ours_grpo(cfg, data)
    theirs = verl_gmpo(data, clip_low=0.3, clip_high=0.4, mode=mode, kl_coef=0.04)
    torch.testing.assert_close(ours[0], theirs[0], **TOL)
    torch.testing.assert_close(ours[1], theirs[1], **TOL)


def test_gmpo_by_hand():
    """ε = 0.4. Row 1, A = +1, log-ratios (0.5, −0.1): clipped (0.4, −0.1) (the min for A > 0),
    mean 0.15, loss −e^0.15 = −1.161834. Row 2, A = −2, (0.5, −0.6): clipped (0.4, −0.4), the max
    for A < 0 is (0.5, −0.4), mean 0.05, loss 2·e^0.05 = 2.102542. Batch mean 0.470354.
    d/dlogp: clipped tokens 0; row 1 token 2: −e^0.15/2/2 = −0.290459; row 2 token 1:
    2·e^0.05/2/2 = 0.525636."""
    logp = torch.zeros((2, 2), dtype=torch.float64, requires_grad=True)
    old = -torch.tensor([[0.5, -0.1], [0.5, -0.6]], dtype=torch.float64)
    seq, flags = gmpo_sequence_loss(logp, old, torch.tensor([1.0, -2.0], dtype=torch.float64),
                                    torch.ones((2, 2), dtype=torch.float64), 0.4)
    assert seq.tolist() == pytest.approx([-1.161834, 2.102542], abs=1e-6)
    seq.mean().backward()
    assert logp.grad.flatten().tolist() == pytest.approx([0.0, -0.290459, 0.525636, 0.0],
                                                         abs=1e-6)
    assert flags["high"].tolist() == [[True, False], [False, False]]
    assert flags["low"].tolist() == [[False, False], [False, True]]


def test_names_and_bad_input():
    from agents.run.presets import PRESETS

    assert PRESETS["gmpo"][1] == {"importance_sampling_level": "geo_mean", "epsilon": 0.4,
                                  "epsilon_high": 0.4}
    from agents.cli import config_for  # what `rlenvs train --algo gmpo` builds

    assert config_for("gmpo", {}).importance_sampling_level == "geo_mean"
    with pytest.raises(ValueError, match="importance_sampling_level"):
        GRPOConfig(importance_sampling_level="geometric")
    with pytest.raises(ValueError, match="log-space"):
        gmpo_sequence_loss(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1),
                           torch.ones(1, 1), epsilon=-0.1)


@pytest.mark.slow
def test_gmpo_trains_smollm2_on_arithmetic(tmp_path):
    """One on-policy step with a float32 sampler (no sampler correction): every ratio is 1, so
    GMPO's loss is −mean_i A_i, which GRPO's group-centred advantages make 0 (a token-level loss
    would weigh rows by length and not vanish); the gradient does not vanish, and the weights
    move. Dense reward with format credit (SmolLM2 rarely boxes its answer): graded rewards."""
    run = smollm2_step(tmp_path, "gmpo", "rlenvs/Arithmetic-v0", ARITHMETIC)
    assert run.trainer.config.importance_sampling_level == "geo_mean"
    assert run.record["frac_reward_zero_std"] < 1.0, "no signal in this batch"
    assert math.isfinite(run.record["loss"]) and abs(run.record["loss"]) < 1e-6
    assert run.record["grad_norm"] > 0 and run.record["clip_ratio/region_mean"] == 0.0
    assert run.moved, "no weight moved"
