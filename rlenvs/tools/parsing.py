"""Tool-call parsers: find the tool calls in a policy reply.

A parser is any object with ``parse(text, tools) -> ParseResult`` (``ToolCallParser`` protocol).
Two built-in formats:

* ``HermesParser`` (default; Hermes / Qwen style): ``<tool_call>{"name": "calculator",
  "arguments": {"expression": "2**10"}}</tool_call>``; several per reply. ``arguments`` may also
  be a JSON-encoded string (OpenAI style) and ``parameters`` is accepted as its alias.
* ``TagParser``: ``<python>print(1)</python>``, ``<search>query</search>``,
  ``<calculator>2+2</calculator>``: a tag per tool with a single required string parameter; the
  tag's content is that parameter. A Markdown fence wrapping the content is removed.

Rules, the same for every parser (and documented behaviour of the environments):

* Calls that start inside a Markdown code fence (```...```) are **ignored**: a fenced block is
  an example or quoted text, not an action. Fences inside a call (``<python>```py ...```</python>``)
  are fine.
* Only the first ``max_text_chars`` characters are scanned; a single call body over
  ``max_call_chars`` is an invalid call; an unclosed final tag is an invalid call (the reply was
  probably cut by the token limit).
* At most ``max_calls`` calls per reply are kept; the rest are counted in ``skipped``.
* Nested tags are not special: the first closing tag ends the call, so the body contains the
  inner opening tag and usually fails to parse, which is reported as an invalid call.
* A call that cannot be decoded keeps ``error`` set; the environment turns it into an error
  observation and records it, it never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "ToolCall",
    "ParseResult",
    "ToolCallParser",
    "HermesParser",
    "TagParser",
    "AnyParser",
    "make_parser",
    "missed_calls",
    "fenced_regions",
    "last_boxed",
]

MAX_CALLS = 8
MAX_TEXT_CHARS = 200_000
MAX_CALL_CHARS = 20_000
_FENCE = re.compile(r"```")


@dataclass
class ToolCall:
    """One parsed call: ``name`` and ``arguments``, or an ``error`` saying why it is invalid."""

    name: str | None
    arguments: Any = None
    error: str | None = None
    raw: str = ""
    start: int = 0


@dataclass
class ParseResult:
    """Calls found in a reply, in order; ``skipped``: calls over the per-reply cap."""

    calls: list[ToolCall] = field(default_factory=list)
    skipped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.calls) or self.skipped > 0


@runtime_checkable
class ToolCallParser(Protocol):
    """Anything that finds tool calls in a reply."""

    def parse(self, text: str, tools: Mapping[str, Any]) -> ParseResult: ...


def fenced_regions(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each Markdown code fence pair (an unpaired final fence runs to the end)."""
    marks = [m.start() for m in _FENCE.finditer(text)]
    regions = []
    for i in range(0, len(marks), 2):
        end = marks[i + 1] + 3 if i + 1 < len(marks) else len(text)
        regions.append((marks[i], end))
    return regions


def _in_regions(pos: int, regions: Sequence[tuple[int, int]]) -> bool:
    return any(a <= pos < b for a, b in regions)


def _strip_fence(body: str) -> str:
    """Remove one Markdown fence wrapping ``body`` (```lang\\n ... \\n```), if any."""
    m = re.fullmatch(r"\s*```[\w+-]*[ \t]*\n?(.*?)\n?```\s*", body, flags=re.DOTALL)
    return m.group(1) if m else body


