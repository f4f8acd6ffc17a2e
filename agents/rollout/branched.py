"""Branched rollouts (Tree-GRPO, ARPO) as token :class:`~agents.rollout.chain.Trajectory` rows.

:class:`~agents.rollout.tree.TreeRollout` and :class:`~agents.rollout.arpo.ARPORollout` work on message
lists. To train on them, this module runs them on the trainer's own sampler and turns every row
back into the token layout of a chain rollout (:mod:`agents.rollout.chain`):

* :class:`TokenContexts` remembers what the sampler produced: for a conversation it gives the
  exact token context a chain rollout would have built — prompt ids (chat template of the
  messages before the first reply, with the generation prompt), then per reply the *sampled*
  ids (stop token included, mask 1, sampler log-probs) followed by
  :meth:`ChatTokenizer.feedback_ids` (end of turn, env/tool/user messages, next assistant
  header; mask 0). Siblings that share a prefix therefore share identical prefix ids.
* :class:`SamplerGenerate` is the ``generate(conversations) -> replies`` the rollouts call: it
  samples from those contexts with the :class:`~judges.llm.sampler.GenerationBackend` and records
  each generation. :class:`SamplerChat` gives :class:`~agents.rollout.arpo.ChatEntropy` its
  ``generate_with_logprobs`` from the same sampler (top-k log-probs of the untempered logits).
* :func:`branched_trajectory` converts one row; the row's precomputed advantage goes to
  ``Trajectory.advantages`` per token (ARPO: each turn's attributed advantage; hard attribution
  drops a shared turn from the loss of every row but its owner via ``Trajectory.loss_mask``).
* :class:`BranchedCollector` ties it together for :meth:`agents.trainers.base.RLTrainer.collect`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents.rollout.chain import Trajectory
from agents.rollout.chat_tokens import ChatTokenizer
from agents.rollout.deadline import Deadline, episode_status
from agents.rollout.tree import BranchedTrajectory
from judges.llm.sampler import Generation, GenerationBackend, SamplingConfig

__all__ = ["TokenContext", "TokenContexts", "SamplerGenerate", "SamplerChat",
           "branched_trajectory", "BranchedCollector", "rollout_metrics",
           "merge_rollout_metrics"]

Messages = list[dict[str, Any]]


def _key(messages: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(messages), sort_keys=True, default=str, ensure_ascii=False)


@dataclass
class TokenContext:
    """Token ids of a conversation, laid out like a chain :class:`Trajectory`."""

    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    policy_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    turn_starts: list[int] = field(default_factory=list)
    turn_ends: list[int] = field(default_factory=list)
    stopped: bool = True

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids


class TokenContexts:
    """Conversation -> :class:`TokenContext`, built from the generations actually sampled.

    Args:
        chat: chat-template bookkeeping of the policy's tokenizer.
        stop_token_id: end-of-turn id used for a reply that was not sampled here (a scripted
            reply is encoded from its text and closed with this id, mask 1).
    """

    def __init__(self, chat: ChatTokenizer, stop_token_id: int) -> None:
        self.chat = chat
        self.stop_token_id = int(stop_token_id)
        self.generations: dict[tuple[str, str], Generation] = {}
        self.cache: dict[str, TokenContext] = {}
        self.fallbacks = 0  # replies that had to be re-encoded from text

    def clear(self) -> None:
        self.generations.clear()
        self.cache.clear()
        self.fallbacks = 0

    def record(self, context: Messages, reply: str, generation: Generation) -> None:
        """Remember that ``generation`` (decoded: ``reply``) was sampled after ``context``."""
        self.generations.setdefault((_key(context), reply), generation)

    def get(self, messages: Messages) -> TokenContext:
        """The token context of ``messages`` (a conversation ending with an env message gets the
        generation prompt; one ending with a reply ends with that reply's ids)."""
        key = _key(messages)
        found = self.cache.get(key)
        if found is not None:
            return found
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"),
                   default=None)
        if last is None:
            ctx = TokenContext(self.chat.prompt_ids(messages))
        else:
            before = list(messages[:last])
            parent = self.get(before)
            reply = str(messages[last].get("content") or "")
            ids, logps, stopped = self._reply_ids(before, reply)
            ctx = TokenContext(list(parent.prompt_ids), list(parent.completion_ids),
                               list(parent.policy_mask), list(parent.logprobs),
                               list(parent.turn_starts), list(parent.turn_ends))
            ctx.turn_starts.append(len(ctx.completion_ids))
            ctx.completion_ids += ids
            ctx.policy_mask += [1] * len(ids)
            ctx.logprobs += logps
            ctx.turn_ends.append(len(ctx.completion_ids) - 1)
            ctx.stopped = stopped
            if last + 1 < len(messages):  # env messages follow: same ids as a chain rollout
                stop_text = self.chat.tokenizer.decode([ids[-1]]) if stopped and ids else None
                feedback = self.chat.feedback_ids(before, reply, list(messages), stop_text)
                ctx.completion_ids += feedback
                ctx.policy_mask += [0] * len(feedback)
                ctx.logprobs += [0.0] * len(feedback)
        self.cache[key] = ctx
        return ctx

    def _reply_ids(self, before: Messages, reply: str) -> tuple[list[int], list[float], bool]:
        gen = self.generations.get((_key(before), reply))
        if gen is not None and gen.token_ids:
            return list(gen.token_ids), list(gen.logprobs), bool(gen.finished)
        self.fallbacks += 1
        ids = self.chat.encode_content(reply) + [self.stop_token_id]
        return ids, [0.0] * len(ids), True


