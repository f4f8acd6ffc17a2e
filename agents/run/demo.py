"""A few-minute GRPO demo: SmolLM2-135M-Instruct learns level-1 arithmetic on CPU.

The trap it avoids: with a strict binary reward SmolLM2 almost never writes ``\\boxed{}``, every
group has zero reward variance and GRPO gets no gradient. The demo uses the environment's dense
options — ``lenient=True`` (the last number counts as the answer), ``format_credit=0.1`` (a wrong
but boxed answer earns 0.1) — under a ``dense_then_binary`` schedule that switches to the plain
pass/fail reward after ``switch_step`` steps (or once the running success rate reaches
``switch_success_rate``); the metrics log the stage of every step.

Greedy held-out accuracy is measured before and after on task seeds far from the training ones
(``eval_seed`` = 10,000,000 onwards), and the curves are drawn to ``curves.png``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

__all__ = ["run_training_demo", "DEMO_ENV", "demo_env_kwargs", "demo_config", "LONG_DEMO_MINUTES"]

DEMO_ENV = "rlenvs/Arithmetic-v0"


def demo_env_kwargs(switch_step: int = 12, switch_success_rate: float = 0.75) -> dict[str, Any]:
    """Level-1 arithmetic with lenient answers, format credit and a dense→binary schedule."""
    return {
        "level": 1,
        "lenient": True,
        "format_credit": 0.1,
        "reward": {"name": "dense_then_binary", "switch_step": switch_step,
                   "switch_success_rate": switch_success_rate},
    }


# From this many minutes on, the demo trains with its long-budget settings (demo_config).
LONG_DEMO_MINUTES = 10.0


def demo_config(out_dir: str | Path, minutes: float, seed: int, eval_episodes: int) -> Any:
    """The demo's GRPO settings (TRL names) for a budget of ``minutes``: LoRA-sized learning
    rate, bf16 autocast where the CPU runs bf16 natively (``bf16="auto"``; fp32 on an AVX2-only
    CPU, where it is ~17x faster).

    Short budgets (under ``LONG_DEMO_MINUTES``): a round samples 4 prompts x 6 completions and
    takes 3 optimizer steps of 8 completions on them (TRL's ``steps_per_generation``; the later
    two are off-policy, clipped against the round's log-probs), at a constant 2e-4. On this 2-core
    CPU a round took ~20-25 s: 4 minutes held 30 steps and held-out accuracy went 0.55 -> 0.70.

    Longer budgets: run that way, entropy collapses (2.1 -> 0.16 by step ~50), every group is all
    right or all wrong, and the held-out result becomes a coin toss per seed (16 minutes, 3 seeds:
    +0.10 +- 0.17). The model's blind spot is negative results (greedy: 0 of 26 right; sampled at
    T=1 ~3% of the time, for ``0 - x`` only), so what is left to learn needs exploration. The long
    settings are DAPO's: groups of 16 (2 prompts a round, 2 steps of 16), dynamic sampling (groups
    with one reward for all are dropped and more prompts drawn, so every step learns from
    problems at the edge of what the policy can do), clip-higher (``epsilon_high=0.28``) against
    the entropy collapse, and a learning rate decaying linearly to 0 over the time budget.
    AVX2-only CPU, 2 threads, 18.5 minutes, 3 seeds, 200 held-out episodes: 0.535 -> 0.908,
    +0.373 +- 0.040 in 162-164 steps (``benchmarks/results/demo_seeds_avx2_long.json``)."""
    from agents.trainers.config import GRPOConfig

    common = dict(
        output_dir=str(out_dir),
        max_steps=1000,  # the time budget ends the run
        max_time_s=max(30.0, minutes * 60.0),
        learning_rate=2e-4,
        gradient_accumulation_steps=1,
        max_completion_length=64,
        temperature=1.0,
        beta=0.0,
        loss_type="dapo",
        scale_rewards="group",
        bf16="auto",
        seed=seed,
        train_seed=seed * 100_000,
        eval_episodes=eval_episodes,
        eval_max_new_tokens=128,
        save_steps=0,
        save_final_checkpoint=False,
    )
    if minutes < LONG_DEMO_MINUTES:
        return GRPOConfig(**common, per_device_train_batch_size=8, steps_per_generation=3,
                          num_generations=6)
    return GRPOConfig(**common, per_device_train_batch_size=16, steps_per_generation=2,
                      num_generations=16, lr_scheduler_type="linear", epsilon_high=0.28,
                      dynamic_sampling=True)


def run_training_demo(out_dir: str | Path = "runs/demo", minutes: float = 4.0, seed: int = 0,
                      eval_episodes: int = 60, progress: bool = True,
                      threads: int | None = None, overwrite: bool = True) -> dict[str, Any]:
    """Train SmolLM2 with GRPO for about ``minutes`` (plus two evaluations) and report.

    ``overwrite``: replace a previous run in ``out_dir`` (``False``: refuse, as ``train``
    does without ``--overwrite``). ``threads``: torch CPU threads. ``None`` keeps torch's
    default unless the machine is already busy, where one thread is used
    (:func:`rlenvs.suite.threads_for_load`).

    Returns a dict with ``accuracy_before`` / ``accuracy_after`` (greedy, held-out),
    ``steps``, ``switched_at`` (step of the dense→binary switch, or ``None``), ``minutes``,
    and the paths of ``metrics``, ``plot`` and ``summary`` (``demo_summary.json``).
    """
    import torch

    from agents.policy import CausalLMPolicy, LoraSettings
    from agents.trainers.grpo import GRPOTrainer

    if minutes <= 0:
        raise ValueError("minutes must be > 0")
    if threads is None:
        from rlenvs.suite import threads_for_load

        threads = threads_for_load()
    if threads is not None:
        torch.set_num_threads(threads)
    out_dir = Path(out_dir)
    started = time.perf_counter()
    torch.manual_seed(seed)
    config = demo_config(out_dir, minutes, seed, eval_episodes)
    config.progress = progress
    config.overwrite_output_dir = overwrite
    policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
    trainer = GRPOTrainer(policy, DEMO_ENV, config, env_kwargs=demo_env_kwargs())
    summary = trainer.train()
    evals = summary["evals"]
    schedule = trainer.reward_schedule
    result: dict[str, Any] = {
        "env_id": DEMO_ENV,
        "env_kwargs": demo_env_kwargs(),
        "seed": seed,
        "threads": torch.get_num_threads(),
        "steps": summary["steps"],
        "minutes": (time.perf_counter() - started) / 60.0,
        "accuracy_before": evals[0]["eval/pass@1"] if evals else None,
        "accuracy_after": evals[-1]["eval/pass@1"] if len(evals) > 1 else None,
        "eval_episodes": eval_episodes,
        "eval_seed": config.eval_seed,
        "switched_at": getattr(schedule, "switched_at", None),
        "last_train": {k: summary["last"].get(k) for k in ("reward", "pass_rate", "stage",
                                                           "frac_reward_zero_std")},
        "metrics": summary["metrics"],
    }
    try:
        from agents.run.plot import plot_run

        result["plot"] = str(plot_run(out_dir, title="GRPO: SmolLM2-135M on Arithmetic level 1"))
    except ImportError as e:
        result["plot"] = None
        result["plot_error"] = str(e)
    path = out_dir / "demo_summary.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    result["summary"] = str(path)
    return result
