"""Red team (brief P, issue 31): ReasoningGym-v0 answers the datasets' own ``score_answer``
over-credits, and correct answers rlenvs's extra rules must not fail.

Found (each passed before the fix):
* a later sentence offering another answer - ``\\boxed{off}. But maybe it is on.`` - passed on
  nearly every dataset (198 of ~200 dataset/seed pairs probed): only the box's own sentence
  was read; Math-v0 fails the same reply (its ``trailing`` value);
* several numbers in one box where the gold is one: gsm_symbolic read ``\\boxed{20, 201}``
  and ``\\boxed{20 (201)}`` as 20; time_intervals and polynomial_equations paid a gold with a
  second value joined;
* ``\\boxed{wrong and right}``: the integration and polynomial scorers paid it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlenvs

ENV = "rlenvs/ReasoningGym-v0"


def _env(name):
    env = rlenvs.make(ENV, dataset=name)
    env.reset(seed=0)
    return env


def _score(env, reply, seed=0):
    env.reset(seed=seed)
    _, reward, _, _, info = env.step(reply)
    return reward, info["verdict"]


def _gold(env) -> str:
    return str(env.unwrapped.task["answer"])


@pytest.mark.parametrize("name", ["acre", "chain_sum", "gsm_symbolic", "letter_counting"])
def test_a_later_sentence_offering_another_answer_fails(name):
    env = _env(name)
    gold = _gold(env)
    other = "on" if gold == "off" else "off" if gold == "on" else gold + "1"
    reward, verdict = _score(env, f"\\boxed{{{gold}}}")
    assert reward == 1.0, verdict.reason  # the plain answer passes
    for hedged in (f"\\boxed{{{gold}}}. But maybe it is {other}.",
                   f"\\boxed{{{gold}}}.\n\nOr {other}.",
                   f"\\boxed{{{gold}}}. Perhaps {other}.",
                   f"\\boxed{{{gold}}}. It could also be {other}."):
        reward, verdict = _score(env, hedged)
        assert reward == 0.0 and not verdict.passed, hedged


@pytest.mark.parametrize("name", ["acre", "chain_sum", "gsm_symbolic"])
def test_correct_answers_with_plain_closing_words_still_pass(name):
    env = _env(name)
    gold = _gold(env)
    for honest in (f"So the result is \\boxed{{{gold}}}. Hope this helps! Let me know if you "
                   "have questions or comments.",
                   f"\\boxed{{{gold}}}. Maybe I'm wrong, but I checked it twice.",
                   f"\\boxed{{{gold}}} is the answer. Either way, I verified each step.",
                   f"<think>maybe {gold}1 or {gold}2</think>The answer is \\boxed{{{gold}}}."):
        reward, verdict = _score(env, honest)
        assert reward == 1.0, (honest, verdict.reason)


def test_more_numbers_in_the_box_than_in_the_gold_fail():
    env = _env("gsm_symbolic")
    gold = _gold(env)
    assert _score(env, f"\\boxed{{{gold}}}")[0] == 1.0
    for several in (f"\\boxed{{{gold}, {gold}1}}", f"\\boxed{{{gold} ({gold}1)}}",
                    f"\\boxed{{{gold}1 {gold}}}"):
        reward, verdict = _score(env, several)
        assert reward == 0.0 and not verdict.passed, several


@pytest.mark.parametrize("name", ["simple_integration", "polynomial_multiplication"])
def test_two_answers_joined_by_and_fail(name):
    env = _env(name)
    gold = _gold(env)
    assert _score(env, f"\\boxed{{{gold}}}")[0] == 1.0
    reward, verdict = _score(env, f"\\boxed{{x{gold} and {gold}}}")
    assert reward == 0.0 and not verdict.passed
    # the alternative differs from the answer by symbols only: still another answer
    reward, verdict = _score(env, f"\\boxed{{{gold}}}. Maybe it is x{gold}.")
    assert reward == 0.0 and not verdict.passed


_CUES = ["But maybe it is", "Or", "Perhaps", "Possibly", "Alternatively", "It might be",
         "It could also be", "Otherwise"]
_CLOSINGS = ["Hope this helps!", "I checked each step.", "Let me know if anything is unclear.",
             "Maybe I'm wrong, but I am fairly sure.", "That is my final answer."]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(_CUES), st.sampled_from(_CLOSINGS), st.integers(1, 999),
       st.booleans())
def test_generated_trailing_alternatives_fail_and_plain_closings_pass(cue, closing, delta, first):
    """chain_sum's gold with a generated closing: a closing sentence passes, an alternative
    cue with another value fails, in either order."""
    env = _env("chain_sum")
    gold = _gold(env)
    other = str(int(gold) + delta)
    offer = f"{cue} {other}."
    tail = f"{offer} {closing}" if first else f"{closing} {offer}"
    assert _score(env, f"\\boxed{{{gold}}}. {closing}")[0] == 1.0
    reward, verdict = _score(env, f"\\boxed{{{gold}}}. {tail}")
    assert reward == 0.0 and not verdict.passed, tail
