"""Training-Free GRPO (arXiv 2510.08191): group-relative advantages (hand-computed), the
library's operations, a full step with a scripted policy and reasoner (the library must change
what the frozen policy does), resume, and a short SmolLM2 run evaluated with ``rlenvs eval``
before and after."""

from __future__ import annotations

import json
import re

import pytest

from agents.trainers.training_free import (
    LIBRARY_FORMAT,
    ExperienceLibrary,
    TrainingFreeConfig,
    TrainingFreeGRPO,
    clean_lesson,
    parse_operations,
    semantic_groups,
)
from rlenvs.policies import FunctionPolicy, SystemPromptPolicy, read_system_prompt


def _rec(episode, sample, ret):
    return {"episode": episode, "sample": sample, "return": ret, "passed": ret >= 1.0,
            "messages": []}


def test_group_relative_advantages_and_groups_without_signal():
    groups = semantic_groups([_rec(0, 0, 1.0), _rec(0, 1, 0.0), _rec(0, 2, 0.0), _rec(0, 3, 1.0),
                              _rec(1, 0, 0.5), _rec(1, 1, 0.5),
                              _rec(2, 1, 0.0), _rec(2, 0, 0.1), _rec(2, 2, 0.8)])
    assert len(groups) == 2  # group 1: all equal, no signal
    # group 0: mean 0.5, population std 0.5 -> +1, -1, -1, +1
    assert [a for _, a in groups[0]] == pytest.approx([1.0, -1.0, -1.0, 1.0])
    # group 2 (sample order 0, 1, 2 = 0.1, 0.0, 0.8): mean 0.3, std sqrt(0.42/3) = 0.374166
    std = (((0.1 - 0.3) ** 2 + (0.0 - 0.3) ** 2 + (0.8 - 0.3) ** 2) / 3) ** 0.5
    assert [r["sample"] for r, _ in groups[1]] == [0, 1, 2]
    assert [a for _, a in groups[1]] == pytest.approx([-0.2 / std, -0.3 / std, 0.5 / std])


def test_parse_operations():
    reply = ("Here is the update:\n1. ADD: Always box the final answer.\n"
             "MODIFY 2: Check the sign of every subtraction.\n- DELETE [3]\nKEEP\nnonsense")
    assert parse_operations(reply) == [("add", None, "Always box the final answer."),
                                       ("modify", 2, "Check the sign of every subtraction."),
                                       ("delete", 3, ""), ("keep", None, "")]
    js = 'Sure: [{"operation": "ADD", "content": "Be exact."}, {"operation": "UPDATE", ' \
         '"id": 1, "content": "x y z w v u"}, {"operation": "delete", "id": "2"}]'
    assert parse_operations(js) == [("add", None, "Be exact."), ("modify", 1, "x y z w v u"),
                                    ("delete", 2, "")]
    assert parse_operations("I think the lessons are fine.") == []
    assert parse_operations("") == []


def test_library_operations_number_the_list_as_shown():
    lib = ExperienceLibrary(["Lesson one is about carrying digits.",
                             "Lesson two is about signs.", "Lesson three is about boxes."],
                            max_size=3)
    counts = lib.apply([("delete", 1, ""), ("modify", 3, "Always put the answer in a box."),
                        ("add", None, "Write every intermediate result down."),
                        ("modify", 9, "out of range text here"), ("add", None, "ok"),
                        ("add", None, "lesson TWO is about signs!")])
    assert counts["delete"] == 1 and counts["modify"] == 1 and counts["add"] == 2
    assert counts["invalid"] == 2 and counts["duplicate"] == 1
    assert lib.items == ["Lesson two is about signs.", "Always put the answer in a box.",
                         "Write every intermediate result down."]
    counts = lib.apply([("add", None, "A fourth lesson pushes the first one out.")])
    assert counts["evicted"] == 1 and lib.items[0] == "Always put the answer in a box."
    assert lib.system_prompt().splitlines()[1] == "[1] Always put the answer in a box."
    assert ExperienceLibrary().system_prompt() == ""
    assert clean_lesson('Lesson: "Check units."') == "Check units."
    assert clean_lesson("1) Use the calculator for big products.\n\nMore text") == \
        "Use the calculator for big products."
    assert clean_lesson("ok!") == ""


def test_config_checks():
    for bad, match in [({"num_generations": 1}, "num_generations"),
                       ({"temperature": 0.0}, "temperature"),
                       ({"max_experiences": 0}, "max_experiences"),
                       ({"train_tasks": 0}, "train_tasks")]:
        with pytest.raises(ValueError, match=match):
            TrainingFreeConfig(**bad)
    cfg = TrainingFreeConfig(num_generations=4, per_device_train_batch_size=8)
    assert cfg.prompts_per_generation == 2


class ScriptedPolicy:
    """Arithmetic-v0 solver that only boxes its answer when a lesson in its system message
    says so (unboxed answers score 0 under strict judging); right on every other attempt."""

    name = "scripted"

    def __init__(self):
        self.calls = 0

    def __call__(self, messages):
        self.calls += 1
        a, op, b = re.search(r"Compute (\d+) ([+-]) (\d+)", messages[-1]["content"]).groups()
        value = int(a) + int(b) if op == "+" else int(a) - int(b)
        boxed = messages[0]["role"] == "system" and "box" in messages[0]["content"].lower()
        if boxed:
            return f"\\boxed{{{value}}}"
        return f"\\boxed{{{value}}}" if self.calls % 2 else f"{value}"


