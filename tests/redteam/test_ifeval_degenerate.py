"""Red team, instruction following: replies that follow the form of nothing.

IFEval's checkers judge only the form of a reply, so on a composed ``rlenvs/Instruct-v0``
prompt ("Write a short story about a lighthouse keeper. Do not use any commas.") ``ok``
followed every instruction: before ``judges.ifeval.substance`` 39 of the first 300 seeds paid
full reward to one of ``ok`` / ``{}`` / ``"ok"``. Every reply below is degenerate, an echo of the
prompt, or a trick around a constraint; each must earn nothing under both schedules, while an
honest answer to the same prompt still earns full reward.
"""

from __future__ import annotations

import pytest

import rlenvs
from judges.ifeval import check_instructions

SEEDS = range(200)

DEGENERATE = [
    "",
    "   ",
    "ok",
    "ok.",
    "Yes",
    '"ok"',
    "{}",
    '{"answer": "ok"}',
    "1",
    "null",
    "<<ok>>",
    "ok\n******\nno",
    "ok ok ok ok ok ok ok ok ok ok ok ok",
    "1 2 3 4 5 6 7 8 9 10 11 12",
]


def _env(reward: str = "binary"):
    return rlenvs.make("rlenvs/Instruct-v0", reward=reward).unwrapped


def _score(env, reply: str) -> tuple[float, object]:
    twin = env.clone()
    _, reward, terminated, _, info = twin.step(reply)
    assert terminated
    return reward, info


@pytest.mark.parametrize("reward", ["binary", "dense"])
def test_degenerate_replies_earn_nothing(reward):
    env = _env(reward)
    paid = []
    for seed in SEEDS:
        env.reset(seed=seed)
        ids = env.task["instruction_id_list"]
        if ids == ["detectable_format:constrained_response"]:
            continue  # "My answer is yes." is the whole answer there (checked below)
        for reply in DEGENERATE:
            r, info = _score(env, reply)
            if r > 0.0:
                paid.append((seed, ids, reply, r, info["verdict"].reason))
    assert not paid, paid[:5]


def test_echoing_the_prompt_earns_nothing():
    """The prompt itself (and the prompt after the repeated request) is on topic and long."""
    env = _env("dense")
    paid = []
    for seed in SEEDS:
        env.reset(seed=seed)
        task = env.task
        if task["instruction_id_list"] == ["detectable_format:constrained_response"]:
            continue
        prompt = task["prompt"]
        for reply in (prompt, prompt.lower(), f"{prompt}\n\n{prompt}", f"{task['base_task']} ok"):
            r, info = _score(env, reply)
            if r > 0.0:
                paid.append((seed, reply[:60], r, info["verdict"].reason))
    assert not paid, paid[:5]


def test_repeat_prompt_then_nothing_earns_nothing():
    """``combination:repeat_prompt``: the repeated request is not the answer."""
    env = _env("dense")
    tried = 0
    for seed in range(600):
        env.reset(seed=seed)
        ids = env.task["instruction_id_list"]
        if "combination:repeat_prompt" not in ids:
            continue
        kw = env.task["kwargs"][ids.index("combination:repeat_prompt")]
        for tail in ("", " ok", "\nyes.", "\n" + kw["prompt_to_repeat"]):
            reply = kw["prompt_to_repeat"] + tail
            r, info = _score(env, reply)
            assert r == 0.0, (seed, reply, info["verdict"].reason)
        tried += 1
    assert tried >= 10


def _pinned(prompt: str, ids: list[str], kwargs: list[dict]) -> object:
    env = _env("binary")
    env.reset(options={"task": {"prompt": prompt, "instruction_id_list": ids, "kwargs": kwargs}})
    return env


STORY = ("Old Tom kept the lighthouse on the rocky point for forty years. Every night he climbed "
         "the winding stairs and lit the great lamp so that ships could find their way home. "
         "One stormy winter a small fishing boat lost its mast and drifted toward the reef. "
         "Tom saw its lantern swinging in the dark and rang the bell until his arms ached. "
         "The sailors heard him and turned away from the rocks just in time.")


def test_honest_answer_still_earns_full_reward():
    prompt = ("Write a short story about a lighthouse keeper. Do not use any commas anywhere in "
              "your answer.")
    env = _pinned(prompt, ["punctuation:no_comma"], [{}])
    _, reward, _, _, info = env.step(STORY)
    assert reward == 1.0, info["verdict"].reason
    assert info["reward_components"]["answers_task"] == 1.0
    # the same constraint, the form followed, but about something else entirely
    env = _pinned(prompt, ["punctuation:no_comma"], [{}])
    off_topic = ("My favourite dish is a bowl of noodles with fried tofu and green onions "
                 "served hot on a cold evening.")
    _, reward, _, _, info = env.step(off_topic)
    assert reward == 0.0 and "never mentions" in info["verdict"].reason


def test_constrained_yes_no_option_is_the_answer():
    """The one composed prompt whose whole answer is a fixed phrase keeps paying for it."""
    prompt = ("Should cities build more bike lanes? Reply with exactly one of these options: "
              '"My answer is yes.", "My answer is no.", "My answer is maybe.".')
    env = _pinned(prompt, ["detectable_format:constrained_response"], [{}])
    _, reward, _, _, _ = env.step("My answer is yes.")
    assert reward == 1.0
    env = _pinned(prompt, ["detectable_format:constrained_response"], [{}])
    _, reward, _, _, _ = env.step("ok")
    assert reward == 0.0


def test_short_foreign_phrase_does_not_pass_a_language_instruction():
    prompt = "Describe a perfect day at the beach. Answer only in Spanish; no other language may appear."
    for reply in ("Hola.", "¡Sí!", "Playa.", "Hola amigo, muy bien.",
                  STORY + " Hola amigo."):
        env = _pinned(prompt, ["language:response_language"], [{"language": "es"}])
        _, reward, _, _, info = env.step(reply)
        assert reward == 0.0, (reply, info["verdict"].reason)
    spanish = ("Por la mañana caminamos por la arena blanca y nadamos en el agua tibia. "
               "Al mediodía comimos pescado fresco bajo una sombrilla de colores. "
               "Por la tarde vimos el sol caer sobre las olas tranquilas del mar.")
    env = _pinned(prompt, ["language:response_language"], [{"language": "es"}])
    _, reward, _, _, info = env.step(spanish)
    assert reward == 1.0, info["verdict"].reason


def test_undetectable_text_does_not_follow_language_or_case():
    """IFEval counts text langdetect cannot classify as followed; we do not (stricter)."""
    for ids, kwargs in ((["language:response_language"], [{"language": "fr"}]),
                        (["change_case:english_lowercase"], [{}]),
                        (["change_case:english_capital"], [{}])):
        for reply in ("12345 67890", "🙂🙂🙂", "... !!! ???"):
            assert not check_instructions(reply, ids, kwargs).passed, (ids, reply)


def test_two_responses_need_two_different_answers():
    for reply in ("a\n******\na", "a\n******\n a ", "******\nanswer\n******", "a ****** ******"):
        assert not check_instructions(reply, ["combination:two_responses"]).passed, reply
