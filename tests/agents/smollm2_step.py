"""One short training step of a preset with SmolLM2 on CPU, for the algorithms' end-to-end tests:
what the step trained on and logged, and whether the weights moved."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from agents.run.metrics import read_metrics
from agents.run.presets import make_trainer


@dataclass
class StepRun:
    trainer: Any
    record: dict[str, Any]  # the train metrics record of the step
    samples: list[Any]  # what the step trained on (advantages, masks)
    stats: dict[str, Any]  # make_samples' rollout statistics
    trajectories: list[Any]  # the episodes collected
    moved: bool  # some weight changed


def smollm2_step(tmp_path: Any, algo: str, env: str, env_kwargs: dict[str, Any],
                 **settings: Any) -> StepRun:
    """One optimizer step of preset ``algo`` on ``env``: 12 completions (3 tasks × 4) of up to 48
    tokens, a float32 sampler (the trainer's own math: no sampler correction, on-policy ratios
    exactly 1), seed 0; ``settings`` override."""
    from agents import CausalLMPolicy

    policy = CausalLMPolicy.from_embedded()
    before = {k: v.detach().clone() for k, v in policy.named_parameters()}
    config = {**dict(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=12,
                     num_generations=4, max_completion_length=48, learning_rate=1e-5,
                     progress=False, save_final_checkpoint=False, seed=0,
                     generation_dtype="float32"), **settings}
    trainer = make_trainer(algo, policy, env, config, env_kwargs=env_kwargs)
    seen: dict[str, Any] = {}
    collect, make_samples = trainer.collect, trainer.make_samples

    def spy_collect(n: int) -> Any:
        seen["trajectories"] = collect(n)
        return seen["trajectories"]

    def spy_make_samples() -> Any:
        seen["samples"], seen["stats"] = make_samples()
        return seen["samples"], seen["stats"]

    trainer.collect, trainer.make_samples = spy_collect, spy_make_samples
    summary = trainer.train()
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    after = dict(policy.named_parameters())
    moved = any(not torch.equal(v, after[k]) for k, v in before.items())
    return StepRun(trainer, record, seen["samples"], seen["stats"], seen["trajectories"], moved)
