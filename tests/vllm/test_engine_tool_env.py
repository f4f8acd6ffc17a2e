"""One GRPO step with ``use_vllm=True`` on a multi-turn tool environment: every turn's ids are
the ids vLLM sampled from exactly the ids before them (tool results appended as ids, nothing
re-tokenized), and the step reaches the engine."""

from __future__ import annotations

import math

import pytest

from agents.rollout.chat_tokens import ChatTokenizer
from tests.vllm.helpers import (
    assert_engine_follows,
    assert_turns_were_sampled,
    grpo_trainer_with_vllm,
)

pytestmark = pytest.mark.slow


def test_one_tool_env_step_with_vllm(tmp_path):
    trainer, before = grpo_trainer_with_vllm(
        "rlenvs/ToolMath-v0", tmp_path, max_completion_length=32, max_episode_tokens=200)
    summary = trainer.train()
    assert trainer.state.global_step == 1
    assert math.isfinite(float(summary["last"]["loss"])), summary
    turns = assert_turns_were_sampled(trainer.kept_trajectories,
                                      trainer.collector.backend.calls)
    print(f"\ntool env: {turns} turns over {len(trainer.kept_trajectories)} episodes")
    assert turns >= len(trainer.kept_trajectories)
    chat = ChatTokenizer(trainer.policy.tokenizer)
    prompts = [chat.prompt_ids([{"role": "user", "content": "Use the calculator: 17 * 23"}])]
    assert_engine_follows(trainer, before, prompts, max_gap=1e-3)