class _TagScanner:
    """Shared scanning: tag pairs, fences, size limits, per-reply cap."""

    def __init__(
        self,
        max_calls: int = MAX_CALLS,
        max_text_chars: int = MAX_TEXT_CHARS,
        max_call_chars: int = MAX_CALL_CHARS,
    ) -> None:
        self.max_calls = max_calls
        self.max_text_chars = max_text_chars
        self.max_call_chars = max_call_chars

    def _scan(
        self, text: str, tags: Sequence[str]
    ) -> tuple[list[tuple[str, int, str | None]], list[str]]:
        """``(tag, start, body or None if unclosed)`` for each call outside code fences."""
        notes = []
        if len(text) > self.max_text_chars:
            notes.append(f"reply is {len(text)} characters; only the first "
                         f"{self.max_text_chars} were scanned for tool calls")
            text = text[: self.max_text_chars]
        if not tags:
            return [], notes
        fences = fenced_regions(text)
        opening = re.compile("<(" + "|".join(re.escape(t) for t in tags) + r")>")
        found: list[tuple[str, int, str | None]] = []
        pos = 0
        while True:
            m = opening.search(text, pos)
            if m is None:
                break
            tag = m.group(1)
            close = text.find(f"</{tag}>", m.end())
            body = text[m.end() : close] if close >= 0 else None
            pos = close + len(tag) + 3 if close >= 0 else len(text)
            if _in_regions(m.start(), fences):
                continue
            found.append((tag, m.start(), body))
        return found, notes

    def _limit(self, calls: list[ToolCall], notes: list[str]) -> ParseResult:
        kept, skipped = calls[: self.max_calls], max(0, len(calls) - self.max_calls)
        if skipped:
            notes.append(f"{skipped} tool call(s) over the limit of {self.max_calls} per reply "
                         "were skipped")
        return ParseResult(calls=kept, skipped=skipped, notes=notes)

    def _check_body(self, tag: str, body: str | None) -> str | None:
        if body is None:
            return f"unclosed <{tag}> (missing </{tag}>)"
        if len(body) > self.max_call_chars:
            return f"tool call is {len(body)} characters, over the limit of {self.max_call_chars}"
        return None


class HermesParser(_TagScanner):
    """``<tool_call>{"name": ..., "arguments": {...}}</tool_call>`` (Hermes / Qwen format)."""

    tag = "tool_call"

    def parse(self, text: str, tools: Mapping[str, Any]) -> ParseResult:
        found, notes = self._scan(text, [self.tag])
        calls = []
        for tag, start, body in found:
            calls.append(self._decode(tag, start, body))
        return self._limit(calls, notes)

    def _decode(self, tag: str, start: int, body: str | None) -> ToolCall:
        raw = (body or "")[:500]
        problem = self._check_body(tag, body)
        if problem:
            return ToolCall(name=None, error=problem, raw=raw, start=start)
        assert body is not None
        try:
            obj = json.loads(_strip_fence(body).strip())
        except (ValueError, RecursionError) as e:
            return ToolCall(name=None, error=f"tool call is not valid JSON ({e})"[:300], raw=raw,
                            start=start)
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
            return ToolCall(name=None, raw=raw, start=start,
                            error='tool call must be a JSON object {"name": str, "arguments": {}}')
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):  # OpenAI style: arguments as a JSON string
            try:
                args = json.loads(args) if args.strip() else {}
            except (ValueError, RecursionError):
                return ToolCall(name=obj["name"], raw=raw, start=start,
                                error="'arguments' is a string that is not valid JSON")
        return ToolCall(name=obj["name"], arguments=args, raw=raw, start=start)


