"""IFEval-v0 and Instruct-v0: prompts, per-constraint verdicts, binary/dense, thinking."""

from __future__ import annotations

import pytest

import rlenvs
from rlenvs.envs.ifeval_env import strip_thinking
from rlenvs.evaluation import evaluate
from rlenvs.policies import FunctionPolicy

LOWER = {"prompt": "Say hi. Use only lowercase letters.",
         "instruction_id_list": ["change_case:english_lowercase", "punctuation:no_comma"],
         "kwargs": [{}, {}]}


def test_ifeval_sample_prompts_and_components():
    env = rlenvs.make("rlenvs/IFEval-v0")
    obs, info = env.reset(seed=0)
    assert obs[-1]["content"] == info["task"]["prompt"]
    env.reset(options={"task": LOWER})
    _, reward, terminated, _, info = env.step("hello there my friend how are you doing today")
    assert reward == 1.0 and terminated
    assert info["reward_components"]["ifeval/change_case:english_lowercase"] == 1.0
    assert info["reward_components"]["prompt_level"] == 1.0
    env.reset(options={"task": LOWER})
    _, reward, _, _, info = env.step("Hello, There")
    assert reward == 0.0
    entries = info["verdict"].details["instructions"]
    assert [e["passed"] for e in entries] == [False, False] and all(e["reason"] for e in entries)


def test_dense_reward_is_the_fraction_followed():
    env = rlenvs.make("rlenvs/IFEval-v0", reward="dense")
    env.reset(options={"task": LOWER})
    assert env.step("hello, this is a short answer written in plain english")[1] == pytest.approx(0.5)


def test_thinking_is_stripped_when_asked():
    assert strip_thinking("<think>Hmm, OK</think>hi there") == "hi there"
    assert strip_thinking("answer <think>never closed, HUGE") == "answer"
    plain = rlenvs.make("rlenvs/IFEval-v0")
    plain.reset(options={"task": LOWER})
    assert plain.step("<think>Plan: Be Brief</think>hi there")[1] == 0.0
    env = rlenvs.make("rlenvs/IFEval-v0", strip_think=True)
    env.reset(options={"task": LOWER})
    assert env.step("<think>Plan: Be Brief</think>hi there")[1] == 1.0


def test_bad_pinned_task_is_rejected():
    env = rlenvs.make("rlenvs/IFEval-v0")
    with pytest.raises(ValueError):
        env.reset(options={"task": {"prompt": "x", "instruction_id_list": ["nope:nope"],
                                    "kwargs": [{}]}})


def test_instruct_env_is_seeded_and_composes_constraints():
    env = rlenvs.make("rlenvs/Instruct-v0")
    a = env.reset(seed=5)[1]["task"]
    b = env.reset(seed=5)[1]["task"]
    assert a == b and 1 <= len(a["instruction_id_list"]) <= 3
    sizes = {len(env.reset(seed=s)[1]["task"]["instruction_id_list"]) for s in range(30)}
    assert sizes >= {1, 2, 3} - {min(sizes) - 1}
    _, reward, _, _, info = env.step("")
    assert reward == 0.0 and info["verdict"].reason


def test_witness_responses_pass_composed_prompts():
    from judges.ifeval import build_witness

    result = evaluate(
        "rlenvs/Instruct-v0",
        FunctionPolicy(lambda msgs: build_witness_for(msgs, build_witness)),
        episodes=15, seed=100, progress=False,
    )
    assert result.summary["pass_at_k"]["pass@1"] == 1.0
    assert any(k.startswith("ifeval/") for k in result.summary["components"])


_ROWS: dict[str, dict] = {}


def build_witness_for(messages, build_witness):
    from rlenvs.envs.ifeval_env import base_task_of

    row = _ROWS[messages[-1]["content"]]
    return build_witness(row["instruction_id_list"], row["kwargs"], prompt=row["prompt"],
                         base_task=base_task_of(row))


@pytest.fixture(autouse=True)
def _remember_rows(monkeypatch):
    from judges import ifeval

    original = ifeval.compose_prompt

    def remembering(*args, **kwargs):
        row = original(*args, **kwargs)
        _ROWS[row["prompt"]] = row
        return row

    monkeypatch.setattr(ifeval, "compose_prompt", remembering)


FORBIDDEN = {"prompt": "Describe a small port town. Do not say harbor. Do not use commas.",
             "instruction_id_list": ["keywords:forbidden_words", "punctuation:no_comma"],
             "kwargs": [{"forbidden_words": ["harbor"]}, {}]}


def test_lookalike_text_earns_nothing_through_the_env():
    """Issue 26: the envs judge what a reply looks like; a Cyrillic "а" in the forbidden word and
    a full-width comma are the word and a comma, while an honest reply still earns full reward."""
    env = rlenvs.make("rlenvs/IFEval-v0", reward="dense", strip_think=True)
    env.reset(options={"task": FORBIDDEN})
    assert env.step("<think>x</think>the old h\u0430rbor\u200b town\uff0c quiet")[1] == 0.0
    env.reset(options={"task": FORBIDDEN})
    assert env.step("<think>x</think>the old port town is quiet \U0001f600 caf\u00e9")[1] == 1.0