class SamplerGenerate:
    """``generate(conversations) -> replies`` on a token backend (the trainer's sampler).

    Each call is one batched ``backend.generate`` on the :class:`TokenContexts` ids; call ``i``
    of a collect uses seed ``seed·1_000_003 + i`` (reproducible, like the chain collector).

    Args:
        backend: generation engine.
        contexts: token bookkeeping shared with the converter.
        sampling: per-turn sampling (``max_new_tokens`` = ``max_completion_length``).
        max_episode_tokens: cap on the ids after the prompt; a turn's budget is what is left
            (at least 1 token; the env's own turn limit ends the episode).
    """

    def __init__(self, backend: GenerationBackend, contexts: TokenContexts,
                 sampling: SamplingConfig, max_episode_tokens: int | None = None) -> None:
        self.backend = backend
        self.contexts = contexts
        self.sampling = sampling
        self.max_episode_tokens = max_episode_tokens
        self.reset(0)

    def reset(self, seed: int) -> None:
        self.seed = int(seed)
        self.calls = 0
        self.tokens_generated = 0
        self.prompt_tokens = 0

    def __call__(self, conversations: list[Messages]) -> list[str]:
        if not conversations:
            return []
        ctxs = [self.contexts.get(list(c)) for c in conversations]
        budget = self.sampling.max_new_tokens
        if self.max_episode_tokens is not None:
            left = min(self.max_episode_tokens - len(c.completion_ids) for c in ctxs)
            budget = max(1, min(budget, left))
        config = replace(self.sampling, max_new_tokens=budget)
        outs = self.backend.generate([c.ids for c in ctxs], config,
                                     seed=self.seed * 1_000_003 + self.calls)
        self.calls += 1
        replies = []
        for conv, ctx, gen in zip(conversations, ctxs, outs, strict=True):
            reply = self.contexts.chat.decode(gen.token_ids)
            self.contexts.record(list(conv), reply, gen)
            self.tokens_generated += len(gen.token_ids)
            self.prompt_tokens += len(ctx.ids)
            replies.append(reply)
        return replies


class SamplerChat:
    """The ``generate_with_logprobs`` that :class:`~agents.rollout.arpo.ChatEntropy` needs, on the
    trainer's sampler: ``k`` tokens sampled after the exact token context, each with the top
    log-probabilities of the untempered next-token distribution (vLLM ``logprobs=k`` style).
    The probe tokens are discarded (they only measure uncertainty); ``tokens_generated``
    counts them.
    """

    def __init__(self, backend: GenerationBackend, contexts: TokenContexts) -> None:
        self.backend = backend
        self.contexts = contexts
        self.tokenizer = contexts.chat.tokenizer
        self.reset(0)

    def reset(self, seed: int) -> None:
        self.seed = int(seed)
        self.calls = 0
        self.tokens_generated = 0

    def generate_with_logprobs(self, conversations: Sequence[Messages], sampling: Any = None,
                               top_logprobs: int = 0) -> list[tuple[str, list[dict[str, Any]]]]:
        config = sampling or SamplingConfig(20)
        prompts = [self.contexts.get(list(c)).ids for c in conversations]
        try:
            outs = self.backend.generate(prompts, config, seed=self.seed * 1_000_003 + self.calls,
                                         top_logprobs=top_logprobs)
        except TypeError as e:
            raise TypeError(f"ARPO's entropy needs a backend whose generate() takes top_logprobs "
                            f"(judges.llm.sampler.TorchSampler); {type(self.backend).__name__} "
                            f"does not") from e
        self.calls += 1
        out = []
        for gen in outs:
            self.tokens_generated += len(gen.token_ids)
            tops = gen.top_logprobs or [[] for _ in gen.token_ids]
            entries = [{"token": int(t), "logprob": float(lp),
                        "top_logprobs": [{"logprob": float(v)} for v in top]}
                       for t, lp, top in zip(gen.token_ids, gen.logprobs, tops, strict=True)]
            out.append((self.contexts.chat.decode(gen.token_ids), entries))
        return out


