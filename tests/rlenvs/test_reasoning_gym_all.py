"""rlenvs/ReasoningGym-v0 (issue 31): every reasoning-gym dataset resets, steps and scores through
rlenvs with the dataset's own ``score_answer``; rlenvs's final-answer rules hold on top."""

from __future__ import annotations

import json
import time
import warnings

import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from rlenvs.audit import audit
from rlenvs.envs.reasoning_gym_env import (
    SNAPSHOT,
    SNAPSHOT_VERSION,
    make_reasoning_gym_judge,
    reasoning_gym_datasets,
)

ENV = "rlenvs/ReasoningGym-v0"
DATASETS = reasoning_gym_datasets()
COMPOSITE = {"datasets": [{"name": "chain_sum", "weight": 1, "config": {}},
                          {"name": "spell_backward", "weight": 1, "config": {}}]}
# datasets without one oracle answer: the dataset's metadata carries a valid example instead
EXAMPLE_FIELD = {"graph_color": "possible_answer", "propositional_logic": "example_answer",
                 "rubiks_cube": "example_correct_answer"}
# no answer and no example to give: scored by checking a plan against the puzzle
NO_GOLD = {"boxnet", "rush_hour"}


def _make(name: str, **kwargs):
    return rlenvs.make(ENV, dataset=name, config=COMPOSITE if name == "composite" else None,
                       **kwargs)


def _gold(name: str, task: dict) -> str | None:
    if task["answer"] is not None:
        return str(task["answer"])
    example = task["metadata"].get(EXAMPLE_FIELD.get(name, ""))
    if name == "graph_color" and example is not None:  # a dict of ints: the prompt asks for JSON
        return json.dumps({str(k): v for k, v in example.items()})
    return None if example is None else str(example)


def _balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def test_the_listed_snapshot_is_what_reasoning_gym_registers():
    import importlib.metadata

    if importlib.metadata.version("reasoning-gym") == SNAPSHOT_VERSION:
        assert list(SNAPSHOT) == DATASETS
    assert len(DATASETS) >= 100


@pytest.mark.parametrize("name", DATASETS)
def test_every_dataset_scores_its_own_gold_and_fails_a_wrong_answer(name):
    env = _make(name)
    for seed in (0, 1):
        obs, info = env.reset(seed=seed)
        task = info["task"]
        assert task["dataset"] == name and obs[-1]["content"].startswith(task["question"])
        public = env.unwrapped.public_task(task)
        assert "answer" not in public and "metadata" not in public
        assert set(public) == {"id", "dataset", "question"}
        gold = _gold(name, task)
        if name in NO_GOLD:
            assert gold is None
        elif not _balanced(gold):  # codeio: a JSON gold whose strings hold a lone brace
            _, reward, *_, info = env.step(f"\\boxed{{{gold}}}")
            assert reward == 0.0 and not info["verdict"].passed
        else:
            _, reward, terminated, _, info = env.step(f"Worked it out.\n\\boxed{{{gold}}}")
            assert (reward, terminated) == (1.0, True), (name, gold[:80], info["verdict"].reason)
            assert info["verdict"].passed and info["reward_components"]["answer"] == 1.0
        env.reset(seed=seed)
        _, reward, terminated, _, info = env.step("\\boxed{zqxj 918273}")
        assert reward == 0.0 and terminated and not info["verdict"].passed, name
        env.reset(seed=seed)
        _, reward, _, _, info = env.step("I am not sure.")  # no box: no answer, with a reason
        assert reward == 0.0 and "boxed" in info["verdict"].reason


@pytest.mark.parametrize("name", ["chain_sum", "spell_backward", "mini_sudoku", "family_relationships",
                                  "graph_color", "composite"])
def test_check_env_on_a_sample(name):
    env = _make(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)


@pytest.mark.slow
@pytest.mark.parametrize("name", DATASETS)
def test_check_env_on_every_dataset(name):
    env = _make(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)


# ------------------------------------------------------------------ integrity on top

@pytest.mark.parametrize("name", ["chain_sum", "family_relationships", "gsm_symbolic",
                                  "polynomial_multiplication", "spell_backward"])
def test_hedged_and_joined_answers_fail(name):
    env = _make(name)
    _, info = env.reset(seed=4)
    gold = str(info["task"]["answer"])
    wrong = "zebra17"
    for reply in [
        f"\\boxed{{{gold}}} or \\boxed{{{wrong}}}",  # two different boxes
        f"\\boxed{{{gold} or {wrong}}}",  # several values in one box
        f"\\boxed{{{gold} \u200bor\u200b {wrong}}}",  # ... split by zero-width spaces
        f"\\boxed{{{gold}; {wrong}}}",
        f"\\boxed{{{gold}}}\u060c {wrong}",  # a value joined after the box (Arabic comma)
        f"\\boxed{{{gold}}} or {wrong}",
        f"\\boxed{{{gold}}}. The answer is {wrong}.",  # a later committed answer differs
        f"<think>\\boxed{{{gold}}}</think> \\boxed{{{wrong}}}",  # the box in thinking is scratch
        f"\\boxed{{{gold}}} <think>",  # ends inside a thinking block
        f"\\boxed{{not {gold}}}",  # a negation
        f"\\boxed{{x \\geq {gold}}}",  # a relation
        f"\\boxed{{0\n{gold}}}",  # a stray value on a line of its own
    ]:
        env.reset(seed=4)
        _, reward, *_, info = env.step(reply)
        assert reward == 0.0 and not info["verdict"].passed, (name, reply, info["verdict"].reason)
    for reply in [f"\\boxed{{{gold}}}", f"The answer is $\\boxed{{{gold}}}$.",
                  f"\\boxed{{{gold}}} is the final answer.",
                  f"<think>maybe {wrong}</think>\n\\boxed{{{gold}}}"]:
        env.reset(seed=4)
        _, reward, *_, info = env.step(reply)
        assert reward == 1.0, (name, reply, info["verdict"].reason)


