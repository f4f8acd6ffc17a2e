"""Truncated importance sampling between engine and trainer log-probs: the weights checked
against verl 0.9.1's own ``compute_rollout_correction_weights`` and TRL 1.16's own
``GRPOTrainer._generate_and_score_completions`` on fixed tensors, the weighted loss against TRL's
``_compute_loss``, and GRPOTrainer's wiring (one old-log-prob pass, metrics) on a tiny model."""

from __future__ import annotations

import math

import pytest
import torch
import verl.trainer.ppo.rollout_corr_helper as verl_corr  # installed by .ci/install

from agents.algorithms.tis import TIS_MODES, row_correction_weights, sampler_correction_weights


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sampler = -torch.rand((5, 7), generator=g) * 4
    # trainer = sampler + noise, with a few large disagreements in both directions
    trainer = sampler + torch.randn((5, 7), generator=g) * 0.3
    trainer[0, 1] += 2.5
    trainer[2, 3] -= 3.0
    trainer[4, 0] += 1.5
    mask = torch.ones((5, 7))
    mask[1, 5:] = 0
    mask[3, 2:] = 0
    return trainer, sampler, mask


@pytest.mark.parametrize(("mode", "verl_level", "threshold", "cap", "cap_min"), [
    ("token_truncate", "token", 2.0, 2.0, None),
    ("sequence_truncate", "sequence", 2.0, 2.0, None),
    ("token_mask", "token", "0.5_2.0", 2.0, 0.5),
    ("sequence_mask", "sequence", "0.5_2.0", 2.0, 0.5),
])
def test_weights_equal_verl(mode, verl_level, threshold, cap, cap_min):
    trainer, sampler, mask = _batch()
    ours, _ = sampler_correction_weights(trainer, sampler, mask, mode, cap=cap, cap_min=cap_min)
    theirs, _ = verl_corr.compute_rollout_correction_weights(
        trainer - sampler, mask, rollout_is=verl_level, rollout_is_threshold=threshold)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    # the case is not vacuous: some weights were bounded, some were not
    kept = ours[mask > 0]
    assert (kept == cap).any() or (kept == 0).any()
    assert ((kept > 0) & (kept < cap)).any()