class TagParser(_TagScanner):
    """``<toolname>content</toolname>`` for tools with one required string parameter.

    Args:
        tags: ``{tag: (tool name, parameter name)}``; by default, derived from the tools: every
            tool whose schema has exactly one required string parameter gets a tag of its name.
    """

    def __init__(self, tags: Mapping[str, tuple[str, str]] | None = None, **limits: Any) -> None:
        super().__init__(**limits)
        self.tags = dict(tags) if tags is not None else None

    @staticmethod
    def tags_for(tools: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
        """The default tag table for ``tools``."""
        tags = {}
        for name, t in tools.items():
            params = t.parameters
            req = params.get("required", [])
            if len(req) == 1 and params["properties"][req[0]].get("type") == "string":
                tags[name] = (name, req[0])
        return tags

    def parse(self, text: str, tools: Mapping[str, Any]) -> ParseResult:
        table = self.tags if self.tags is not None else self.tags_for(tools)
        found, notes = self._scan(text, list(table))
        calls = []
        for tag, start, body in found:
            tool_name, param = table[tag]
            problem = self._check_body(tag, body)
            if problem:
                calls.append(ToolCall(name=tool_name, error=problem, raw=(body or "")[:500],
                                      start=start))
                continue
            assert body is not None
            content = _strip_fence(body)
            content = content.strip("\n") if tool_name == "python" else content.strip()
            calls.append(ToolCall(name=tool_name, arguments={param: content}, raw=body[:500],
                                  start=start))
        return self._limit(calls, notes)


class AnyParser(_TagScanner):
    """Both formats: Hermes ``<tool_call>`` blocks and per-tool tags, in order of appearance.

    A tag inside a ``<tool_call>`` block (e.g. in a JSON string argument) is not a call.
    """

    def __init__(self, **limits: Any) -> None:
        super().__init__(**limits)
        unlimited = dict(limits, max_calls=10**9)
        self._hermes = HermesParser(**unlimited)
        self._tags = TagParser(**unlimited)

    def parse(self, text: str, tools: Mapping[str, Any]) -> ParseResult:
        a, b = self._hermes.parse(text, tools), self._tags.parse(text, tools)
        found, _ = self._scan(text, [HermesParser.tag])
        spans = [(start, len(text) if body is None else start + len(body) + 23)
                 for _, start, body in found]
        inner = [c for c in b.calls if not _in_regions(c.start, spans)]  # tags inside JSON
        calls = sorted(a.calls + inner, key=lambda c: c.start)
        notes = list(dict.fromkeys(a.notes + b.notes))
        return self._limit(calls, notes)


def missed_calls(text: str, tools: Mapping[str, Any], parser: ToolCallParser) -> list[str]:
    """Why a reply in which ``parser`` found no call still looks like it tried one: a call
    inside a code fence, the other format's syntax, a bare JSON call without its tags. Each
    reason is one sentence for ``info["tool_call_errors"]`` and the verdict's reason; ``[]``
    for a reply that did not try (or a parser of another kind)."""
    text = text[:MAX_TEXT_CHARS]
    inner = parser._tags if isinstance(parser, AnyParser) else parser
    if not isinstance(inner, (HermesParser, TagParser)):
        return []
    hermes = isinstance(parser, (HermesParser, AnyParser))
    table = (inner.tags if isinstance(inner, TagParser) and inner.tags is not None
             else TagParser.tags_for(tools))
    fences = fenced_regions(text)
    tool_calls = [m.start() for m in re.finditer(r"<tool_call>", text)]
    tags = list(re.finditer("<(" + "|".join(map(re.escape, table)) + ")>", text)) \
        if table else []
    reasons = []
    fenced = [p for p in tool_calls if _in_regions(p, fences)] if hermes else []
    fenced += [m.start() for m in tags if _in_regions(m.start(), fences)] \
        if isinstance(parser, (TagParser, AnyParser)) else []
    if fenced:
        reasons.append("a tool call inside a ``` code fence is not run (fenced text is an "
                       "example, not an action); write the call outside the fence")
    if not hermes and any(not _in_regions(p, fences) for p in tool_calls) and table:
        tag = next(iter(table))
        reasons.append(f"<tool_call> blocks are not this environment's tool-call format; "
                       f"call a tool with its tag, e.g. <{tag}>...</{tag}>")
    if isinstance(parser, HermesParser):
        outside = [m.group(1) for m in tags if not _in_regions(m.start(), fences)]
        if outside:
            reasons.append(f"<{outside[0]}> tags are not this environment's tool-call format; "
                           f'write <tool_call>{{"name": "{table[outside[0]][0]}", '
                           '"arguments": {...}}</tool_call>')
    if hermes and not tool_calls and tools and re.search(
            r'\{\s*"name"\s*:\s*"(' + "|".join(map(re.escape, tools)) + ')"', text):
        reasons.append('a JSON tool call needs its tags: <tool_call>{"name": ..., '
                       '"arguments": {...}}</tool_call>')
    return reasons


def make_parser(spec: str | ToolCallParser, **limits: Any) -> ToolCallParser:
    """``"hermes"`` (default), ``"tags"``, ``"any"``, or a parser object (returned as is)."""
    if not isinstance(spec, str):
        if not hasattr(spec, "parse"):
            raise TypeError("a tool-call parser must have parse(text, tools) -> ParseResult")
        return spec
    parsers = {"hermes": HermesParser, "tags": TagParser, "any": AnyParser}
    if spec not in parsers:
        raise ValueError(f"unknown tool-call parser {spec!r}; choose from {sorted(parsers)}")
    return parsers[spec](**limits)


_BOXED = re.compile(r"\\boxed\s*\{")


def last_boxed(text: str) -> str | None:
    """Content of the last balanced ``\\boxed{...}``, or None."""
    for m in reversed(list(_BOXED.finditer(text))):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            return text[m.end() : i - 1]
    return None
