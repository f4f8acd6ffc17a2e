"""What every ``rlenvs`` sub-command shares for its arguments: the usage error (one line,
exit code 2), whole-number and ``KEY=VALUE`` option types. ``rlenvs.cli`` re-exports them;
commands that live elsewhere (``rlenvs.audit.command``) import them from here."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from typing import Any

__all__ = ["UsageError", "positive_int", "parse_key_values"]


class UsageError(Exception):
    """A mistake in the command line: reported as one line, exit code 2."""


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_key_values(pairs: Sequence[str], flag: str = "--env-kwarg") -> dict[str, Any]:
    """``["k=1", "name=x"]`` -> ``{"k": 1, "name": "x"}`` (values read as JSON where they parse);
    a pair without ``=`` is a :class:`UsageError` naming ``flag``."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise UsageError(f"{flag} expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out
