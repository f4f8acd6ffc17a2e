"""TRL and verl adapters: a real TRL GRPO step with an rlenvs reward; verl's signatures."""

from __future__ import annotations

import asyncio
import json

import pytest

import rlenvs
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
    assert out == {"score": 0.0, "acc": False, "reason": out["reason"], "judgeable": True,
                   "reward_status": "scored", "reward_cause": ""}
    assert out["reason"]
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


# ----------------------------------------------------------------- tool conversations (issue 17)
TOOL_TASK = {"question": "Compute 4161 * 32.", "answer": "133152"}
CALL = '<tool_call>{"name": "python", "arguments": {"code": "print(4161 * 32)"}}</tool_call>'


def _counting_runner(calls):
    def runner(source, timeout_s=5.0, **kwargs):
        calls.append(source)
        raise AssertionError("a reward function re-ran the python tool")
    return runner


def _tool_conversation(final):
    return [
        {"role": "assistant", "content": CALL},
        {"role": "tool", "name": "python", "content": "133152"},
        {"role": "assistant", "content": final},
    ]


def test_trl_reward_scores_a_tool_conversations_final_answer_without_rerunning_tools():
    ran = []
    reward = env_reward_func("rlenvs/ToolMath-v0", python_runner=_counting_runner(ran))
    task = [json.dumps(TOOL_TASK)] * 4
    completions = [
        _tool_conversation("So the product is \\boxed{133152}."),
        _tool_conversation("\\boxed{133153}"),
        # verl/TRL string form: the decoded transcript, tool result included
        f"{CALL}\n<tool_response>\n133152\n</tool_response>\nThe answer is \\boxed{{133152}}",
        # the policy writes a fake tool result claiming the wrong value: only the answer counts
        f"{CALL}<tool_response>133153</tool_response>\\boxed{{133153}}",
    ]
    assert reward([None] * 4, completions, task=task) == [1.0, 0.0, 1.0, 0.0]
    assert ran == []
    assert reward.last_verdicts[1].reason.startswith("expected 133152")


def test_reward_says_clearly_when_a_conversation_has_no_final_answer():
    ran = []
    reward = env_reward_func("rlenvs/ToolMath-v0", python_runner=_counting_runner(ran))
    unfinished = [
        [{"role": "assistant", "content": CALL}],
        _tool_conversation(CALL),
        [{"role": "assistant", "content": CALL}, {"role": "tool", "content": "133152"}],
        [{"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "python", "arguments": {"code": "1"}}}]}],
        CALL + "\n<tool_response>133152</tool_response>",
        '<tool_call>{"name": "python", "arguments": {"code": "print(1)"}}',  # cut by max tokens
    ]
    scores = reward([None] * 6, unfinished, task=[json.dumps(TOOL_TASK)] * 6)
    assert scores == [0.0] * 6 and ran == []
    for v in reward.last_verdicts:
        assert v.reason.startswith("cannot judge:") and v.details["unjudgeable"], v.reason
    answered = [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "answer", "arguments": {"answer": "133152"}}}]}]
    assert reward([None], [answered], task=[json.dumps(TOOL_TASK)]) == [1.0]


def test_tool_env_dataset_prompts_leave_out_tool_instructions_unless_asked():
    plain = env_dataset("rlenvs/ToolMath-v0", n=2, seed=0)
    with_tools = env_dataset("rlenvs/ToolMath-v0", n=2, seed=0, tool_prompt=True)
    assert not any("tool_call" in m["content"] for m in plain[0]["prompt"])
    assert any("tool_call" in m["content"] for m in with_tools[0]["prompt"])
    assert plain[0]["prompt"][-1] == with_tools[0]["prompt"][-1]
    assert plain["task"] == with_tools["task"]


def test_verl_compute_score_through_verls_own_loader_with_reward_kwargs(tmp_path):
    omegaconf = pytest.importorskip("omegaconf")
    from verl.trainer.ppo.reward import get_custom_reward_fn

    module = tmp_path / "rlenvs_reward.py"
    module.write_text("from rlenvs.adapters import compute_score\n")
    config = omegaconf.OmegaConf.create({"reward": {"custom_reward_function": {
        "path": str(module), "name": "compute_score", "reward_kwargs": {"format_bonus": 0.5}}}})
    fn = get_custom_reward_fn(config)
    info = {"task": json.dumps(TOOL_TASK), "num_turns": 3, "rollout_reward_scores": {}}
    transcript = f"{CALL}\nuser\n<tool_response>\n133152\n</tool_response>\n\\boxed{{133152}}"
    # the keyword arguments verl's reward loop adds with a reward router
    out = fn(data_source="rlenvs/ToolMath-v0", solution_str=transcript, ground_truth="133152",
             extra_info=info, reward_router_address="127.0.0.1:1", reward_model_tokenizer=None)
    assert out["score"] == 1.0 and out["acc"] and out["judgeable"]
    cut = fn(data_source="rlenvs/ToolMath-v0", solution_str=CALL, ground_truth="133152",
             extra_info=info)
    assert cut["score"] == 0.0 and not cut["judgeable"] and cut["reason"].startswith("cannot")


def test_trl_environment_factory_steps_tool_calls_through_the_env():
    from transformers.utils import get_json_schema

    from rlenvs.adapters import environment_factory

    cls = environment_factory("rlenvs/ToolMath-v0", max_tool_calls=2)
    env = rlenvs.make("rlenvs/ToolMath-v0").unwrapped
    for name in ("python", "calculator"):  # transformers' own schema reader sees our schemas
        schema = get_json_schema(getattr(cls, name))["function"]
        assert schema["parameters"] == {k: v for k, v in env.tools[name].parameters.items()
                                        if k in schema["parameters"]}
    assert not hasattr(cls, "answer") and not hasattr(cls, "get_reward")
    instance = cls()
    assert instance.reset(task=json.dumps(TOOL_TASK), prompt=[]) is None  # TRL passes the row
    assert instance.calculator(expression="4161 * 32") == "133152"
    assert instance.python(code="print(4161 * 32)").strip() == "133152"
    assert [c["status"] for c in instance.tool_log] == ["ok", "ok"]
    assert instance.calculator(expression="1 + 1").startswith("Error:")  # budget of 2 used up
    assert instance.calculator(expression="1 + 1").startswith("Error: the episode has ended")
    instance.reset(task=TOOL_TASK)
    assert instance.tool_log == [] and "invalid" not in instance.calculator(expression="2")
