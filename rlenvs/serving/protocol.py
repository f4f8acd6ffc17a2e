"""The wire format of ``rlenvs serve-env``: OpenEnv's WebSocket protocol, plus two extensions.

OpenEnv (``openenv`` 0.10.0, ``openenv.core.env_server.http_server``) talks JSON text frames over
``<base>/ws``; each request gets exactly one response frame:

==========================================  =================================================
client -> server                            server -> client
==========================================  =================================================
``{"type": "reset", "data": {seed, ...}}``  ``{"type": "observation", "data": STEP}``
``{"type": "step", "data": ACTION}``        ``{"type": "observation", "data": STEP}``
``{"type": "state"}``                       ``{"type": "state", "data": {episode_id, ...}}``
``{"type": "close"}``                       (the server closes the socket)
anything that fails                         ``{"type": "error", "data": {message, code}}``
==========================================  =================================================

``STEP`` is OpenEnv's ``serialize_observation`` layout: ``{"observation": {...fields,
"metadata"}, "reward": float | None, "done": bool, "metadata": {...}}``. Ours: the observation's
field ``messages`` is the chat so far; ``metadata`` holds ``terminated``, ``truncated``, the
JSON form of gym's ``info`` (``verdict`` as a dict), ``session_id`` and ``step``.

An action is ``{"message": "<the policy's reply>"}`` (the text-env convention of OpenEnv's echo
and TextArena envs), optionally with ``"timeout_s"`` (a per-call deadline, capped by the
server's). Reset data: ``seed``, ``options`` (gym's, e.g. ``{"task": {...}}``), ``task`` (a
shortcut for ``options["task"]``) and ``episode_id``.

Extensions (an OpenEnv client never sends them, so it is unaffected):

* ``{"type": "fork"}`` -> ``{"type": "fork", "data": {"session_id": ID}}``: a new session holding
  ``clone()`` of this one's episode; attach to it with ``<base>/ws?session_id=ID`` (the query
  parameter OpenEnv uses to attach to an existing session).
* error codes beyond OpenEnv's: ``DEADLINE_EXCEEDED``, ``SESSION_EXPIRED``, ``UNKNOWN_SESSION``.
  Every error names the ``session_id`` and ``step`` it happened at where there is one.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from judges import Verdict

__all__ = [
    "ACTION_KEY",
    "ErrorCode",
    "RESET_KEYS",
    "error_frame",
    "to_jsonable",
    "step_payload",
    "verdict_from_json",
    "info_from_json",
]

ACTION_KEY = "message"
RESET_KEYS = frozenset({"seed", "options", "task", "episode_id"})


class ErrorCode:
    """``data.code`` of error frames (OpenEnv's ``WSErrorCode`` values, then ours)."""

    INVALID_JSON = "INVALID_JSON"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CAPACITY_REACHED = "CAPACITY_REACHED"
    FACTORY_ERROR = "FACTORY_ERROR"
    SESSION_ERROR = "SESSION_ERROR"
    DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
    SESSION_EXPIRED = "SESSION_EXPIRED"
    UNKNOWN_SESSION = "UNKNOWN_SESSION"


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    """An OpenEnv error frame; ``extra`` (session_id, step, ...) goes next to message/code."""
    return {"type": "error", "data": {"message": message, "code": code, **to_jsonable(extra)}}


def to_jsonable(value: Any, _depth: int = 0) -> Any:
    """Plain JSON data for ``value`` (dataclasses such as ``Verdict`` become dicts).

    Non-finite floats become ``None`` and unknown objects their ``repr`` (cut), so a response
    can always be encoded; nesting deeper than 32 levels is cut too.
    """
    if _depth > 32:
        return "<too deep>"
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_jsonable(value.item(), _depth + 1)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist(), _depth + 1)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), _depth + 1)
                for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v, _depth + 1) for v in value]
    return repr(value)[:500]


def step_payload(messages: list[dict[str, Any]], reward: float | None, terminated: bool,
                 truncated: bool, info: dict[str, Any], **meta: Any) -> dict[str, Any]:
    """OpenEnv's observation layout for one reset/step result."""
    metadata = {"terminated": bool(terminated), "truncated": bool(truncated),
                "info": to_jsonable(info), **to_jsonable(meta)}
    return {
        "observation": {"messages": to_jsonable(messages), "metadata": metadata},
        "reward": None if reward is None else to_jsonable(float(reward)),
        "done": bool(terminated or truncated),
        "metadata": metadata,
    }


def verdict_from_json(data: Any) -> Verdict | Any:
    """A ``Verdict`` rebuilt from its JSON form (other values are returned unchanged)."""
    if not isinstance(data, dict) or "score" not in data or "passed" not in data:
        return data
    names = {f.name for f in dataclasses.fields(Verdict)}
    fields = {k: v for k, v in data.items() if k in names}
    try:
        return Verdict(**fields)  # status and cause survive the round trip
    except ValueError:  # a status or cause this version does not know: a fault stays a fault
        unknown = fields.pop("status", None) not in (None, "scored")
        fields.pop("cause", None)
        if unknown:
            fields["details"] = {**(fields.get("details") or {}), "unscored": True}
        return Verdict(**fields)


def info_from_json(info: dict[str, Any]) -> dict[str, Any]:
    """gym's ``info`` from its JSON form (``verdict`` back to a ``Verdict``)."""
    info = dict(info)
    if "verdict" in info:
        info["verdict"] = verdict_from_json(info["verdict"])
    for key in ("final_info",):
        if isinstance(info.get(key), dict):
            info[key] = info_from_json(info[key])
    return info