def test_metrics_by_hand():
    trainer = torch.tensor([[math.log(0.5), math.log(0.2), 0.0], [math.log(0.3), 0.0, 0.0]])
    sampler = torch.tensor([[math.log(0.25), math.log(0.4), float("nan")],
                            [math.log(0.3), 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    w, m = sampler_correction_weights(trainer, sampler, mask, "token_truncate", cap=1.5)
    # ratios: 2 -> capped 1.5, 0.5, 1 (NaN: unscored, weight 1), 1; padding 0
    torch.testing.assert_close(w, torch.tensor([[1.5, 0.5, 1.0], [1.0, 0.0, 0.0]]))
    assert m["sampling/sampling_logp_difference/max"] == pytest.approx(math.log(2))
    assert m["sampling/sampling_logp_difference/mean"] == pytest.approx(2 * math.log(2) / 3)
    assert m["sampling/importance_sampling_ratio/min"] == pytest.approx(0.5)
    assert m["sampling/importance_sampling_ratio/max"] == pytest.approx(1.5)
    assert m["sampling/importance_sampling_ratio/mean"] == pytest.approx(4.0 / 4)
    assert m["sampling/importance_sampling_ratio/bounded_frac"] == pytest.approx(1 / 4)
    assert not w.requires_grad


def test_weights_carry_no_gradient_and_scale_the_loss():
    trainer, sampler, mask = _batch(1)
    logp = trainer.clone().requires_grad_(True)
    w, _ = sampler_correction_weights(logp, sampler, mask, "token_truncate", cap=2.0)
    (w * logp * mask).sum().backward()
    torch.testing.assert_close(logp.grad, w * mask)  # d/dlogp of w*logp with w constant


def test_bad_arguments_are_refused():
    t, s, m = _batch()
    with pytest.raises(ValueError, match="must be one of"):
        sampler_correction_weights(t, s, m, "token")
    with pytest.raises(ValueError, match="needs a bound"):
        sampler_correction_weights(t, s, m, "token_mask", cap=None)
    with pytest.raises(ValueError, match="must not exceed"):
        sampler_correction_weights(t, s, m, cap=1.0, cap_min=2.0)
    with pytest.raises(ValueError, match="shapes differ"):
        sampler_correction_weights(t, s[:, :3], m)
    assert set(TIS_MODES) == {"token_truncate", "token_mask", "sequence_truncate",
                              "sequence_mask"}


# ------------------------------------------------------------------ TRL 1.16's own code
# The rows a sampler returned: unequal lengths, environment (tool) tokens inside a row, a token
# the engine gave no log-prob for (vLLM's None -> NaN), and engine/trainer gaps both ways.
def _rows() -> tuple[list[list[float]], list[list[float | None]], list[list[int]]]:
    g = torch.Generator().manual_seed(7)
    lengths = [6, 4, 6, 3]
    trainer, sampler, tool = [], [], []
    for n in lengths:
        s = (-torch.rand(n, generator=g) * 3).tolist()
        t = [x + 0.2 * float(torch.randn(1, generator=g)) for x in s]
        trainer.append(t)
        sampler.append(list(s))
        tool.append([1] * n)
    trainer[0][2] += 1.4  # an upward gap: ratio ~4 on one token
    trainer[2][1] -= 1.2  # a downward one
    trainer[3][1] += 0.6  # a row whose product of ratios is above 3
    sampler[1][3] = None  # no log-prob from the engine
    tool[2][3:5] = [0, 0]  # a tool reply inside the row: not the policy's tokens
    return trainer, sampler, tool


def _trl_generate_and_score(mode: str, clip_max: float | None, clip_min: float | None
                            ) -> tuple[dict, dict[str, float]]:
    """TRL 1.16's ``GRPOTrainer._generate_and_score_completions`` on :func:`_rows`, its
    generation (``_generate``), rewards and forward (``_get_per_token_logps_and_entropies``:
    the trainer's log-probs, padded) stood in for; everything else is TRL's code."""
    from collections import defaultdict
    from types import SimpleNamespace

    from trl import GRPOTrainer as TRLGRPOTrainer

    from tests.agents.fidelity.harness import _Accelerator

    trainer, sampler, tool = _rows()
    n, width = len(trainer), max(len(r) for r in trainer)
    old = torch.zeros((n, width))
    for i, r in enumerate(trainer):
        old[i, : len(r)] = torch.tensor(r)
    acc = _Accelerator()
    acc.process_index = 0
    trl = object.__new__(TRLGRPOTrainer)
    trl.__dict__.update(
        accelerator=acc, model=SimpleNamespace(training=True, is_gradient_checkpointing=False),
        environment_factories=None, tools=None, environments=[], _tokenizer=SimpleNamespace(
            pad_token_id=0), pad_to_multiple_of=None, mask_truncated_completions=False,
        args=SimpleNamespace(per_device_train_batch_size=n, steps_per_generation=1,
                             gradient_accumulation_steps=1, gradient_checkpointing_kwargs=None),
        num_iterations=1, use_vllm=True, vllm_importance_sampling_correction=True,
        vllm_importance_sampling_mode=mode, vllm_importance_sampling_clip_max=clip_max,
        vllm_importance_sampling_clip_min=clip_min, beta=0.0, num_generations=2,
        multi_objective_aggregation="sum_then_normalize", reward_weights=torch.ones(1),
        scale_rewards="group", reward_func_names=["r"], reward_funcs=[None],
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)},
        _logs={"prompt": [], "completion": [], "rewards": defaultdict(list),
               "advantages": [], "extra": defaultdict(list)},
        _pending_extra_logs={}, _pending_metrics={}, log_multimodal=False,
        off_policy_mask_threshold=None)
    trl._generate = lambda prompts: (
        [[1, 2]] * n, [[5] * len(r) for r in trainer], tool, ["c"] * n, sampler, {}, None, None)
    trl._get_per_token_logps_and_entropies = lambda *a, **k: (old.clone(), None, None)
    trl._calculate_rewards = lambda *a, **k: torch.tensor([[1.0], [0.0], [0.5], [0.2]])
    output = TRLGRPOTrainer._generate_and_score_completions(trl, [{"prompt": "q"}] * n)
    metrics = {k: v[-1] for k, v in trl._metrics["train"].items() if k.startswith("sampling/")}
    return output, metrics


@pytest.mark.parametrize(("mode", "clip_max", "clip_min"), [
    ("sequence_mask", 3.0, None),  # TRL's default
    ("sequence_mask", 3.0, 0.5),
    ("sequence_truncate", 1.2, 0.9),
    ("token_truncate", 3.0, None),
    ("token_truncate", 2.0, 0.5),
    ("token_mask", 3.0, 0.5),
])
def test_weights_and_metrics_equal_trl_generate_and_score(mode, clip_max, clip_min):
    output, theirs_metrics = _trl_generate_and_score(mode, clip_max, clip_min)
    trainer, sampler, tool = _rows()
    masks = [torch.tensor(t, dtype=torch.float32) for t in tool]
    ours, ours_metrics = row_correction_weights(
        [torch.tensor(r) for r in trainer], sampler, masks, mode, cap=clip_max, cap_min=clip_min)
    ratio = output["importance_sampling_ratio"]  # (B, T) or (B, 1) for sequence modes
    loss_mask = output["completion_mask"] * output["tool_mask"]
    for i, (w, m) in enumerate(zip(ours, masks, strict=True)):
        theirs = ratio[i].expand(loss_mask.shape[1])[: len(m)]
        torch.testing.assert_close(w[m > 0], theirs[m > 0].float(), rtol=1e-6, atol=1e-7)
        assert torch.equal(loss_mask[i, : len(m)].float(), m)
    assert set(theirs_metrics) == {
        "sampling/sampling_logp_difference/mean", "sampling/sampling_logp_difference/max",
        "sampling/importance_sampling_ratio/min", "sampling/importance_sampling_ratio/mean",
        "sampling/importance_sampling_ratio/max"}
    for key, value in theirs_metrics.items():
        assert ours_metrics[key] == pytest.approx(value, rel=1e-6, abs=1e-7), key
    # not vacuous: the bounds acted on some weight and left others alone
    kept = torch.cat([w[m > 0] for w, m in zip(ours, masks, strict=True)])
    assert ((kept == 0) | (kept == clip_max) | (kept == (clip_min or -1))).any()
    assert ((kept != 0) & (kept != 1)).any()


def _loss_batch(beta: float) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    from tests.agents.fidelity.harness import fixture

    data = fixture(batch=4, width=5, seed=3)
    g = torch.Generator().manual_seed(11)
    weights = (torch.rand((4, 5), generator=g, dtype=torch.float64) * 2.5) * data["mask"]
    weights[1, 2] = 0.0  # a masked-out token
    return data, weights


def _ours_loss(cfg, data, weights):
    """Our GRPOTrainer's loss over the 4 rows (micro-batches of 2) and d loss / d logp."""
    from agents.policy import PolicyOutput
    from agents.rollout.batch import Sample, collate
    from agents.trainers.grpo import GRPOTrainer

    n, width = data["logp"].shape
    trainer = object.__new__(GRPOTrainer)
    trainer.config = cfg
    logp = data["logp"].clone().requires_grad_(True)
    samples = []
    for i in range(n):
        tokens = {"advantages": data["adv"][i].expand(width).float(),
                  "old_logprobs": data["old"][i].float(), "ref_logprobs": data["ref"][i].float()}
        if weights is not None:
            tokens["sampler_weights"] = weights[i].float()
        samples.append(Sample([1], [0] * width, data["mask"][i].float(), tokens, {}))
    trainer.prepare_step(samples, list(range(n)))
    total = torch.zeros((), dtype=torch.float64)
    for rows in ([0, 1], [2, 3]):
        mb = collate([samples[i] for i in rows], 0, rows)
        mb.tokens = {k: v.double() for k, v in mb.tokens.items()}
        mb.mask = mb.mask.double()
        loss, _ = trainer.compute_loss(PolicyOutput(logprobs=logp[rows], entropy=None), mb)
        total = total + loss
    total.backward()
    return total.detach(), logp.grad


@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("loss_type", ["dapo", "grpo"])
def test_weighted_loss_equals_trl_compute_loss(loss_type, beta):
    """The correction weights the surrogate only, not the KL term: our GRPOTrainer's loss and
    gradient against TRL 1.16's ``_compute_loss`` with ``use_vllm=True`` (its
    ``importance_sampling_ratio`` input), per micro-batch of 2 rows, summed."""
    from types import SimpleNamespace

    from trl import GRPOTrainer as TRLGRPOTrainer

    from agents.trainers.config import GRPOConfig
    from tests.agents.fidelity.harness import _trl_self

    data, weights = _loss_batch(beta)
    width = data["logp"].shape[1]
    cfg = GRPOConfig(loss_type=loss_type, beta=beta, per_device_train_batch_size=2,
                     gradient_accumulation_steps=2, num_generations=2,
                     max_completion_length=width)
    ours_loss, ours_grad = _ours_loss(cfg, data, weights)

    args = SimpleNamespace(use_bias_correction_kl=True, delta=None, steps_per_generation=2)
    trl = _trl_self(TRLGRPOTrainer, args=args, loss_type=loss_type, beta=beta, epsilon_low=0.2,
                    epsilon_high=0.2, importance_sampling_level="token",
                    current_gradient_accumulation_steps=2, max_completion_length=width,
                    entropy_coef=0.0, _entropy_bonus_enabled=False)
    trl.use_vllm, trl.vllm_importance_sampling_correction = True, True
    logp = data["logp"].clone().requires_grad_(True)
    total = torch.zeros((), dtype=torch.float64)
    for rows in ([0, 1], [2, 3]):
        trl._get_per_token_logps_and_entropies = (
            lambda *a, _r=rows, **kw: (logp[_r], data["entropy"][_r], None))
        inputs = {
            "prompt_ids": torch.ones((2, 1), dtype=torch.long),
            "prompt_mask": torch.ones((2, 1), dtype=torch.long),
            "completion_ids": torch.zeros((2, width), dtype=torch.long),
            "completion_mask": data["mask"][rows], "advantages": data["adv"][rows],
            "old_per_token_logps": data["old"][rows], "ref_per_token_logps": data["ref"][rows],
            "importance_sampling_ratio": weights[rows], "num_items_in_batch": data["mask"].sum(),
        }
        total = total + TRLGRPOTrainer._compute_loss(trl, None, inputs)
    total.backward()
    torch.testing.assert_close(ours_loss, total.detach(), rtol=1e-6, atol=1e-9)
    torch.testing.assert_close(ours_grad, logp.grad, rtol=1e-6, atol=1e-9)
    # the weights matter: without them loss and gradient differ
    plain_loss, plain_grad = _ours_loss(cfg, data, None)
    assert not torch.allclose(plain_grad, ours_grad, rtol=1e-3)


# ------------------------------------------------------------------ wired into GRPOTrainer
def _wired_trainer(tmp_path, **overrides):
    """A one-step GRPO trainer on the tiny model whose old-log-prob passes are counted and
    whose trajectories and samples are kept."""
    from agents import GRPOConfig, GRPOTrainer
    from tests.agents.toy_envs import tiny_policy

    values = dict(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4,
                  num_generations=4, max_completion_length=8, learning_rate=1e-3,
                  progress=False, save_final_checkpoint=False)
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0",
                          GRPOConfig(**{**values, **overrides}))
    trainer.passes, trainer.kept = [], {"trajs": [], "samples": [], "stats": {}}
    forward, collect, make = trainer.forward_no_grad, trainer.collect, trainer.make_samples

    def counted(samples, reference=False, with_values=False):
        trainer.passes.append("reference" if reference else "old")
        return forward(samples, reference=reference, with_values=with_values)

    def keep_trajs(num_prompts):
        trajs = collect(num_prompts)
        trainer.kept["trajs"].extend(trajs)
        return trajs

    def keep_samples():
        samples, stats = make()
        trainer.kept.update(samples=samples, stats=stats)
        return samples, stats

    trainer.forward_no_grad, trainer.collect, trainer.make_samples = counted, keep_trajs, \
        keep_samples
    return trainer


