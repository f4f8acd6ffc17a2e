"""judges: everything that scores a response. Imports nothing from rlenvs or agents."""

from typing import Any

from judges.compose import all_of, any_of, weighted
from judges.endogenous import EndogenousRewardJudge
from judges.verdict import CAUSES, SCORED, UNSCORED, Judge, Verdict, is_unscored

__all__ = ["Verdict", "Judge", "SCORED", "UNSCORED", "CAUSES", "is_unscored", "all_of", "any_of", "weighted",
           "EndogenousRewardJudge", "PolarJudge"]


def __getattr__(name: str) -> Any:  # PolarJudge imports torch: only when asked for
    if name == "PolarJudge":
        from judges.polar import PolarJudge

        return PolarJudge
    raise AttributeError(f"module 'judges' has no attribute {name!r}")
