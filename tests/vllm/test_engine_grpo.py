"""One GRPO step on SmolLM2 with ``use_vllm=True``: the trainer starts a real vLLM engine,
samples with it, trains on exactly its ids and pushes the new weights back into it."""

from __future__ import annotations

import math

import pytest

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
    chat = ChatTokenizer(trainer.policy.tokenizer)
    prompts = [chat.prompt_ids([{"role": "user", "content": q}])
               for q in ("What is 12 + 30?", "What is 5 * 6?")]
    assert_engine_follows(trainer, before, prompts, max_gap=1e-3)
