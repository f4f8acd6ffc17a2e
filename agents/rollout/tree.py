"""Tree-structured rollouts for Tree-GRPO (arXiv 2509.21240), at the message level.

A *node* is one complete agent step: one policy reply plus the environment's answer (tool
result, user feedback, or the end of the episode). For every prompt:

1. **init** — ``M`` (``ts_m``) trees; each root is the reset episode and gets one full chain
   (step until terminated / truncated); every step adds a child node.
2. **expand** — ``L`` (``ts_l``) iterations; per tree the candidates are the root and every
   non-leaf node, ``N`` (``ts_n``) of them are drawn uniformly *with replacement*
   (``random.choices``, the reference code's rule; drawing the root means a fresh chain).
   Each drawn node continues a chain from its full context through ``env.clone()`` of the
   node's episode (tool state included), so every expansion adds exactly one new leaf.
3. **prune** — per tree ``k`` (``ts_k``) of its ``1 + L·N`` leaves are kept (uniform sample
   without replacement; all kept when ``k = 1 + L·N``). Each kept leaf is one training
   trajectory: its full message list, the per-turn rewards root→leaf and the final reward.

Advantages (outcome reward r_i of each kept leaf, ``tree`` = its tree, ``prompt`` = its prompt):

    A_intra(i) = (r_i − mean_tree r) / (std_tree r + ε)
    A_inter(i) = (r_i − mean_prompt r) / (std_prompt r + ε)
    mode "intra" → A_intra,  "inter" → A_inter,  "intra+inter" (Tree-GRPO) → A_intra + A_inter

std is Bessel-corrected, a singleton group has mean 0 and std 1, ε = 1e-6 (verl); computed with
:func:`agents.algorithms.grpo.group_advantages`. Generation is pluggable: any
``generate(list_of_message_lists) -> list[str]`` (a chat policy via :func:`policy_generate`,
or a scripted function in tests).
"""

from __future__ import annotations

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

__all__ = [
    "GenerateFn", "Budget", "BranchedTrajectory", "TreeNode", "TreeRolloutConfig",
    "TreeRollout", "tree_advantages", "policy_generate", "TREE_ADVANTAGE_MODES",
]

Messages = list[dict[str, Any]]
GenerateFn = Callable[[list[Messages]], list[str]]
TREE_ADVANTAGE_MODES = ("intra", "inter", "intra+inter")


def policy_generate(policy: Any, sampling: Any = None) -> GenerateFn:
    """Wrap a chat policy (``.generate(conversations, sampling)``) as a :data:`GenerateFn`."""

    def generate(conversations: list[Messages]) -> list[str]:
        return list(policy.generate(conversations, sampling))

    return generate


def whitespace_tokens(text: str) -> int:
    """Default token counter (a proxy): whitespace-separated words."""
    return len(text.split())


@dataclass
class Budget:
    """What a rollout call spent.

    Attributes:
        tokens_generated: policy tokens over all replies (``count_tokens`` of each reply).
        policy_turns: replies generated (= nodes created).
        tool_calls: tool calls executed (``len(info["tool_calls"])`` summed over steps).
        trajectories_generated: finished episodes (leaves) before pruning.
        trajectories: training rows returned.
    """

    tokens_generated: int = 0
    policy_turns: int = 0
    tool_calls: int = 0
    trajectories_generated: int = 0
    trajectories: int = 0


@dataclass
class BranchedTrajectory:
    """One training row of a branched rollout (Tree-GRPO leaf or ARPO rollout).

    Attributes:
        prompt: index of the prompt (group) in the call.
        tree: global tree id (``prompt·M + tree``) for Tree-GRPO; ``-1`` for ARPO.
        messages: the full conversation (prompt, every reply and env message).
        rewards: reward of each policy turn, in order.
        node_path: ids of the nodes root→leaf (Tree-GRPO) or the segment id of each turn (ARPO);
            turns with the same id in two rows are shared.
        terminated / truncated: how the episode ended.
        tool_calls: tool calls made along the path.
        advantage: scalar advantage (set by the advantage functions).
        turn_advantages: per-turn advantage (ARPO attribution; else ``[advantage]·turns``).
        turn_owner: per turn, whether this row is the one that trains a shared turn (hard
            attribution counts a shared segment once); all ``True`` otherwise.
        seed: the ``reset`` seed of its task.
        infos: ``info`` of every policy turn along the path (``infos[-1]["verdict"]`` scores
            the outcome).
        task: the task (from ``reset``'s info).
    """

    prompt: int
    tree: int
    messages: Messages
    rewards: list[float]
    node_path: list[int]
    terminated: bool = False
    truncated: bool = False
    tool_calls: int = 0
    advantage: float = 0.0
    turn_advantages: list[float] = field(default_factory=list)
    turn_owner: list[bool] = field(default_factory=list)
    seed: int | None = None
    infos: list[dict[str, Any]] = field(default_factory=list)
    task: Any = None

    @property
    def final_reward(self) -> float:
        """The outcome reward: the reward of the last turn (0 when there was no turn)."""
        return float(self.rewards[-1]) if self.rewards else 0.0

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))


