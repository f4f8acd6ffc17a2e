"""Tool-call parsing and the bad-input battery: every bad call is an observation, never a crash."""

from __future__ import annotations

import json

import pytest

import rlenvs
from rlenvs.tools import HermesParser, TagParser, ToolEnv, calculator, make_parser, tool
from rlenvs.tools.parsing import AnyParser

TOOLS = {"calculator": calculator}


def call(name: str, **arguments) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def make_env(**kwargs) -> ToolEnv:
    arithmetic = rlenvs.make("rlenvs/Arithmetic-v0", level=2)

    @tool
    def slow(seconds: float) -> str:
        """Raise a timeout like a tool whose backend timed out."""
        raise TimeoutError(f"backend took longer than {seconds} s")

    env = ToolEnv(arithmetic, tools=[calculator, slow], **kwargs)
    env.reset(seed=0)
    return env


def test_hermes_parses_several_calls_and_openai_string_arguments():
    text = (call("calculator", expression="1+1") + " and " +
            '<tool_call>{"name": "calculator", "arguments": "{\\"expression\\": \\"2*3\\"}"}'
            "</tool_call>")
    result = HermesParser().parse(text, TOOLS)
    assert [c.arguments for c in result.calls] == [{"expression": "1+1"}, {"expression": "2*3"}]
    assert all(c.error is None for c in result.calls)


def test_tag_parser_and_any_parser():
    text = "<calculator>2^5</calculator> then <python>\n```python\nprint(1)\n```\n</python>"
    tools = {"calculator": calculator, "python": rlenvs.tools.make_python_tool()}
    calls = TagParser().parse(text, tools).calls
    assert calls[0].arguments == {"expression": "2^5"}
    assert calls[1].arguments == {"code": "print(1)"}  # the fence inside the tag is removed
    mixed = "<calculator>1+1</calculator>" + call("calculator", expression="3")
    assert [c.arguments["expression"] for c in AnyParser().parse(mixed, tools).calls] == ["1+1",
                                                                                          "3"]
    quoted = call("python", code="s = '<calculator>1</calculator>'")
    assert [c.name for c in AnyParser().parse(quoted, tools).calls] == ["python"]
    with pytest.raises(ValueError, match="unknown tool-call parser"):
        make_parser("xml")


def test_calls_inside_code_fences_are_ignored():
    text = "Example:\n```\n" + call("calculator", expression="1+1") + "\n```\nno real call"
    assert not HermesParser().parse(text, TOOLS).found
    env = make_env()
    _, _, terminated, _, info = env.step(text)  # no call -> judged as the final answer
    assert terminated and info["tool_calls"] == []


@pytest.mark.parametrize(
    "reply, status, message",
    [
        ("<tool_call>{not json}</tool_call>", "invalid", "not valid JSON"),
        ('<tool_call>{"arguments": {}}</tool_call>', "invalid", "must be a JSON object"),
        ('<tool_call>["calculator"]</tool_call>', "invalid", "must be a JSON object"),
        (call("rm_rf", path="/"), "invalid", "unknown tool 'rm_rf'"),
        (call("calculator", expression=12), "invalid", "must be string"),
        (call("calculator"), "invalid", "missing required"),
        (call("calculator", expression="9**9**9"), "error", "too large"),
        (call("slow", seconds=1.5), "fault", "TimeoutError"),  # the tool failed, not the policy
        ("<tool_call>" + call("calculator", expression="1") + "</tool_call>", "invalid",
         "not valid JSON"),  # nested tags
        ('<tool_call>{"name": "calculator", "arguments": {"expression": "1+', "invalid",
         "unclosed"),
        (call("calculator", expression="1" * 30_000), "invalid", "over the limit"),
        ("<tool_call>" + "[" * 5000 + "]" * 5000 + "</tool_call>", "invalid", "not valid JSON"),
    ],
)
def test_bad_calls_become_error_observations(reply, status, message):
    env = make_env()
    obs, reward, terminated, truncated, info = env.step(reply)
    assert not terminated and not truncated and reward == 0.0
    (record,) = info["tool_calls"]
    assert record["status"] == status and message in record["error"], record
    assert obs[-1]["role"] == "tool" and obs[-1]["content"].startswith("Error:")
    assert message in obs[-1]["content"]


def test_unicode_arguments_round_trip():
    env = make_env()
    obs, *_, info = env.step(call("calculator", expression="２＋２ — π"))
    assert info["tool_calls"][0]["arguments"] == {"expression": "２＋２ — π"}
    assert "not allowed" in obs[-1]["content"]
    env = rlenvs.make("rlenvs/SearchQA-v0")
    env.reset(seed=0)
    obs, *_ = env.step(call("search", query="Tessaly-on-Wold 数学 ∑ café"))
    assert "Tessaly-on-Wold" in obs[-1]["content"]


def test_hundred_calls_in_one_turn_are_capped():
    env = make_env(max_calls_per_turn=8, max_tool_calls=200)
    reply = "".join(call("calculator", expression=f"{i}+1") for i in range(100))
    obs, _, terminated, truncated, info = env.step(reply)
    statuses = [r["status"] for r in info["tool_calls"]]
    assert statuses.count("ok") == 8 and statuses.count("skipped") == 92
    assert "92 tool call(s) over the limit of 8" in obs[-1]["content"]
    assert not terminated and not truncated