class ScriptedReasoner:
    """Summaries, a lesson per group and the library update, each recognisable by its prompt."""

    name = "reasoner"

    def __init__(self):
        self.prompts = []

    def __call__(self, messages):
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        if prompt.startswith("Here is a task"):
            return "The attempt added the numbers; it " + (
                "boxed the answer." if "judged correct" in prompt else "did not box it.")
        if prompt.startswith("Several attempts"):
            assert "BETTER" in prompt and "WORSE" in prompt
            return "Lesson: Always put the final answer inside \\boxed{} so it can be read."
        return "ADD: Always put the final answer inside \\boxed{} so it can be read."


def _run(tmp_path, **overrides):
    settings = dict(output_dir=str(tmp_path), max_steps=1, num_generations=2,
                    per_device_train_batch_size=4, progress=False, max_completion_length=32,
                    eval_episodes=4)
    config = TrainingFreeConfig(**{**settings, **overrides})
    policy, reasoner = ScriptedPolicy(), ScriptedReasoner()
    run = TrainingFreeGRPO(FunctionPolicy(policy), "rlenvs/Arithmetic-v0", config,
                           env_kwargs={"level": 1}, reasoner=FunctionPolicy(reasoner))
    return run, policy, reasoner


def test_a_step_turns_group_advantages_into_a_library_that_changes_the_policy(tmp_path):
    run, policy, reasoner = _run(tmp_path)
    summary = run.train()
    record = summary["last"]
    assert record["groups_with_signal"] == 2 and record["semantic_advantages"] == 2
    assert record["library/add"] == 1 and record["library/duplicate"] == 0
    assert record["library/size"] == 1 and record["library/fallback_adds"] == 0
    assert sum(p.startswith("Here is a task") for p in reasoner.prompts) == 4  # summaries
    before, after = summary["evals"][0], summary["evals"][-1]
    assert (before["library_size"], after["library_size"]) == (0, 1)
    assert after["eval/pass@1"] == 1.0 and before["eval/pass@1"] < 1.0
    data = json.loads((tmp_path / "experiences.json").read_text())
    assert data["format"] == LIBRARY_FORMAT and data["experiences"] == [
        "Always put the final answer inside \\boxed{} so it can be read."]
    # `rlenvs eval --system-prompt-file` reads exactly what the policy saw in training
    text = read_system_prompt(tmp_path / "experiences.json")
    assert text == run.library.system_prompt() and "[1] Always put" in text
    assert isinstance(run.conditioned_policy(), SystemPromptPolicy)
    records = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["kind"] for r in records] == ["eval", "train", "eval"]


def test_an_unparsable_update_falls_back_to_the_lessons_and_resume_continues(tmp_path):
    run, policy, reasoner = _run(tmp_path, max_steps=1, summarize_rollouts=False,
                                 train_tasks=2, eval_episodes=0)
    original = ScriptedReasoner.__call__

    def mumbling(self, messages):
        reply = original(self, messages)
        return "Looks good to me." if reply.startswith("ADD") else reply

    run.reasoner = FunctionPolicy(lambda m: mumbling(reasoner, m))
    record = run.train()["last"]
    assert record["library/fallback_adds"] == 2 and record["library/duplicate"] == 1
    assert record["library/size"] == 1
    assert not any(p.startswith("Here is a task") for p in reasoner.prompts)
    # resume: a new run object on the same folder continues at step 1, same task cycle
    run2, _, reasoner2 = _run(tmp_path, max_steps=2, summarize_rollouts=False, train_tasks=2,
                              eval_episodes=0, resume_from_checkpoint=True)
    summary = run2.train()
    assert summary["steps"] == 2 and run2.state.next_task == 4
    assert run2._task_seed(2) == run2._task_seed(0)  # train_tasks=2: the cycle restarts
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]


@pytest.mark.slow
def test_training_free_grpo_on_smollm2_evaluated_with_rlenvs_eval(tmp_path, capsys):
    """``rlenvs train --algo training_free_grpo``: one step of SmolLM2 (policy and reasoner)
    on level-1 arithmetic, then ``rlenvs eval`` without and with the library (about two
    minutes on two shared cores). The library can be useless; the run must produce one that
    ``rlenvs eval`` reads."""
    from agents.cli import main as agents_main
    from rlenvs.cli import main

    out = tmp_path / "tf"
    code = agents_main(["train", "rlenvs/Arithmetic-v0", "--algo", "training_free_grpo",
                        "--steps", "1", "--batch-size", "8", "--num-generations", "4",
                        "--max-new-tokens", "48", "--env-kwarg", "level=1",
                        "--env-kwarg", "lenient=true", "--env-kwarg", "format_credit=0.1",
                        "--env-kwarg", "reward=dense", "--out-dir", str(out), "--quiet",
                        "--no-plot", "--set", "reasoner_max_new_tokens=64"])
    assert code == 0
    data = json.loads((out / "experiences.json").read_text())
    record = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()][-1]
    assert record["step"] == 1 and record["num_completions"] == 8
    assert record["library/size"] == len(data["experiences"])
    capsys.readouterr()
    common = ["eval", "rlenvs/Arithmetic-v0", "--env-kwarg", "level=1", "--episodes", "4",
              "--max-new-tokens", "48", "--quiet", "--seed", "10000000"]
    assert main(common + ["--out", str(tmp_path / "before.jsonl")]) == 0
    if data["experiences"]:
        assert main(common + ["--system-prompt-file", str(out / "experiences.json"),
                              "--out", str(tmp_path / "after.jsonl")]) == 0
        after = json.loads((tmp_path / "after.jsonl.summary.json").read_text())
        assert "system prompt" in after["policy"]