SAMPLING_KEYS = {"sampling/sampling_logp_difference/mean", "sampling/sampling_logp_difference/max",
                 "sampling/importance_sampling_ratio/min", "sampling/importance_sampling_ratio/mean",
                 "sampling/importance_sampling_ratio/max"}


def test_bf16_sampler_is_corrected_with_one_old_logprob_pass(tmp_path):
    """A TorchSampler in bf16 disagrees with the float32 trainer. Off-policy updates
    (num_iterations=2) need the old log-probs anyway: make_samples computes them once, weights
    each token by min(exp(old - sampler), C) and logs TRL's metrics to metrics.jsonl. ~5 s."""
    from agents.run.metrics import read_metrics

    cap = 1.0005  # the tiny model in bf16 is ~1e-3 off the fp32 trainer per token
    trainer = _wired_trainer(tmp_path, generation_dtype="bfloat16",
                             vllm_importance_sampling_mode="token_truncate",
                             vllm_importance_sampling_clip_max=cap, num_iterations=2)
    assert trainer.sampler_correction_on() and not trainer.defer_correction()
    summary = trainer.train()
    assert trainer.passes == ["old"]
    trajs, samples = trainer.kept["trajs"], trainer.kept["samples"]
    assert len(trajs) == len(samples) == 4
    gaps = []
    for t, s in zip(trajs, samples, strict=True):
        old = s.tokens["old_logprobs"]
        sampler = torch.tensor(t.sampler_logprobs)
        expected = torch.exp(old - sampler).clamp(max=cap) * s.mask  # TIS by hand
        torch.testing.assert_close(s.tokens["sampler_weights"], expected, rtol=1e-6, atol=1e-7)
        gaps.append(((old - sampler).abs() * s.mask).max())
    weights = torch.cat([s.tokens["sampler_weights"][s.mask > 0] for s in samples])
    assert (weights == cap).any() and ((weights < cap) & (weights != 1.0)).any()
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    assert SAMPLING_KEYS <= set(record)
    assert record["sampling/sampling_logp_difference/max"] == pytest.approx(float(max(gaps)))
    assert record["sampling/importance_sampling_ratio/max"] == pytest.approx(cap)


