"""An example plugin with a deliberately naive checker: ``naive/Multiply-v0``.

The policy multiplies two numbers; the checker pays a reply that *contains* the product
anywhere (a substring match). That is the kind of hand-written verifier reward hacking starts
from: "41 or 42", a spray of every number from 1 to 1000, or the product inside a thinking block
followed by another answer all pass. ``rlenvs audit naive/Multiply-v0`` names these holes and
exits non-zero; ``naive/MultiplyVerified-v0`` is the same task judged by
``judges.math.verify_math``, which holds against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

import rlenvs
from judges import Verdict


def _task(rng: np.random.Generator) -> dict[str, Any]:
    a, b = int(rng.integers(2, 40)), int(rng.integers(2, 40))
    return {"id": f"{a}x{b}", "question": f"{a} * {b}", "answer": str(a * b)}


def substring_judge(reply: str, task: Mapping[str, Any]) -> Verdict:
    """The naive checker: the answer appears somewhere in the reply."""
    if task["answer"] in reply:
        return Verdict.ok()
    return Verdict.fail(f"{task['answer']} not found in the reply")


def math_judge(reply: str, task: Mapping[str, Any]) -> Verdict:
    """The sound checker: the reply's one final answer equals the product."""
    from judges.math import verify_math

    return verify_math(reply, task["answer"])


class MultiplyEnv(rlenvs.TaskEnv):
    public_fields = ("id", "question")  # the answer is private

    def __init__(self, naive: bool = True, **kwargs: Any) -> None:
        super().__init__(
            source=rlenvs.ProceduralSource(_task),
            prompt=lambda t: f"Compute {t['question']}. Put your final answer in \\boxed{{}}.",
            judge=substring_judge if naive else math_judge,
            required_keys=("question", "answer"),
            **kwargs,
        )


def register_envs() -> None:
    rlenvs.register("naive/Multiply-v0", entry_point="rlenvs_naive:MultiplyEnv")
    rlenvs.register("naive/MultiplyVerified-v0", entry_point="rlenvs_naive:MultiplyEnv",
                    kwargs={"naive": False})


# Registered on import too, so gymnasium's "rlenvs_naive:naive/Multiply-v0" form works without
# installing the package (rlenvs registers it through the entry point when it is installed).
register_envs()
