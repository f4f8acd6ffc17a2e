"""One GRPO step on SmolLM2 with ``use_vllm=True``: the trainer starts a real vLLM engine,
samples with it, trains on exactly its ids, weights the loss by the sampler correction (TRL's
default ``sequence_mask``, cap 3) computed from the engine's log-probs, and pushes the new
weights back into it."""

from __future__ import annotations

import math

import pytest
import torch

from agents.rollout.chat_tokens import ChatTokenizer
from judges.llm.vllm_backend import VLLMSampler
from tests.vllm.helpers import (
    assert_engine_follows,
    assert_turns_were_sampled,
    grpo_trainer_with_vllm,
)

pytestmark = pytest.mark.slow


def test_one_grpo_step_with_vllm(tmp_path):
    trainer, before = grpo_trainer_with_vllm("rlenvs/Arithmetic-v0", tmp_path)
    assert isinstance(trainer.backend, VLLMSampler)
    summary = trainer.train()
    assert trainer.state.global_step == 1
    assert math.isfinite(float(summary["last"]["loss"])), summary
    assert assert_turns_were_sampled(trainer.kept_trajectories,
                                      trainer.collector.backend.calls) == 4
    _assert_sampler_correction(trainer, summary)
    chat = ChatTokenizer(trainer.policy.tokenizer)
    prompts = [chat.prompt_ids([{"role": "user", "content": q}])
               for q in ("What is 12 + 30?", "What is 5 * 6?")]
    assert_engine_follows(trainer, before, prompts, max_gap=1e-3)


def _assert_sampler_correction(trainer, summary):
    """Each row's weight is TRL's sequence_mask ratio exp(sum(old - engine)) (0 above the cap)
    on its policy tokens, by hand from the engine's log-probs; where the engines disagree it is
    not 1; the metrics are in metrics.jsonl."""
    from agents.run.metrics import read_metrics

    assert trainer.sampler_correction_on()
    cfg = trainer.config
    assert (cfg.vllm_importance_sampling_mode, cfg.vllm_importance_sampling_clip_max) == \
        ("sequence_mask", 3.0)
    rows = list(zip(trainer.kept_trajectories, trainer.kept_samples, strict=True))
    assert len(rows) == 4
    # on-policy (one update per sample): the old log-probs are the training forward's own and
    # the weights are made in the loss (issue 29); the round's one optimizer step kept them
    assert trainer.defer_correction() and [sorted(r[0] for r in trainer._deferred)] == \
        [list(range(4))]
    made = {r[0]: r for r in trainer._deferred}
    gaps = []
    for k, (t, s) in enumerate(rows):
        mask = s.mask
        n = len(mask)
        _, old, sampler, _, weights = made[k]
        torch.testing.assert_close(sampler[:n], torch.tensor(t.sampler_logprobs))
        diff = (old[:n] - torch.tensor(t.sampler_logprobs)) * mask
        ratio = float(torch.exp(diff.sum()))
        expected = (ratio if ratio <= 3.0 else 0.0) * mask
        torch.testing.assert_close(weights[:n], expected, rtol=1e-6, atol=1e-9)
        if mask.any():
            assert (weights[:n][mask > 0] != 1.0).all() == bool(diff.sum() != 0)
        gaps.append(float(diff.abs().max()))
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    assert record["sampling/sampling_logp_difference/max"] == pytest.approx(max(gaps))
    assert 0 < max(gaps) < 1e-3  # fp32 engine vs fp32 trainer: kernels differ, math does not
    for key in ("min", "mean", "max"):
        assert record[f"sampling/importance_sampling_ratio/{key}"] == pytest.approx(1.0, abs=1e-2)
