"""Toy environments whose judge fails or stalls (issue 28 tests): the reward is the Uppercase
toy's (fraction of uppercase letters), but the judge can be a fault or never answer.

``agents-test/Faulty-v0`` with ``mode``:

* ``"odd"``: replies of odd length get ``Verdict.unscored(..., "judge_backend")`` with a
  placeholder score of 1.0 (a trainer that learned from it would be pulled towards odd replies);
* ``"first_try"``: the first judgement of every task is a fault, later ones are scored;
* ``"always"``: every judgement is a fault;
* ``"sleep"``: a tool call that sleeps until :data:`RELEASE` is set, for replies of odd length;
* ``"http"``: the judge is a real HTTP call, without a timeout, to ``port`` on loopback (a
  server that accepts connections and never replies), for replies of odd length.
"""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

import numpy as np

import rlenvs
from judges import Verdict
from rlenvs.core import LLMEnv, Turn
from tests.agents.toy_envs import upper_fraction

RELEASE = threading.Event()  # set at teardown: the abandoned sleeping tool calls return
JUDGED: dict[int, int] = {}  # task word index -> judgements so far ("first_try")


class FaultyEnv(LLMEnv):
    def __init__(self, mode: str = "odd", port: int = 0, **kwargs: Any) -> None:
        kwargs.setdefault("reward", "dense")
        super().__init__(**kwargs)
        self.mode, self.port = mode, port

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        k = int(rng.integers(1_000_000))
        return {"word": ["apple", "river", "stone", "cloud"][k % 4], "key": k}

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"role": "user", "content": f"Shout the word {task['word']}."}]

    def respond(self, reply: str) -> Turn:
        score = upper_fraction(reply)
        judged = Verdict(score=score, passed=score > 0.5, reason="upper")
        odd = len(reply) % 2 == 1
        fault = Verdict.unscored("judge backend: HTTP 500", "judge_backend", score=1.0)
        if self.mode == "odd" and odd or self.mode == "always":
            return Turn(verdict=fault, terminated=True)
        if self.mode == "first_try":
            key = self.task["key"]
            JUDGED[key] = JUDGED.get(key, 0) + 1
            return Turn(verdict=fault if JUDGED[key] == 1 else judged, terminated=True)
        if self.mode == "sleep" and odd:
            RELEASE.wait()  # a tool that never returns (until the test is over)
        if self.mode == "http" and odd:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/judge", data=b"{}")  # no timeout
        return Turn(verdict=judged, terminated=True)


def register_faulty_envs() -> None:
    rlenvs.register("agents-test/Faulty-v0", entry_point=FaultyEnv)