@dataclass
class TreeNode:
    """One agent step of a tree (the root is the reset episode, ``reply=None``)."""

    id: int
    parent: int | None
    depth: int
    messages: Messages
    reply: str | None = None
    reward: float = 0.0
    tool_calls: int = 0
    leaf: bool = False
    terminated: bool = False
    truncated: bool = False
    env: Any = None
    children: list[int] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class TreeRolloutConfig:
    """Tree-GRPO knobs (reference names ``ts_m``, ``ts_n``, ``ts_l``, ``ts_k``)."""

    ts_m: int = 4
    ts_n: int = 2
    ts_l: int = 1
    ts_k: int = 4
    advantage_mode: str = "intra+inter"
    epsilon: float = 1e-6

    def __post_init__(self) -> None:
        if min(self.ts_m, self.ts_k) < 1 or min(self.ts_n, self.ts_l) < 0:
            raise ValueError("need ts_m, ts_k >= 1 and ts_n, ts_l >= 0")
        if self.ts_k > 1 + self.ts_l * self.ts_n:
            raise ValueError(f"ts_k={self.ts_k} exceeds the leaves per tree, "
                             f"1 + ts_l*ts_n = {1 + self.ts_l * self.ts_n}")
        if self.advantage_mode not in TREE_ADVANTAGE_MODES:
            raise ValueError(f"advantage_mode must be one of {TREE_ADVANTAGE_MODES}")


class Tree:
    """The nodes of one tree; ``nodes[0]`` is the root."""

    def __init__(self, prompt: int, tree_id: int, root_env: Any, messages: Messages) -> None:
        self.prompt = prompt
        self.tree_id = tree_id
        self.nodes: list[TreeNode] = [TreeNode(0, None, 0, list(messages), env=root_env)]

    def candidates(self) -> list[int]:
        """Expansion candidates: the root and every non-leaf node (id order)."""
        return [n.id for n in self.nodes if n.id == 0 or not n.leaf]

    def leaves(self) -> list[int]:
        return [n.id for n in self.nodes if n.leaf]

    def path(self, node_id: int) -> list[int]:
        """Node ids root (excluded) → ``node_id``."""
        out: list[int] = []
        node: TreeNode | None = self.nodes[node_id]
        while node is not None and node.parent is not None:
            out.append(node.id)
            node = self.nodes[node.parent]
        return out[::-1]

    def add(self, parent: int, **kwargs: Any) -> TreeNode:
        node = TreeNode(len(self.nodes), parent, self.nodes[parent].depth + 1, **kwargs)
        self.nodes.append(node)
        self.nodes[parent].children.append(node.id)
        return node


def step_chains(
    chains: list[tuple[Tree, int, Any]], generate: GenerateFn, budget: Budget,
    count_tokens: Callable[[str], int], step_timeout_s: float | None = None,
    deadline: Deadline | None = None,
) -> None:
    """Advance every ``(tree, node, env)`` chain in lockstep (one batched ``generate`` per
    round) until each episode ends; each step adds a child node, leaves end the chain.

    Deadlines (:mod:`agents.rollout.deadline`): each chain has ``step_timeout_s`` (an
    :class:`~agents.rollout.deadline.EpisodeClock` from its start) and every ``env.step`` waits
    at most what is left of it or of the round's ``deadline``; a
    step that does not return in time ends its chain in a leaf whose reward is unscored
    (``"deadline"``)."""
    active = list(chains)
    clocks = {id(env): EpisodeClock(step_timeout_s) for _, _, env in active}
    while active:
        started = time.monotonic()
        replies = generate([tree.nodes[nid].messages for tree, nid, _ in active])
        for _, _, env in active:
            clocks[id(env)].charge(time.monotonic() - started)
        if len(replies) != len(active):
            raise ValueError(f"generate returned {len(replies)} replies for {len(active)}")
        still: list[tuple[Tree, int, Any]] = []
        for (tree, nid, env), reply in zip(active, replies, strict=True):
            before = [*tree.nodes[nid].messages, {"role": "assistant", "content": reply}]
            obs, reward, terminated, truncated, info = timed_step(
                env, reply, before, clocks[id(env)], deadline)
            calls = len(info.get("tool_calls") or [])
            budget.tokens_generated += count_tokens(reply)
            budget.policy_turns += 1
            budget.tool_calls += calls
            done = bool(terminated or truncated)
            node = tree.add(nid, messages=list(obs), reply=reply, reward=float(reward),
                            tool_calls=tree.nodes[nid].tool_calls + calls, leaf=done,
                            terminated=bool(terminated), truncated=bool(truncated), info=info)
            if done:
                budget.trajectories_generated += 1
            else:
                node.env = env.clone()  # a frozen snapshot; ``env`` itself keeps going
                still.append((tree, node.id, env))
        active = still


