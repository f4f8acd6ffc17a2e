"""rlenvs/BFCLMultiTurn-v0 (issue 31): BFCL v4 multi-turn entries played on the package's own
simulated APIs, scored per user turn (state and results) and checked against ``bfcl_eval``'s
own ``multi_turn_checker`` on the ground truth and perturbations of it."""

from __future__ import annotations

import json

import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from rlenvs.audit import audit
from rlenvs.envs.bfcl_multi_turn import (
    MULTI_TURN_CATEGORIES,
    BFCLMultiTurnEnv,
    _offered,
    load_multi_turn_tasks,
    parse_ground_truth_call,
)
from tests.rlenvs.bfcl_reference import (
    calls_held_out_function,
    multi_turn_perturbations,
    reference_multi_turn_passes,
)

ENV = "rlenvs/BFCLMultiTurn-v0"


def hermes(task, text):
    """A ground-truth call string as a Hermes call (positional arguments named)."""
    name, args, kwargs = parse_ground_truth_call(text)
    if args:
        f = next(f for f in _offered(task) if f["name"] == name)
        kwargs = {**dict(zip(list(f["parameters"]["properties"]), args, strict=False)), **kwargs}
    return f'<tool_call>{json.dumps({"name": name, "arguments": kwargs})}</tool_call>'


def play(env, task, turn_calls, one_call_per_reply=False):
    env.reset(options={"task": task})
    for turn in turn_calls:
        replies = ([hermes(task, c)] for c in turn) if one_call_per_reply else \
            ([hermes(task, c) for c in turn] for _ in [0] if turn)
        for reply in replies:
            _, reward, terminated, _, info = env.step("Calling.\n" + "\n".join(reply))
            if terminated:
                return reward, info
        _, reward, terminated, truncated, info = env.step("Done.")
        if terminated or truncated:
            return reward, info
    raise AssertionError("the episode did not end after the last user turn")


@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_the_ground_truth_passes_every_turn(category):
    env = BFCLMultiTurnEnv(category=category)
    for task in load_multi_turn_tasks(category)[:8]:
        assert not calls_held_out_function(task, task["ground_truth"])
        reward, info = play(env, task, task["ground_truth"], one_call_per_reply=True)
        assert reward == 1.0, (task["id"], info["verdict"].reason)
        turns = info["verdict"].details["turns"]
        assert len(turns) == len(task["turns"]) and all(t["passed"] for t in turns)


@pytest.mark.parametrize("category", MULTI_TURN_CATEGORIES)
def test_agreement_with_bfcl_evals_multi_turn_checker(category):
    env = BFCLMultiTurnEnv(category=category)
    n = 0
    for task in load_multi_turn_tasks(category)[::20]:
        for kind, turn_calls in multi_turn_perturbations(task):
            reward, info = play(env, task, turn_calls)
            bfcl = reference_multi_turn_passes(turn_calls, task)
            if calls_held_out_function(task, turn_calls):  # the one kind of disagreement
                assert reward == 0.0 and "no function named" in json.dumps(
                    env.episode.messages), (task["id"], kind)
                continue
            assert (reward == 1.0) == bfcl, (task["id"], kind, info["verdict"].reason)
            n += 1
    assert n >= 40


def test_observations_tools_and_privacy():
    env = rlenvs.make(ENV).unwrapped
    obs, info = env.reset(seed=2)
    task = env.task
    assert obs[0]["role"] == "system" and obs[1:] == task["turns"][0]
    assert {t["function"]["name"] for t in info["tools"]} == {f["name"] for f in task["function"]}
    assert "ground_truth" not in env.public_task(task)
    assert "ground_truth" not in json.dumps(obs) and "initial_config" not in json.dumps(obs)


def test_a_turn_ends_with_a_reply_without_calls_and_the_next_user_turn_follows():
    env = BFCLMultiTurnEnv()
    task = load_multi_turn_tasks()[0]
    env.reset(options={"task": task})
    obs, reward, terminated, _, info = env.step(hermes(task, task["ground_truth"][0][0]))
    assert not terminated and reward == 0.0 and obs[-1]["role"] == "tool"
    assert info["tool_calls"][0]["name"] == "cd"
    for call in task["ground_truth"][0][1:]:
        env.step(hermes(task, call))
    obs, reward, terminated, _, _ = env.step("Moved it.")
    assert not terminated and obs[-1] == task["turns"][1][0]


def test_clone_branches_the_simulated_apis():
    env = BFCLMultiTurnEnv()
    task = load_multi_turn_tasks()[0]
    env.reset(options={"task": task})
    first = task["ground_truth"][0]
    env.step(hermes(task, first[0]))  # cd(folder='document')
    twin = env.clone()
    twin.step(hermes(task, "mkdir(dir_name='elsewhere')"))
    assert twin.state_key() != env.state_key()
    for call in first[1:]:
        env.step(hermes(task, call))
    _, _, terminated, _, _ = env.step("Done.")
    assert not terminated  # the original's turn passed: the twin's mkdir did not reach it
    _, reward, terminated, _, info = twin.step("Done.")
    assert terminated and reward == 0.0 and "state differs" in info["verdict"].reason
    assert "elsewhere" in json.dumps(twin.state_extra())
    assert "elsewhere" not in json.dumps(env.state_extra())