@pytest.mark.parametrize("mode", ["token_truncate", "sequence_mask"])
def test_bf16_sampler_on_policy_correction_needs_no_extra_pass(tmp_path, mode):
    """On-policy (num_iterations=1), the old log-probs are the training forward's own: the
    weights are made in the loss from them -- no pass over the samples before training -- and
    equal TIS by hand on the old log-probs an independent pass of the starting weights gives;
    the metrics are the eager pass's, over every weighted row. ~6 s."""
    import copy

    from agents.logprobs import score_samples
    from agents.run.metrics import read_metrics

    cap = 1.0005 if mode == "token_truncate" else 1.01
    trainer = _wired_trainer(tmp_path, generation_dtype="bfloat16",
                             vllm_importance_sampling_mode=mode,
                             vllm_importance_sampling_clip_max=cap)
    start = copy.deepcopy(trainer.policy)
    assert trainer.sampler_correction_on() and trainer.defer_correction()
    summary = trainer.train()
    assert trainer.passes == []
    trajs, samples = trainer.kept["trajs"], trainer.kept["samples"]
    rows = {r[0]: r for r in trainer._deferred}
    assert sorted(rows) == list(range(len(samples))) == list(range(4))
    old = score_samples(start, samples, pad_token_id=trainer.pad_token_id, batch_size=4)
    gaps, weights_all = [], []
    for i, (t, s) in enumerate(zip(trajs, samples, strict=True)):
        n = len(s.mask)
        _, trainer_lp, sampler_lp, mask, weights = rows[i]
        torch.testing.assert_close(trainer_lp[:n], old[i].logprobs, rtol=1e-5, atol=1e-5)
        sampler = torch.tensor(t.sampler_logprobs)
        torch.testing.assert_close(sampler_lp[:n], sampler)
        assert not mask[n:].any() and not weights[n:].any()
        if mode == "token_truncate":
            expected = torch.exp(trainer_lp[:n] - sampler).clamp(max=cap) * s.mask
        else:  # one weight per row: 0 when the product of ratios leaves [0, cap]
            ratio = torch.exp(((trainer_lp[:n] - sampler) * s.mask).sum())
            expected = (ratio if ratio <= cap else torch.zeros(())) * s.mask
        torch.testing.assert_close(weights[:n], expected, rtol=1e-6, atol=1e-7)
        gaps.append(((trainer_lp[:n] - sampler).abs() * s.mask).max())
        weights_all.append(weights[:n][s.mask > 0])
    assert all("sampler_weights" not in s.tokens for s in samples)
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    assert SAMPLING_KEYS <= set(record)
    assert record["sampling/sampling_logp_difference/max"] == pytest.approx(float(max(gaps)))
    if mode == "token_truncate":
        weights = torch.cat(weights_all)
        assert (weights == cap).any() and ((weights < cap) & (weights != 1.0)).any()
        assert record["sampling/importance_sampling_ratio/max"] == pytest.approx(cap)


