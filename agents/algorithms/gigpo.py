"""GiGPO: Group-in-Group Policy Optimization for multi-turn agents (Feng et al., arXiv 2505.10978).

Critic-free like GRPO, with a second, finer level of groups inside each task's group.

**Episode level** (GRPO's group: the N episodes of one task):

    R(τ_i)   = Σ_t r_{i,t}                                     (the episode's total reward)
    A^E(τ_i) = (R(τ_i) − mean_j R(τ_j)) / F_norm

**Step level** (anchor states). Step t of episode i acts from an environment state s_{i,t}. The
steps of one task's episodes that act from the *same* state form a step group

    G^S(s) = {(a_{j,k}, R_{j,k}) : s_{j,k} = s},   R_{i,t} = Σ_{k ≥ t} γ^{k−t} r_{i,k}

(R_{i,t}: the discounted return from step t), and each action is compared with the others taken
from its state:

    A^S(a_{i,t}) = (R_{i,t} − mean_{G^S(s_{i,t})} R) / F_norm

**Combined**, given to every policy token of step t:

    A_{i,t} = A^E(τ_i) + ω · A^S(a_{i,t})

``F_norm`` is the group's standard deviation + ε (``scale_rewards="group"``, the paper's
``mean_std_norm``) or 1 (``"none"``, ``mean_norm``, the default of the paper's scripts);
std is Bessel-corrected. An episode group of one has mean 0 and std 1 (as :mod:`grpo`); a step
group of one has A^S = 0 (its mean is its own return: nothing to compare with). Defaults
γ = 0.95, ω = 1 (the paper's). verl-agent's names: ``algorithm.adv_estimator=gigpo``,
``algorithm.gamma``, ``algorithm.gigpo.step_advantage_w``, ``algorithm.gigpo.mode``. (verl-agent
takes the episode-level mean over every *step* row of a group, weighting long episodes more; the
paper's Eq. 3, followed here, averages over episodes.)

**Anchor states come from the environment, not from string matching.** Every rlenvs environment
reports ``info["state_key"]`` after each step (:meth:`rlenvs.core.LLMEnv.state_key`): a hash of
the task, the turn, every message the environment wrote (prompt, tool results, feedback) and its
hidden state (a Python session, tool-call budget, past answers when they change future rewards),
but not the words the policy used to get there. Two episodes whose different replies led to the
same tool result, or the same "incorrect, try again", are in the same state. The state before the
first step is the reset state, shared by every episode of a group (they are clones of one reset).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import torch

__all__ = ["RESET_STATE", "anchor_states", "discounted_returns", "step_advantages",
           "gigpo_advantages", "spread_over_turns"]

RESET_STATE = "reset"  # the anchor of every episode's first step


def anchor_states(infos: Sequence[Mapping[str, Any]]) -> list[Hashable]:
    """The state each step acted from: the reset state, then ``info["state_key"]`` of every
    step but the last (the state the step before it left)."""
    anchors: list[Hashable] = [RESET_STATE]
    for k, info in enumerate(infos[:-1]):
        key = info.get("state_key")
        if key is None:
            raise ValueError(
                f"step {k + 1}'s info has no 'state_key': GiGPO groups steps by the environment "
                "state they act from, which rlenvs environments report in info['state_key'] "
                "(rlenvs.core.LLMEnv.state_key); a custom environment must report it too")
        anchors.append(key)
    return anchors


def discounted_returns(rewards: Sequence[float], gamma: float) -> list[float]:
    """``R_t = Σ_{k≥t} γ^{k−t} r_k`` for every step of one episode."""
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must be in [0, 1], got {gamma}")
    out = [0.0] * len(rewards)
    running = 0.0
    for t in reversed(range(len(rewards))):
        running = float(rewards[t]) + gamma * running
        out[t] = running
    return out


def _normalise(values: list[float], scale: bool, epsilon: float, singleton_mean: float | None
               ) -> list[float]:
    x = torch.tensor(values, dtype=torch.float64)
    if len(values) == 1:
        mean = float(x[0]) if singleton_mean is None else singleton_mean
        std = 1.0
    else:
        mean, std = float(x.mean()), float(x.std())
    return [(v - mean) / (std + epsilon) if scale else v - mean for v in values]


def step_advantages(
    returns: Sequence[Sequence[float]],
    anchors: Sequence[Sequence[Hashable]],
    groups: Sequence[int],
    scale_rewards: str = "none",
    epsilon: float = 1e-4,
) -> tuple[list[list[float]], list[list[int]]]:
    """A^S of every step (``returns[i][t]`` from state ``anchors[i][t]`` of episode group
    ``groups[i]``) and the step group id of each step (numbered in first-seen order)."""
    _check_scale(scale_rewards)
    if not len(returns) == len(anchors) == len(groups):
        raise ValueError("returns, anchors and groups need one entry per episode")
    ids: dict[tuple[int, Hashable], int] = {}
    members: list[list[tuple[int, int]]] = []
    group_of: list[list[int]] = []
    for i, (r_i, s_i) in enumerate(zip(returns, anchors, strict=True)):
        if len(r_i) != len(s_i):
            raise ValueError(f"episode {i}: {len(r_i)} step returns but {len(s_i)} anchor states")
        row = []
        for t, state in enumerate(s_i):
            gid = ids.setdefault((int(groups[i]), state), len(ids))
            if gid == len(members):
                members.append([])
            members[gid].append((i, t))
            row.append(gid)
        group_of.append(row)
    adv = [[0.0] * len(r) for r in returns]
    for steps in members:
        values = [float(returns[i][t]) for i, t in steps]
        for (i, t), a in zip(steps, _normalise(values, scale_rewards == "group", epsilon, None),
                             strict=True):
            adv[i][t] = a
    return adv, group_of


def gigpo_advantages(
    step_rewards: Sequence[Sequence[float]],
    anchors: Sequence[Sequence[Hashable]],
    groups: Sequence[int],
    *,
    gamma: float = 0.95,
    step_advantage_w: float = 1.0,
    scale_rewards: str = "none",
    epsilon: float = 1e-4,
) -> tuple[list[list[float]], dict[str, float]]:
    """GiGPO advantage ``A^E + ω·A^S`` of every step of every episode, and step-group metrics.

    Args:
        step_rewards: per episode, the reward of each step (turn).
        anchors: per episode, the state each step acted from (:func:`anchor_states`).
        groups: per episode, its episode group (task) id.

    Metrics: ``gigpo/step_groups`` (distinct (task, state) groups in the batch),
    ``gigpo/step_groups_shared`` (those with at least two steps: the ones that compare
    actions), ``gigpo/anchor_groups`` (shared groups at a state after the reset state: what
    GiGPO adds to GRPO's episode groups), ``gigpo/step_group_size_mean`` and
    ``gigpo/shared_step_frac`` (steps in a shared group).
    """
    _check_scale(scale_rewards)
    if step_advantage_w < 0:
        raise ValueError(f"step_advantage_w must be >= 0, got {step_advantage_w}")
    if not len(step_rewards) == len(anchors) == len(groups):
        raise ValueError("step_rewards, anchors and groups need one entry per episode")
    if any(len(r) == 0 for r in step_rewards):
        raise ValueError("every episode needs at least one step")
    totals = [float(sum(r)) for r in step_rewards]
    episode = [0.0] * len(totals)
    for g in dict.fromkeys(int(x) for x in groups):
        idx = [i for i, gi in enumerate(groups) if int(gi) == g]
        normed = _normalise([totals[i] for i in idx], scale_rewards == "group", epsilon, 0.0)
        for i, a in zip(idx, normed, strict=True):
            episode[i] = a
    returns = [discounted_returns(r, gamma) for r in step_rewards]
    step, group_of = step_advantages(returns, anchors, groups, scale_rewards, epsilon)
    combined = [[episode[i] + step_advantage_w * a for a in row] for i, row in enumerate(step)]
    return combined, _group_stats(group_of, anchors)


def spread_over_turns(values: Sequence[float], turn_ends: Sequence[int], length: int
                      ) -> torch.Tensor:
    """Per-token values ``(length,)``: token j gets the value of the first turn ending at or after
    j (a turn's policy tokens and the environment tokens before them; those are masked)."""
    if len(values) != len(turn_ends):
        raise ValueError(f"{len(values)} step values for {len(turn_ends)} turns")
    out = torch.zeros(length, dtype=torch.float32)
    start = 0
    for value, end in zip(values, turn_ends, strict=True):
        if end < start - 1 or end >= length:
            raise ValueError(f"turn end {end} outside [{start}, {length})")
        out[start: end + 1] = value
        start = end + 1
    if values:
        out[start:] = values[-1]
    return out


def _group_stats(group_of: list[list[int]], anchors: Sequence[Sequence[Hashable]]
                 ) -> dict[str, float]:
    sizes: dict[int, int] = {}
    later: set[int] = set()
    for row, states in zip(group_of, anchors, strict=True):
        for gid, state in zip(row, states, strict=True):
            sizes[gid] = sizes.get(gid, 0) + 1
            if state != RESET_STATE:
                later.add(gid)
    shared = {g for g, n in sizes.items() if n > 1}
    steps = sum(sizes.values())
    return {
        "gigpo/step_groups": float(len(sizes)),
        "gigpo/step_groups_shared": float(len(shared)),
        "gigpo/anchor_groups": float(len(shared & later)),
        "gigpo/step_group_size_mean": steps / max(len(sizes), 1),
        "gigpo/shared_step_frac": sum(sizes[g] for g in shared) / max(steps, 1),
    }


def _check_scale(scale_rewards: str) -> None:
    if scale_rewards not in ("group", "none"):
        raise ValueError(f"GiGPO normalises by the group std ('group', mean_std_norm) or not at "
                         f"all ('none', mean_norm); got scale_rewards={scale_rewards!r}")
