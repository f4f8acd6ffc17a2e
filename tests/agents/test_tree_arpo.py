"""Tree-GRPO and ARPO rollouts: shapes, branching rule, budgets, advantages (scripted policy on
``rlenvs/ToolMath-v0``), plus one short SmolLM2 run of each."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import pytest

import rlenvs
from agents.rollout.arpo import ARPOConfig, ARPORollout, ChatEntropy, attribute_advantages
from agents.rollout.tree import (
    BranchedTrajectory,
    TreeRollout,
    TreeRolloutConfig,
    policy_generate,
    tree_advantages,
)

SEED = 0


def calc(expr: str) -> str:
    return "<tool_call>" + json.dumps({"name": "calculator", "arguments": {"expression": expr}}) \
        + "</tool_call>"


class Scripted:
    """Two calculator calls (``<counter>+0``, a fresh counter per reply), then an answer.

    The answer is correct (reward 1) iff the ``correct(counter)`` predicate holds.
    """

    def __init__(self, answer: str, correct: Any = lambda c: c % 2 == 0, calls: int = 2):
        self.answer, self.correct, self.calls, self.counter = answer, correct, calls, 0
        self.batches: list[int] = []

    def __call__(self, conversations: list[list[dict[str, Any]]]) -> list[str]:
        self.batches.append(len(conversations))
        out = []
        for conv in conversations:
            c, self.counter = self.counter, self.counter + 1
            turns = sum(m["role"] == "assistant" for m in conv)
            if turns < self.calls:
                out.append(calc(f"{c}+0"))
            else:
                out.append("\\boxed{" + (self.answer if self.correct(c) else "-1") + "}")
        return out


@pytest.fixture
def env():
    return rlenvs.make("rlenvs/ToolMath-v0", max_turns=5)


def answer_of(env: Any) -> str:
    _, info = env.reset(seed=SEED)
    return info["task"]["answer"]


def _normalised(rewards: list[float]) -> list[float]:
    """(r - mean) / (unbiased std + 1e-6), computed here from the papers' definition."""
    n = len(rewards)
    mean = sum(rewards) / n
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1))
    return [(r - mean) / (std + 1e-6) for r in rewards]


# ---------------------------------------------------------------------------- Tree-GRPO
def test_tree_advantages_hand_computed():
    rewards, prompts, trees = [1.0, 0.0, 1.0, 1.0], [0, 0, 0, 0], [0, 0, 1, 1]
    s = 1 / math.sqrt(2)  # unbiased std of {1, 0}
    intra = [0.5 / (s + 1e-6), -0.5 / (s + 1e-6), 0.0, 0.0]
    inter = [0.25 / 0.5, -0.75 / 0.5, 0.25 / 0.5, 0.25 / 0.5]  # mean .75, std .5
    for mode, want in [("intra", intra), ("inter", inter),
                       ("intra+inter", [a + b for a, b in zip(intra, inter, strict=True)])]:
        got = tree_advantages(rewards, prompts, trees, mode)
        assert got == pytest.approx(want, abs=1e-5), mode


@pytest.mark.parametrize("m,n,iters,k", [(2, 2, 1, 3), (3, 1, 2, 2), (1, 3, 1, 4)])
def test_tree_shapes_and_budget(env, m, n, iters, k):
    policy = Scripted(answer_of(env))
    ro = TreeRollout(policy, TreeRolloutConfig(ts_m=m, ts_n=n, ts_l=iters, ts_k=k))
    rows = ro.collect(env, [SEED], seed=7)
    # Replay the node choice: the chain is call, call, answer → non-leaf depths 0, 1, 2.
    rng = random.Random(7)
    depth: list[list[int]] = [[0, 1, 2, 3] for _ in range(m)]  # depth of node id
    leaf: list[list[bool]] = [[False, False, False, True] for _ in range(m)]
    for _ in range(iters):
        for t in range(m):
            cands = [i for i in range(len(depth[t])) if i == 0 or not leaf[t][i]]
            for pick in rng.choices(cands, k=n):
                for d in range(depth[t][pick] + 1, 4):
                    depth[t].append(d)
                    leaf[t].append(d == 3)
    assert [len(t.nodes) for t in ro.trees] == [len(d) for d in depth]
    assert [len(t.leaves()) for t in ro.trees] == [1 + iters * n] * m
    assert len(rows) == m * k and ro.budget.trajectories == m * k
    assert ro.budget.trajectories_generated == m * (1 + iters * n)
    created = sum(len(d) - 1 for d in depth)
    assert ro.budget.policy_turns == created == policy.counter
    assert ro.budget.tool_calls == sum(1 for d in depth for x in d if x in (1, 2))
    assert ro.budget.tokens_generated == sum(
        len(node.reply.split()) for t in ro.trees for node in t.nodes[1:])
    for row in rows:
        assert len(row.rewards) == 3 and len(row.node_path) == 3
        assert row.messages[-1]["role"] == "assistant" and "boxed" in row.messages[-1]["content"]
        assert row.tool_calls == 2 and row.terminated
        # the message list is the full root→leaf context: the replies of the path, in order
        tree = ro.trees[row.tree]
        replies = [msg["content"] for msg in row.messages if msg["role"] == "assistant"]
        assert replies == [tree.nodes[i].reply for i in row.node_path]
    # Tree-GRPO: intra-tree term (normalised within the row's tree) + inter-tree term
    # (normalised over all rows of the prompt), computed from the definition
    rewards = [r.final_reward for r in rows]
    inter = _normalised(rewards)
    want = []
    for i, row in enumerate(rows):
        mine = [j for j, other in enumerate(rows) if other.tree == row.tree]
        want.append(_normalised([rewards[j] for j in mine])[mine.index(i)] + inter[i])
    assert [r.advantage for r in rows] == pytest.approx(want, abs=1e-5)


