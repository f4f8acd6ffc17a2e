"""GHPO hints (arXiv 2507.10628): the refined question, checked against values written out by
hand from the paper's definition and its reference code (``ghpo_trainer.py``: ``solution[:
round(len(solution) * w)]``, Python rounding); the stage-by-stage re-sampling of all-wrong
groups with a scripted engine; one short SmolLM2 run through ``rlenvs train --algo ghpo``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import rlenvs
from agents.algorithms.ghpo import (
    HINT_INSTRUCTION,
    all_wrong_groups,
    check_hint_ratios,
    hint_prefix,
    reference_solution,
    with_hint,
)
from agents.rollout.chain import RolloutCollector
from agents.trainers.ghpo import GHPOConfig, GHPOTrainer, HintedEnv
from judges import Verdict
from judges.llm.sampler import Generation, SamplingConfig
from rlenvs.core import LLMEnv, Turn
from tests.agents.toy_envs import tiny_policy

SECRET_SOLUTION = "Think of a fruit that is green inside. It is KIWI."  # 50 characters


class SecretEnv(LLMEnv):
    """Task 'secret': only the reference solution knows the word (KIWI: characters 46-49);
    task 'say': the prompt gives it away. A reply passes iff it contains the word."""

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        if int(rng.integers(2)) == 0:
            return {"kind": "say", "word": "PLUM", "solution": "PLUM"}
        return {"kind": "secret", "word": "KIWI", "solution": SECRET_SOLUTION}

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        text = "Say the word PLUM." if task["kind"] == "say" else "Name the secret word."
        return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]

    def respond(self, reply: str) -> Turn:
        ok = self.task["word"] in reply
        return Turn(verdict=Verdict(score=float(ok), passed=ok, reason="word"), terminated=True)


class NoSolutionEnv(SecretEnv):
    """Secret tasks without a reference solution; the word varies with the seed (every
    registered env meets tests/rlenvs/test_env_api.py's contract: seeds give different tasks)."""

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"kind": "secret", "word": ("KIWI", "LIME", "FIG")[int(rng.integers(3))]}


rlenvs.register("agents-test/Secret-v0", entry_point=SecretEnv)
rlenvs.register("agents-test/SecretNoSolution-v0", entry_point=NoSolutionEnv)


class HintReader:
    """A scripted engine: repeats the hint when the prompt has one, repeats the word of
    'Say the word X.', else says it does not know. Records every prompt it saw."""

    def __init__(self, tokenizer: Any, stop_id: int) -> None:
        self.tokenizer, self.stop_id = tokenizer, stop_id
        self.prompts: list[str] = []

    def generate(self, prompts, config, seed=None, seeds=None, top_logprobs=None):
        out = []
        for ids in prompts:
            text = self.tokenizer.decode(ids)
            self.prompts.append(text)
            if HINT_INSTRUCTION in text:
                reply = text.split(HINT_INSTRUCTION, 1)[1].split("<|im_end|>", 1)[0]
            elif "Say the word PLUM" in text:
                reply = "PLUM"
            else:
                reply = "I do not know."
            ids_out = self.tokenizer.encode(reply, add_special_tokens=False) + [self.stop_id]
            out.append(Generation(ids_out, [-0.5] * len(ids_out), True))
        return out

    def sync_weights(self, model: torch.nn.Module) -> None:
        pass


# ----------------------------------------------------------------- the paper's definitions

def test_hint_prefix_is_the_reference_codes_character_prefix():
    # round(len * w) with Python's half-to-even rounding, as `x["solution_hint"][:round(...)]`
    assert hint_prefix("0123456789", 0.25) == "01"          # 2.5 -> 2
    assert hint_prefix("0123456789", 0.5) == "01234"        # 5
    assert hint_prefix("0123456789", 0.75) == "01234567"    # 7.5 -> 8
    assert hint_prefix("012345", 0.25) == "01"              # 1.5 -> 2
    assert hint_prefix("01234567890123", 0.75) == "0123456789"  # 10.5 -> 10
    assert hint_prefix(SECRET_SOLUTION, 0.75) == SECRET_SOLUTION[:38]  # 38.25 -> 38
    assert hint_prefix("abc", 1.0) == "abc" and hint_prefix("abc", 0.0) == ""
    with pytest.raises(ValueError, match="hint ratio"):
        hint_prefix("abc", 1.5)


