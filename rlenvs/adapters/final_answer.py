"""Score a finished conversation's final answer with an environment, without re-running tools.

Trainers outside rlenvs (TRL, verl) hand a reward function the *whole* completion: for a tool
environment that is tool call -> tool result -> ... -> final answer, either as chat messages
(TRL's conversational format) or as one decoded string (verl). Stepping the environment with that
text would parse the first tool call, run the tool again and report "no final answer yet". Here
the final answer is cut out of the conversation and only it is judged:

* the final answer is the last assistant turn (messages), or the text after the last tool call
  and tool result (a string);
* it is judged by stepping a freshly reset environment with it; it contains no tool call other
  than the environment's ``answer`` tool, so no tool runs (a tool result written by the policy
  is never trusted: only the final answer is compared with the task's reference);
* a conversation that ends in a tool call, a tool result or a user turn has no final answer:
  it scores 0.0 with a verdict whose reason starts with ``cannot judge:`` and
  ``details["unjudgeable"] = True``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from judges import Verdict

__all__ = ["final_reply", "score_final_answer", "Unjudgeable"]

_TOOL_RESULT_CLOSE = "</tool_response>"


class Unjudgeable(ValueError):
    """The conversation has no final answer the environment can judge."""


def _tool_env(env: Any) -> Any | None:
    """The ``ToolEnv`` (tools + parser) behind ``env``, or None for tool-free environments."""
    from rlenvs.tools.tool_env import ToolEnv

    inner = getattr(env, "unwrapped", env)
    return inner if isinstance(inner, ToolEnv) else None


def _is_answer(call: Any) -> bool:
    return call.name == "answer" and call.error is None


def _after_last_tool_call(text: str, tool_env: Any) -> str:
    """``text`` from just after the last non-``answer`` tool call (and its tool result)."""
    calls = tool_env.parser.parse(text, tool_env.tools).calls
    pending = [c for c in calls if not _is_answer(c)]
    if not pending:
        return text
    start = pending[-1].start
    closers = ["</tool_call>", *(f"</{name}>" for name in tool_env.tools)]
    ends = [i + len(c) for c in closers if (i := text.find(c, start)) >= 0]
    if not ends:  # an unclosed call: the completion was cut inside it
        raise Unjudgeable("the completion ends inside an unclosed tool call")
    cut = min(ends)
    result_end = text.rfind(_TOOL_RESULT_CLOSE, cut)
    if result_end >= 0:
        cut = result_end + len(_TOOL_RESULT_CLOSE)
    if not text[cut:].strip():
        raise Unjudgeable("the completion ends with a tool call or tool result, not a final "
                          "answer")
    return text[cut:]


def _message_text(message: Mapping[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # multimodal parts
        content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return str(content)


def _structured_answer(calls: list[Any]) -> str:
    """The final answer of structured ``tool_calls`` that are all ``answer`` calls."""
    answers = []
    for call in calls:
        fn = call.get("function", call) if isinstance(call, Mapping) else {}
        args = fn.get("arguments") if isinstance(fn, Mapping) else None
        if not isinstance(fn, Mapping) or fn.get("name") != "answer" or not isinstance(
                args, Mapping) or not isinstance(args.get("answer"), str | int | float):
            name = fn.get("name") if isinstance(fn, Mapping) else None
            raise Unjudgeable(f"the last assistant turn calls the tool {str(name)[:60]!r}; "
                              "the conversation has no final answer yet")
        answers.append(str(args["answer"]))
    return f"\\boxed{{{answers[-1]}}}"


def final_reply(completion: Any, env: Any) -> str:
    """The final answer in ``completion`` (a string or a list of chat messages).

    Raises:
        Unjudgeable: the conversation ends without a final answer (in a tool call, a tool
            result, a user turn, or with no assistant turn at all).
        TypeError: ``completion`` is neither a string nor a list of messages.
    """
    tool_env = _tool_env(env)
    if isinstance(completion, str):
        return completion if tool_env is None else _after_last_tool_call(completion, tool_env)
    if not isinstance(completion, list) or not all(isinstance(m, Mapping) for m in completion):
        raise TypeError(f"a completion must be a str or a list of chat messages, got "
                        f"{type(completion).__name__}")
    if not completion:
        raise Unjudgeable("the completion has no messages")
    last = completion[-1]
    role = last.get("role", "assistant")
    if role != "assistant":
        raise Unjudgeable(f"the conversation ends with a {role!r} message, not the assistant's "
                          "final answer")
    if len(completion) == 1 or tool_env is None:
        # one turn (or an env without tools): every assistant turn is the reply, as before
        text = "".join(_message_text(m) for m in completion if m.get("role") == "assistant")
    else:
        text = _message_text(last)
    if last.get("tool_calls"):
        answer = _structured_answer(list(last["tool_calls"]))
        return answer if tool_env is None else _after_last_tool_call(text, tool_env) + answer
    return text if tool_env is None else _after_last_tool_call(text, tool_env)


def _unjudgeable_verdict(reason: str) -> Verdict:
    return Verdict(score=0.0, passed=False, reason=f"cannot judge: {reason}",
                   details={"unjudgeable": True})


def score_final_answer(env: Any, task: Mapping[str, Any], completion: Any) -> tuple[float, Verdict]:
    """``(reward, verdict)`` of ``completion``'s final answer on ``task`` (tools never run).

    ``env`` is a made environment (its ``unwrapped`` is used); it is reset to ``task``.
    """
    inner = getattr(env, "unwrapped", env)
    try:
        reply = final_reply(completion, inner)
    except Unjudgeable as e:
        return 0.0, _unjudgeable_verdict(str(e))
    inner.reset(options={"task": dict(task)})
    tool_env = _tool_env(inner)
    if tool_env is not None:
        calls = tool_env.parser.parse(reply, tool_env.tools).calls
        if any(not _is_answer(c) for c in calls):  # defensive: never run a tool to score
            return 0.0, _unjudgeable_verdict("the final answer contains a tool call")
    _, reward, terminated, truncated, info = inner.step(reply)
    if tool_env is not None and not (terminated or truncated):  # "nudge": no answer at all
        return 0.0, _unjudgeable_verdict("the final turn has neither a tool call nor a "
                                         "\\boxed{} answer")
    return float(reward), info["verdict"]