def test_tree_expansion_continues_from_node_context(env):
    """A branch from a depth-2 node shares its first two turns (tool state included)."""
    policy = Scripted(answer_of(env))
    ro = TreeRollout(policy, TreeRolloutConfig(ts_m=1, ts_n=3, ts_l=1, ts_k=4))
    rows = ro.collect(env, [SEED], seed=1)
    tree = ro.trees[0]
    for nid, node in enumerate(tree.nodes[1:], start=1):
        parent = tree.nodes[node.parent]
        assert node.messages[: len(parent.messages)] == parent.messages, nid
        assert node.depth == parent.depth + 1
    paths = [tuple(r.node_path) for r in rows]
    assert len(set(paths)) == 4 and all(tree.nodes[p[-1]].leaf for p in paths)
    assert sum(len(p) for p in paths) >= len(tree.nodes) - 1  # every node is on a kept path


def test_tree_k_pruning_and_validation(env):
    with pytest.raises(ValueError):
        TreeRolloutConfig(ts_m=2, ts_n=2, ts_l=1, ts_k=4)
    policy = Scripted(answer_of(env), correct=lambda c: c % 3 == 0)
    ro = TreeRollout(policy, TreeRolloutConfig(ts_m=2, ts_n=2, ts_l=1, ts_k=2,
                                               advantage_mode="inter"))
    rows = ro.collect(env, [SEED, SEED + 1], seed=3)
    assert len(rows) == 2 * 2 * 2 and [r.prompt for r in rows] == [0] * 4 + [1] * 4
    assert [r.tree for r in rows] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert ro.budget.trajectories_generated == 12
    for p in (0, 1):
        mine = [r for r in rows if r.prompt == p]
        # Tree-GRPO's inter-tree term: (r - mean) / (unbiased std + 1e-6) over the prompt's leaves
        want = _normalised([r.final_reward for r in mine])
        assert [r.advantage for r in mine] == pytest.approx(want, abs=1e-5)


# ---------------------------------------------------------------------------- ARPO
def scripted_entropy(table: dict[str, float], calls: list[list[dict[str, Any]]]):
    """H(prompt) = 0.5; after a tool result, ``table[result]`` (default 0.5: ΔH = 0)."""

    def entropy(messages: list[dict[str, Any]]) -> float:
        calls.append(messages)
        last = messages[-1]
        return table.get(last["content"], 0.5) if last["role"] == "tool" else 0.5

    return entropy


def test_arpo_branching_rule(env):
    # Round 0: rollouts 0,1,2 call "0+0","1+0","2+0" → results "0","1","2".
    # ΔH = +1 → P = 1 (always), −1 → P = 0 (never), 0 → P = τ = 0.5 (the seeded draw decides).
    table = {"0": 1.5, "1": -0.5, "2": 0.5}
    outcomes = set()
    for seed in range(6):
        calls: list[Any] = []
        policy = Scripted(answer_of(env))
        cfg = ARPOConfig(n=5, initial_rollouts=3, beam_size=2, branch_probability=0.5,
                         entropy_weight=1.0)
        ro = ARPORollout(policy, scripted_entropy(table, calls), cfg)
        rows = ro.collect(env, [SEED], seed=seed)
        draws = random.Random(seed)
        u = [draws.random() for _ in range(3)]
        first = [e for e in ro.events if e.round == 0]
        assert [(e.source, e.probability) for e in first] == [(0, 1.0), (1, 0.0), (2, 0.5)]
        assert [e.draw for e in first] == u
        assert [e.branched for e in first] == [True, False, u[2] < 0.5]
        outcomes.add(first[2].branched)
        assert len(rows) == 5 and ro.budget.trajectories == 5
        # branch decisions saw the context *including* the tool result (fix 2)
        assert all(c[-1]["role"] == "tool" for c in calls[3:] if len(c) > 2)
        # every row: 2 calls then an answer; branches copy the source's turns
        assert all(len(r.rewards) == 3 and r.tool_calls == 2 for r in rows)
        assert ro.budget.tool_calls == policy.counter - ro.budget.trajectories
        assert ro.budget.policy_turns == policy.counter
        branch = rows[3]
        assert branch.node_path[0] == rows[0].node_path[0] != branch.node_path[2]
        assert branch.messages[:4] == rows[0].messages[:4]
    assert outcomes == {True, False}


