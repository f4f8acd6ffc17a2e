"""``SystemPromptPolicy`` / ``rlenvs eval --system-prompt-file``: context for a frozen policy
(e.g. a Training-Free GRPO experience library) that the environment never sees."""

from __future__ import annotations

import json

import pytest

from rlenvs.evaluation import evaluate
from rlenvs.policies import FunctionPolicy, SystemPromptPolicy, read_system_prompt


def test_text_goes_on_top_of_the_system_message_or_becomes_one():
    seen = []
    policy = SystemPromptPolicy(FunctionPolicy(lambda m: seen.append(m) or "ok"), "LESSONS")
    policy.generate([[{"role": "user", "content": "q"}],
                     [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}]])
    assert seen[0] == [{"role": "system", "content": "LESSONS"}, {"role": "user", "content": "q"}]
    assert seen[1][0] == {"role": "system", "content": "LESSONS\n\nBe brief."}
    assert "system prompt" in policy.name and policy.generate_completions is None
    with pytest.raises(ValueError):
        SystemPromptPolicy(FunctionPolicy(lambda m: ""), "  ")


def test_completions_keep_their_seeds():
    class Detailed:
        name, batch_size = "detailed", 4

        def __init__(self):
            self.calls = []

        def generate(self, conversations, sampling=None):
            return ["x" for _ in conversations]

        def generate_completions(self, conversations, sampling=None, seeds=None):
            self.calls.append((conversations, seeds))
            return []

    inner = Detailed()
    SystemPromptPolicy(inner, "T").generate_completions([[{"role": "user", "content": "q"}]],
                                                        None, seeds=[7])
    assert inner.calls == [([[{"role": "system", "content": "T"},
                              {"role": "user", "content": "q"}]], [7])]


def test_environment_and_transcripts_never_see_the_text():
    def answer(messages):
        return "\\boxed{5}" if messages[0]["content"].startswith("USE FIVE") else "\\boxed{0}"

    plain = evaluate("rlenvs/Arithmetic-v0", answer, episodes=3, progress=False)
    guided = evaluate("rlenvs/Arithmetic-v0", SystemPromptPolicy(FunctionPolicy(answer),
                                                                 "USE FIVE"),
                      episodes=3, progress=False)
    assert all(r["messages"][-1]["content"] == "\\boxed{0}" for r in plain.records)
    assert all(r["messages"][-1]["content"] == "\\boxed{5}" for r in guided.records)
    assert not any("USE FIVE" in json.dumps(r["messages"]) for r in guided.records)


def test_read_system_prompt(tmp_path):
    (tmp_path / "lib.json").write_text(json.dumps({"system_prompt": "Lessons:\n[1] a"}))
    (tmp_path / "p.txt").write_text("Be careful.\n")
    assert read_system_prompt(tmp_path / "lib.json") == "Lessons:\n[1] a"
    assert read_system_prompt(tmp_path / "p.txt") == "Be careful.\n"
    (tmp_path / "bad.json").write_text("{oops")
    (tmp_path / "nokey.json").write_text(json.dumps({"experiences": []}))
    (tmp_path / "empty.txt").write_text(" \n")
    for name, match in [("bad.json", "not valid JSON"), ("nokey.json", "system_prompt"),
                        ("empty.txt", "empty"), ("missing.txt", "does not exist")]:
        with pytest.raises(ValueError, match=match):
            read_system_prompt(tmp_path / name)


def test_eval_flag_refuses_a_bad_file_before_loading_a_model(tmp_path, capsys):
    from rlenvs.cli import main

    code = main(["eval", "rlenvs/Arithmetic-v0", "--system-prompt-file",
                 str(tmp_path / "missing.json")])
    assert code == 2 and "--system-prompt-file" in capsys.readouterr().err