def test_only_documented_functions_run_and_nothing_is_evaluated():
    env = BFCLMultiTurnEnv()
    task = load_multi_turn_tasks()[0]
    env.reset(options={"task": task})
    calls = ['{"name": "_load_scenario", "arguments": {"scenario": {}}}',
             '{"name": "__init__", "arguments": {}}',
             '{"name": "cd", "arguments": {"folder": "__import__(\'os\').getcwd()"}}']
    obs, _, terminated, _, info = env.step("".join(f"<tool_call>{c}</tool_call>" for c in calls))
    assert not terminated
    results = [m["content"] for m in obs if m["role"] == "tool"]
    assert results[0].startswith("Error during execution: no function named '_load_scenario'")
    assert results[1].startswith("Error during execution: no function named '__init__'")
    assert "No such" in results[2] or "Error" in results[2] or "error" in results[2]


def test_more_than_twenty_steps_in_a_turn_fail():
    env = BFCLMultiTurnEnv(max_steps_per_turn=3)
    task = load_multi_turn_tasks()[0]
    env.reset(options={"task": task})
    ls = '<tool_call>{"name": "ls", "arguments": {}}</tool_call>'
    for _ in range(3):
        assert not env.step(ls)[2]
    _, reward, terminated, _, info = env.step(ls)
    assert terminated and reward == 0.0 and "over 3 steps" in info["verdict"].reason


def test_dense_reward_is_the_fraction_of_turns_passed():
    env = BFCLMultiTurnEnv(reward="dense")
    task = load_multi_turn_tasks()[0]
    gt = [list(t) for t in task["ground_truth"]]
    gt[1] = []  # the second turn's calls left out: the first passes, the second fails
    reward, info = play(env, task, gt)
    assert reward == pytest.approx(1 / len(task["turns"]))
    assert not info["verdict"].passed


def test_check_env_and_audit():
    check_env(rlenvs.make(ENV).unwrapped)
    report = audit(ENV, episodes=2)
    assert report.episodes_run >= 1 and not report.partial
    assert not report.holes, {f.name: f.example for f in report.holes}


def test_the_longest_ground_truth_turn_fits_in_one_reply():
    """long_context_38's first turn is 34 calls: one reply may make them all (BFCL sets no cap
    per step); the single-turn env's cap of 32 is not the multi-turn one."""
    task = next(t for t in load_multi_turn_tasks("long_context")
                if t["id"] == "multi_turn_long_context_38")
    assert max(len(t) for t in task["ground_truth"]) > 32
    reward, info = play(BFCLMultiTurnEnv(category="long_context"), task, task["ground_truth"])
    assert reward == 1.0, info["verdict"].reason
    assert reference_multi_turn_passes(task["ground_truth"], task)


def test_miss_func_offers_held_out_functions_at_their_turn_only():
    task = next(t for t in load_multi_turn_tasks("miss_func") if t["missed_function"])
    (turn, docs), = task["missed_function"].items()
    late = {f["name"] for f in docs}
    env = BFCLMultiTurnEnv(category="miss_func")
    obs, info = env.reset(options={"task": task})
    assert not late & {t["function"]["name"] for t in info["tools"]}
    assert not any(name in obs[0]["content"] for name in (f'"name": "{n}"' for n in late))
    for k in range(turn):  # the ground truth up to the held-out turn
        for call in task["ground_truth"][k]:
            env.step(hermes(task, call))
        obs, reward, terminated, _, info = env.step("Done.")
        assert not terminated, info["verdict"].reason
    assert obs[-1]["role"] == "user" and obs[-1]["content"].endswith(
        "I have updated some more functions you can choose from. What about now?")
    assert all(f'"name": "{n}"' in obs[-1]["content"] for n in late)
    assert late <= {t["function"]["name"] for t in env.tool_schemas}


def test_a_held_out_function_called_early_is_not_run():
    """multi_turn_miss_func_49's ground truth calls tail() at turn 1, two turns before it is
    offered: BFCL's executor runs any method of the class, rlenvs only offered functions (the
    one disagreement the bench lists for multi-turn)."""
    task = next(t for t in load_multi_turn_tasks("miss_func")
                if t["id"] == "multi_turn_miss_func_49")
    assert calls_held_out_function(task, task["ground_truth"])
    assert reference_multi_turn_passes(task["ground_truth"], task)
    reward, info = play(BFCLMultiTurnEnv(category="miss_func"), task, task["ground_truth"])
    assert reward == 0.0 and "user turn 1" in info["verdict"].reason
