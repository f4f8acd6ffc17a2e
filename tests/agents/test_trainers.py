"""Every algorithm runs end to end for a couple of steps on the same environments."""

from __future__ import annotations

import math

import pytest
import torch

from agents import GRPOConfig, GRPOTrainer, PPOConfig, PPOTrainer, RLOOConfig, RLOOTrainer
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy

BASE = dict(max_steps=2, per_device_train_batch_size=4, gradient_accumulation_steps=2,
            num_generations=4, max_completion_length=8, learning_rate=1e-3, progress=False)


def _params(policy):
    return {k: v.detach().clone() for k, v in policy.named_parameters() if v.requires_grad}


def _changed(before, policy):
    after = dict(policy.named_parameters())
    return any(not torch.equal(v, after[k]) for k, v in before.items())


def _run(trainer_cls, config, env="agents-test/Uppercase-v0", policy=None, moves=True,
         **kwargs):
    policy = policy or tiny_policy(value_head=trainer_cls is PPOTrainer)
    before = _params(policy)
    trainer = trainer_cls(policy, env, config, **kwargs)
    summary = trainer.train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    assert records and records[-1]["step"] == config.max_steps
    for r in records:
        assert math.isfinite(r["loss"]) and math.isfinite(r["grad_norm"])
        assert 0.0 <= r["frac_reward_zero_std"] <= 1.0
    assert _changed(before, policy) or not moves, "no parameter moved"
    return trainer, records


@pytest.mark.parametrize("overrides", [
    {"loss_type": "grpo"},
    {"loss_type": "bnpo"},
    {"loss_type": "dapo", "epsilon_high": 0.28},
    {"loss_type": "dr_grpo", "scale_rewards": "none"},
    {"scale_rewards": "batch", "beta": 0.04},
    {"importance_sampling_level": "sequence", "loss_type": "grpo", "epsilon": 3e-4,
     "epsilon_high": 4e-4, "steps_per_generation": 4},
    {"importance_sampling_level": "sequence_token", "num_iterations": 2},
    {"advantage_estimator": "rloo", "dual_clip": 3.0, "entropy_coef": 0.01},
], ids=["grpo", "bnpo", "dapo-loss", "dr_grpo", "batch-std+kl", "gspo", "gspo-token-mu2",
        "rloo-verl"])
def test_grpo_variants_run(tmp_path, overrides):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, **overrides})
    _, records = _run(GRPOTrainer, config)
    if config.beta:
        assert records[-1]["kl"] >= 0.0
    if config.num_iterations > 1 or config.steps_per_generation > config.gradient_accumulation_steps:
        assert records[-1]["optimizer_steps"] >= 1


def test_dapo_dynamic_sampling_and_overlong_shaping(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 1},
                        epsilon_high=0.28, dynamic_sampling=True, gen_batch_size=3,
                        max_num_gen_batches=3, overlong_buffer_len=4)
    _, records = _run(GRPOTrainer, config)
    r = records[-1]
    assert 1 <= r["dynamic_sampling/gen_batches"] <= 3
    assert r["num_completions"] == config.optimizer_batch_size
    assert r["reward/overlong_penalty"] <= 0.0


def test_rloo_trl_flavour(tmp_path):
    config = RLOOConfig(output_dir=str(tmp_path), **{**BASE, "num_generations": 2})
    _, records = _run(RLOOTrainer, config)
    assert "kl" in records[-1]


def test_process_rewards_multi_turn(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **BASE, advantage_estimator="process",
                        max_episode_tokens=64)
    _, records = _run(GRPOTrainer, config, env="agents-test/Retry-v0")
    assert records[-1]["completions/mean_turns"] > 1.0


