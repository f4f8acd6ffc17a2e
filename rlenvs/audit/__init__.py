"""``rlenvs audit``: red-team an environment's reward before you train on it.

>>> import rlenvs
>>> report = rlenvs.audit("rlenvs/Arithmetic-v0", episodes=2)   # doctest: +SKIP
>>> report.exit_code, report.holes                               # doctest: +SKIP
(0, [])

Attack families (:mod:`rlenvs.audit.generic`, :mod:`~rlenvs.audit.answers`,
:mod:`~rlenvs.audit.programs`, :mod:`~rlenvs.audit.instructions`) are deterministic seeded
generators of replies that a correct judge must not pass; the false-negative probes
(:mod:`~rlenvs.audit.probes`) are correct answers in other forms that it must pass. The audit
reads each task's private fields in process (:mod:`~rlenvs.audit.context`), never over a wire,
and never trains anything.

The package itself is callable -- ``rlenvs.audit(env_or_id, ...)`` is ``rlenvs.audit.audit``.
"""

import sys
import types

from rlenvs.audit.report import AuditReport, FamilyResult, Outcome
from rlenvs.audit.runner import FAMILIES, audit, play

__all__ = ["audit", "play", "AuditReport", "FamilyResult", "Outcome", "FAMILIES"]


class _CallableModule(types.ModuleType):
    """``rlenvs.audit(...)`` calls :func:`audit` (the package and the function share a name)."""

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return audit(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
