"""``GHPOTrainer``: GRPO whose all-wrong groups are sampled again with hints from the task's
reference solution (GHPO, arXiv 2507.10628; formulas in :mod:`agents.algorithms.ghpo`).

Per round, after the GRPO rollouts: every group in which no rollout passed, on a task that has
a reference solution (``task["solution"]``: GSM8K, MATH, Arithmetic-v0), is sampled again with
the first ``w`` of the solution appended to its question, for ``w`` in ``hint_ratios`` until a
stage yields a passing rollout; the group's rows are replaced by the last stage's. The hint is
part of the prompt ids, so the loss sees only the policy's own tokens. Everything else
(advantages, loss, KL, checkpoints) is GRPO's.

    rlenvs train --env rlenvs/Arithmetic-v0 --env-kwarg level=4 --algo ghpo \\
        --set 'hint_ratios=[0.25, 0.5, 0.75]'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from agents.algorithms.ghpo import (
    DEFAULT_HINT_RATIOS,
    HINT_INSTRUCTION,
    all_wrong_groups,
    check_hint_ratios,
    hint_prefix,
    reference_solution,
    with_hint,
)
from agents.rollout.branched import rollout_metrics
from agents.rollout.chain import Trajectory
from agents.trainers.config import GRPOConfig
from agents.trainers.grpo import GRPOTrainer

__all__ = ["GHPOConfig", "GHPOTrainer", "HintedEnv"]


@dataclass
class GHPOConfig(GRPOConfig):
    """GRPO settings plus GHPO's hint schedule.

    ``hint_ratios``: fraction of the reference solution shown at each stage (reference code:
    0.25, 0.5, 0.75); ``hint_start_step``: rounds starting before this optimizer step are plain
    GRPO (the reference code's ``start_hint_step``); ``hint_instruction``: the text between the
    question and the hint.
    """

    hint_ratios: tuple[float, ...] = DEFAULT_HINT_RATIOS
    hint_start_step: int = 0
    hint_instruction: str = HINT_INSTRUCTION

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.hint_ratios, (int, float)) or not hasattr(self.hint_ratios, "__iter__"):
            raise ValueError(f"hint_ratios must be a list of fractions, e.g. [0.25, 0.5, 0.75], "
                             f"got {self.hint_ratios!r}")
        self.hint_ratios = check_hint_ratios(self.hint_ratios)
        if not isinstance(self.hint_start_step, int) or self.hint_start_step < 0:
            raise ValueError(f"hint_start_step must be an integer >= 0, got "
                             f"{self.hint_start_step!r}")
        if not isinstance(self.hint_instruction, str):
            raise ValueError("hint_instruction must be a string")
        if getattr(self.rollout, "kind", self.rollout) != "chain":
            raise ValueError("GHPO re-samples whole groups; it needs rollout='chain'")
        if self.dynamic_sampling:
            raise ValueError("GHPO and DAPO's dynamic sampling both act on all-wrong groups "
                             "(GHPO hints them, dynamic sampling drops them); use one")


class GHPOTrainer(GRPOTrainer):
    """GRPO with GHPO's difficulty-aware hints (see the module docstring)."""

    config_class = GHPOConfig
    algorithm = "ghpo"
    config: GHPOConfig
    supports_branched_rollouts = False

    def _collect_groups(self) -> tuple[list[Trajectory], dict[str, Any]]:
        kept, extra = super()._collect_groups()
        if self.state.global_step < self.config.hint_start_step:
            return kept, extra
        kept, stats = self.guide(kept)
        return kept, {**extra, **stats}

    def guide(self, trajs: list[Trajectory]) -> tuple[list[Trajectory], dict[str, float]]:
        """``trajs`` with every all-wrong group that has a reference solution replaced by its
        hinted re-sampling (stages in ``hint_ratios`` order), and the ``ghpo/*`` metrics."""
        cfg = self.config
        order = list(dict.fromkeys(t.group for t in trajs))
        members: dict[int, list[Trajectory]] = {g: [] for g in order}
        for t in trajs:
            members[t.group].append(t)
        hard = all_wrong_groups([t.passed for t in trajs], [t.group for t in trajs])
        pending = {g: members[g][0].seed for g in hard
                   if reference_solution(members[g][0].task) is not None}
        ratio_of: dict[int, float] = {}
        resampled: list[Trajectory] = []
        for stage, ratio in enumerate(cfg.hint_ratios):
            if not pending:
                break
            groups = list(pending)
            seed = int(np.random.SeedSequence(
                [cfg.seed, self.state.next_prompt, stage + 1, 0x6770]).generate_state(1)[0])
            new = self.collector.collect(HintedEnv(self.env, ratio, cfg.hint_instruction),
                                         [int(pending[g]) for g in groups], cfg.num_generations,
                                         seed=seed, first_group=0)
            resampled.extend(new)
            size = cfg.num_generations
            for k, g in enumerate(groups):
                rows = new[k * size : (k + 1) * size]
                for t in rows:
                    t.group = g
                members[g] = rows
                ratio_of[g] = ratio
                if any(t.passed for t in rows):
                    del pending[g]
        if resampled:  # what the hints cost: counted in rollout/tokens_generated etc.
            spent = rollout_metrics(resampled)
            self._rollout_metrics.append(rollout_metrics(
                [], tokens_generated=int(spent["rollout/tokens_generated"]),
                tool_calls=int(spent["rollout/tool_calls"]),
                trajectories_generated=len(resampled),
                policy_turns=int(spent["rollout/policy_turns"])))
        rescued = sum(any(t.passed for t in members[g]) for g in ratio_of)
        stats = {
            "ghpo/hard_groups": float(len(hard)),
            "ghpo/no_solution_groups": float(len(hard) - len(ratio_of)),
            "ghpo/hinted_groups": float(len(ratio_of)),
            "ghpo/rescued_groups": float(rescued),
            "ghpo/hint_ratio_mean": float(np.mean(list(ratio_of.values()))) if ratio_of else 0.0,
            "ghpo/extra_completions": float(len(resampled)),
            "ghpo/pass_rate_unhinted": float(sum(t.passed for t in trajs) / max(len(trajs), 1)),
        }
        return [t for g in order for t in members[g]], stats


class HintedEnv:
    """An environment whose episodes show the hint: ``reset`` appends
    ``instruction + hint_prefix(task["solution"], ratio)`` to the first user message, and so
    does every ``step`` of its clones (so the conversation keeps growing as a prefix and
    multi-turn token bookkeeping holds). Only ``reset`` / ``unwrapped.clone()`` / ``step`` are
    offered: what :class:`agents.rollout.chain.RolloutCollector` uses."""

    def __init__(self, env: Any, ratio: float, instruction: str = HINT_INSTRUCTION) -> None:
        self.env = env
        self.ratio = ratio
        self.instruction = instruction
        self._hint: str | None = None

    @property
    def unwrapped(self) -> HintedEnv:
        return self

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        obs, info = self.env.reset(seed=seed, options=options)
        solution = reference_solution(info.get("task"))
        if solution is None:
            raise ValueError(f"task of seed {seed} has no reference solution (task['solution'])")
        self._hint = hint_prefix(solution, self.ratio)
        return with_hint(obs, self._hint, self.instruction), info

    def clone(self) -> _HintedEpisode:
        if self._hint is None:
            raise RuntimeError("reset the HintedEnv before cloning it")
        return _HintedEpisode(self.env.unwrapped.clone(), self._hint, self.instruction)


class _HintedEpisode:
    def __init__(self, env: Any, hint: str, instruction: str) -> None:
        self.env = env
        self.hint = hint
        self.instruction = instruction

    def step(self, action: str) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return with_hint(obs, self.hint, self.instruction), reward, terminated, truncated, info
