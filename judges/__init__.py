"""judges: everything that scores a response. Imports nothing from rlenvs or agents."""

from judges.compose import all_of, any_of, weighted
from judges.endogenous import EndogenousRewardJudge
from judges.verdict import CAUSES, SCORED, UNSCORED, Judge, Verdict, is_unscored

__all__ = ["Verdict", "Judge", "SCORED", "UNSCORED", "CAUSES", "is_unscored", "all_of", "any_of", "weighted",
           "EndogenousRewardJudge"]