def branched_trajectory(row: BranchedTrajectory, contexts: TokenContexts,
                        group: int) -> Trajectory:
    """One row as a token :class:`Trajectory` with its given per-token advantages.

    Completion ids end after the last reply (its stop token included), as in a chain rollout
    whose episode ended. Reply tokens of turn ``t`` get ``row.turn_advantages[t]`` (else
    ``row.advantage``); environment ids get 0 (they are masked out). Turns with
    ``turn_owner[t] = False`` (ARPO hard attribution) are dropped from ``loss_mask``.
    """
    last = max((i for i, m in enumerate(row.messages) if m.get("role") == "assistant"),
               default=None)
    messages = list(row.messages if last is None else row.messages[: last + 1])
    ctx = contexts.get(messages)
    turns = len(ctx.turn_ends)
    if turns != len(row.rewards):
        raise ValueError(f"row has {len(row.rewards)} rewards but {turns} assistant turns")
    status, cause = episode_status(row.infos)
    turn_adv = list(row.turn_advantages) or [row.advantage] * turns
    owner = list(row.turn_owner) or [True] * turns
    advantages = [0.0] * len(ctx.completion_ids)
    loss_mask = list(ctx.policy_mask)
    for t, (start, end) in enumerate(zip(ctx.turn_starts, ctx.turn_ends, strict=True)):
        for j in range(start, end + 1):
            advantages[j] = float(turn_adv[t])
            if not owner[t]:
                loss_mask[j] = 0
    return Trajectory(
        group=group, seed=row.seed, prompt_ids=list(ctx.prompt_ids),
        completion_ids=list(ctx.completion_ids), policy_mask=list(ctx.policy_mask),
        sampler_logprobs=list(ctx.logprobs), turn_ends=list(ctx.turn_ends),
        rewards=[float(r) for r in row.rewards], step_rewards=[None] * turns,
        step_ends=[None] * turns, terminated=row.terminated, truncated=row.truncated,
        stopped=ctx.stopped, infos=list(row.infos), task=row.task, messages=list(row.messages),
        advantages=advantages, loss_mask=loss_mask if loss_mask != ctx.policy_mask else None,
        status=status, cause=cause,
    )


def _tool_calls(traj: Trajectory) -> int:
    return sum(len(info.get("tool_calls") or []) for info in traj.infos)


def rollout_metrics(trajs: Sequence[Trajectory], *, tokens_generated: int | None = None,
                    tool_calls: int | None = None, trajectories_generated: int | None = None,
                    policy_turns: int | None = None, branches: int = 0,
                    entropy_tokens: int = 0) -> dict[str, float]:
    """``rollout/*`` metrics of a round (sums of several calls are merged by the trainer).

    ``tokens_generated`` / ``tool_calls`` are what the rollout *spent* (a shared prefix counts
    once; pruned tree leaves count); per-trajectory values divide them by the rows returned.
    Defaults (chain): computed from ``trajs``.
    """
    n = max(len(trajs), 1)
    depths = [len(t.rewards) for t in trajs] or [0]
    spent_tokens = tokens_generated if tokens_generated is not None else \
        sum(t.num_policy_tokens for t in trajs)
    spent_calls = tool_calls if tool_calls is not None else sum(_tool_calls(t) for t in trajs)
    turns = policy_turns if policy_turns is not None else sum(len(t.rewards) for t in trajs)
    return {
        "rollout/trajectories": float(len(trajs)),
        "rollout/trajectories_generated": float(trajectories_generated
                                                if trajectories_generated is not None
                                                else len(trajs)),
        "rollout/branches": float(branches),
        "rollout/tokens_generated": float(spent_tokens),
        "rollout/entropy_tokens": float(entropy_tokens),
        "rollout/tool_calls": float(spent_calls),
        "rollout/policy_turns": float(turns),
        "rollout/tokens_per_traj": spent_tokens / n,
        "rollout/tool_calls_per_traj": spent_calls / n,
        "rollout/path_tokens_per_traj": sum(t.num_policy_tokens for t in trajs) / n,
        "rollout/path_tool_calls_per_traj": sum(_tool_calls(t) for t in trajs) / n,
        "rollout/tree_depth_mean": sum(depths) / len(depths),
        "rollout/tree_depth_max": float(max(depths)),
    }


