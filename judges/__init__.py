"""judges: everything that scores a response. Imports nothing from rlenvs or agents."""

from judges.compose import all_of, any_of, weighted
from judges.verdict import Judge, Verdict

__all__ = ["Verdict", "Judge", "all_of", "any_of", "weighted"]