def test_refined_question_is_question_instruction_hint():
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "What is 12 + 7?"},
                {"role": "assistant", "content": "18"},
                {"role": "user", "content": "Try again."}]
    out = with_hint(messages, "12 + 7 = 1")
    # q~ = q + "\n The following text is the beginning part of the answer, which you can refer
    # to for solving the problem:\n" + h[:round(w|h|)]  (the reference code's wording)
    assert out[1]["content"] == ("What is 12 + 7?\n The following text is the beginning part of "
                                 "the answer, which you can refer to for solving the problem:\n"
                                 "12 + 7 = 1")
    assert out[0] == messages[0] and out[2:] == messages[2:]   # only the question changes
    assert messages[1]["content"] == "What is 12 + 7?"          # a copy
    with pytest.raises(ValueError, match="no user message"):
        with_hint([{"role": "system", "content": "x"}], "h")


def test_all_wrong_groups_and_reference_solutions():
    assert all_wrong_groups([False, False, True, False, False, False], [0, 0, 1, 1, 2, 2]) == [0, 2]
    assert all_wrong_groups([], []) == []
    with pytest.raises(ValueError):
        all_wrong_groups([True], [0, 1])
    assert reference_solution({"solution": "x = 2"}) == "x = 2"
    assert reference_solution({"solution": "  "}) is None
    assert reference_solution({"answer": "2"}) is None and reference_solution(None) is None


def test_math_envs_expose_reference_solutions():
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=5)
    for seed in range(20):
        obs, info = env.reset(seed=seed)
        task = info["task"]
        solution = reference_solution(task)
        assert solution and solution.endswith(f"\\boxed{{{task['answer']}}}.")
        assert solution not in str(obs)   # never shown to the policy
        # every line "a op b = c" is true arithmetic, and the last step gives the answer
        steps = solution.splitlines()[:-1]
        for line in steps:
            lhs, rhs = line.split(" = ")
            assert eval(lhs) == int(rhs), line  # noqa: S307 - digits and + - * ( ) only
        assert int(steps[-1].split(" = ")[1]) == int(task["answer"])
        assert len(steps) == sum(task["question"].count(f" {op} ") for op in "+-*")
    from rlenvs.envs.arithmetic import worked_solution

    assert worked_solution("3 + 4 * 2") == "4 * 2 = 8\n3 + 8 = 11\nThe answer is \\boxed{11}."
    assert worked_solution("(5 - 9) * 2") == "5 - 9 = -4\n-4 * 2 = -8\nThe answer is \\boxed{-8}."
    assert worked_solution("2 - 3 * 4") == "3 * 4 = 12\n2 - 12 = -10\nThe answer is \\boxed{-10}."
    for env_id in ("rlenvs/GSM8K-v0", "rlenvs/MATH-v0"):
        _, info = rlenvs.make(env_id).reset(seed=0)
        assert reference_solution(info["task"])


def test_config_checks():
    assert GHPOConfig(num_generations=2, per_device_train_batch_size=2).hint_ratios == \
        (0.25, 0.5, 0.75)
    assert GHPOConfig.from_dict({"hint_ratios": [0.5, 1.0], "num_generations": 2,
                                 "per_device_train_batch_size": 2}).hint_ratios == (0.5, 1.0)
    for bad, match in [({"hint_ratios": [0.5, 0.25]}, "increase"),
                       ({"hint_ratios": []}, "at least one"),
                       ({"hint_ratios": [0.0, 0.5]}, r"\(0, 1\]"),
                       ({"hint_ratios": 0.5}, "list"),
                       ({"hint_start_step": -1}, "hint_start_step"),
                       ({"dynamic_sampling": True}, "dynamic sampling")]:
        with pytest.raises(ValueError, match=match):
            GHPOConfig(num_generations=2, per_device_train_batch_size=2, **bad)
    assert check_hint_ratios([0.3]) == (0.3,)


