"""``ToolEnv``: add tools to any task environment (multi-turn tool use).

Each turn the reply is parsed for tool calls (``rlenvs.tools.parsing``):

* **Tool calls found** -> they run (at most ``max_calls_per_turn``; the rest are reported as
  skipped), each result comes back as a ``{"role": "tool", "name": ..., "content": ...}``
  message, and the episode continues. Invalid calls (malformed JSON, unknown tool, wrong argument
  types, a tool that raises or times out) come back as ``Error: ...`` tool messages. The reward of
  a tool turn is the optional shaping ``tool_call_reward * ok - invalid_call_penalty * invalid``.
* **An ``answer`` tool call** -> the final answer ``\\boxed{<answer>}`` is judged (see below).
* **No tool call** -> the reply *is* the final answer and the wrapped task env judges it (a reply
  without ``\\boxed{}`` therefore fails with the task's reason and ends the episode). With
  ``no_tool_call="nudge"``, a reply with neither a tool call nor ``\\boxed{`` instead gets a
  short user reminder (up to ``max_nudges`` times) and the episode continues.

The final answer is stepped through the wrapped env, whose verdict becomes ours; the reward is
this env's schedule applied to that verdict. ``max_turns`` (default 8) ends the episode as
truncated; so does a reply that attempts a tool call once ``max_tool_calls`` calls were used.
``info["tool_calls"]`` lists this turn's calls (name, arguments, result, error, latency_s,
status); ``info["tool_calls_total"]`` counts the episode's calls so far.

Branching: tool state lives in the episode (``episode.extra``) and the wrapped env is cloned, so
``clone()`` gives an independent twin; a python session's history is copied, not re-run.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from judges import Verdict
from rlenvs.core import LLMEnv, Turn
from rlenvs.tools.base import Tool, ToolResult
from rlenvs.tools.parsing import (
    ParseResult,
    ToolCall,
    ToolCallParser,
    make_parser,
    missed_calls,
)

__all__ = ["ToolEnv", "answer_tool", "tool_instructions"]

NUDGE = ("Please either call a tool or give your final answer in \\boxed{}.")


def _answer(answer: str) -> str:
    """Submit your final answer (ends the episode).

    Args:
        answer: the final answer, e.g. "42".
    """
    return answer


answer_tool = Tool(_answer, name="answer")


def tool_instructions(tools: Sequence[Tool], parser: str | ToolCallParser = "hermes") -> str:
    """The system-prompt text describing ``tools`` and how to call them."""
    lines = ["You can use tools. Available tools (JSON schemas):"]
    lines += [json.dumps(t.schema, ensure_ascii=False) for t in tools]
    if parser == "tags":
        example = " ".join(f"<{t.name}>...</{t.name}>" for t in tools if t.name != "answer")
        lines.append(f"To call a tool, write its tag with the input inside: {example}")
    else:
        lines.append('To call a tool, write <tool_call>{"name": "<tool name>", "arguments": '
                     '{...}}</tool_call>. You may make several calls in one reply; results come '
                     "back in the next message.")
    lines.append("When you know the answer, reply with it in \\boxed{} and no tool call.")
    return "\n".join(lines)


class ToolEnv(LLMEnv):
    """Wrap a task env (an ``LLMEnv``, or a gym wrapper around one) and give it tools.

    Args:
        env: the task environment that samples tasks and judges the final answer.
        tools: the tools (``Tool`` objects). An ``answer`` tool is added unless given/disabled.
        parser: ``"hermes"`` (default), ``"tags"``, ``"any"`` or a parser object.
        max_turns: replies per episode before truncation.
        max_tool_calls: tool calls per episode; a call attempted beyond it truncates the episode.
        max_calls_per_turn: calls executed per reply; the rest are skipped (and reported).
        tool_call_reward / invalid_call_penalty: optional per-call reward shaping.
        no_tool_call: ``"answer"`` (judge the reply as the final answer) or ``"nudge"``.
        add_answer_tool: offer the ``answer`` tool.
        tools_in_prompt: describe the tools in a system message (else only ``tool_schemas``).
        **kwargs: ``LLMEnv`` options (``reward``, ``system_prompt``, ``max_reply_chars``...).
    """

    def __init__(
        self,
        env: LLMEnv | gym.Env,
        tools: Sequence[Tool] = (),
        *,
        parser: str | ToolCallParser = "hermes",
        max_turns: int = 8,
        max_tool_calls: int = 16,
        max_calls_per_turn: int = 8,
        tool_call_reward: float = 0.0,
        invalid_call_penalty: float = 0.0,
        no_tool_call: str = "answer",
        max_nudges: int = 2,
        add_answer_tool: bool = True,
        tools_in_prompt: bool = True,
        **kwargs: Any,
    ) -> None:
        system_prompt = kwargs.pop("system_prompt", None)
        super().__init__(max_turns=max_turns, **kwargs)
        inner = env.unwrapped if isinstance(env, gym.Env) else env
        if not isinstance(inner, LLMEnv):
            raise TypeError(f"ToolEnv wraps an rlenvs LLMEnv, got {type(inner).__name__}")
        if no_tool_call not in ("answer", "nudge"):
            raise ValueError("no_tool_call must be 'answer' or 'nudge'")
        self.inner = inner
        tools = list(tools)
        if add_answer_tool and not any(t.name == "answer" for t in tools):
            tools.append(answer_tool)
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate tool names in {names}")
        self.tools = {t.name: t for t in tools}
        self.parser = make_parser(parser, max_calls=max_calls_per_turn)
        self.max_tool_calls = max_tool_calls
        self.tool_call_reward = tool_call_reward
        self.invalid_call_penalty = invalid_call_penalty
        self.no_tool_call = no_tool_call
        self.max_nudges = max_nudges
        self.extra_system_prompt = system_prompt
        self.instructions = tool_instructions(tools, parser) if tools_in_prompt else ""

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """OpenAI function-calling schemas of the tools (for chat templates with tool support)."""
        return [t.schema for t in self.tools.values()]

    # ----------------------------------------------------------------- LLMEnv hooks
    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.inner.sample_task(rng)

    def validate_task(self, task: Any) -> dict[str, Any]:
        return self.inner.validate_task(task)

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        messages, _ = self.inner.reset(options={"task": task})
        system = [m["content"] for m in messages if m["role"] == "system"]
        rest = [m for m in messages if m["role"] != "system"]
        parts = [p for p in (self.extra_system_prompt, *system, self.instructions) if p]
        return ([{"role": "system", "content": "\n\n".join(parts)}] if parts else []) + rest

    def on_reset(self) -> None:
        self.episode.extra.update(tool_state={}, tool_calls=[], nudges=0, truncate=False)

    def respond(self, reply: str) -> Turn:
        parsed = self.parser.parse(reply, self.tools)
        extra = self.episode.extra
        if not parsed.found:
            missed = missed_calls(reply, self.tools, self.parser)  # tried, in a wrong form
            errors = {"tool_call_errors": missed} if missed else {}
            if (self.no_tool_call == "nudge" and "\\boxed" not in reply
                    and extra["nudges"] < self.max_nudges):
                extra["nudges"] += 1
                reason = "; ".join(["no tool call and no final answer; nudged", *missed])
                return Turn(verdict=Verdict(score=0.0, passed=False, reason=reason),
                            terminated=False,
                            feedback=[{"role": "user", "content": " ".join([NUDGE, *missed])}],
                            reward=0.0, reward_components={"tool_shaping": 0.0},
                            info={"tool_calls": [], **errors})
            turn = self._final(reply, [])
            if missed:
                turn.info.update(errors)
                if not turn.verdict.passed:
                    turn.verdict = dataclasses.replace(
                        turn.verdict, reason="; ".join([turn.verdict.reason, *missed]))
            return turn
        return self._run_calls(parsed)

    def _run_calls(self, parsed: ParseResult) -> Turn:
        extra = self.episode.extra
        records: list[dict[str, Any]] = []
        feedback: list[dict[str, Any]] = []
        for call in parsed.calls:
            if len(extra["tool_calls"]) >= self.max_tool_calls:
                extra["truncate"] = True
                records.append(self._record(call, ToolResult(
                    error=f"tool-call budget of {self.max_tool_calls} per episode used up"),
                    "skipped"))
                continue
            if call.name == "answer" and "answer" in self.tools and call.error is None:
                result = self.tools["answer"].invoke(call.arguments)
                if result.ok:
                    record = self._record(call, result, "ok")
                    extra["tool_calls"].append(record)
                    return self._final(f"\\boxed{{{result.output}}}", [*records, record])
            else:
                result = self._invoke(call)
            invalid = (call.error is not None or call.name not in self.tools
                       or result.details.get("invalid_arguments"))
            status = "ok" if result.ok else ("invalid" if invalid else
                                             "fault" if result.details.get("fault") else "error")
            record = self._record(call, result, status)
            records.append(record)
            extra["tool_calls"].append(record)
            feedback.append({"role": "tool", "name": call.name or "invalid_tool_call",
                             "content": result.as_text()})
        if parsed.skipped:
            records.extend({"name": None, "arguments": None, "result": None, "latency_s": 0.0,
                            "error": "skipped: per-turn call limit", "status": "skipped"}
                           for _ in range(parsed.skipped))
        if parsed.notes:
            feedback.append({"role": "tool", "name": "tool_parser",
                             "content": "Note: " + " ".join(parsed.notes)})
        ok = sum(r["status"] == "ok" for r in records)
        bad = sum(r["status"] in ("invalid", "error") for r in records)
        faults = [r["error"] for r in records if r["status"] == "fault"]
        shaping = self.tool_call_reward * ok - self.invalid_call_penalty * bad
        details: dict[str, Any] = {"pending": True}
        if faults:  # the tool failed, not the policy: never penalised, reported apart
            details["tool_faults"] = faults
        return Turn(
            verdict=Verdict(score=0.0, passed=False, reason=f"{ok} tool call(s) ran, {bad} failed"
                            + (f", {len(faults)} tool fault(s)" if faults else "")
                            + "; no final answer yet", details=details),
            terminated=False,
            feedback=feedback,
            reward=shaping,
            reward_components={"tool_shaping": shaping},
            info={"tool_calls": records, "tool_calls_total": len(extra["tool_calls"])},
        )

    def _invoke(self, call: ToolCall) -> ToolResult:
        if call.error is not None:
            return ToolResult(error=f"invalid tool call: {call.error}")
        tool = self.tools.get(call.name or "")
        if tool is None:
            return ToolResult(error=f"unknown tool {str(call.name)[:80]!r}; available tools: "
                              f"{sorted(self.tools)}")
        state = self.episode.extra["tool_state"].setdefault(tool.name, {})
        return tool.invoke(call.arguments, state=state)

    @staticmethod
    def _record(call: ToolCall, result: ToolResult, status: str) -> dict[str, Any]:
        return {"name": call.name, "arguments": call.arguments,
                "result": result.output if result.ok else None, "error": result.error,
                "latency_s": round(result.latency_s, 6), "status": status}

    def _final(self, answer: str, records: list[dict[str, Any]]) -> Turn:
        before = len(self.inner.episode.messages)
        obs, _, terminated, truncated, info = self.inner.step(answer)
        verdict: Verdict = info["verdict"]
        extra_info = {k: v for k, v in info.items()
                      if k not in ("verdict", "reward_components", "raw_score", "turn")}
        extra_info.update(tool_calls=records,
                          tool_calls_total=len(self.episode.extra["tool_calls"]))
        faults = sum(r["status"] == "fault" for r in self.episode.extra["tool_calls"])
        if faults:  # evaluation can count episodes whose tools failed apart
            verdict = dataclasses.replace(verdict, details={**verdict.details,
                                                            "tool_faults": faults})
        return Turn(
            verdict=verdict,
            terminated=bool(terminated or truncated),
            feedback=obs[before + 1:] if not (terminated or truncated) else [],
            reward_components=dict(info.get("reward_components") or {"score": verdict.score}),
            info=extra_info,
        )

    # ----------------------------------------------------------------- step / clone
    def step(self, action: str) -> tuple[list, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = super().step(action)
        episode = self.episode
        if not terminated and not truncated and episode.extra.get("truncate"):
            truncated = True
            episode.done = True
            info["truncated_reason"] = "tool-call budget"
        elif truncated:
            info["truncated_reason"] = "turn limit"
        return obs, reward, terminated, truncated, info

    def state_extra(self) -> Any:
        """Tool sessions (a Python session's cells), calls used against the budget, nudges
        given, and the wrapped env's own state (for :meth:`state_key`)."""
        extra = self.episode.extra
        return {"tool_state": extra["tool_state"], "tool_calls": len(extra["tool_calls"]),
                "nudges": extra["nudges"], "truncate": extra["truncate"],
                "inner": self.inner.state_key()}

    def _clone_into(self, twin: LLMEnv) -> None:
        assert isinstance(twin, ToolEnv)
        twin.inner = self.inner.clone()