@pytest.mark.parametrize("kl_ctrl_type", ["fixed", "adaptive"])
def test_ppo_runs_with_value_head(tmp_path, kl_ctrl_type):
    config = PPOConfig(output_dir=str(tmp_path), **{**BASE, "num_generations": 2},
                       num_ppo_epochs=2, num_mini_batches=2, kl_ctrl_type=kl_ctrl_type,
                       kl_horizon=10)
    trainer, records = _run(PPOTrainer, config, env="agents-test/Retry-v0")
    assert records[-1]["optimizer_steps"] == 4  # 2 epochs x 2 mini-batches per PPO step
    assert "value_loss" in records[-1]
    if kl_ctrl_type == "adaptive":
        # replay verl's own controller on the per-token mean KL of each round (issue 14, bug 9)
        from verl.trainer.ppo.core_algos import AdaptiveKLController as VerlController

        verl_ctl = VerlController(config.kl_coef, config.target_kl, config.kl_horizon)
        for r in records:
            assert r["kl_coef"] == pytest.approx(verl_ctl.value, rel=1e-9)
            verl_ctl.update(r["kl/token_mean"], n_steps=r["num_completions"])
        assert trainer.kl_ctl.value == pytest.approx(verl_ctl.value, rel=1e-9)
        assert trainer.kl_ctl.value != config.kl_coef


def test_lora_policy_trains_only_adapters(tmp_path):
    pytest.importorskip("peft")
    from agents.policy import LoraSettings, apply_lora

    policy = tiny_policy()
    policy.model = apply_lora(policy.model, LoraSettings(r=4, lora_alpha=8))
    trainable = [k for k, p in policy.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in k for k in trainable)
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 1}, beta=0.04)
    trainer, _ = _run(GRPOTrainer, config, policy=policy)
    # the sampler sees base + LoRA delta (merged), the training model stays unmerged
    sampler_w = trainer.backend.model.model.layers[0].self_attn.q_proj.weight
    layer = policy.model.get_base_model().model.layers[0].self_attn.q_proj
    merged = layer.base_layer.weight + layer.get_delta_weight("default")
    assert torch.allclose(sampler_w.float(), merged, atol=1e-2)


def test_reward_schedule_is_advanced_and_logged(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 3})
    trainer, records = _run(GRPOTrainer, config, env="rlenvs/Arithmetic-v0", moves=False,
                            env_kwargs={"level": 1, "lenient": True, "format_credit": 0.1,
                                        "reward": {"name": "dense_then_binary",
                                                   "switch_step": 2}})
    assert [r["stage"] for r in records] == ["dense", "dense", "binary"]
    assert trainer.reward_schedule.switched_at == 2


def test_evaluation_before_and_after(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 1}, eval_episodes=3,
                        eval_max_new_tokens=4)
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", config)
    summary = trainer.train()
    assert [e["step"] for e in summary["evals"]] == [0, 1]
    assert all(e["eval/seed"] == 10_000_000 for e in summary["evals"])


def test_config_errors_and_verl_aliases():
    with pytest.raises(ValueError, match="loss_type"):
        GRPOConfig(loss_type="nope")
    with pytest.raises(ValueError, match="divisible by num_generations"):
        GRPOConfig(per_device_train_batch_size=6, num_generations=4)
    with pytest.raises(ValueError, match="num_generations must be >= 2"):
        GRPOConfig(num_generations=1, per_device_train_batch_size=1)
    with pytest.raises(ValueError, match="no setting 'bogus'"):
        GRPOConfig.from_dict({"bogus": 1})
    cfg = GRPOConfig.from_dict({
        "actor_rollout_ref": {"rollout": {"n": 4}, "actor": {
            "clip_ratio_low": 0.2, "clip_ratio_high": 0.28, "loss_agg_mode": "token-mean",
            "use_kl_loss": True, "kl_loss_coef": 0.001, "kl_loss_type": "low_var_kl",
            "clip_ratio_c": 3.0, "ppo_epochs": 1, "optim": {"lr": 1e-6}}},
        "algorithm": {"adv_estimator": "grpo", "norm_adv_by_std_in_grpo": False,
                      "filter_groups": {"enable": True, "metric": "acc",
                                        "max_num_gen_batches": 10}},
        "per_device_train_batch_size": 8,
    })
    assert (cfg.num_generations, cfg.epsilon, cfg.epsilon_high, cfg.loss_type) == \
        (4, 0.2, 0.28, "dapo")
    assert (cfg.beta, cfg.kl_estimator, cfg.dual_clip, cfg.scale_rewards) == \
        (0.001, "low_var_kl", 3.0, "none")
    assert cfg.dynamic_sampling and cfg.dynamic_sampling_metric == "passed"
    assert cfg.learning_rate == 1e-6
    off = GRPOConfig.from_dict({"use_kl_loss": False, "kl_loss_coef": 0.5})
    assert off.beta == 0.0
    ppo = PPOConfig.from_dict({"adv_estimator": "gae", "kl_ctrl": {"type": "adaptive",
                                                                   "target_kl": 0.2}})
    assert (ppo.kl_ctrl_type, ppo.target_kl) == ("adaptive", 0.2)