# ----------------------------------------------------------------- the re-sampling

def _trainer(tmp_path, env="agents-test/Secret-v0", **overrides):
    policy = tiny_policy()
    config = GHPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4,
                        gradient_accumulation_steps=2, num_generations=4,
                        max_completion_length=24, learning_rate=1e-3, progress=False,
                        save_final_checkpoint=False, **overrides)
    engine = HintReader(policy.tokenizer, policy.stop_token_ids[0])
    return GHPOTrainer(policy, env, config, backend=engine), engine


def test_all_wrong_groups_are_hinted_stage_by_stage_until_one_passes(tmp_path):
    trainer, engine = _trainer(tmp_path)
    trajs, stats = trainer._collect_groups()
    groups = list(dict.fromkeys(t.group for t in trajs))
    assert len(trajs) == 8 and len(groups) == 2
    tasks = {g: next(t.task for t in trajs if t.group == g) for g in groups}
    assert {t["kind"] for t in tasks.values()} == {"say", "secret"}, "pick seeds with both kinds"
    # train seeds 0, 1: a 'secret' task and a 'say' task. The 'secret' group fails unhinted,
    # and with 25% (round(12.5) = 12 chars), 50% (25) and 75% (round(37.5) = 38 chars, "Think
    # of a fruit that is green inside.") of the solution: no stage names KIWI
    assert stats["ghpo/hard_groups"] == 1.0 and stats["ghpo/hinted_groups"] == 1.0
    assert stats["ghpo/extra_completions"] == 12.0  # 3 stages x 4 rollouts
    assert stats["ghpo/rescued_groups"] == 0.0 and stats["ghpo/hint_ratio_mean"] == 0.75
    hinted = [t for t in trajs if t.task["kind"] == "secret"]
    text = trainer.chat.tokenizer.decode(hinted[0].prompt_ids)
    assert text.count(HINT_INSTRUCTION) == 1
    assert "Name the secret word." + HINT_INSTRUCTION + SECRET_SOLUTION[:38] in text
    # the hinted rows keep their group and order; the 'say' group is untouched
    assert [t.group for t in trajs] == [g for g in groups for _ in range(4)]
    assert all(HINT_INSTRUCTION not in trainer.chat.tokenizer.decode(t.prompt_ids)
               for t in trajs if t.task["kind"] == "say")
    stage_hints = [p.split(HINT_INSTRUCTION, 1)[1].split("<|im_end|>")[0]
                   for p in engine.prompts if HINT_INSTRUCTION in p]
    assert stage_hints == ["Think of a f"] * 4 + ["Think of a fruit that is "] * 4 + \
        ["Think of a fruit that is green inside."] * 4


