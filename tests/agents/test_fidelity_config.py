"""verl config translation by full path (issue 14, bug 11) and the adaptive KL controller's input
(bug 9), checked against verl 0.9.1's own default config and its own controller."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import verl
import yaml
from verl.trainer.ppo import core_algos
from verl.utils import torch_functional as verl_F

from agents.algorithms import AdaptiveKLController
from agents.algorithms.ppo import adaptive_kl_input
from agents.trainers.config import GRPOConfig, PPOConfig
from tests.agents.fidelity.verl_calls import verl_adaptive_kl_update

VERL_YAML = Path(verl.__file__).parent / "trainer" / "config" / "_generated_ppo_trainer.yaml"


def _verl_config(**overrides: object) -> dict:
    """verl 0.9.1's complete default ppo_trainer config, with dotted-path ``overrides``."""
    config = yaml.safe_load(VERL_YAML.read_text())
    for path, value in overrides.items():
        node = config
        *parents, leaf = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return config


GRPO_RUN = {
    "algorithm.adv_estimator": "grpo",
    "actor_rollout_ref.rollout.n": 4,
    "actor_rollout_ref.actor.optim.lr": 3e-6,
    "reward.reward_model.rollout.n": 2,  # the reward model's own samples, not the actor's
    "reward_model.n": 2,  # legacy key of the report
    "data.train_batch_size": 8,
    "actor_rollout_ref.actor.ppo_mini_batch_size": 4,
    "data.max_response_length": 64,
    "actor_rollout_ref.actor.use_kl_loss": True,
    "actor_rollout_ref.actor.kl_loss_coef": 0.01,
}


def test_complete_verl_grpo_config_takes_the_actors_settings():
    cfg = GRPOConfig.from_dict(_verl_config(**GRPO_RUN))
    # critic.optim.lr (1e-5 in the file) must not become the actor's learning rate
    assert cfg.learning_rate == 3e-6
    # rollout.n wins; reward.reward_model.rollout.n and reward_model.n are the reward model's
    assert cfg.num_generations == 4
    # prompts: 8 per round, 4 per optimizer step -> 16 completions per step, 2 steps per round
    assert (cfg.per_device_train_batch_size, cfg.steps_per_generation) == (16, 2)
    assert cfg.generation_batch_size == 32
    assert cfg.max_completion_length == 64
    # verl's defaults where the file keeps them
    assert (cfg.epsilon, cfg.epsilon_high, cfg.dual_clip) == (0.2, 0.2, 3.0)
    assert (cfg.loss_type, cfg.kl_estimator, cfg.beta) == ("dapo", "low_var_kl", 0.01)
    assert (cfg.weight_decay, cfg.max_grad_norm, cfg.top_k) == (0.01, 1.0, 0)
    assert (cfg.semantics, cfg.use_bias_correction_kl, cfg.reward_std_epsilon) == \
        ("verl", False, 1e-6)
    assert cfg.scale_rewards == "group" and not cfg.dynamic_sampling


def test_complete_verl_ppo_config():
    cfg = PPOConfig.from_dict(_verl_config(**{
        "actor_rollout_ref.actor.optim.lr": 2e-6, "algorithm.use_kl_in_reward": True,
        "algorithm.kl_ctrl.type": "adaptive", "algorithm.kl_ctrl.kl_coef": 0.05,
        "algorithm.gamma": 0.99, "algorithm.lam": 0.95, "critic.cliprange_value": 0.3,
        "data.train_batch_size": 4, "actor_rollout_ref.actor.ppo_mini_batch_size": 2,
        "actor_rollout_ref.actor.ppo_epochs": 3}))
    assert (cfg.learning_rate, cfg.kl_ctrl_type, cfg.kl_coef, cfg.target_kl) == \
        (2e-6, "adaptive", 0.05, 0.1)
    assert (cfg.gamma, cfg.lam, cfg.cliprange_value, cfg.kl_estimator) == (0.99, 0.95, 0.3, "kl")
    assert (cfg.per_device_train_batch_size, cfg.num_mini_batches, cfg.num_ppo_epochs) == (4, 2, 3)
    off = PPOConfig.from_dict(_verl_config())
    assert off.kl_coef == 0.0  # use_kl_in_reward: False in verl's defaults


