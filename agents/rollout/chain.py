"""Collect groups of episodes from any rlenvs environment, token by token.

For every prompt seed the environment is ``reset(seed=...)`` once and ``num_generations``
independent copies are made with ``env.unwrapped.clone()`` (a GRPO group = one task, G tries).
All copies still running are advanced together, one turn per round, with one batched call to the
generation backend, until each episode is terminated or truncated (multi-turn works the same as
single-turn). The environment is used only through ``reset`` / ``step`` / ``clone``.

A :class:`Trajectory` keeps everything the algorithms need: the prompt ids, every later id with a
mask saying who produced it (1 = the policy, 0 = the environment: template glue, user and tool
messages of later turns), the sampler's log-probability of each policy token, each turn's reward
and where the turn ended, and ``info["step_rewards"]`` (process reward) mapped to token positions.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents.rollout.chat_tokens import ChatTokenizer
from agents.rollout.deadline import (
    SCORED,
    UNSCORED,
    Deadline,
    EpisodeClock,
    StepTimeout,
    call_within,
    step_status,
    timed_step,
)
from judges.llm.sampler import GenerationBackend, SamplingConfig

__all__ = ["Trajectory", "RolloutCollector", "step_token_ends"]


@dataclass
class Trajectory:
    """One episode as tokens.

    Attributes:
        group: index of the prompt (group) this episode belongs to.
        seed: the ``reset`` seed of its task.
        prompt_ids: ids of the first observation plus the generation prompt.
        completion_ids: every later id, policy and environment tokens interleaved.
        policy_mask: 1 where the policy sampled the id, 0 where the environment added it.
        sampler_logprobs: the sampler's log-probability of each id (0.0 on environment ids).
        turn_ends: index into ``completion_ids`` of the last policy id of each turn.
        rewards: the reward of each turn (``env.step``'s reward).
        step_rewards: per turn, ``info["step_rewards"]`` or ``None``.
        step_ends: per turn, the completion index where each of those steps ends (or ``None``).
        terminated / truncated: how the episode ended (``truncated`` also when the rollout's
            token budget ran out).
        stopped: the last reply ended with a stop token (not cut off by the length limit).
        infos: ``info`` of every step.
        task: the task (from ``reset``'s info).
        messages: the final conversation.
        advantages: per completion id, an advantage fixed by the rollout itself (Tree-GRPO's
            tree advantage, ARPO's attribution); ``None`` (chain) lets the trainer compute group
            advantages.
        loss_mask: per completion id, the loss mask when it differs from ``policy_mask`` (ARPO
            hard attribution trains a shared turn in one row only); ``None``: ``policy_mask``.
        status: ``"scored"`` when every step's reward was a judgement, ``"unscored"`` when one
            was a fault (judge backend, sandbox, tool, env) or the episode ran past its
            wall-clock budget (:mod:`agents.rollout.deadline`); trainers never learn from it.
        cause: the first fault's cause (``judges.verdict.CAUSES``), ``None`` when scored.
        fault: what that fault was (the verdict's reason or the rollout's own note).
        attempts: how many times the episode was generated (retries of unscored episodes).
        policy_version: the trainer's round whose weights sampled it (asynchronous rollouts,
            :mod:`agents.run.async_rollouts`); ``None`` in-process.
    """

    group: int
    seed: int | None
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    policy_mask: list[int] = field(default_factory=list)
    sampler_logprobs: list[float] = field(default_factory=list)
    turn_ends: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    step_rewards: list[list[float] | None] = field(default_factory=list)
    step_ends: list[list[int] | None] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    stopped: bool = True
    infos: list[dict[str, Any]] = field(default_factory=list)
    task: Any = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    advantages: list[float] | None = None
    loss_mask: list[int] | None = None
    status: str = SCORED
    cause: str | None = None
    attempts: int = 1
    fault: str | None = None
    policy_version: int | None = None

    @property
    def scored(self) -> bool:
        return self.status != UNSCORED

    def record_status(self, info: dict[str, Any]) -> None:
        """Fold one step's ``reward_status`` into the episode's (the first fault stays)."""
        status, cause = step_status(info)
        if status == UNSCORED and self.scored:
            self.status, self.cause = UNSCORED, cause
            self.fault = str(info.get("rollout_fault") or
                             getattr(info.get("verdict"), "reason", "") or cause)

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    @property
    def passed(self) -> bool:
        """Whether the last scored reply passed its judge."""
        if not self.infos:
            return False
        verdict = self.infos[-1].get("verdict")
        return bool(getattr(verdict, "passed", False))

    @property
    def num_policy_tokens(self) -> int:
        return int(sum(self.policy_mask))

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


class RolloutCollector:
    """Runs groups of episodes with a generation backend.

    Args:
        backend: the inference engine (:class:`judges.llm.sampler.TorchSampler`, vLLM, ...).
        chat: chat-template bookkeeping for the policy's tokenizer.
        sampling: per-turn sampling settings (``max_new_tokens`` = TRL ``max_completion_length``).
        max_episode_tokens: cap on all ids after the prompt (policy + environment) per episode;
            an episode that reaches it is truncated. ``None``: only the env's own limits.
        episode_timeout_s: wall-clock budget of one episode (the batched generations it takes
            part in and its own env calls, :class:`~agents.rollout.deadline.EpisodeClock`); an
            episode past it is truncated, unscored with cause ``"deadline"``, and the others go
            on. ``env.reset``/``env.step`` run in a worker thread that is abandoned
            when the budget runs out (:mod:`agents.rollout.deadline`). ``None``: unbounded.
    """

    def __init__(
        self,
        backend: GenerationBackend,
        chat: ChatTokenizer,
        sampling: SamplingConfig,
        max_episode_tokens: int | None = None,
        episode_timeout_s: float | None = None,
    ) -> None:
        self.backend = backend
        self.chat = chat
        self.sampling = sampling
        if max_episode_tokens is not None and max_episode_tokens < 1:
            raise ValueError("max_episode_tokens must be >= 1 or None")
        if episode_timeout_s is not None and episode_timeout_s <= 0:
            raise ValueError("episode_timeout_s must be > 0 or None")
        self.max_episode_tokens = max_episode_tokens
        self.episode_timeout_s = episode_timeout_s
        self._clocks: dict[int, EpisodeClock] = {}  # id(traj) -> its episode's clock
        self._round: Deadline | None = None

    def collect(
        self, env: Any, seeds: Sequence[int], num_generations: int, seed: int = 0,
        first_group: int = 0, deadline: Deadline | None = None,
    ) -> list[Trajectory]:
        """``num_generations`` episodes for each task seed, grouped in seed order.

        Args:
            env: a (possibly wrapped) rlenvs environment; it is reset once per seed.
            seeds: task seeds, one group each.
            num_generations: episodes per group (G).
            seed: sampling seed of this call (same seed and weights give the same episodes).
            first_group: group index of the first seed (groups are numbered consecutively).
            deadline: the round's wall-clock deadline (with ``episode_timeout_s``, whichever
                comes first bounds each episode).
        """
        if num_generations < 1:
            raise ValueError("num_generations must be >= 1")
        if not hasattr(env, "unwrapped") or not hasattr(env.unwrapped, "clone"):
            raise TypeError("env must be an rlenvs environment (its .unwrapped needs clone())")
        self._round = deadline
        runs: list[tuple[Trajectory, Any, list[dict[str, Any]]]] = []
        for g, task_seed in enumerate(seeds):
            clock = EpisodeClock(self.episode_timeout_s)
            try:
                obs, info = self._call(env.reset, clock, seed=int(task_seed))
            except (StepTimeout, OSError) as exc:  # the env (server) did not answer
                cause = "deadline" if isinstance(exc, StepTimeout) else "env"
                for _ in range(num_generations):
                    traj = Trajectory(group=first_group + g, seed=int(task_seed), prompt_ids=[],
                                      truncated=True, status=UNSCORED, cause=cause)
                    traj.fault = f"env.reset: {exc}"
                    runs.append((traj, None, []))
                continue
            prompt_ids = self.chat.prompt_ids(obs)
            root = env.unwrapped
            for _ in range(num_generations):
                traj = Trajectory(group=first_group + g, seed=int(task_seed),
                                  prompt_ids=list(prompt_ids), task=info.get("task"),
                                  messages=list(obs))
                self._clocks[id(traj)] = clock.copy()
                runs.append((traj, root.clone(), obs))
        self._run(runs, seed)
        self._clocks.clear()
        return [traj for traj, _, _ in runs]

    def regenerate(self, env: Any, trajs: Sequence[Trajectory], seed: int = 0,
                   deadline: Deadline | None = None) -> list[Trajectory]:
        """New episodes of the same tasks as ``trajs`` (same group, same ``reset`` seed), one
        each, in order: the retry of unscored episodes. ``attempts`` counts on."""
        out: list[Trajectory] = []
        for k, old in enumerate(trajs):
            [fresh] = self.collect(env, [int(old.seed or 0)], 1, seed=seed + k,
                                   first_group=old.group, deadline=deadline)
            fresh.attempts = old.attempts + 1
            out.append(fresh)
        return out

    def _call(self, fn: Any, clock: EpisodeClock, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` within the episode's and the round's budgets (charged)."""
        started = time.monotonic()
        try:
            return call_within(lambda: fn(*args, **kwargs), timeout=clock.timeout(self._round),
                               name=f"env.{getattr(fn, '__name__', 'call')}")
        finally:
            clock.charge(time.monotonic() - started)

    def _clock(self, traj: Trajectory) -> EpisodeClock:
        return self._clocks.setdefault(id(traj), EpisodeClock(self.episode_timeout_s))

    def _expired(self, traj: Trajectory) -> bool:
        return self._clock(traj).expired(self._round)

    def _give_up(self, traj: Trajectory, reason: str, cause: str = "deadline") -> None:
        """Truncate ``traj`` here: its reward is unscored (``cause``), it takes no more turns."""
        if traj.scored:
            traj.status, traj.cause = UNSCORED, cause
        traj.fault = traj.fault or reason
        traj.truncated = True

    def _run(self, runs: list[tuple[Trajectory, Any, list[dict[str, Any]]]], seed: int) -> None:
        round_ = 0
        while True:
            for traj, _, _ in runs:
                if not traj.done and self._expired(traj):
                    self._give_up(traj, "deadline: the episode ran out of its wall-clock budget "
                                        "before its next turn")
            active = [i for i, (traj, _, _) in enumerate(runs) if not traj.done]
            if not active:
                return
            budget = self.sampling.max_new_tokens
            if self.max_episode_tokens is not None:
                left = min(self.max_episode_tokens - len(runs[i][0].completion_ids) for i in active)
                budget = max(1, min(budget, left))
            config = replace(self.sampling, max_new_tokens=budget)
            prompts = [runs[i][0].prompt_ids + runs[i][0].completion_ids for i in active]
            started = time.monotonic()
            outputs = self.backend.generate(prompts, config, seed=seed * 1_000_003 + round_)
            for i in active:  # the batched generation counts for every episode in it
                self._clock(runs[i][0]).charge(time.monotonic() - started)
            for i, gen in zip(active, outputs, strict=True):
                traj, env, obs = runs[i]
                runs[i] = (traj, env, self._advance(traj, env, obs, gen))
            round_ += 1

    def _advance(self, traj: Trajectory, env: Any, obs: list[dict[str, Any]], gen: Any) -> Any:
        start = len(traj.completion_ids)
        traj.completion_ids.extend(gen.token_ids)
        traj.policy_mask.extend([1] * len(gen.token_ids))
        traj.sampler_logprobs.extend(gen.logprobs)
        traj.turn_ends.append(len(traj.completion_ids) - 1)
        traj.stopped = bool(gen.finished)
        reply = self.chat.decode(gen.token_ids)
        # a stuck tool, judge or env server gives the episode up (unscored, "deadline")
        new_obs, reward, terminated, truncated, info = timed_step(
            env, reply, [*obs, {"role": "assistant", "content": reply}], self._clock(traj),
            self._round)
        traj.rewards.append(float(reward))
        traj.infos.append(info)
        traj.record_status(info)
        traj.messages = list(new_obs)
        steps = info.get("step_rewards")
        if steps is not None:
            ends = step_token_ends(self.chat, gen.token_ids, reply, list(steps), info)
            traj.step_rewards.append([float(s) for s in steps])
            traj.step_ends.append([start + e for e in ends])
        else:
            traj.step_rewards.append(None)
            traj.step_ends.append(None)
        traj.terminated, traj.truncated = bool(terminated), bool(truncated)
        if traj.done:
            return new_obs
        stop_text = self.chat.tokenizer.decode([gen.token_ids[-1]]) if gen.finished else None
        feedback = self.chat.feedback_ids(obs, reply, new_obs, stop_text)
        traj.completion_ids.extend(feedback)
        traj.policy_mask.extend([0] * len(feedback))
        traj.sampler_logprobs.extend([0.0] * len(feedback))
        if self.max_episode_tokens is not None and len(traj.completion_ids) >= \
                self.max_episode_tokens:
            traj.truncated = True
        return new_obs


def step_token_ends(
    chat: ChatTokenizer, ids: Sequence[int], reply: str, steps: list[float], info: dict[str, Any]
) -> list[int]:
    """Index (within ``ids``) of the last token of each process-reward step.

    Step boundaries come from ``info["verdict"].details["spans"]`` (character spans into the
    reply) when the judge gives them, else from the reply's non-empty lines when their number
    matches, else the reply is cut into ``len(steps)`` equal token chunks.
    """
    n = len(ids)
    if n == 0 or not steps:
        return [max(n - 1, 0)] * len(steps)
    verdict = info.get("verdict")
    details = getattr(verdict, "details", None) or {}
    spans = details.get("spans") if isinstance(details, dict) else None
    char_ends: list[int] | None = None
    if isinstance(spans, list) and len(spans) == len(steps):
        char_ends = [int(s[1]) for s in spans]
    else:
        lines, pos = [], 0
        for line in reply.split("\n"):
            if line.strip():
                lines.append(pos + len(line))
            pos += len(line) + 1
        if len(lines) == len(steps):
            char_ends = lines
    if char_ends is None:
        return [min(n - 1, round((k + 1) * n / len(steps)) - 1) for k in range(len(steps))]
    # Character offset reached after each token of the reply.
    offsets = [len(chat.decode(ids[: k + 1])) for k in range(n)]
    ends = []
    for end in char_ends:
        token = next((k for k, off in enumerate(offsets) if off >= end), n - 1)
        ends.append(token)
    return ends
