"""Chat-v0's rules judge (issue 27): a reply is paid only when it addresses the task -- it
shares a content word with the prompt or the task's reference and says more than the prompt.
Master-key replies ("Let's solve this problem step by step.", "Thought process:", "Solution")
are built of function words and words about answering, so they fail in any wording."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlenvs.audit.generic import MASTER_KEYS
from rlenvs.envs.chat_env import (
    _ANSWERING_WORDS,
    _FUNCTION_WORDS,
    SAMPLE_PATH,
    addresses_task,
    rule_chat_judge,
)

TASKS = [json.loads(line) for line in SAMPLE_PATH.read_text().splitlines() if line.strip()]
NO_CONTENT = sorted(_FUNCTION_WORDS | _ANSWERING_WORDS)


@pytest.mark.parametrize("key", MASTER_KEYS)
def test_master_keys_fail_on_every_prompt(key):
    for task in TASKS:
        v = rule_chat_judge(key, task)
        assert not v.passed and v.score == 0.0, (key, task["prompt"])


@settings(max_examples=60)
@given(st.lists(st.sampled_from(NO_CONTENT), min_size=1, max_size=12),
       st.sampled_from(["", ".", ":", "!", "..."]), st.sampled_from(TASKS),
       st.booleans())
def test_replies_of_function_and_answering_words_fail(words, end, task, capital):
    """Generated master keys: any sequence of words that say nothing about a task ("Let me
    think about this problem carefully, step by step:", "Here is my final answer.")."""
    reply = " ".join(words) + end
    reply = reply[:1].upper() + reply[1:] if capital else reply
    v = rule_chat_judge(reply, task)
    assert not v.passed and v.score == 0.0, reply


@pytest.mark.parametrize("task", TASKS, ids=[t["id"] for t in TASKS])
def test_references_and_their_restatements_pass(task):
    for reply in (task["reference"], f"Sure! {task['reference']}",
                  f"Here is my answer: {task['reference']}"):
        v = rule_chat_judge(reply, task)
        assert v.passed and v.score == 1.0, (reply, v.reason)


@pytest.mark.parametrize("task", TASKS, ids=[t["id"] for t in TASKS])
def test_an_echo_of_the_prompt_or_another_tasks_answer_fails(task):
    assert not addresses_task(task["prompt"], task)
    assert not rule_chat_judge(f"Let's solve this problem step by step. {task['prompt']}", task).passed
    # a well-formed reply about something else (no sample prompt or reference mentions it)
    assert not rule_chat_judge("Gregor Mendel bred peas in a monastery garden.", task).passed


def test_without_a_reference_the_prompt_alone_decides():
    task = {"prompt": "What should I pack for a one-day hike?"}
    assert rule_chat_judge("For a one-day hike pack water, snacks and a map.", task).passed
    assert not rule_chat_judge("Water, snacks and a map.", task).passed  # shares no word: known limit
    assert not rule_chat_judge("Solution:", task).passed
