"""Red team, the episode API: rewards a policy could collect without answering.

The policy controls only its replies (``step(text)``); the trainer owns ``reset``, ``options``
and ``clone``. So: a reply of the wrong type or of absurd size is refused or scored 0, never a
crash or a reward; stepping a finished episode again earns nothing; a branch made with
``clone()`` is scored on its own reply and cannot change what the original earns; and nothing
the policy observes (prompts, feedback after a wrong attempt, tool messages) carries the gold
answer. ``info["task"]`` does hold it: ``info`` is the trainer's, never shown to the policy.
"""

from __future__ import annotations

import pytest

import rlenvs
from rlenvs.core import EpisodeEndedError

ANSWER_ENVS = ["rlenvs/Arithmetic-v0", "rlenvs/ToolMath-v0", "rlenvs/SearchQA-v0",
               "rlenvs/ArithmeticFeedback-v0", "rlenvs/GSM8K-v0", "rlenvs/MATH-v0"]


@pytest.mark.parametrize("action", [b"\\boxed{1}", ["\\boxed{1}"], None, 1, {"content": "1"}])
def test_non_text_actions_are_refused(action):
    env = rlenvs.make("rlenvs/Arithmetic-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(action)


def test_a_huge_reply_is_scored_zero_not_judged():
    env = rlenvs.make("rlenvs/Arithmetic-v0", reward="dense")
    _, info = env.reset(seed=0)
    reply = "\\boxed{" + info["task"]["answer"] + "}" + " " * 200_000
    _, reward, terminated, _, info = env.step(reply)
    assert terminated and reward == 0.0 and "over the limit" in info["verdict"].reason


def test_stepping_a_finished_episode_earns_nothing():
    env = rlenvs.make("rlenvs/Arithmetic-v0")
    _, info = env.reset(seed=0)
    assert env.step("\\boxed{" + info["task"]["answer"] + "}")[1] == 1.0
    with pytest.raises(EpisodeEndedError):
        env.step("\\boxed{" + info["task"]["answer"] + "}")


@pytest.mark.parametrize("env_id", ["rlenvs/Arithmetic-v0", "rlenvs/ArithmeticFeedback-v0",
                                    "rlenvs/ToolMath-v0"])
def test_a_branch_cannot_change_what_the_original_earns(env_id):
    env = rlenvs.make(env_id).unwrapped
    _, info = env.reset(seed=4)
    gold = info["task"]["answer"]
    twin = env.clone()
    assert twin.step(f"\\boxed{{{gold}}}")[1] == 1.0
    with pytest.raises(EpisodeEndedError):
        twin.step(f"\\boxed{{{gold}}}")
    twin.reset(seed=99)  # resetting the branch leaves the original's task alone
    assert env.task == info["task"] and env.episode.rewards == []
    _, reward, terminated, _, _ = env.step("\\boxed{-12345}")
    assert reward <= 0.0
    assert env.episode.rewards == [reward] and twin.episode.rewards == []


def _leaks(gold: str, messages: list[dict]) -> list[str]:
    import re

    pattern = re.compile(rf"(?<![\w.]){re.escape(gold)}(?![\w.])")
    return [m["content"] for m in messages if pattern.search(str(m["content"]))]


@pytest.mark.parametrize("env_id", ANSWER_ENVS)
def test_observations_never_show_the_gold_answer(env_id):
    env = rlenvs.make(env_id)
    for seed in range(25):
        obs, info = env.reset(seed=seed)
        task = info["task"]
        gold = str(task["answer"]).strip()
        if len(gold) < 3 or gold in str(task.get("question", task.get("problem", ""))):
            continue  # the answer is a number the question itself shows (e.g. "3 + 0")
        assert not _leaks(gold, obs), (seed, gold)
        wrong = "\\boxed{-98765}"
        obs, _, terminated, truncated, _ = env.step(wrong)
        assert not _leaks(gold, obs), (seed, gold, obs[-1])
        if not (terminated or truncated):
            bad_call = '<tool_call>{"name": "calculator", "arguments": {"expression": "1/0"}}'
            obs, *_ = env.step(bad_call + "</tool_call>")
            assert not _leaks(gold, obs), (seed, gold, obs[-1])
