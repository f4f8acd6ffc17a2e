"""The embedded SmolLM2 policy drives the tool environments end to end (no exceptions)."""

from __future__ import annotations

import pytest

import rlenvs
from judges.llm.base import SamplingParams
from rlenvs.tools.masks import render_with_mask

TOOL_ENVS = ["rlenvs/ToolMath-v0", "rlenvs/SearchQA-v0", "rlenvs/ArithmeticFeedback-v0"]


def run_episodes(policy, episodes: list[tuple[str, int]], max_new_tokens: int, max_turns: int):
    """Lock-step episodes ``(env_id, seed)``, one batched generate per turn.

    Returns each episode's total reward and final observation.
    """
    envs = [rlenvs.make(env_id, **({} if env_id.endswith("Feedback-v0")
                                   else {"max_turns": max_turns}))
            for env_id, _ in episodes]
    obs = [env.reset(seed=seed)[0] for env, (_, seed) in zip(envs, episodes, strict=True)]
    totals = [0.0] * len(envs)
    live = list(range(len(envs)))
    turn = 0
    while live:
        sampling = SamplingParams(temperature=0.7, max_new_tokens=max_new_tokens, seed=turn)
        replies = policy.generate([obs[i] for i in live], sampling)
        still = []
        for i, reply in zip(live, replies, strict=True):
            obs[i], reward, terminated, truncated, info = envs[i].step(reply)
            assert isinstance(info.get("tool_calls", []), list) and "verdict" in info
            totals[i] += reward
            if not (terminated or truncated):
                still.append(i)
        live, turn = still, turn + 1
    return totals, obs


def test_smollm2_runs_tool_envs_end_to_end(smollm2):
    from judges.llm.embedded import load_embedded_tokenizer

    episodes = [("rlenvs/ToolMath-v0", 0), ("rlenvs/ToolMath-v0", 1),
                ("rlenvs/SearchQA-v0", 0), ("rlenvs/SearchQA-v0", 1)]
    totals, finals = run_episodes(smollm2, episodes, max_new_tokens=48, max_turns=2)
    assert len(totals) == 4 and all(-1.0 <= t <= 1.0 for t in totals)
    tokenizer = load_embedded_tokenizer()
    for final in finals:
        ids, mask = render_with_mask(tokenizer, final)
        replies = "".join(m["content"] for m in final if m["role"] == "assistant")
        assert tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m]) == replies


@pytest.mark.slow
@pytest.mark.parametrize("env_id", TOOL_ENVS)
def test_smollm2_fifty_episodes_per_tool_env(smollm2, env_id):
    totals, _ = run_episodes(smollm2, [(env_id, s) for s in range(50)], max_new_tokens=128,
                             max_turns=3)
    assert len(totals) == 50
