"""What the engine tests share: the trainer's own log-probabilities of given ids, and a
recording wrapper around a real engine."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import torch

from judges.llm.sampler import Generation, SamplingConfig


def trainer_logprobs(policy: Any, prompt: Sequence[int], completion: Sequence[int],
                     temperature: float = 1.0) -> torch.Tensor:
    """The trainer's forward (:meth:`CausalLMPolicy.forward`) on ``prompt + completion``
    (with gradient unless the caller turns it off)."""
    ids = torch.tensor([list(prompt) + list(completion)])
    positions = torch.arange(ids.shape[1])[None]
    out = policy(ids, torch.ones_like(ids), positions, len(completion), temperature=temperature)
    return out.logprobs[0]


def logprob_gaps(policy: Any, prompts: Sequence[Sequence[int]], gens: Sequence[Generation],
                 temperature: float) -> torch.Tensor:
    """|engine log-prob - trainer log-prob| of every generated token, concatenated."""
    gaps = []
    with torch.no_grad():
        for prompt, gen in zip(prompts, gens, strict=True):
            ours = trainer_logprobs(policy, prompt, gen.token_ids, temperature)
            gaps.append((ours - torch.tensor(gen.logprobs)).abs())
    return torch.cat(gaps)


def report(name: str, gaps: torch.Tensor) -> dict[str, float]:
    """Max / mean of ``gaps``, printed and appended to ``$RLENVS_VLLM_REPORT`` (test_launch.py
    shows that file: the measured log-prob agreement)."""
    numbers = {"max_abs_diff": float(gaps.max()), "mean_abs_diff": float(gaps.mean()),
               "tokens": int(gaps.numel())}
    print(f"\nlogprob agreement [{name}]: {json.dumps(numbers)}")
    out = os.environ.get("RLENVS_VLLM_REPORT")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"check": name, **numbers}) + "\n")
    return numbers


class Recorder:
    """Passes calls to a real engine and keeps every (prompt, generation) it returned."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[tuple[int, ...], Generation]] = []

    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingConfig,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        gens = self.inner.generate(prompts, config, seed, **kwargs)
        self.calls.extend((tuple(p), g) for p, g in zip(prompts, gens, strict=True))
        return gens

    def sync_weights(self, model: Any) -> None:
        self.inner.sync_weights(model)


def grpo_trainer_with_vllm(env: str, output_dir: Any, **overrides: Any) -> tuple[Any, Any]:
    """A one-step GRPO trainer on SmolLM2 with ``use_vllm=True`` (it starts its own engine, or
    connects to a server with ``vllm_mode="server"``), its sampling recorded
    (:class:`Recorder`), the trajectories it trains on kept in ``trainer.kept_trajectories`` and
    the samples made of them in ``trainer.kept_samples``. Returns ``(trainer, a copy of the
    policy before the step)``.
    """
    import copy

    from agents import GRPOConfig, GRPOTrainer
    from agents.policy import CausalLMPolicy

    values = dict(output_dir=str(output_dir), max_steps=1, num_generations=2,
                  per_device_train_batch_size=4, max_completion_length=8, learning_rate=1e-4,
                  temperature=1.0, use_vllm=True, save_final_checkpoint=False, progress=False,
                  eval_episodes=0, seed=0,
                  # SmolLM2's 8-token replies often all score 0 (no advantage, no update): the
                  # entropy bonus makes the step move the weights whatever the rewards
                  entropy_coef=0.05)
    values.update(overrides)
    policy = CausalLMPolicy.from_embedded()
    before = copy.deepcopy(policy)
    trainer = GRPOTrainer(policy, env, GRPOConfig(**values))
    trainer.collector.backend = Recorder(trainer.collector.backend)
    trainer.kept_trajectories = []
    collect = trainer.collect

    def keep(num_prompts: int) -> Any:
        trajs = collect(num_prompts)
        trainer.kept_trajectories.extend(trajs)
        return trajs

    trainer.collect = keep
    trainer.kept_samples = []
    make_samples = trainer.make_samples

    def keep_samples() -> Any:
        samples, stats = make_samples()
        trainer.kept_samples.extend(samples)
        return samples, stats

    trainer.make_samples = keep_samples
    return trainer, before


def assert_turns_were_sampled(trajs: Sequence[Any],
                              calls: Sequence[tuple[tuple[int, ...], Generation]]) -> int:
    """Token in, token out: each turn's policy ids (and their log-probs) are one generation
    of the engine, sampled from exactly the ids before them in the trajectory; every
    generation is used once. Returns the number of turns checked."""
    unused = list(calls)
    assert trajs, "nothing was collected"
    turns = 0
    for t in trajs:
        start = 0
        for end in t.turn_ends:
            mask = t.policy_mask[start : end + 1]
            ids = [i for i, m in zip(t.completion_ids[start : end + 1], mask, strict=True) if m]
            first = start + mask.index(1)
            context = tuple(t.prompt_ids + t.completion_ids[:first])
            match = [c for c in unused if c[0] == context and c[1].token_ids == ids]
            assert match, "trained ids that the engine did not sample from that context"
            logps = [lp for lp, m in zip(t.sampler_logprobs[start : end + 1], mask,
                                         strict=True) if m]
            assert logps == match[0][1].logprobs
            unused.remove(match[0])
            turns += 1
            start = end + 1
    assert not unused, "a sampled turn is missing from the trajectories"
    return turns


def assert_engine_follows(trainer: Any, before: Any, prompts: Sequence[Sequence[int]],
                          max_gap: float) -> float:
    """After the step, the engine's log-probs are the updated policy's, not the old one's;
    returns the max gap to the updated policy."""
    greedy = SamplingConfig(max_new_tokens=8, temperature=0.0)
    gens = trainer.backend.generate(prompts, greedy)
    now = float(logprob_gaps(trainer.policy, prompts, gens, 1.0).max())
    old = float(logprob_gaps(before, prompts, gens, 1.0).max())
    print(f"\nengine after the step: max log-prob gap to the updated policy {now:.2e}, to the "
          f"policy before the step {old:.2e}")
    assert now < max_gap, f"engine vs updated policy: max gap {now}"
    assert old > now + max_gap, f"the step did not reach the engine (old {old}, new {now})"
    return now
