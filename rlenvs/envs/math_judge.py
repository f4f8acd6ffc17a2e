"""The judge math environments share: ``judges.math.verify_math`` plus named components."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from judges import Verdict

__all__ = ["make_math_judge", "STRICT_RULES", "LENIENT_RULES"]

STRICT_RULES = ("boxed",)
LENIENT_RULES = ("boxed", "hash", "final_answer", "answer_is", "last_number")


def make_math_judge(
    lenient: bool = False,
    format_credit: float = 0.0,
    numeric_closeness: float = 0.0,
    gold_key: str = "answer",
    **verify_opts: Any,
) -> Callable[[str, Mapping[str, Any]], Verdict]:
    """A judge ``(reply, task) -> Verdict`` comparing the reply's answer with ``task[gold_key]``.

    Args:
        lenient: also accept "#### x", "the answer is x" and a final plain number, not only
            ``\\boxed{}`` (the strict default).
        format_credit / numeric_closeness: partial credit for dense schedules (see
            ``judges.math.verify_math``).
    Reward components: ``answer`` (1 when correct) and ``format`` (1 when the answer was boxed).
    """
    from judges.math import verify_math

    rules = LENIENT_RULES if lenient else STRICT_RULES

    def judge(reply: str, task: Mapping[str, Any]) -> Verdict:
        verdict = verify_math(
            reply,
            str(task[gold_key]),
            extract=rules,
            format_credit=format_credit,
            numeric_closeness=numeric_closeness,
            **verify_opts,
        )
        if verdict.details.get("rule") is None and not lenient and "\\boxed" not in reply:
            verdict.reason = "no \\boxed{} answer found"
        verdict.details["components"] = {
            "answer": 1.0 if verdict.passed else 0.0,
            "format": 1.0 if verdict.details.get("rule") == "boxed" else 0.0,
        }
        return verdict

    return judge