def test_arpo_fresh_rollouts_and_per_call_initial_entropy(env):
    calls: list[Any] = []
    policy = Scripted(answer_of(env))
    cfg = ARPOConfig(n=4, initial_rollouts=1, beam_size=1)  # B=1: never branch
    ro = ARPORollout(policy, scripted_entropy({}, calls), cfg)
    rows = ro.collect(env, [SEED], seed=0)
    assert len(rows) == 4 and policy.batches == [1] * 12  # one fresh rollout after another
    assert len({r.node_path[0] for r in rows}) == 4 and not ro.events
    prompts = [c for c in calls if len(c) <= 2]
    assert len(prompts) == 4  # H_init measured per rollout, in this call
    ro.collect(env, [SEED], seed=0)
    assert len([c for c in calls if len(c) <= 2]) == 8  # …and again in the next call (fix 1)


def make_rows(paths: list[list[int]]) -> list[BranchedTrajectory]:
    return [BranchedTrajectory(prompt=0, tree=-1, messages=[], rewards=[0.0] * len(p),
                               node_path=p) for p in paths]


def test_arpo_attribution_hand_computed():
    # rows 0 and 1 share segment 0 (two turns), then diverge; row 2 is separate.
    paths, adv = [[0, 0, 3], [0, 0, 4], [2, 2]], [1.0, -2.0, 0.5]
    rows = make_rows(paths)
    attribute_advantages(rows, adv, "soft")
    assert [r.turn_advantages for r in rows] == [[1.0] * 3, [-2.0] * 3, [0.5] * 2]
    assert all(all(r.turn_owner) for r in rows)
    rows = make_rows(paths)
    attribute_advantages(rows, adv, "hard")
    assert [r.turn_advantages for r in rows] == [[-0.5, -0.5, 1.0], [-0.5, -0.5, -2.0],
                                                 [0.5, 0.5]]
    assert [r.turn_owner for r in rows] == [[True] * 3, [False, False, True], [True] * 2]
    assert [r.advantage for r in rows] == adv


def test_arpo_hard_attribution_end_to_end(env):
    table = {"0": 1.5, "1": 1.5}
    policy = Scripted(answer_of(env), correct=lambda c: c % 2 == 1)
    cfg = ARPOConfig(n=4, initial_rollouts=2, beam_size=2, entropy_weight=1.0,
                     attribution="hard")
    ro = ARPORollout(policy, scripted_entropy(table, []), cfg)
    rows = ro.collect(env, [SEED], seed=0)
    assert len(rows) == 4 and [r.node_path[0] for r in rows[2:]] == [rows[0].node_path[0],
                                                                     rows[1].node_path[0]]
    # ARPO: GRPO advantages of the M final rewards; a shared prefix gets the mean of its rows'
    rewards = [r.final_reward for r in rows]
    assert len(set(rewards)) > 1
    adv = _normalised(rewards)
    assert [r.advantage for r in rows] == pytest.approx(adv, abs=1e-6)
    for i, j in [(0, 2), (1, 3)]:
        shared = (adv[i] + adv[j]) / 2
        assert rows[i].turn_advantages[0] == pytest.approx(shared, abs=1e-6)
        assert rows[j].turn_advantages[0] == pytest.approx(shared, abs=1e-6)
        assert rows[j].turn_advantages[-1] == pytest.approx(adv[j], abs=1e-6)
        assert rows[i].turn_owner[0] and not rows[j].turn_owner[0]


# ---------------------------------------------------------------------------- SmolLM2
def test_smollm2_tree_and_arpo_run(smollm2):
    from rlenvs.policies import SamplingParams

    env = rlenvs.make("rlenvs/ToolMath-v0", max_turns=2)
    generate = policy_generate(smollm2, SamplingParams(temperature=1.0, max_new_tokens=32,
                                                       seed=0))
    count = lambda s: len(smollm2.tokenizer.encode(s, add_special_tokens=False))  # noqa: E731
    tree = TreeRollout(generate, TreeRolloutConfig(ts_m=2, ts_n=1, ts_l=1, ts_k=2), count)
    rows = tree.collect(env, [SEED], seed=0)
    assert len(rows) == 4 and tree.budget.tokens_generated > 0
    assert all(math.isfinite(r.advantage) for r in rows)
    entropy = ChatEntropy(smollm2, k=4, top_logprobs=5)
    h = entropy([{"role": "user", "content": "Say hi."}])
    assert 0.0 <= h <= 1.0
    arpo = ARPORollout(generate, entropy, ARPOConfig(n=3, initial_rollouts=2,
                                                     branch_on="any", attribution="hard"),
                       count)
    rows = arpo.collect(env, [SEED], seed=0)
    assert len(rows) == 3 and all(math.isfinite(t) for r in rows for t in r.turn_advantages)