def test_the_first_stage_that_passes_ends_the_hints_and_only_policy_tokens_train(tmp_path):
    trainer, engine = _trainer(tmp_path, hint_ratios=(0.5, 0.98, 1.0))
    trajs, stats = trainer._collect_groups()
    # 0.5 -> 25 chars fails; 0.98 -> 49 chars "... It is KIWI" passes: stage 1.0 never runs
    assert stats["ghpo/extra_completions"] == 8.0 and stats["ghpo/rescued_groups"] == 1.0
    assert stats["ghpo/hint_ratio_mean"] == 0.98
    secret = [t for t in trajs if t.task["kind"] == "secret"]
    assert all(t.passed for t in secret)
    assert stats["ghpo/pass_rate_unhinted"] == 0.5  # before the hints: the 'say' group only
    # what trains: prompt ids (with the hint) outside the completion, mask = the policy's ids
    from agents.trainers.grpo import trajectory_sample

    for t in secret:
        sample = trajectory_sample(t)
        assert sample.mask.tolist() == [1.0] * len(t.completion_ids)
        assert "KIWI" in trainer.chat.tokenizer.decode(t.completion_ids)
        assert HINT_INSTRUCTION not in trainer.chat.tokenizer.decode(t.completion_ids)
    # a full round: hints again (fresh tasks: seeds 2, 3 are both 'secret'), loss, update
    from agents.run.metrics import read_metrics

    summary = trainer.train()
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    assert record["step"] == 1 and record["ghpo/hinted_groups"] == 2.0
    assert record["ghpo/rescued_groups"] == 2.0 and record["pass_rate"] == 1.0


def test_groups_without_a_solution_and_the_start_step(tmp_path):
    trainer, engine = _trainer(tmp_path, env="agents-test/SecretNoSolution-v0")
    _, stats = trainer._collect_groups()
    assert stats["ghpo/hard_groups"] == 2.0 and stats["ghpo/no_solution_groups"] == 2.0
    assert stats["ghpo/extra_completions"] == 0.0
    trainer, engine = _trainer(tmp_path, hint_start_step=5)
    _, stats = trainer._collect_groups()
    assert "ghpo/hard_groups" not in stats and not any(HINT_INSTRUCTION in p
                                                       for p in engine.prompts)


def test_hinted_env_keeps_multi_turn_conversations_a_prefix(tokenizer):
    from agents.rollout.chat_tokens import ChatTokenizer

    env = rlenvs.make("rlenvs/Arithmetic-v0", level=2, max_turns=2)
    hinted = HintedEnv(env, 0.5)
    obs, info = hinted.reset(seed=1)
    episode = hinted.unwrapped.clone()
    new_obs, *_ = episode.step("\\boxed{0}")
    assert new_obs[: len(obs)] == obs and HINT_INSTRUCTION in new_obs[0]["content"]
    chat = ChatTokenizer(tokenizer)
    assert chat.feedback_ids(obs, "\\boxed{0}", new_obs, "<|im_end|>")  # no prefix error
    with pytest.raises(RuntimeError, match="reset"):
        HintedEnv(env, 0.5).clone()
    engine = HintReader(tokenizer, tokenizer.convert_tokens_to_ids("<|im_end|>"))
    collector = RolloutCollector(engine, chat, SamplingConfig(16))
    trajs = collector.collect(HintedEnv(env, 1.0), [1], 2)
    assert all(t.passed for t in trajs)  # the whole solution contains the boxed answer


@pytest.mark.slow
def test_ghpo_end_to_end_on_smollm2(tmp_path):
    """``rlenvs train --algo ghpo``: one step of SmolLM2 on level-4 arithmetic, where most
    groups are all wrong (about a minute on two shared cores)."""
    from agents.cli import main
    from agents.run.metrics import read_metrics

    code = main(["train", "rlenvs/Arithmetic-v0", "--algo", "ghpo", "--steps", "1",
                 "--batch-size", "4", "--num-generations", "4", "--max-new-tokens", "48",
                 "--env-kwarg", "level=4", "--out-dir", str(tmp_path), "--quiet", "--no-plot",
                 "--set", "save_final_checkpoint=false", "--set", "train_seed=7"])
    assert code == 0
    record = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"][-1]
    assert record["step"] == 1 and record["num_completions"] == 4
    assert record["ghpo/hinted_groups"] <= record["ghpo/hard_groups"] <= 1.0
    extra = record["ghpo/extra_completions"]
    assert extra % 4 == 0 and extra <= 12 * record["ghpo/hinted_groups"]
    assert record["ghpo/hint_ratio_mean"] in (0.0, 0.25, 0.5, 0.75)
