"""Issue 30, item 6 and 7: the errors a new user meets in the second hour say what to do."""

from __future__ import annotations

import subprocess
import sys

import gymnasium as gym
import pytest

import rlenvs
from rlenvs.registration import env_kwargs


def test_gymnasium_make_suggests_the_close_kwarg_like_rlenvs_make():
    with pytest.raises(TypeError, match=r"'levl' \(did you mean 'level'\?\)"):
        gym.make("rlenvs/Arithmetic-v0", levl=2)
    with pytest.raises(TypeError, match=r"'levl' \(did you mean 'level'\?\)"):
        rlenvs.make("rlenvs/Arithmetic-v0", levl=2)


def test_direct_construction_suggests_too_and_good_kwargs_still_work():
    from rlenvs.envs.arithmetic import ArithmeticEnv

    with pytest.raises(TypeError, match=r"'lenent' \(did you mean 'lenient'\?\)"):
        ArithmeticEnv(lenent=True)
    env = ArithmeticEnv(level=2, lenient=True)
    obs, _ = env.reset(seed=0)
    assert obs and env.clone().source is env.source  # clone (copy) needs no kwargs


def test_a_kwarg_the_env_sets_itself_is_refused_by_name():
    for make in (gym.make, rlenvs.make):
        with pytest.raises(TypeError, match=r"'judge' \(set by the environment itself\)"):
            make("rlenvs/Arithmetic-v0", judge=lambda r, t: None)
    # where the env takes it as a setting, it stays one
    assert "judge" in env_kwargs("rlenvs/Chat-v0")
    rlenvs.make("rlenvs/Chat-v0", judge="rules").close()


@pytest.mark.parametrize("env_id, internal", [
    ("rlenvs/Arithmetic-v0", ("source", "prompt", "judge", "required_keys")),
    ("rlenvs/HumanEval-v0", ("source", "prompt", "judge", "required_keys")),
    ("rlenvs/ToolMath-v0", ("env", "tools")),
    ("rlenvs/ArithmeticFeedback-v0", ("max_turns",)),
])
def test_env_kwargs_lists_only_user_settable_kwargs(env_id, internal):
    settable = env_kwargs(env_id)
    everything = env_kwargs(env_id, include_internal=True)
    for name in internal:
        assert name in everything and name not in settable
    assert "reward" in settable and "system_prompt" in settable


def test_list_details_shows_no_internal_kwargs():
    out = subprocess.run([sys.executable, "-m", "rlenvs.cli", "list", "--details"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    lines = out.splitlines()
    arith = lines[lines.index("rlenvs/Arithmetic-v0") + 2]
    assert arith.strip().startswith("kwargs: level=")
    names = [part.split("=")[0].strip() for part in arith.split(":", 1)[1].split(",")]
    assert "level" in names and "lenient" in names
    for internal in ("source", "prompt", "judge", "required_keys"):
        assert internal not in names


def test_step_with_chat_messages_says_to_pass_the_reply_text():
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=1)
    env.reset(seed=0)
    with pytest.raises(TypeError, match=r"not chat messages; take messages\[-1\]\['content'\]"):
        env.step([{"role": "assistant", "content": "\\boxed{2}"}])
    with pytest.raises(TypeError, match=r"not chat messages"):
        env.step({"role": "assistant", "content": "\\boxed{2}"})
    with pytest.raises(TypeError, match="decode token ids"):
        env.step([1, 2, 3])
