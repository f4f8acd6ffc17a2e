"""LLM judges: pointwise rubric scores, pairwise preference (+ Bradley-Terry), reference-guided
scores and yes/no constraint judges read from token probabilities."""

from judges.llmjudge.bradley_terry import bradley_terry, expected_win_rates
from judges.llmjudge.constraint import YesNoJudge, yes_probability
from judges.llmjudge.pairwise import PairwiseJudge
from judges.llmjudge.parsing import parse_choice, parse_score
from judges.llmjudge.pointwise import PointwiseJudge, ReferenceJudge

__all__ = [
    "PointwiseJudge",
    "ReferenceJudge",
    "PairwiseJudge",
    "YesNoJudge",
    "bradley_terry",
    "expected_win_rates",
    "parse_score",
    "parse_choice",
    "yes_probability",
]