def test_trainer_rejects_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="value head"):
        PPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                   PPOConfig(output_dir=str(tmp_path), **{**BASE, "num_generations": 2}))
    with pytest.raises(ValueError, match="policy must be"):
        GRPOTrainer(42, "agents-test/Uppercase-v0", GRPOConfig(output_dir=str(tmp_path)))
    with pytest.raises(TypeError, match="GRPOConfig"):
        GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", PPOConfig())


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dapo", "dr_grpo"])
def test_physical_micro_batching_does_not_change_the_gradient(tmp_path, loss_type):
    """Length-sorted, token-capped micro-batches give the logical batch's exact gradient."""

    def gradient(max_tokens):
        policy = tiny_policy(seed=5)
        config = GRPOConfig(output_dir=str(tmp_path / str(max_tokens)), **{**BASE, "max_steps": 1},
                            loss_type=loss_type, max_micro_batch_tokens=max_tokens, seed=3)
        trainer = GRPOTrainer(policy, "agents-test/Uppercase-v0", config)
        trainer.optimizer.step = lambda: None
        trainer.optimizer.zero_grad = lambda set_to_none=True: None
        samples, _ = trainer.make_samples()
        (indices,) = trainer.plan(samples)[:1]
        trainer.prepare_step(samples, indices)
        trainer._optimizer_step([samples[i] for i in indices])
        return {k: p.grad.clone() for k, p in policy.named_parameters() if p.grad is not None}

    whole, split = gradient(None), gradient(20)
    assert whole.keys() == split.keys() and whole
    for k in whole:
        assert torch.allclose(whole[k], split[k], atol=1e-6, rtol=1e-4), k


def test_length_sorted_chunks_respect_size_and_token_cap():
    from agents.rollout.batch import Sample, length_sorted_chunks

    samples = [Sample([1] * 5, [2] * n, torch.ones(n)) for n in (3, 10, 7, 1, 10)]
    chunks = length_sorted_chunks(samples, size=2)
    assert chunks == [[1, 4], [2, 0], [3]]
    capped = length_sorted_chunks(samples, size=4, max_tokens=25)
    assert sorted(i for c in capped for i in c) == list(range(5))
    for c in capped:
        assert len(c) == 1 or len(c) * max(samples[i].length for i in c) <= 25


def test_rloo_is_its_own_trainer_not_a_grpo_setting():
    from agents.trainers.grpo import GRPOTrainer as Grpo
    from agents.trainers.rloo import RLOOTrainer as Rloo

    # the sequence-level loss belongs to RLOOTrainer; no config value switches GRPO into it
    assert Rloo.policy_loss is not Grpo.policy_loss
    assert Rloo.shape_rewards is not Grpo.shape_rewards
    with pytest.raises(ValueError, match="importance_sampling_level"):
        GRPOConfig(importance_sampling_level="sequence_sum")
    with pytest.raises(ValueError, match="always per sequence"):
        RLOOConfig(importance_sampling_level="sequence")
    assert RLOOConfig().importance_sampling_level == "token"
