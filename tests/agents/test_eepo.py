"""EEPO (arXiv 2510.05837): the complementary loss and its gradient against values derived by
hand from the paper's definition, the unlearning update, the entropy trigger, and the
sample-then-forget rollout itself (stage 2 is sampled from the unlearned weights, which are
then restored bit for bit); one short SmolLM2 run through ``rlenvs train --algo eepo``."""

from __future__ import annotations

import math

import pytest
import torch

from agents.algorithms.eepo import complementary_loss, forget_update, should_forget
from agents.rollout.batch import collate
from agents.trainers.eepo import EEPOConfig, EEPOTrainer
from agents.trainers.grpo import trajectory_sample
from tests.agents.toy_envs import tiny_policy

# ----------------------------------------------------------------- the paper's definitions

def test_complementary_loss_values():
    # L_c = (1/N) sum -log(1 - p): p = 0.9, 0.5, 0.1 -> 2.302585, 0.693147, 0.105361
    logp = torch.log(torch.tensor([[0.9, 0.5], [0.1, 0.7]]))
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    expected = (2.302585093 + 0.693147181 + 0.105360516) / 3
    assert complementary_loss(logp, mask).item() == pytest.approx(expected, rel=1e-6)
    assert complementary_loss(logp, torch.zeros_like(mask)).item() == 0.0
    # p = 1 does not blow up: -log(1 - exp(-1e-6)) = -log(1e-6 - 5e-13) ~ 13.8155
    assert complementary_loss(torch.zeros(1, 1), torch.ones(1, 1)).item() == \
        pytest.approx(13.8155, abs=1e-3)
    with pytest.raises(ValueError, match="differ"):
        complementary_loss(logp, mask[:, :1])


def test_complementary_loss_pushes_hardest_on_confident_tokens():
    """d/dz_y [-log(1 - softmax(z)_y)] = p_y (the sampled token's logit), while gradient
    ascent on log p_y has 1 - p_y there: the complementary loss suppresses the dominant mode."""
    for p in (0.9, 0.5, 0.1):
        z = torch.log(torch.tensor([p, 1 - p])).requires_grad_(True)
        complementary_loss(torch.log_softmax(z, -1)[:1].view(1, 1), torch.ones(1, 1)).backward()
        assert z.grad[0].item() == pytest.approx(p, abs=1e-5)
        assert z.grad[1].item() == pytest.approx(-p, abs=1e-5)
        z2 = torch.log(torch.tensor([p, 1 - p])).requires_grad_(True)
        torch.log_softmax(z2, -1)[0].backward()   # gradient ascent minimises log p_y
        assert z2.grad[0].item() == pytest.approx(1 - p, abs=1e-5)


def test_forget_update_values():
    theta, grad = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, -0.001, 0.0])
    # first Adam step: m_hat = g, v_hat = g^2 -> theta - lr * g / (|g| + eps)
    out = forget_update(theta, grad, 0.1, "adam", eps=1e-8)
    assert out.tolist() == pytest.approx([1.0 - 0.1 * 0.5 / (0.5 + 1e-8),
                                          -2.0 + 0.1 * 0.001 / (0.001 + 1e-8), 0.5], abs=1e-7)
    assert forget_update(theta, grad, 0.1, "sgd").tolist() == pytest.approx([0.95, -1.9999, 0.5])
    with pytest.raises(ValueError, match="unlearning update"):
        forget_update(theta, grad, 0.1, "rmsprop")
    assert should_forget(0.2, 0.5) and not should_forget(0.7, 0.5) and should_forget(9.0, None)


def test_config_checks():
    cfg = EEPOConfig(num_generations=5, per_device_train_batch_size=5)
    assert cfg.stage_sizes == (2, 3)
    assert EEPOConfig(num_generations=4, per_device_train_batch_size=4,
                      first_stage_size=1).stage_sizes == (1, 3)
    for bad, match in [({"first_stage_size": 4}, "first_stage_size"),
                       ({"unlearning_rate": -1.0}, "unlearning_rate"),
                       ({"unlearning_update": "rmsprop"}, "unlearning_update"),
                       ({"entropy_threshold": "low"}, "entropy_threshold")]:
        with pytest.raises(ValueError, match=match):
            EEPOConfig(num_generations=4, per_device_train_batch_size=4, **bad)