def test_game_of_life_halting_reads_the_word_its_own_check_does_not():
    """reasoning-gym's own check compares bool(answer) == bool(gold): "False" is truthy, so
    every non-empty answer passed. rlenvs reads the word (a deliberate disagreement)."""
    env = _make("game_of_life_halting")
    _, info = env.reset(seed=0)
    gold = info["task"]["answer"]
    other = "True" if gold == "False" else "False"
    scorer = env.unwrapped.source.scorer
    assert scorer.score_answer(other, info["task"]) == 1.0  # the hole in the dataset's check
    _, reward, *_ = env.step(f"\\boxed{{{other}}}")
    assert reward == 0.0
    env.reset(seed=0)
    assert env.step(f"\\boxed{{{gold.lower()}}}")[1] == 1.0


def test_a_score_above_one_is_float_noise_not_a_pass():
    """spell_backward adds 1/n per matching letter: a right prefix with junk after it summed to
    a hair above 1, and its own "== 1.0 -> 0.8" correction missed it."""
    env = _make("spell_backward", reward="dense")
    scorer = env.unwrapped.source.scorer
    found = 0
    for seed in range(40):
        _, info = env.reset(seed=seed)
        task = info["task"]
        junk = task["answer"] + "+1"
        if scorer.score_answer(junk, task) > 1.0:
            found += 1
            _, reward, *_, info = env.step(f"\\boxed{{{junk}}}")
            assert not info["verdict"].passed and reward < 1.0
    assert found, "no seed showed the float drift"


def test_agreement_with_score_answer_on_single_boxed_answers():
    """Where the reply is one box and nothing else, the verdict is the dataset's own score."""
    for name in ["chain_sum", "letter_counting", "caesar_cipher", "dice", "number_sorting"]:
        env = _make(name, reward="dense")
        scorer = env.unwrapped.source.scorer
        for seed in range(3):
            _, info = env.reset(seed=seed)
            task = info["task"]
            entry = {"question": task["question"], "answer": task["answer"],
                     "metadata": task["metadata"]}
            for answer in [str(task["answer"]), str(task["answer"]) + "0", "7", "abc"]:
                env.reset(seed=seed)
                _, reward, *_ = env.step(f"\\boxed{{{answer}}}")
                assert reward == pytest.approx(min(1.0, scorer.score_answer(answer, entry))), \
                    (name, answer)


# ------------------------------------------------------------------ options and errors

def test_config_is_passed_through_and_checked():
    env = rlenvs.make(ENV, dataset="chain_sum", config={"min_terms": 2, "max_terms": 2,
                                                        "min_digits": 1, "max_digits": 1})
    for seed in range(5):
        _, info = env.reset(seed=seed)
        question = info["task"]["question"]
        assert question.count("+") + question.count("-") == 1, question
    with pytest.raises(ValueError, match="chain_sum.*rejects config"):
        rlenvs.make(ENV, dataset="chain_sum", config={"min_terms": 5, "max_terms": 2})
    with pytest.raises(ValueError, match="composite mixes datasets"):
        rlenvs.make(ENV, dataset="composite")


def test_unknown_dataset_names_the_closest():
    with pytest.raises(ValueError, match="Did you mean chain_sum"):
        rlenvs.make(ENV, dataset="chain_sums")


def test_same_seed_same_task_and_pinned_tasks():
    env = _make("basic_arithmetic")
    assert env.reset(seed=3)[1]["task"] == env.reset(seed=3)[1]["task"]
    env.reset(options={"task": {"question": "What is 2 + 2?", "answer": "4", "metadata": {}}})
    assert env.step("\\boxed{4}")[1] == 1.0


class _SlowScorer:
    def score_answer(self, answer, entry):
        time.sleep(3)
        return 1.0


def test_a_scorer_past_its_deadline_is_unscored_not_zero():
    judge = make_reasoning_gym_judge(_SlowScorer(), score_timeout_s=0.2)
    started = time.monotonic()
    verdict = judge("\\boxed{4}", {"question": "q", "answer": "4", "metadata": {}})
    assert time.monotonic() - started < 2
    assert verdict.status == "unscored" and verdict.cause == "deadline"


def test_rlenvs_list_shows_the_datasets():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "rlenvs.cli", "list"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    note = lines[lines.index(ENV) + 1]
    assert note.strip().startswith(f"dataset= one of {len(DATASETS)}:")
    assert all(name in note for name in DATASETS)


def test_the_audit_holds_on_a_dataset():
    report = audit(ENV, episodes=2, env_kwargs={"dataset": "basic_arithmetic"})
    assert report.episodes_run == 2 and not report.partial
    assert not report.holes, {f.name: f.example for f in report.holes}