def tree_advantages(
    rewards: Sequence[float], prompts: Sequence[int], trees: Sequence[int],
    mode: str = "intra+inter", epsilon: float = 1e-6,
) -> list[float]:
    """Tree-GRPO advantages (module docstring): ``intra``, ``inter`` or ``intra+inter``."""
    if mode not in TREE_ADVANTAGE_MODES:
        raise ValueError(f"mode must be one of {TREE_ADVANTAGE_MODES}, got {mode!r}")
    r = torch.tensor(list(rewards), dtype=torch.float64)
    total = torch.zeros_like(r)
    if "intra" in mode:
        total += group_advantages(r, torch.tensor(list(trees)), "group", epsilon)[0].double()
    if "inter" in mode:
        total += group_advantages(r, torch.tensor(list(prompts)), "group", epsilon)[0].double()
    return [float(a) for a in total]


class TreeRollout:
    """Tree-GRPO rollouts for a batch of prompts.

    Args:
        generate: ``generate(list_of_message_lists) -> list[str]``.
        config: the ``ts_*`` knobs and the advantage mode.
        count_tokens: tokens of a reply (default: whitespace words; pass a tokenizer's count).
    """

    def __init__(self, generate: GenerateFn, config: TreeRolloutConfig | None = None,
                 count_tokens: Callable[[str], int] = whitespace_tokens) -> None:
        self.generate = generate
        self.config = config or TreeRolloutConfig()
        self.count_tokens = count_tokens
        self.trees: list[Tree] = []
        self.budget = Budget()
        # wall-clock budgets (agents.rollout.deadline): of each chain, and of the whole call
        self.episode_timeout_s: float | None = None
        self.deadline: Deadline | None = None

    def collect(self, env: Any, seeds: Sequence[int], seed: int = 0) -> list[BranchedTrajectory]:
        """Rows for every task seed (prompt order, then tree, then leaf id), advantages set.

        ``seed`` seeds the node choice and leaf pruning (``random.Random(seed)``). After the
        call ``self.trees`` holds the full trees and ``self.budget`` what was spent.
        """
        if not hasattr(env, "unwrapped") or not hasattr(env.unwrapped, "clone"):
            raise TypeError("env must be an rlenvs environment (its .unwrapped needs clone())")
        cfg, rng = self.config, random.Random(seed)
        self.budget, self.trees = Budget(), []
        seed_of: dict[int, int] = {}
        self.tasks: dict[int, Any] = {}
        for p, task_seed in enumerate(seeds):
            obs, info = call_within(lambda s=int(task_seed): env.reset(seed=s), name="env.reset",
                                    timeout=Deadline.earliest(self.deadline))
            seed_of[p] = int(task_seed)
            self.tasks[p] = info.get("task")
            root = env.unwrapped.clone()
            for t in range(cfg.ts_m):
                self.trees.append(Tree(p, p * cfg.ts_m + t, root.clone(), obs))
        # 1. init: one full chain from every root.
        self._expand([(tree, 0) for tree in self.trees])
        # 2. L expansion iterations, N picks per tree (with replacement).
        for _ in range(cfg.ts_l):
            picks = [(tree, nid) for tree in self.trees
                     for nid in rng.choices(tree.candidates(), k=cfg.ts_n)]
            self._expand(picks)
        # 3. keep k leaves per tree.
        rows: list[BranchedTrajectory] = []
        for tree in self.trees:
            leaves = tree.leaves()
            kept = leaves if cfg.ts_k >= len(leaves) else sorted(rng.sample(leaves, cfg.ts_k))
            for leaf_id in kept:
                rows.append(self._row(tree, leaf_id, seed_of[tree.prompt]))
                rows[-1].task = self.tasks[tree.prompt]
        self.budget.trajectories = len(rows)
        # unscored leaves (a fault, a deadline) take no part in the statistics: advantage 0
        scored = [r for r in rows if episode_status(r.infos)[0] == "scored"]
        given = dict(zip(map(id, scored), tree_advantages(
            [r.final_reward for r in scored], [r.prompt for r in scored],
            [r.tree for r in scored], cfg.advantage_mode, cfg.epsilon), strict=True))
        advs = [given.get(id(r), 0.0) for r in rows]
        for row, a in zip(rows, advs, strict=True):
            row.advantage = a
            row.turn_advantages = [a] * len(row.rewards)
            row.turn_owner = [True] * len(row.rewards)
        return rows

    def _expand(self, picks: list[tuple[Tree, int]]) -> None:
        chains = [(tree, nid, tree.nodes[nid].env.clone()) for tree, nid in picks]
        step_chains(chains, self.generate, self.budget, self.count_tokens,
                    self.episode_timeout_s, self.deadline)

    @staticmethod
    def _row(tree: Tree, leaf_id: int, task_seed: int) -> BranchedTrajectory:
        path = tree.path(leaf_id)
        leaf = tree.nodes[leaf_id]
        return BranchedTrajectory(
            prompt=tree.prompt, tree=tree.tree_id, messages=list(leaf.messages),
            rewards=[tree.nodes[i].reward for i in path], node_path=path,
            terminated=leaf.terminated, truncated=leaf.truncated, tool_calls=leaf.tool_calls,
            seed=task_seed, infos=[tree.nodes[i].info for i in path],
        )
