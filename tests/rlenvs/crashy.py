"""Environments that fail on purpose, for the vector-env fault tests (importable by workers)."""

from __future__ import annotations

import os
from typing import Any

import rlenvs
from rlenvs.envs.arithmetic import ArithmeticEnv


class CrashingEnv(ArithmeticEnv):
    """Raises on the reply ``"raise"``; the process dies on ``"die"``."""

    def respond(self, reply: str) -> Any:
        if reply == "raise":
            raise RuntimeError("boom from inside the env")
        if reply == "die":
            os._exit(17)
        return super().respond(reply)


def register() -> None:
    rlenvs.register("test/Crashing-v0", entry_point="tests.rlenvs.crashy:CrashingEnv")


register()