@pytest.mark.parametrize(("path", "value", "message"), [
    ("actor_rollout_ref.actor.bogus", 1, "no setting"),
    ("critic.optim.lr", 2e-5, "only verl's default"),  # the critic has no separate optimizer
    ("actor_rollout_ref.actor.tau_pos", 2.0, "only verl's default"),
    ("algorithm.use_kl_in_reward", True, "loss"),  # GRPO takes KL as a loss
    ("actor_rollout_ref.actor.loss_agg_mode", "token-sum", "not supported"),
])
def test_verl_config_rejects_what_it_cannot_honour(path, value, message):
    with pytest.raises(ValueError, match=message):
        GRPOConfig.from_dict(_verl_config(**{**GRPO_RUN, path: value}))


def test_no_suffix_matching():
    # the bare `n` and other suffixes of real paths are not names of ours
    for key in ("n", "lr", "optim.lr", "actor.optim.lr", "rollout.temperature"):
        with pytest.raises(ValueError, match="no setting"):
            GRPOConfig.from_dict({key: 2})
    # critic.optim.lr at verl's default is accepted and leaves the actor's rate alone
    assert GRPOConfig.from_dict({"critic.optim.lr": 1e-5}).learning_rate == 1e-6
    # two full paths for one setting must agree
    with pytest.raises(ValueError, match="disagree"):
        GRPOConfig.from_dict({"data.max_response_length": 64,
                              "actor_rollout_ref.rollout.response_length": 32})


def test_trl_names_keep_trl_semantics():
    cfg = GRPOConfig.from_dict({"beta": 0.04, "loss_type": "grpo"})
    assert (cfg.semantics, cfg.use_bias_correction_kl, cfg.reward_std_epsilon) == \
        ("trl", True, 1e-4)
    # an explicit TRL-named value wins over the verl default it would otherwise get
    mixed = GRPOConfig.from_dict({"clip_ratio_high": 0.28, "reward_std_epsilon": 1e-4})
    assert (mixed.semantics, mixed.epsilon_high, mixed.reward_std_epsilon) == \
        ("verl", 0.28, 1e-4)


# ------------------------------------------------------------------ adaptive KL (bug 9)
def _long_response_kl(length: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(length)
    kl = torch.rand((4, length), generator=gen, dtype=torch.float64) * 0.1
    mask = torch.ones_like(kl)
    mask[1, length // 2:] = 0
    mask[3] = 0  # a fully masked row (masked truncated completion) counts as 0, as in verl
    return kl, mask


def test_adaptive_kl_input_is_verls_per_token_mean():
    """What verl's own ``ray_trainer.apply_kl_penalty`` feeds its controller (issue 33: called,
    not retyped)."""
    for length in (1, 7, 300):
        kl, mask = _long_response_kl(length)
        verl_value = verl_adaptive_kl_update(core_algos.AdaptiveKLController(0.05, 0.1, 100),
                                             kl, mask)
        assert verl_value == pytest.approx(
            torch.mean(verl_F.masked_mean(kl, mask, axis=-1), dim=0).item(), rel=1e-12)
        assert adaptive_kl_input(kl, mask) == pytest.approx(verl_value, rel=1e-12, abs=1e-15)


def test_adaptive_kl_controller_tracks_verls_on_long_responses():
    """300-token responses at a per-token KL of ~0.05 (below target 0.1): β must fall, as in
    verl; fed the per-sequence sum (~15) it rose by the capped +0.2 error every step."""
    ours = AdaptiveKLController(0.05, target=0.1, horizon=100)
    theirs = core_algos.AdaptiveKLController(0.05, 0.1, 100)
    for _ in range(20):
        kl, mask = _long_response_kl(300)
        ours.update(adaptive_kl_input(kl, mask), n_steps=4)
        verl_adaptive_kl_update(theirs, kl, mask)  # verl's trainer: n_steps = batch size (4)
    assert ours.value == pytest.approx(theirs.value, rel=1e-12)
    assert ours.value < 0.05
    wrong = AdaptiveKLController(0.05, target=0.1, horizon=100)
    for _ in range(20):
        kl, mask = _long_response_kl(300)
        wrong.update(float((kl * mask).sum(-1).mean()), n_steps=4)
    assert wrong.value == pytest.approx(0.05 * (1 + 0.2 * 4 / 100) ** 20)
    assert not np.isclose(wrong.value, theirs.value)