def merge_rollout_metrics(parts: Sequence[dict[str, float]]) -> dict[str, float]:
    """One round's ``rollout/*`` metrics from those of its collect calls (counts summed,
    per-trajectory values recomputed, depth max taken)."""
    if not parts:
        return {}
    if len(parts) == 1:
        return dict(parts[0])
    total = {k: sum(p[k] for p in parts) for k in parts[0]}
    n = max(total["rollout/trajectories"], 1.0)
    weighted = ("rollout/path_tokens_per_traj", "rollout/path_tool_calls_per_traj",
                "rollout/tree_depth_mean")
    for k in weighted:
        total[k] = sum(p[k] * p["rollout/trajectories"] for p in parts) / n
    total["rollout/tokens_per_traj"] = total["rollout/tokens_generated"] / n
    total["rollout/tool_calls_per_traj"] = total["rollout/tool_calls"] / n
    total["rollout/tree_depth_max"] = max(p["rollout/tree_depth_max"] for p in parts)
    return total


class BranchedCollector:
    """Tree-GRPO or ARPO rollouts on a token backend, returned as token trajectories.

    Args:
        kind: ``"tree"`` or ``"arpo"``.
        backend / chat / sampling / max_episode_tokens: as for
            :class:`~agents.rollout.chain.RolloutCollector`.
        stop_token_id: end-of-turn id (for replies not sampled here).
        tree: a :class:`~agents.rollout.tree.TreeRolloutConfig` (``kind="tree"``).
        arpo: an :class:`~agents.rollout.arpo.ARPOConfig` (``kind="arpo"``).
        entropy_tokens / entropy_top_logprobs / entropy_temperature: ARPO's entropy probe
            (k tokens after the tool result, top-``entropy_top_logprobs`` truncated entropy
            normalised by ln|V|, :class:`~agents.rollout.arpo.ChatEntropy`).
    """

    def __init__(self, kind: str, backend: GenerationBackend, chat: ChatTokenizer,
                 sampling: SamplingConfig, stop_token_id: int, *,
                 max_episode_tokens: int | None = None, tree: Any = None, arpo: Any = None,
                 entropy_tokens: int = 20, entropy_top_logprobs: int = 10,
                 entropy_temperature: float = 1.0,
                 episode_timeout_s: float | None = None) -> None:
        from agents.rollout.arpo import ARPORollout, ChatEntropy
        from agents.rollout.tree import TreeRollout

        if kind not in ("tree", "arpo"):
            raise ValueError(f"kind must be 'tree' or 'arpo', got {kind!r}")
        self.kind = kind
        self.contexts = TokenContexts(chat, stop_token_id)
        self.generate = SamplerGenerate(backend, self.contexts, sampling, max_episode_tokens)
        self.probe: SamplerChat | None = None
        if kind == "tree":
            self.rollout: Any = TreeRollout(self.generate, tree)
        else:
            self.probe = SamplerChat(backend, self.contexts)
            entropy = ChatEntropy(self.probe, k=entropy_tokens, top_logprobs=entropy_top_logprobs,
                                  temperature=entropy_temperature, vocab_size=len(chat.tokenizer))
            self.rollout = ARPORollout(self.generate, entropy, arpo)
        self.rollout.episode_timeout_s = episode_timeout_s
        self.last_metrics: dict[str, float] = {}
        self.last_rows: list[BranchedTrajectory] = []
        self.last_trajectories: list[Trajectory] = []

    def collect(self, env: Any, seeds: Sequence[int], seed: int = 0,
                first_group: int = 0, deadline: Deadline | None = None) -> list[Trajectory]:
        """Rows of every task seed (group ``first_group + k`` for seed ``k``), advantages set;
        ``deadline``: the round's (every env call waits at most what is left of it).

        After the call ``last_metrics`` holds its :func:`rollout_metrics`, ``last_rows`` the
        message rows and ``last_trajectories`` the returned token rows (same order).
        """
        self.contexts.clear()
        self.generate.reset(seed)
        if self.probe is not None:
            self.probe.reset(seed + 1)
        self.rollout.deadline = deadline
        rows = self.rollout.collect(env, seeds, seed=seed)
        trajs = [branched_trajectory(r, self.contexts, first_group + r.prompt) for r in rows]
        self.last_rows, self.last_trajectories = rows, trajs
        budget = self.rollout.budget
        if self.kind == "tree":
            # every expansion adds one child to an existing node
            branches = sum(max(len(n.children) - 1, 0) for t in self.rollout.trees
                           for n in t.nodes)
        else:
            branches = sum(e.branched for e in self.rollout.events)
        self.last_metrics = rollout_metrics(
            trajs, tokens_generated=self.generate.tokens_generated, tool_calls=budget.tool_calls,
            trajectories_generated=budget.trajectories_generated,
            policy_turns=budget.policy_turns, branches=branches,
            entropy_tokens=self.probe.tokens_generated if self.probe is not None else 0)
        return trajs
