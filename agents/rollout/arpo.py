"""ARPO rollouts (Agentic Reinforced Policy Optimization, arXiv 2507.19849), message level.

Per prompt, a budget of ``M`` (``n``) final trajectories; ``N`` (``initial_rollouts``) start
from the prompt. Every round, all active rollouts generate one reply (one batched
``generate``) and step their env. After the round, for every rollout that continues after a
tool call (its context now *includes the tool result*):

    H_t   = entropy_fn(context)          entropy of the next k tokens the policy would generate
    ΔH    = H_t − H_init                 H_init = entropy_fn(prompt) at the rollout's start
    P     = clip(τ + β_H·ΔH, 0, 1)       τ = ``branch_probability``, β_H = ``entropy_weight``

and, prompt by prompt, sources in creation order, each source makes up to
``m = min(B − 1, slots − created)`` attempts (``B`` = ``beam_size``, ``slots = M − count``);
attempt j branches iff ``u_j < P`` with ``u_j ~ U(0,1)`` from ``random.Random(seed)``. A branch
is ``env.clone()`` of the source (full context incl. the tool result, tool state, turn count);
it inherits the source's H_init. When a prompt has no active rollout left and fewer than M
were started, ONE fresh rollout from the prompt is added per round. The result has exactly
M rows per prompt (creation order).

Fixes of the paper's code (``dongguanting/ARPO``, ``vllm_rollout_with_tools.py``):

1. **stale initial entropy** — the reference keeps H_init in a dict that lives across calls
   (keyed by a per-call index), so from the 2nd call H_init is from an earlier batch. Here
   H_init is computed per rollout in every call.
2. **entropy timing** — the reference decides with the entropy of the segment that *led to*
   the tool call (ΔH = 0 for the first call). Here H_t is measured on the context *after* the
   tool result was appended, as the paper describes. (The real ``entropy_fn`` samples k
   tokens and discards them; both the source and its branches regenerate from the branch
   point.)

An entropy function with a ``batch(list_of_contexts)`` method (:class:`ChatEntropy`) is called
once for all starts of a call and once per round for every possible branch source (prompts
with free slots) instead of once per context; a plain callable is called lazily per context.

Advantage attribution, Â_i = GRPO advantage of row i within its prompt (std-normalised):

* ``soft`` (paper default): every turn of row i gets Â_i.
* ``hard``: a turn in segment s (the span between two branch points) gets
  Â_s = (1/|D(s)|)·Σ_{i∈D(s)} Â_i, D(s) = rows containing s; ``turn_owner`` marks one row per
  shared segment (the first) so a trainer can count shared turns once.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from agents.algorithms.grpo import group_advantages
from agents.rollout.deadline import (
    Deadline,
    EpisodeClock,
    call_within,
    episode_status,
    timed_step,
)
from agents.rollout.tree import (
    BranchedTrajectory,
    Budget,
    GenerateFn,
    Messages,
    whitespace_tokens,
)

__all__ = ["ARPOConfig", "ARPORollout", "ChatEntropy", "attribute_advantages", "EntropyFn"]

EntropyFn = Callable[[Messages], float]
ATTRIBUTIONS = ("soft", "hard")


@dataclass
class ARPOConfig:
    """ARPO knobs (reference names). ``n`` = M (group size), ``initial_rollouts`` = N."""

    n: int = 8
    initial_rollouts: int = 4
    beam_size: int = 2
    branch_probability: float = 0.5
    entropy_weight: float = 0.2
    attribution: str = "soft"
    branch_on: str = "tool"
    epsilon: float = 1e-6

    def __post_init__(self) -> None:
        if not 1 <= self.initial_rollouts <= self.n:
            raise ValueError("need 1 <= initial_rollouts <= n")
        if self.beam_size < 1:
            raise ValueError("beam_size must be >= 1")
        if self.attribution not in ATTRIBUTIONS:
            raise ValueError(f"attribution must be one of {ATTRIBUTIONS}")
        if self.branch_on not in ("tool", "any"):
            raise ValueError("branch_on must be 'tool' (after tool calls) or 'any' (every turn)")


@dataclass
class _Rollout:
    prompt: int
    env: Any
    messages: Messages
    h_init: float
    segment: int
    rewards: list[float] = field(default_factory=list)
    turn_segments: list[int] = field(default_factory=list)
    tool_calls: int = 0
    infos: list[dict[str, Any]] = field(default_factory=list)
    terminated: bool = False
    truncated: bool = False
    branch_ready: bool = False
    # the episode's wall-clock budget (agents.rollout.deadline; a branch inherits its source's)
    clock: EpisodeClock = field(default_factory=lambda: EpisodeClock(None))

    @property
    def done(self) -> bool:
        return self.terminated or self.truncated


@dataclass
class BranchEvent:
    """One branching attempt (for inspection and tests)."""

    round: int
    prompt: int
    source: int
    delta_h: float
    probability: float
    draw: float
    branched: bool


def branch_probability(tau: float, beta: float, delta_h: float) -> float:
    """P = clip(τ + β_H·ΔH, 0, 1)."""
    return min(1.0, max(0.0, tau + beta * delta_h))


def attribute_advantages(
    rows: Sequence[BranchedTrajectory], advantages: Sequence[float], attribution: str = "soft",
    scored: Sequence[bool] | None = None,
) -> None:
    """Set ``advantage``, ``turn_advantages`` and ``turn_owner`` of every row (see module doc).

    ``scored``: per row, whether its reward is a judgement; an unscored row (a fault, a
    deadline) trains nothing and takes no part in a shared segment's attribution (hard)."""
    if attribution not in ATTRIBUTIONS:
        raise ValueError(f"attribution must be one of {ATTRIBUTIONS}, got {attribution!r}")
    ok = [True] * len(rows) if scored is None else list(scored)
    members: dict[tuple[int, int], list[int]] = {}
    for i, row in enumerate(rows):
        if not ok[i]:
            row.advantage = 0.0
            row.turn_advantages = [0.0] * len(row.rewards)
            row.turn_owner = [False] * len(row.rewards)
            continue
        for s in dict.fromkeys(row.node_path):
            members.setdefault((row.prompt, s), []).append(i)
    for i, (row, a) in enumerate(zip(rows, advantages, strict=True)):
        if not ok[i]:
            continue
        row.advantage = float(a)
        if attribution == "soft":
            row.turn_advantages = [float(a)] * len(row.rewards)
            row.turn_owner = [True] * len(row.rewards)
        else:
            groups = [members[(row.prompt, s)] for s in row.node_path]
            row.turn_advantages = [sum(advantages[j] for j in g) / len(g) for g in groups]
            row.turn_owner = [g[0] == i for g in groups]