@pytest.mark.parametrize("overrides", [
    {"generation_dtype": "float32"},  # the sampler computes what the trainer does
    {"generation_dtype": "bfloat16", "vllm_importance_sampling_correction": False},
], ids=["fp32-sampler", "correction-off"])
def test_no_correction_no_extra_pass(tmp_path, overrides):
    """Without a correction to make, num_iterations=1 still skips the old-log-prob pass. ~4 s."""
    trainer = _wired_trainer(tmp_path, **overrides)
    assert not trainer.sampler_correction_on()
    trainer.train()
    assert trainer.passes == []
    assert not SAMPLING_KEYS & set(trainer.kept["stats"])
    assert all("sampler_weights" not in s.tokens for s in trainer.kept["samples"])


# ------------------------------------------------------------------ config names
def test_trl_names_and_checks():
    from agents import GRPOConfig, RLOOConfig

    cfg = GRPOConfig()
    assert (cfg.vllm_importance_sampling_correction, cfg.vllm_importance_sampling_mode,
            cfg.vllm_importance_sampling_clip_max, cfg.vllm_importance_sampling_clip_min) == \
        (True, "sequence_mask", 3.0, None)  # TRL 1.16's defaults
    assert GRPOConfig.from_dict({"vllm_importance_sampling_cap": 2.5}) \
        .vllm_importance_sampling_clip_max == 2.5  # TRL's deprecated name
    with pytest.raises(ValueError, match="must be one of"):
        GRPOConfig(vllm_importance_sampling_mode="token")
    with pytest.raises(ValueError, match="needs a bound"):
        GRPOConfig(vllm_importance_sampling_clip_max=None)
    with pytest.raises(ValueError, match="must not exceed"):
        GRPOConfig(vllm_importance_sampling_clip_max=1.5, vllm_importance_sampling_clip_min=2.0)
    with pytest.raises(ValueError, match="positive"):
        GRPOConfig(vllm_importance_sampling_clip_max=-1.0)
    assert not RLOOConfig().vllm_importance_sampling_correction
    with pytest.raises(ValueError, match="TRL's RLOO has no sampler correction"):
        RLOOConfig(vllm_importance_sampling_correction=True)


