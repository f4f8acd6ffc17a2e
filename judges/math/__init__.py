"""Math judges: final-answer verification over math-verify, and a rule-based process reward.

>>> from judges.math import verify_math
>>> verify_math("... so the answer is $\\\\boxed{\\\\frac{1}{2}}$.", "0.5").passed
True

* :func:`verify_math` / :func:`verify_math_batch` -- answer extraction + math-verify
  equivalence, run in persistent worker processes with a hard timeout (safe in threads,
  in multiprocessing workers, next to the caller's own SIGALRM timers).
* :func:`extract_answer` -- just the final answer: the last committed answer outside any
  thinking block (:func:`judges.math.final.final_answer`, the one definition every caller
  uses).
* :func:`check_steps` -- per-step process reward from arithmetic checks with sympy.
* :func:`configure_pool` / :func:`shutdown_pool` -- worker pool settings and shutdown.
"""

from judges.math.equivalence import extract_answer, verify_math, verify_math_batch
from judges.math.options import MathOptions
from judges.math.pool import configure_pool, shutdown_pool
from judges.math.steps import check_steps

__all__ = [
    "verify_math",
    "verify_math_batch",
    "extract_answer",
    "check_steps",
    "MathOptions",
    "configure_pool",
    "shutdown_pool",
]
