"""Environments with real faults for the evaluation tests (importable by a CLI subprocess as
``tests.rlenvs.eval_envs:test-eval/Switch-v0``).

* ``test-eval/Switch-v0``: Arithmetic whose judge is chosen by ``RLENVS_TEST_JUDGE`` when a reply
  is scored: unset/``exact``: the real math judge; ``down``: the judge's backend fails (unscored,
  ``judge_backend``, "unparseable judge output"); ``lenient``: any boxed number passes (a hack
  a later fix closes). A reply holding ``[judge-down]`` is a fault whatever the mode.
* ``test-eval/StuckJudge-v0``: the judge never answers for a reply holding ``hang``.
* ``test-eval/SlowStep-v0``: ``step`` sleeps ``RLENVS_TEST_STEP_SLEEP`` seconds (default 30) for
  a reply holding ``slow``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from typing import Any

import rlenvs
from judges import Verdict
from rlenvs.envs.arithmetic import ArithmeticEnv

_NEVER = threading.Event()


class SwitchJudgeEnv(ArithmeticEnv):
    def respond(self, reply: str) -> Any:
        mode = os.environ.get("RLENVS_TEST_JUDGE", "exact")
        if mode == "down" or "[judge-down]" in reply:
            from rlenvs.core import Turn

            return Turn(verdict=Verdict.unscored("unscored: unparseable judge output",
                                                 "judge_backend"), terminated=True)
        if mode == "lenient" and re.search(r"\\boxed\{-?\d+\}", reply):
            from rlenvs.core import Turn

            return Turn(verdict=Verdict.ok("boxed number (lenient)"), terminated=True,
                        reward_components={"answer": 1.0})
        return super().respond(reply)


class StuckJudgeEnv(ArithmeticEnv):
    def respond(self, reply: str) -> Any:
        if "hang" in reply:
            _NEVER.wait()  # a judge server that never answers
        return super().respond(reply)


class SlowStepEnv(ArithmeticEnv):
    def step(self, action: str) -> Any:
        if "slow" in action:
            time.sleep(float(os.environ.get("RLENVS_TEST_STEP_SLEEP", "30")))
        return super().step(action)


def register() -> None:
    for name, cls in (("Switch", "SwitchJudgeEnv"), ("StuckJudge", "StuckJudgeEnv"),
                      ("SlowStep", "SlowStepEnv")):
        rlenvs.register(f"test-eval/{name}-v0", entry_point=f"tests.rlenvs.eval_envs:{cls}")


register()