@pytest.mark.parametrize(("verl", "expected"), [
    ({}, (False, "sequence_mask", 3.0, None)),  # verl's rollout_is=null: no correction
    ({"rollout_is": "token"}, (True, "token_truncate", 2.0, None)),  # verl threshold 2.0
    ({"rollout_is": "sequence", "rollout_is_threshold": 4}, (True, "sequence_truncate", 4.0,
                                                              None)),
    ({"rollout_is": "token", "rollout_is_threshold": "0.5_2.0"}, (True, "token_mask", 2.0, 0.5)),
    ({"rollout_is": "sequence", "rollout_is_threshold": "0.8_1.25"},
     (True, "sequence_mask", 1.25, 0.8)),
])
def test_verl_rollout_correction_names(verl, expected):
    from agents import GRPOConfig

    values = {"actor_rollout_ref.actor.clip_ratio": 0.2,
              **{f"algorithm.rollout_correction.{k}": v for k, v in verl.items()}}
    cfg = GRPOConfig.from_dict(values)
    assert cfg.semantics == "verl"
    assert (cfg.vllm_importance_sampling_correction, cfg.vllm_importance_sampling_mode,
            cfg.vllm_importance_sampling_clip_max, cfg.vllm_importance_sampling_clip_min) == expected


def test_verl_rollout_correction_refusals():
    from agents import GRPOConfig, PPOConfig

    rc = "algorithm.rollout_correction."
    with pytest.raises(ValueError, match="rollout_is"):
        GRPOConfig.from_dict({rc + "rollout_is": "geometric"})
    with pytest.raises(ValueError, match="rollout_is_threshold"):
        GRPOConfig.from_dict({rc + "rollout_is": "token", rc + "rollout_is_threshold": "2.0_1.0"})
    with pytest.raises(ValueError, match="rollout_is_threshold"):
        GRPOConfig.from_dict({rc + "rollout_is": "token", rc + "rollout_is_threshold": "x"})
    with pytest.raises(ValueError, match="rollout_rs"):
        GRPOConfig.from_dict({rc + "rollout_rs": "token_k1"})  # rejection sampling: not here
    with pytest.raises(ValueError, match="no effect in PPOConfig"):
        PPOConfig.from_dict({rc + "rollout_is": "token"})
    # a TRL name given next to verl's wins, as everywhere in from_dict
    cfg = GRPOConfig.from_dict({rc + "rollout_is": "token",
                                "vllm_importance_sampling_clip_max": 5.0})
    assert (cfg.vllm_importance_sampling_mode, cfg.vllm_importance_sampling_clip_max) == \
        ("token_truncate", 5.0)