# ----------------------------------------------------------------- sample, forget, restore

def _trainer(tmp_path, **overrides):
    settings = dict(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4,
                    gradient_accumulation_steps=2, num_generations=4, max_completion_length=8,
                    learning_rate=1e-3, progress=False, generation_dtype="float32",
                    save_final_checkpoint=False, unlearning_rate=0.05)
    config = EEPOConfig(**{**settings, **overrides})
    return EEPOTrainer(tiny_policy(seed=3, letters_only=True), "agents-test/Uppercase-v0",
                       config)


def _logps(trainer, trajs):
    samples = [trajectory_sample(t) for t in trajs]
    mb = collate(samples, trainer.pad_token_id, list(range(len(samples))))
    with torch.no_grad():
        out = trainer.policy(mb.input_ids, mb.attention_mask, mb.position_ids,
                             mb.completion_width, temperature=trainer._temperature)
    rows = []
    for i, t in enumerate(trajs):
        n = len(t.completion_ids)
        rows.append((out.logprobs[i, :n], torch.tensor(t.sampler_logprobs), mb.mask[i, :n]))
    return rows


def test_stage_two_is_sampled_from_the_unlearned_weights_which_are_then_restored(tmp_path):
    trainer = _trainer(tmp_path)
    before = {k: v.detach().clone() for k, v in trainer.policy.named_parameters()}
    trajs = trainer.collect(2)
    assert [t.group for t in trajs] == [0, 0, 0, 0, 1, 1, 1, 1]
    after = dict(trainer.policy.named_parameters())
    assert all(torch.equal(v, after[k]) for k, v in before.items()), "theta not restored"
    stats = trainer._eepo_stats[-1]
    assert stats["eepo/forgot"] == 1.0 and stats["eepo/complementary_loss"] > 0
    # stage 1 (rows 0-1 of each group) was sampled by theta: the sampler's log-probs are the
    # restored policy's. Stage 2 (rows 2-3) came from theta': its engine log-probs are not
    # theta's and are dropped (NaN), so no sampler correction reweights those rows
    first = [t for k, t in enumerate(trajs) if k % 4 < 2]
    second = [t for k, t in enumerate(trajs) if k % 4 >= 2]
    for logp, sampled, mask in _logps(trainer, first):
        assert torch.allclose(logp[mask > 0], sampled[mask > 0], atol=1e-4)
    assert all(math.isnan(x) for t in second for x in t.sampler_logprobs)
    # same seeds without forgetting: the same stage 1, a different stage 2
    plain = _trainer(tmp_path, unlearning_rate=0.0).collect(2)
    same = [t.completion_ids for k, t in enumerate(plain) if k % 4 < 2]
    assert same == [t.completion_ids for t in first]
    differ = [a.completion_ids != b.completion_ids
              for a, b in zip(second, [t for k, t in enumerate(plain) if k % 4 >= 2],
                              strict=True)]
    assert sum(differ) >= 2, differ
    # and the sampler is back on theta: a fresh sample matches theta's log-probs again
    again = trainer.collector.collect(trainer.env, [99], 2, seed=5)
    for logp, sampled, mask in _logps(trainer, again):
        assert torch.allclose(logp[mask > 0], sampled[mask > 0], atol=1e-4)


def test_the_forgetting_step_lowers_the_likelihood_of_the_first_stage(tmp_path):
    trainer = _trainer(tmp_path)
    first = trainer.collector.collect(trainer.env, [0, 1], 2, seed=1)
    mean = lambda rows: float(torch.cat([lp[m > 0] for lp, _, m in rows]).mean())  # noqa: E731
    base = mean(_logps(trainer, first))
    snapshot, stats = trainer.forget(first)
    assert snapshot is not None
    unlearned = mean(_logps(trainer, first))
    trainer.restore(snapshot)
    assert unlearned < base - 1e-3, (base, unlearned)
    assert mean(_logps(trainer, first)) == pytest.approx(base, abs=1e-6)
    # the trigger's input is the mean token entropy of the first stage under theta
    assert 0.0 < stats["eepo/stage1_entropy"] <= math.log(len(trainer.policy.tokenizer))


