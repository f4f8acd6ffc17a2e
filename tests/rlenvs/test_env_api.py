"""The gym API contract of DESIGN.md, on every registered environment."""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import rlenvs
from judges import Verdict


@pytest.mark.parametrize("env_id", rlenvs.list_envs())
@pytest.mark.parametrize("maker", [rlenvs.make, gym.make], ids=["rlenvs.make", "gymnasium.make"])
def test_every_env_passes_the_gym_checker(env_id, maker):
    env = maker(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(env.unwrapped)
    env.close()


@pytest.mark.parametrize("env_id", rlenvs.list_envs())
def test_same_seed_same_task_and_info_contract(env_id):
    env = rlenvs.make(env_id)
    obs1, info1 = env.reset(seed=7)
    obs2, info2 = env.reset(seed=7)
    assert obs1 == obs2 and info1["task"] == info2["task"]
    assert env.observation_space.contains(obs1)
    tasks = {str(env.reset(seed=s)[1]["task"]) for s in range(20)}
    assert len(tasks) > 1, "different seeds should give different tasks"
    env.reset(seed=7)
    obs, reward, terminated, truncated, info = env.step("I do not know. ∑ 数学")
    assert isinstance(info["verdict"], Verdict)
    assert isinstance(info["reward_components"], dict) and info["reward_components"]
    assert isinstance(reward, float)
    assert obs[-1] == {"role": "assistant", "content": "I do not know. ∑ 数学"} or terminated is False


def test_arithmetic_scores_right_and_wrong_answers():
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=2)
    _, info = env.reset(seed=3)
    answer = info["task"]["answer"]
    _, reward, terminated, truncated, info = env.step(f"So we get \\boxed{{{answer}}}.")
    assert (reward, terminated, truncated) == (1.0, True, False)
    assert info["verdict"].passed and info["reward_components"]["answer"] == 1.0
    env.reset(seed=3)
    _, reward, _, _, info = env.step(f"The answer is {answer}.")  # not boxed: strict fails
    assert reward == 0.0 and "boxed" in info["verdict"].reason
    lenient = rlenvs.make("rlenvs/Arithmetic-v0", level=2, lenient=True)
    lenient.reset(seed=3)
    assert lenient.step(f"The answer is {answer}.")[1] == 1.0


def test_arithmetic_levels_and_nested_boxed():
    for level in range(1, 6):
        env = rlenvs.make("rlenvs/Arithmetic-v0", level=level)
        _, info = env.reset(seed=level)
        task = info["task"]
        assert task["level"] == level
        assert int(task["answer"]) == eval(task["question"])  # noqa: S307 - our own digits-only expr
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=1)
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    assert env.step("so \\boxed{\\frac{8}{2}}")[1] == 1.0  # nested braces
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    # two different boxed answers are a hedge, even when one of them is text
    assert env.step("\\boxed{\\text{no}} then \\boxed{\\frac{8}{2}}")[1] == 0.0
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    assert env.step("\\boxed{4} no wait \\boxed{5}")[1] == 0.0  # the last box counts
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    assert env.step("\\boxed{4")[4]["verdict"].reason  # unbalanced: no answer, with a reason


def test_dense_reward_gives_format_credit():
    env = rlenvs.make("rlenvs/Arithmetic-v0", reward="dense", format_credit=0.1)
    env.reset(options={"task": {"question": "2 + 2", "answer": "4"}})
    _, reward, _, _, info = env.step("\\boxed{5}")
    assert reward == pytest.approx(0.1) and not info["verdict"].passed
    assert info["raw_score"] == pytest.approx(0.1)


def test_options_task_pins_the_task_and_is_validated():
    env = rlenvs.make("rlenvs/Arithmetic-v0")
    obs, info = env.reset(options={"task": {"question": "7 * 6", "answer": "42"}})
    assert "7 * 6" in obs[-1]["content"]
    with pytest.raises(ValueError, match="missing"):
        env.reset(options={"task": {"question": "1 + 1"}})
    with pytest.raises(TypeError, match="dict"):
        env.reset(options={"task": "1 + 1"})
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"tsk": {}})


def test_misuse_raises_clear_errors():
    env = rlenvs.make("rlenvs/Arithmetic-v0")
    env.reset(seed=0)
    with pytest.raises(TypeError, match="str"):
        env.step(42)
    with pytest.raises(TypeError, match="str"):
        env.step(["\\boxed{1}"])
    env.step("\\boxed{1}")
    with pytest.raises(rlenvs.EpisodeEndedError, match="reset"):
        env.step("\\boxed{1}")
    raw = rlenvs.make("rlenvs/Arithmetic-v0").unwrapped
    with pytest.raises(rlenvs.EpisodeEndedError, match="reset"):
        raw.step("x")


def test_unknown_env_id_lists_closest_ids():
    with pytest.raises(rlenvs.UnknownEnvError, match="Did you mean: rlenvs/Arithmetic-v0"):
        rlenvs.make("rlenvs/Arithmetc-v0")
    with pytest.raises(rlenvs.UnknownEnvError, match="rlenvs list"):
        rlenvs.make("zzz/Nothing-v9")
    assert rlenvs.make("Arithmetic-v0").spec.id == "rlenvs/Arithmetic-v0"


def test_oversized_reply_is_a_low_reward_step_not_a_crash():
    env = rlenvs.make("rlenvs/Arithmetic-v0", max_reply_chars=1000)
    env.reset(seed=0)
    _, reward, terminated, _, info = env.step("x" * 5000)
    assert reward == 0.0 and terminated and "limit" in info["verdict"].reason


