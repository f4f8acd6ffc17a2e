"""UFO unary-feedback wrapper and token masks for agents."""

from __future__ import annotations

import json
import warnings

import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from rlenvs.tools import ToolEnv, UnaryFeedbackEnv, calculator, render_with_mask
from rlenvs.tools.feedback import TRY_AGAIN

TASK = {"question": "2 + 2", "answer": "4"}


def test_ufo_retries_with_discounted_reward():
    env = UnaryFeedbackEnv("rlenvs/Arithmetic-v0", max_attempts=3, gamma=0.5)
    env.reset(options={"task": TASK})
    obs, reward, terminated, truncated, info = env.step("\\boxed{5}")
    assert (reward, terminated, truncated) == (0.0, False, False)
    assert obs[-1] == {"role": "user", "content": TRY_AGAIN} and info["attempt"] == 1
    obs, reward, terminated, _, info = env.step("\\boxed{4}")
    assert terminated and reward == pytest.approx(0.5) and info["verdict"].passed


def test_ufo_passes_env_kwargs_to_the_wrapped_env():
    strict = UnaryFeedbackEnv("rlenvs/Arithmetic-v0", max_attempts=2)
    lenient = rlenvs.make("rlenvs/ArithmeticFeedback-v0", max_attempts=2,
                          env_kwargs={"level": 1, "lenient": True})
    for env, passes in ((strict, False), (lenient, True)):
        env.reset(options={"task": TASK})
        _, _, terminated, _, info = env.step("2 plus 2 makes 4")
        assert info["verdict"].passed is passes and terminated is passes
    obs, info = lenient.reset(seed=3)
    assert info["task"]["level"] == 1
    with pytest.raises(ValueError, match="env_kwargs"):
        UnaryFeedbackEnv(rlenvs.make("rlenvs/Arithmetic-v0"), env_kwargs={"level": 1})


def test_ufo_ends_after_k_wrong_attempts_and_penalises_repeats():
    env = UnaryFeedbackEnv(rlenvs.make("rlenvs/Arithmetic-v0"), max_attempts=3,
                           repeat_penalty=0.25)
    env.reset(options={"task": TASK})
    assert env.step("\\boxed{5}")[1] == 0.0
    _, reward, terminated, _, info = env.step("so \\boxed{5}")
    assert reward == -0.25 and info["repeated_answer"] and not terminated
    _, reward, terminated, truncated, info = env.step("\\boxed{6}")
    assert terminated and not truncated and reward == 0.0 and not info["verdict"].passed
    with pytest.raises(rlenvs.EpisodeEndedError):
        env.step("\\boxed{4}")


def test_ufo_passes_the_checker_and_clones():
    env = UnaryFeedbackEnv("rlenvs/Arithmetic-v0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env)
    env.reset(options={"task": TASK})
    env.step("\\boxed{1}")
    twin = env.clone()
    assert twin.step("\\boxed{4}")[1] == pytest.approx(0.8)
    assert not env.episode.done and env.episode.extra["answers"] == ["1"]
    assert env.step("\\boxed{2}")[1] == 0.0


def test_ufo_inside_tool_env():
    ufo = UnaryFeedbackEnv("rlenvs/Arithmetic-v0", max_attempts=2)
    env = ToolEnv(ufo, tools=[calculator])
    env.reset(options={"task": TASK})
    obs, reward, terminated, _, _ = env.step("\\boxed{3}")
    assert not terminated and obs[-1]["content"] == TRY_AGAIN
    _, reward, terminated, _, _ = env.step("\\boxed{4}")
    assert terminated and reward == 1.0  # ToolEnv applies its own schedule to the verdict


@pytest.fixture(scope="module")
def tokenizer():
    from judges.llm.embedded import load_embedded_tokenizer

    return load_embedded_tokenizer()


def test_mask_reproduces_exactly_the_assistant_replies(tokenizer):
    env = ToolEnv(rlenvs.make("rlenvs/Arithmetic-v0").unwrapped, tools=[calculator])
    env.reset(options={"task": {"question": "12 * 12", "answer": "144"}})
    replies = [
        'I will compute. <tool_call>{"name": "calculator", "arguments": '
        '{"expression": "12*12"}}</tool_call>',
        "  It is \\boxed{144} — done ✓ 数学\n\n",
    ]
    obs = None
    for reply in replies:
        obs, *_ = env.step(reply)
    ids, mask = render_with_mask(tokenizer, obs)  # tools are already in the system prompt
    assert len(ids) == len(mask) and 0 < sum(mask) < len(mask)
    policy_text = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    assert policy_text == "".join(replies)
    everything = tokenizer.decode(ids)
    assert everything == tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in obs], tokenize=False)
    assert "<|im_start|>tool\n144<|im_end|>" in everything
    env_tokens = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert "144<|im_end|>" in env_tokens and "I will compute" not in env_tokens


def test_tools_go_to_the_system_prompt_when_the_template_ignores_them(tokenizer):
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    schema = calculator.schema
    ids, mask = render_with_mask(tokenizer, messages, tools=[schema])
    text = tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system\nAvailable tools:") and json.dumps(schema) in text
    assert tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m]) == "hello"
