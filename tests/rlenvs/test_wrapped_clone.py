"""Issue 18 item 12: ``env.clone()`` on what ``rlenvs.make`` returns raised (Gymnasium's wrappers
do not forward methods), and ``env.unwrapped.clone()`` dropped the wrappers and their state."""

from __future__ import annotations

import gymnasium as gym
import pytest
from gymnasium.wrappers import OrderEnforcing, TimeLimit

import rlenvs
from rlenvs.core import Cloneable, clone_env

WRONG = "\\boxed{-1}"  # never a level-1 answer: the feedback env asks for another attempt


def _chain(env: gym.Env) -> list[type]:
    kinds = []
    while isinstance(env, gym.Wrapper):
        kinds.append(type(env))
        env = env.env
    return [*kinds, type(env)]


def _layer(env: gym.Env, kind: type) -> gym.Wrapper:
    while not isinstance(env, kind):
        env = env.env
    return env


@pytest.mark.parametrize("maker", [rlenvs.make, gym.make])
def test_clone_of_the_wrapped_env_keeps_every_wrapper_and_its_state(maker):
    env = maker("rlenvs/ArithmeticFeedback-v0", max_attempts=5, max_episode_steps=3)
    assert type(env) is Cloneable and TimeLimit in _chain(env)
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step(WRONG)
    assert not (terminated or truncated)
    twin = env.clone()  # OrderEnforcing's has_reset comes along: the twin steps without reset
    assert _chain(twin) == _chain(env) and _layer(twin, OrderEnforcing)._has_reset
    assert twin.unwrapped is not env.unwrapped and twin.unwrapped.task == env.unwrapped.task
    assert _layer(twin, TimeLimit)._elapsed_steps == 1  # the wrapper's state came along
    # the twin's TimeLimit cuts it at its third step, as it would have cut the original
    assert twin.step(WRONG)[2:4] == (False, False)
    assert twin.step(WRONG)[2:4] == (False, True)
    # the original is untouched by the twin's steps (episode and wrapper state alike)
    assert _layer(env, TimeLimit)._elapsed_steps == 1 and env.unwrapped.episode.turn == 1
    assert env.step(WRONG)[2:4] == (False, False)


class Counting(gym.Wrapper):
    """A user's wrapper with state of its own."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.steps = 0
        self.seen: list[str] = []

    def step(self, action):
        self.steps += 1
        self.seen.append(action)
        return self.env.step(action)


def test_clone_env_copies_a_users_wrapper_stack():
    env = Counting(rlenvs.make("rlenvs/ArithmeticFeedback-v0"))
    env.reset(seed=1)
    env.step(WRONG)
    twin = clone_env(env)
    assert _chain(twin) == _chain(env) and twin.steps == 1 and twin.seen == [WRONG]
    twin.step("\\boxed{0}")
    assert (env.steps, env.seen) == (1, [WRONG])  # the copy's list is its own
    assert twin.env.env is not env.env.env  # each layer is a new object around the twin


def test_what_cannot_branch_says_so():
    with pytest.raises(TypeError, match="has no clone"):
        clone_env(gym.make("CartPole-v1"))