def test_no_forgetting_above_the_entropy_threshold_or_at_rate_zero(tmp_path):
    for overrides in ({"entropy_threshold": 0.0}, {"unlearning_rate": 0.0}):
        trainer = _trainer(tmp_path, **overrides)
        trajs = trainer.collect(1)
        assert trainer._eepo_stats[-1]["eepo/forgot"] == 0.0
        for logp, sampled, mask in _logps(trainer, trajs):  # every row is theta's
            assert torch.allclose(logp[mask > 0], sampled[mask > 0], atol=1e-4)


def test_the_sampler_correction_leaves_the_unlearned_rows_alone(tmp_path):
    """A bf16 engine turns GRPO's sampler correction on; EEPO's stage-2 rows (drawn from
    theta' on purpose) get weight 1 on every token, as the paper trains them."""
    trainer = _trainer(tmp_path, generation_dtype="bfloat16")
    assert trainer.sampler_correction_on()
    samples, stats = trainer.make_samples()
    assert stats["eepo/forgot"] == 1.0 and len(samples) == 8
    # on-policy: the weights are made in the loss from the training forward (issue 29): take
    # the round's optimizer steps and read the weights each row got (the deferred rows name
    # their position in the step's samples)
    got = {}
    for indices in trainer.plan(samples):
        trainer._deferred = []
        trainer.prepare_step(samples, indices)
        trainer._optimizer_step([samples[i] for i in indices])
        for row, _, sampler, _, weights in trainer._deferred:
            got[indices[row]] = (sampler, weights)
    assert sorted(got) == list(range(len(samples)))
    for k, s in enumerate(samples):
        sampler, weights = got[k]
        n = len(s.mask)
        if k % 4 >= 2:
            assert torch.isnan(sampler[:n]).all(), k
            assert torch.all(weights[:n] == 1.0), k
        else:  # stage-1 rows carry the engine's log-probs and are corrected
            assert not torch.isnan(sampler[:n]).any(), k


def test_eepo_trains_end_to_end_with_its_metrics(tmp_path):
    from agents.run.metrics import read_metrics

    summary = _trainer(tmp_path, max_steps=2).train()
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    assert [r["step"] for r in records] == [1, 2]
    for r in records:
        assert r["eepo/forgot"] == 1.0 and r["num_completions"] == 8
        for key in ("eepo/stage1_nll", "eepo/stage2_nll", "eepo/stage1_distinct",
                    "eepo/stage2_distinct", "entropy"):
            assert math.isfinite(r[key])


@pytest.mark.slow
def test_eepo_end_to_end_on_smollm2(tmp_path):
    """``rlenvs train --algo eepo``: one step of SmolLM2 + LoRA on level-1 arithmetic (about a
    minute on two shared cores). Stage 2 comes from the unlearned weights; the run can fail to
    improve anything -- it must run and log."""
    from agents.cli import main
    from agents.run.metrics import read_metrics

    code = main(["train", "rlenvs/Arithmetic-v0", "--algo", "eepo", "--steps", "1", "--lora",
                 "--batch-size", "4", "--num-generations", "4", "--max-new-tokens", "48",
                 "--env-kwarg", "level=1", "--env-kwarg", "lenient=true", "--out-dir",
                 str(tmp_path), "--quiet", "--no-plot", "--set", "save_final_checkpoint=false",
                 "--set", "unlearning_rate=1e-3", "--lr", "2e-4"])
    assert code == 0
    record = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"][-1]
    assert record["step"] == 1 and record["eepo/forgot"] == 1.0
    assert record["eepo/complementary_loss"] > 0 and math.isfinite(record["entropy"])