class ARPORollout:
    """ARPO entropy-adaptive branching rollouts.

    Args:
        generate: ``generate(list_of_message_lists) -> list[str]``.
        entropy_fn: ``entropy_fn(messages) -> float``, normalised entropy of the next k tokens
            (:class:`ChatEntropy` with a model; a scripted function in tests).
        config: :class:`ARPOConfig`.
        count_tokens: tokens of a reply (default: whitespace words).
    """

    def __init__(self, generate: GenerateFn, entropy_fn: EntropyFn,
                 config: ARPOConfig | None = None,
                 count_tokens: Callable[[str], int] = whitespace_tokens) -> None:
        self.generate = generate
        self.entropy_fn = entropy_fn
        self.config = config or ARPOConfig()
        self.count_tokens = count_tokens
        self.budget = Budget()
        self.events: list[BranchEvent] = []
        self._pending: dict[int, float] = {}
        # wall-clock budgets (agents.rollout.deadline): of each env step's episode, of the call
        self.episode_timeout_s: float | None = None
        self.deadline: Deadline | None = None

    def collect(self, env: Any, seeds: Sequence[int], seed: int = 0) -> list[BranchedTrajectory]:
        """Exactly ``n`` rows per task seed (prompt order, creation order), advantages set."""
        if not hasattr(env, "unwrapped") or not hasattr(env.unwrapped, "clone"):
            raise TypeError("env must be an rlenvs environment (its .unwrapped needs clone())")
        cfg, rng = self.config, random.Random(seed)
        self.budget, self.events = Budget(), []
        self._next_segment = 0
        roots: list[tuple[Any, Messages]] = []
        rollouts: list[_Rollout] = []
        count: list[int] = []
        tasks: list[Any] = []
        for task_seed in seeds:
            obs, info = call_within(lambda s=int(task_seed): env.reset(seed=s), name="env.reset",
                                    timeout=Deadline.earliest(self.deadline))
            tasks.append(info.get("task"))
            roots.append((env.unwrapped.clone(), list(obs)))
            count.append(cfg.initial_rollouts)
        starts = [p for p in range(len(seeds)) for _ in range(cfg.initial_rollouts)]
        h_starts = self._entropies([roots[p][1] for p in starts])
        rollouts += [self._fresh(p, roots[p], h) for p, h in zip(starts, h_starts, strict=True)]
        active = list(rollouts)
        round_ = 0
        while active:
            self._step(active)
            survivors = [r for r in active if not r.done]
            self._precompute_entropies(survivors, count)
            new: list[_Rollout] = []
            for p in range(len(seeds)):
                mine = [r for r in survivors if r.prompt == p]
                if mine:
                    branches = self._branch(p, mine, cfg.n - count[p], rng, round_)
                    new += branches
                    count[p] += len(branches)
                elif count[p] < cfg.n:
                    new.append(self._fresh(p, roots[p]))
                    count[p] += 1
            rollouts += new
            active = survivors + new
            round_ += 1
        rows = [self._row(r, int(seeds[r.prompt]), tasks[r.prompt]) for r in
                sorted(rollouts, key=lambda r: r.prompt)]  # stable: creation order per prompt
        self.budget.trajectories_generated = self.budget.trajectories = len(rows)
        # unscored rows (a fault, a deadline) take no part in the group statistics: advantage 0
        scored = [r for r in rows if episode_status(r.infos)[0] == "scored"]
        rewards = torch.tensor([r.final_reward for r in scored], dtype=torch.float64)
        groups = torch.tensor([r.prompt for r in scored], dtype=torch.long)
        adv, _ = group_advantages(rewards, groups, "group", cfg.epsilon)
        given = {id(r): float(a) for r, a in zip(scored, adv, strict=True)}
        attribute_advantages(rows, [given.get(id(r), 0.0) for r in rows], cfg.attribution,
                             scored=[id(r) in given for r in rows])
        return rows

    # ------------------------------------------------------------------ internals
    def _segment(self) -> int:
        self._next_segment += 1
        return self._next_segment - 1

    def _entropies(self, contexts: list[Messages]) -> list[float]:
        """H of each context: one batched ``entropy_fn.batch`` call when the entropy function
        has one (:class:`ChatEntropy`), else one call per context."""
        if not contexts:
            return []
        many = getattr(self.entropy_fn, "batch", None)
        if callable(many):
            return [float(h) for h in many(contexts)]
        return [float(self.entropy_fn(c)) for c in contexts]

    def _precompute_entropies(self, survivors: list[_Rollout], count: list[int]) -> None:
        """With a batched entropy function, measure every possible branch source of this round
        in one call (sources of prompts that still have slots); else measure lazily."""
        self._pending: dict[int, float] = {}
        if not callable(getattr(self.entropy_fn, "batch", None)) or self.config.beam_size < 2:
            return
        sources = [r for r in survivors if r.branch_ready and count[r.prompt] < self.config.n]
        for r, h in zip(sources, self._entropies([r.messages for r in sources]), strict=True):
            self._pending[id(r)] = h

    def _fresh(self, prompt: int, root: tuple[Any, Messages], h_init: float | None = None
               ) -> _Rollout:
        env, obs = root
        h = float(self.entropy_fn(obs)) if h_init is None else h_init
        return _Rollout(prompt, env.clone(), list(obs), h, self._segment(),
                        clock=EpisodeClock(self.episode_timeout_s))

    def _step(self, active: list[_Rollout]) -> None:
        started = time.monotonic()
        replies = self.generate([r.messages for r in active])
        generated = time.monotonic() - started
        if len(replies) != len(active):
            raise ValueError(f"generate returned {len(replies)} replies for {len(active)}")
        for r, reply in zip(active, replies, strict=True):
            r.clock.charge(generated)
            before = [*r.messages, {"role": "assistant", "content": reply}]
            obs, reward, terminated, truncated, info = timed_step(
                r.env, reply, before, r.clock, self.deadline)
            calls = len(info.get("tool_calls") or [])
            self.budget.tokens_generated += self.count_tokens(reply)
            self.budget.policy_turns += 1
            self.budget.tool_calls += calls
            r.tool_calls += calls
            r.messages = list(obs)
            r.rewards.append(float(reward))
            r.infos.append(info)
            r.turn_segments.append(r.segment)
            r.terminated, r.truncated = bool(terminated), bool(truncated)
            r.branch_ready = calls > 0 or self.config.branch_on == "any"

    def _branch(self, prompt: int, sources: list[_Rollout], slots: int, rng: random.Random,
                round_: int) -> list[_Rollout]:
        cfg = self.config
        created: list[_Rollout] = []
        for idx, src in enumerate(sources):
            if not src.branch_ready:
                continue
            m = min(cfg.beam_size - 1, slots - len(created))
            if m <= 0:
                break
            h_now = self._pending.pop(id(src), None)
            delta = (float(self.entropy_fn(src.messages)) if h_now is None else h_now) - src.h_init
            prob = branch_probability(cfg.branch_probability, cfg.entropy_weight, delta)
            mine: list[_Rollout] = []
            for _ in range(m):
                u = rng.random()
                ok = u < prob
                self.events.append(BranchEvent(round_, prompt, idx, delta, prob, u, ok))
                if ok:
                    mine.append(_Rollout(
                        prompt, src.env.clone(), list(src.messages), src.h_init,
                        self._segment(), list(src.rewards), list(src.turn_segments),
                        src.tool_calls, list(src.infos), clock=src.clock.copy()))
            if mine:
                src.segment = self._segment()  # the shared segment ends at the branch point
            created += mine
        return created

    @staticmethod
    def _row(r: _Rollout, task_seed: int, task: Any = None) -> BranchedTrajectory:
        return BranchedTrajectory(
            prompt=r.prompt, tree=-1, messages=r.messages, rewards=r.rewards,
            node_path=r.turn_segments, terminated=r.terminated, truncated=r.truncated,
            tool_calls=r.tool_calls, seed=task_seed, infos=r.infos, task=task,
        )


