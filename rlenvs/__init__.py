"""rlenvs: LLM tasks as Gymnasium environments.

>>> import rlenvs
>>> env = rlenvs.make("rlenvs/Arithmetic-v0")
>>> obs, info = env.reset(seed=0)
>>> obs, reward, terminated, truncated, info = env.step("\\\\boxed{42}")
"""

from rlenvs.builtin import register_builtin_envs
from rlenvs.core import EpisodeEndedError, LLMEnv, Turn
from rlenvs.registration import UnknownEnvError, list_envs, load_plugins, make, register
from rlenvs.rewards import (
    BinaryReward,
    DenseReward,
    DenseThenBinary,
    LengthPenalty,
    OverlongShaping,
    RewardSchedule,
    make_schedule,
)
from rlenvs.spaces import ChatMessages, UnicodeText
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource, ProceduralSource, TaskSource

__version__ = "0.1.0"

register_builtin_envs()
load_plugins()


def __getattr__(name: str):  # lazy: evaluation pulls in policies and model backends
    if name in ("evaluate", "EvalResult"):
        from rlenvs import evaluation

        return getattr(evaluation, name)
    if name == "audit":  # the package is callable: rlenvs.audit(env_or_id, ...)
        import rlenvs.audit

        return rlenvs.audit
    if name in ("load_policy", "Policy"):
        from rlenvs import policies

        return getattr(policies, name)
    raise AttributeError(f"module 'rlenvs' has no attribute {name!r}")


__all__ = [
    "LLMEnv",
    "TaskEnv",
    "Turn",
    "EpisodeEndedError",
    "UnknownEnvError",
    "make",
    "register",
    "list_envs",
    "load_plugins",
    "RewardSchedule",
    "BinaryReward",
    "DenseReward",
    "DenseThenBinary",
    "OverlongShaping",
    "LengthPenalty",
    "make_schedule",
    "ChatMessages",
    "UnicodeText",
    "TaskSource",
    "ListSource",
    "ProceduralSource",
    "evaluate",
    "EvalResult",
    "load_policy",
    "Policy",
    "audit",
]
