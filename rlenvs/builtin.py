"""Registration of the built-in environments (called once by ``import rlenvs``)."""

from __future__ import annotations

from rlenvs.registration import register

__all__ = ["register_builtin_envs"]


def register_builtin_envs() -> None:
    register(
        "rlenvs/Arithmetic-v0",
        entry_point="rlenvs.envs.arithmetic:ArithmeticEnv",
    )
    register("rlenvs/Math-v0", entry_point="rlenvs.envs.math_env:MathEnv")
    register("rlenvs/GSM8K-v0", entry_point="rlenvs.envs.math_env:GSM8KEnv")
    register("rlenvs/MATH-v0", entry_point="rlenvs.envs.math_env:MATHEnv")
    register("rlenvs/AIME-v0", entry_point="rlenvs.envs.math_env:AIMEEnv")
    register("rlenvs/HumanEval-v0", entry_point="rlenvs.envs.code_env:HumanEvalEnv")
    register("rlenvs/MBPP-v0", entry_point="rlenvs.envs.code_env:MBPPEnv")
    register("rlenvs/Code-v0", entry_point="rlenvs.envs.code_env:CodeEnv")
    register("rlenvs/IFEval-v0", entry_point="rlenvs.envs.ifeval_env:IFEvalEnv")
    register("rlenvs/Instruct-v0", entry_point="rlenvs.envs.ifeval_env:InstructEnv")
    register("rlenvs/ToolMath-v0", entry_point="rlenvs.envs.toolmath:ToolMathEnv")
    register("rlenvs/SearchQA-v0", entry_point="rlenvs.envs.searchqa:SearchQAEnv")
    register("rlenvs/ArithmeticFeedback-v0", entry_point="rlenvs.tools.feedback:UnaryFeedbackEnv")
    register("rlenvs/Chat-v0", entry_point="rlenvs.envs.chat_env:ChatEnv")
    register("rlenvs/BFCL-v0", entry_point="rlenvs.envs.bfcl_env:BFCLEnv")
    register("rlenvs/ReasoningGym-v0", entry_point="rlenvs.envs.reasoning_gym_env:ReasoningGymEnv")
    register("rlenvs/TextArena-v0", entry_point="rlenvs.envs.textarena_env:TextArenaEnv")
    register("rlenvs/TextArenaDuel-v0",
             entry_point="rlenvs.envs.textarena_duel:TextArenaDuelEnv")
    register("rlenvs/BFCLMultiTurn-v0", entry_point="rlenvs.envs.bfcl_multi_turn:BFCLMultiTurnEnv")