class ChatEntropy:
    """``entropy_fn`` backed by a chat model with ``generate_with_logprobs`` (e.g. the embedded
    SmolLM2 ``TransformersChat``).

    Samples ``k`` tokens from ``messages`` (temperature ``temperature``) and returns

        H = (1/k') Σ_{j<k'} ( −Σ_{v ∈ top-k_j} p_v·log p_v ) / ln|V|

    with the model's untempered distribution truncated to its ``top_logprobs`` most likely
    tokens (the reference uses vLLM's top-10 logprobs and *sums* over positions; the mean
    keeps H in [0, 1]-ish scale independent of how many tokens were generated, k' ≤ k).
    """

    def __init__(self, chat: Any, k: int = 20, top_logprobs: int = 10,
                 temperature: float = 1.0, vocab_size: int | None = None, seed: int = 0) -> None:
        from judges.llm.base import SamplingParams

        self.chat = chat
        self.top_logprobs = top_logprobs
        self.seed = seed
        self.sampling = SamplingParams(temperature=temperature, max_new_tokens=k, seed=seed)
        tokenizer = getattr(chat, "tokenizer", None)
        size = vocab_size or (len(tokenizer) if tokenizer is not None else 50_000)
        self.log_vocab = math.log(size)

    def __call__(self, messages: Messages) -> float:
        return self.batch([messages])[0]

    def batch(self, conversations: Sequence[Messages]) -> list[float]:
        """H of several contexts with one ``generate_with_logprobs`` call."""
        out = self.chat.generate_with_logprobs(
            list(conversations), self.sampling, top_logprobs=self.top_logprobs)
        values = []
        for _, entries in out:
            total = 0.0
            for entry in entries:
                total -= sum(math.exp(t["logprob"]) * t["logprob"] for t in entry["top_logprobs"])
            values.append(total / len(entries) / self.log_vocab if entries else 0.0)
        return values