@pytest.mark.parametrize("env_id", rlenvs.list_envs())
def test_clone_is_independent_and_equivalent(env_id):
    env = rlenvs.make(env_id)
    env.reset(seed=11)
    twin = env.unwrapped.clone()
    assert twin.task == env.unwrapped.task
    out_twin = twin.step("\\boxed{0}")
    assert not env.unwrapped.episode.done, "stepping the clone must not touch the original"
    assert env.unwrapped.episode.messages[-1]["role"] != "assistant"
    out_orig = env.step("\\boxed{0}")
    assert out_twin[0] == out_orig[0] and out_twin[1:4] == out_orig[1:4]
    # the RNG is copied too: the next seedless reset draws the same task in both
    assert twin.reset()[1]["task"] == env.unwrapped.reset()[1]["task"]


def test_text_spaces_accept_any_unicode():
    space = rlenvs.UnicodeText()
    assert space.contains("\\boxed{½} — 数学 🙂")
    assert not space.contains(b"bytes") and not space.contains(3)
    chat = rlenvs.ChatMessages()
    assert chat.contains([{"role": "user", "content": "αβγ"}])
    assert not chat.contains([{"role": "robot", "content": "x"}])
    assert not chat.contains([{"role": "user", "content": 1}])
    space.seed(0)
    a = [space.sample() for _ in range(3)]
    space.seed(0)
    assert a == [space.sample() for _ in range(3)]


def test_reward_schedule_two_stage_switch_survives_restore():
    schedule = rlenvs.make_schedule({"name": "dense_then_binary", "switch_step": 3})
    partial = Verdict(score=0.4, passed=False)
    assert schedule(partial) == pytest.approx(0.4)
    schedule.advance(step=1)
    schedule.advance(step=2)
    assert schedule.stage == "dense"
    schedule.advance(step=3)
    assert schedule.stage == "binary" and schedule(partial) == 0.0
    restored = rlenvs.make_schedule({"name": "dense_then_binary", "switch_step": 99})
    restored.load_state_dict(schedule.state_dict())
    assert restored.stage == "binary" and restored.switched_at == 3
    by_rate = rlenvs.DenseThenBinary(switch_success_rate=0.5, window=2)
    by_rate.advance(success_rate=0.2)
    by_rate.advance(success_rate=0.6)
    assert by_rate.stage == "dense"  # running mean 0.4
    by_rate.advance(success_rate=0.8)
    assert by_rate.stage == "binary"
    with pytest.raises(ValueError, match="unknown reward schedule"):
        rlenvs.make_schedule("sparse")


def test_math_family_defaults_are_strict_alike():
    """Issue 18 item 12: MATH-v0 defaulted to lenient while Arithmetic-v0 and Math-v0 did
    not; an unboxed number is no answer in any of them unless lenient=True is asked for."""
    import rlenvs
    from rlenvs.tools.parsing import last_boxed

    for env_id in ("rlenvs/Arithmetic-v0", "rlenvs/Math-v0", "rlenvs/MATH-v0"):
        assert rlenvs.registration.env_kwargs(env_id)["lenient"] is False, env_id
        env = rlenvs.make(env_id)
        _, info = env.reset(seed=0)
        gold = str(info["task"]["answer"])
        gold = last_boxed(gold) or gold  # MATH's gold is a solution ending in \boxed{}
        unboxed = env.step(f"The answer is {gold}")[-1]["verdict"]
        assert not unboxed.passed, (env_id, unboxed)


# ------------------------------------------------------------------ public / private task fields

# The built-in envs: other test modules register envs of their own that declare no public
# fields (their public view is empty, the safe default for an env that declares nothing).
@pytest.mark.parametrize("env_id", [e for e in rlenvs.list_envs() if e.startswith("rlenvs/")])
def test_public_task_is_an_allow_listed_part_of_the_task_and_the_prompt_needs_no_more(env_id):
    from rlenvs.task_env import TaskEnv

    env = rlenvs.make(env_id).unwrapped
    for seed in range(3):
        obs, info = env.reset(seed=seed)
        public = env.public_task(info["task"])
        assert public and all(info["task"][k] == v for k, v in public.items())
        # pinning a task rebuilds the prompt; a task holding only the public fields plus the
        # private ones gives the same prompt: the prompt is made from the public view alone
        renamed = {**{f"private_{k}": v for k, v in info["task"].items() if k not in public},
                   **public}
        if isinstance(env, TaskEnv):
            assert env.initial_messages(renamed) == env.initial_messages(info["task"])
    env.close()


def test_a_task_env_prompt_sees_only_its_public_fields():
    from rlenvs.task_env import TaskEnv
    from rlenvs.tasks import ListSource

    task = {"question": "2 + 3", "answer": "5", "note": "secret"}
    judge = lambda reply, t: Verdict(1.0, True, "ok")  # noqa: E731

    declared = TaskEnv(ListSource([task]), prompt=lambda t: t["question"], judge=judge,
                       public_fields=("question",))
    assert declared.public_task(task) == {"question": "2 + 3"}
    leaky = TaskEnv(ListSource([task]), prompt=lambda t: f"{t['question']} ({t['answer']})",
                    judge=judge, public_fields=("question",))
    with pytest.raises(KeyError, match="reads the task field 'answer'.*public_fields"):
        leaky.reset(seed=0)
    # undeclared: the public fields are the ones the prompt reads
    derived = TaskEnv(ListSource([task]), prompt=lambda t: t["question"], judge=judge)
    assert derived.public_task(task) == {"question": "2 + 3"}
    assert derived.reset(seed=0)[0] == [{"role": "user", "content": "2 + 3"}]
    everything = TaskEnv(ListSource([task]), prompt=lambda t: str(dict(t)), judge=judge)
    assert everything.public_task(task) == task  # a prompt showing all shows all
