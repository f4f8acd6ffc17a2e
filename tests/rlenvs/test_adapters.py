"""TRL and verl adapters: a real TRL GRPO step with an rlenvs reward; verl's signatures."""

from __future__ import annotations

import asyncio
import json

import pytest

from rlenvs.adapters import EnvInteraction, compute_score, env_dataset, env_reward_func, verl_rows


def test_trl_reward_function_scores_standard_and_conversational_completions():
    data = env_dataset("rlenvs/Arithmetic-v0", n=3, seed=0, level=1)
    assert data[0]["prompt"][-1]["role"] == "user"
    answers = [json.loads(t)["answer"] for t in data["task"]]
    reward = env_reward_func("rlenvs/Arithmetic-v0", level=1)
    good = [f"\\boxed{{{a}}}" for a in answers]
    assert reward(data["prompt"], good, task=data["task"]) == [1.0, 1.0, 1.0]
    chat = [[{"role": "assistant", "content": "\\boxed{x}"}]] * 3
    assert reward(data["prompt"], chat, task=data["task"]) == [0.0, 0.0, 0.0]
    assert all(v.reason for v in reward.last_verdicts)
    with pytest.raises(ValueError, match="task"):
        reward(data["prompt"], good)


@pytest.mark.slow
def test_trl_runs_one_real_grpo_step_with_an_rlenvs_reward(tmp_path):
    trl = pytest.importorskip("trl")
    from judges.llm.embedded import embedded_model_dir

    data = env_dataset("rlenvs/Arithmetic-v0", n=4, seed=0, level=1)
    reward = env_reward_func("rlenvs/Arithmetic-v0", level=1, lenient=True, format_credit=0.1,
                             reward="dense")
    args = trl.GRPOConfig(
        output_dir=str(tmp_path), per_device_train_batch_size=4, num_generations=2,
        max_completion_length=16, max_steps=1, learning_rate=1e-5, use_cpu=True,
        report_to=[], logging_steps=1, save_strategy="no", beta=0.0,
    )
    trainer = trl.GRPOTrainer(model=str(embedded_model_dir()), reward_funcs=reward,
                              train_dataset=data, args=args)
    trainer.train()
    logged = [h for h in trainer.state.log_history if any(k.startswith("rewards/") for k in h)]
    assert logged and trainer.state.global_step == 1
    assert len(reward.last_verdicts) == 4


def test_verl_compute_score_on_math_code_and_if_envs():
    assert compute_score("rlenvs/Arithmetic-v0", "so \\boxed{12}", "12")["score"] == 1.0
    out = compute_score("rlenvs/Arithmetic-v0", "no answer", "12")
    assert out == {"score": 0.0, "acc": False, "reason": out["reason"]} and out["reason"]
    rows = verl_rows("rlenvs/Math-v0", n=2, seed=3, level=1)
    assert rows[0]["data_source"] == "rlenvs/Math-v0" and rows[0]["reward_model"]["ground_truth"]
    gold = rows[0]["reward_model"]["ground_truth"]
    assert compute_score("rlenvs/Math-v0", f"\\boxed{{{gold}}}", gold, rows[0]["extra_info"])["acc"]
    row = verl_rows("rlenvs/IFEval-v0", n=1, seed=0)[0]
    scored = compute_score("rlenvs/IFEval-v0", "", None, row["extra_info"])
    assert scored["score"] == 0.0 and not scored["acc"]
    code_task = {"prompt": "p", "tests": ["assert f() == 2"]}
    info = {"task": json.dumps(code_task)}
    assert compute_score("rlenvs/Code-v0", "def f():\n    return 2\n", None, info)["acc"]
    assert not compute_score("rlenvs/Code-v0", "def f():\n    return 3\n", None, info)["acc"]


def test_verl_interaction_drives_a_multi_turn_env():
    inter = EnvInteraction({"name": "ufo", "env_id": "rlenvs/ArithmeticFeedback-v0",
                            "env_kwargs": {"max_attempts": 3}})

    async def run():
        iid = await inter.start_interaction(task={"question": "2 + 2", "answer": "4"})
        msgs = [{"role": "user", "content": "2 + 2?"}, {"role": "assistant", "content": "\\boxed{5}"}]
        done, text, score, extra = await inter.generate_response(iid, msgs)
        assert not done and text and score == 0.0
        msgs += [{"role": "user", "content": text}, {"role": "assistant", "content": "\\boxed{4}"}]
        done, _, score, extra = await inter.generate_response(iid, msgs)
        assert done and 0 < score <= 1 and extra["passed"]
        total = await inter.calculate_score(iid)
        await inter.finalize_interaction(iid)
        return total

    assert asyncio.run(run()) > 0