def test_megabyte_tool_call_text_is_bounded():
    env = make_env(max_reply_chars=2_000_000)
    big = call("calculator", expression="1" * 1_000_000)
    obs, _, terminated, _, info = env.step(big)
    assert info["tool_calls"][0]["status"] == "invalid"
    assert "unclosed" in info["tool_calls"][0]["error"]  # cut at the scan limit
    assert "only the first" in obs[-1]["content"]
    env = make_env()  # the default reply limit rejects it before parsing, with a reason
    _, reward, terminated, _, info = env.step(big)
    assert terminated and reward == 0.0 and "limit" in info["verdict"].reason


def test_tool_call_budget_and_turn_limit_truncate():
    env = make_env(max_tool_calls=2, max_turns=10)
    for _ in range(2):
        *_, truncated, _ = env.step(call("calculator", expression="1+1"))
        assert not truncated
    _, _, terminated, truncated, info = env.step(call("calculator", expression="1+1"))
    assert truncated and not terminated and info["truncated_reason"] == "tool-call budget"
    assert info["tool_calls"][0]["status"] == "skipped"
    env = make_env(max_turns=2)
    env.step(call("calculator", expression="1+1"))
    _, _, terminated, truncated, info = env.step(call("calculator", expression="1+1"))
    assert truncated and info["truncated_reason"] == "turn limit"


def test_answer_tool_and_boxed_answer_end_the_episode():
    env = make_env()
    answer = env.task["answer"]
    _, reward, terminated, _, info = env.step(call("answer", answer=answer))
    assert terminated and reward == 1.0 and info["verdict"].passed
    env = make_env()
    _, reward, terminated, _, info = env.step("\\boxed{-99999}")
    assert terminated and reward == 0.0 and not info["verdict"].passed


def test_no_tool_call_and_no_answer_fails_or_nudges():
    env = make_env()
    _, reward, terminated, _, info = env.step("Let me think about it.")
    assert terminated and reward == 0.0 and "boxed" in info["verdict"].reason
    env = make_env(no_tool_call="nudge", max_nudges=1)
    obs, reward, terminated, _, _ = env.step("Let me think about it.")
    assert not terminated and obs[-1]["role"] == "user" and "boxed" in obs[-1]["content"]
    _, _, terminated, _, _ = env.step("Still thinking.")
    assert terminated  # nudges are bounded


def test_shaping_rewards_valid_calls_and_penalises_invalid_ones():
    env = make_env(tool_call_reward=0.1, invalid_call_penalty=0.2)
    _, reward, *_ = env.step(call("calculator", expression="1+1") + call("nope"))
    assert reward == pytest.approx(0.1 - 0.2)


CALC = call("calculator", expression="6*7")


@pytest.mark.parametrize("parser, reply, says", [
    ("hermes", f"Let me use the calculator:\n```\n{CALC}\n```", "inside a ``` code fence"),
    ("hermes", "<calculator>6*7</calculator>", '<tool_call>{"name": "calculator"'),
    ("hermes", '{"name": "calculator", "arguments": {"expression": "6*7"}}', "needs its tags"),
    ("tags", CALC, "call a tool with its tag, e.g. <calculator>"),
    ("tags", "```\n<calculator>6*7</calculator>\n```", "inside a ``` code fence"),
    ("any", f"```python\n{CALC}\n```", "inside a ``` code fence"),
])
def test_a_call_in_the_wrong_form_says_why_it_was_not_run(parser, reply, says):
    """Issue 18 item 9: such a call was silently ignored and the episode ended with "no
    \\boxed{} answer found"; now the reason is in info and in the verdict."""
    env = rlenvs.make("rlenvs/ToolMath-v0", parser=parser)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step(reply)
    assert terminated and reward == 0.0 and not info["verdict"].passed
    assert any(says in e for e in info["tool_call_errors"]), info["tool_call_errors"]
    assert says in info["verdict"].reason and "no \\boxed{} answer" in info["verdict"].reason
    # with nudging, the policy is told what was wrong instead
    env = rlenvs.make("rlenvs/ToolMath-v0", parser=parser, no_tool_call="nudge")
    env.reset(seed=0)
    obs, _, terminated, _, info = env.step(reply)
    assert not terminated and says in obs[-1]["content"] and info["tool_call_errors"]


def test_replies_that_did_not_try_a_call_get_no_tool_call_errors():
    env = rlenvs.make("rlenvs/ToolMath-v0")
    task = env.reset(seed=0)[1]["task"]
    for reply in ("I think it is 12.", "The calculator tool would help here.",
                  f"\\boxed{{{task['answer']}}}"):
        env.reset(seed=0)
        info = env.step(reply)[-1]
        assert "tool_call_errors" not in info, (reply, info)
    # a fenced example next to a right final answer does not change a passing verdict
    env.reset(seed=0)
    info = env.step(f"For example:\n```\n{CALC}\n```\n\\boxed{{{task['answer']}}}")[-1]
    assert info["verdict"].passed and info["tool_call_errors"]
