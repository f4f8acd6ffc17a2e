"""``Tool``: a Python function the policy may call, with an OpenAI function-calling schema.

>>> @tool
... def add(a: int, b: int) -> int:
...     '''Add two integers.
...
...     Args:
...         a: the first addend.
...         b: the second addend.
...     '''
...     return a + b
>>> add.schema["function"]["parameters"]["required"]
['a', 'b']

The schema is built from the signature (type hints -> JSON types) and the Google-style docstring
(first paragraph -> description, ``Args:`` lines -> parameter descriptions). A parameter named
``state`` is hidden from the schema: it receives the tool's per-episode state dict (what
``clone()`` copies), so stateful tools (a Python session) stay plain functions.

``Tool.invoke(arguments, state)`` validates the arguments against the schema and never raises:
it returns a ``ToolResult`` whose ``error`` says what went wrong (bad arguments, the tool raised).
"""

from __future__ import annotations

import inspect
import re
import time
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Tool", "ToolResult", "ToolError", "ToolFault", "tool", "validate_arguments",
           "STATE_PARAM"]

STATE_PARAM = "state"
MAX_RESULT_CHARS = 4000


class ToolError(Exception):
    """Raised by a tool to report a user-facing error (shown to the policy as the observation)."""


class ToolFault(ToolError):
    """Raised by a tool whose own machinery failed (a sandbox that did not start, a dead
    server): not the policy's mistake. The observation says so and the result is marked
    ``details["fault"]``, so environments never penalise it as an invalid call."""


@dataclass
class ToolResult:
    """The outcome of one tool invocation: ``output`` text, or ``error`` text.

    ``details["fault"]`` marks an error of the tool itself (``ToolFault`` or an unexpected
    exception), as opposed to the policy's mistake (bad arguments, a failing cell)."""

    output: str = ""
    error: str | None = None
    latency_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_text(self) -> str:
        """What the policy reads in the ``tool`` message."""
        return self.output if self.error is None else f"Error: {self.error}"


_JSON_TYPES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def _json_schema_for(annotation: Any) -> dict[str, Any]:
    """JSON schema of a type hint (str, int, float, bool, list[...], dict, Literal, Optional)."""
    if annotation is inspect.Parameter.empty or annotation is Any:
        return {}
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return {"type": _JSON_TYPES.get(type(args[0]), "string"), "enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _json_schema_for(non_none[0])
        return {"anyOf": [_json_schema_for(a) for a in non_none]}
    if origin in (list, tuple, set):
        schema: dict[str, Any] = {"type": "array"}
        if args and args[0] is not Ellipsis:
            schema["items"] = _json_schema_for(args[0])
        return schema
    if origin is dict:
        return {"type": "object"}
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    raise TypeError(f"cannot build a JSON schema for the type hint {annotation!r}")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(description, {param: description}) from a Google-style docstring."""
    if not doc:
        return "", {}
    doc = inspect.cleandoc(doc)
    parts = re.split(r"\n\s*(?:Args|Arguments|Parameters):\s*\n", doc, maxsplit=1)
    description = parts[0].split("\n\n")[0].replace("\n", " ").strip()
    params: dict[str, str] = {}
    if len(parts) == 2:
        current = None
        for line in parts[1].splitlines():
            if re.match(r"^\S", line):  # a new section (Returns:, Raises:) ends Args
                break
            m = re.match(r"^\s+(\w+)\s*(?:\([^)]*\))?:\s*(.*)$", line)
            if m:
                current = m.group(1)
                params[current] = m.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    return description, params


def _type_ok(value: Any, schema: dict[str, Any]) -> bool:
    if "anyOf" in schema:
        return any(_type_ok(value, s) for s in schema["anyOf"])
    kind = schema.get("type")
    if "enum" in schema and value not in schema["enum"]:
        return False
    if kind is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        items = schema.get("items")
        return isinstance(value, list) and (
            items is None or all(_type_ok(v, items) for v in value)
        )
    return True


def validate_arguments(arguments: Any, parameters: dict[str, Any]) -> str | None:
    """``None`` if ``arguments`` fit the JSON ``parameters`` schema, else a readable error."""
    if not isinstance(arguments, dict):
        return f"arguments must be a JSON object, got {type(arguments).__name__}"
    props = parameters.get("properties", {})
    missing = [k for k in parameters.get("required", []) if k not in arguments]
    if missing:
        return f"missing required argument(s) {missing}"
    unknown = [k for k in arguments if k not in props]
    if unknown:
        return f"unknown argument(s) {unknown[:5]}; expected {sorted(props)}"
    for name, value in arguments.items():
        schema = props[name]
        if not _type_ok(value, schema):
            want = schema.get("type") or schema.get("anyOf")
            if "enum" in schema:
                want = f"one of {schema['enum']}"
            return f"argument {name!r} must be {want}, got {type(value).__name__}"
    return None


class Tool:
    """A callable tool: ``name``, ``description``, JSON ``parameters`` and the function.

    Args:
        fn: the implementation; keyword arguments as in the schema (plus ``state`` if it wants
            the per-episode state dict). Its return value is converted with ``str``.
        name: defaults to the function's name.
        description: defaults to the docstring's first paragraph.
        parameters: a JSON schema object; built from the signature when omitted.
        max_result_chars: longer outputs are cut (with a note saying so).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
        max_result_chars: int = MAX_RESULT_CHARS,
    ) -> None:
        self.fn = fn
        self.name = name or fn.__name__
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]{0,63}", self.name):
            raise ValueError(f"invalid tool name {self.name!r}")
        doc_description, doc_params = _parse_docstring(fn.__doc__)
        self.description = description if description is not None else doc_description
        signature = inspect.signature(fn)
        self.wants_state = STATE_PARAM in signature.parameters
        if parameters is None:
            hints = typing.get_type_hints(fn)
            props: dict[str, Any] = {}
            required: list[str] = []
            for pname, param in signature.parameters.items():
                if pname == STATE_PARAM or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                    continue
                schema = _json_schema_for(hints.get(pname, param.annotation))
                if pname in doc_params:
                    schema["description"] = doc_params[pname]
                props[pname] = schema
                if param.default is inspect.Parameter.empty:
                    required.append(pname)
            parameters = {"type": "object", "properties": props, "required": required}
        self.parameters = parameters
        self.max_result_chars = max_result_chars

    @property
    def schema(self) -> dict[str, Any]:
        """The OpenAI function-calling schema (``{"type": "function", "function": {...}}``)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def invoke(self, arguments: Any, state: dict[str, Any] | None = None) -> ToolResult:
        """Validate and run; errors (bad arguments, exceptions) come back in ``error``."""
        start = time.perf_counter()
        problem = validate_arguments(arguments, self.parameters)
        if problem is not None:
            return ToolResult(error=f"{self.name}: {problem}", latency_s=0.0,
                              details={"invalid_arguments": True})
        kwargs = dict(arguments)
        if self.wants_state:
            kwargs[STATE_PARAM] = state if state is not None else {}
        try:
            output = self.fn(**kwargs)
        except ToolFault as e:
            return ToolResult(error=f"tool fault (not your mistake): {e}",
                              latency_s=time.perf_counter() - start, details={"fault": True})
        except ToolError as e:
            return ToolResult(error=str(e), latency_s=time.perf_counter() - start)
        except Exception as e:  # noqa: BLE001 - a failing tool is an observation, not a crash
            return ToolResult(
                error=f"tool fault (not your mistake): {self.name} raised {type(e).__name__}: "
                      f"{str(e)[:300]}",
                latency_s=time.perf_counter() - start, details={"fault": True},
            )
        text = output if isinstance(output, str) else str(output)
        if len(text) > self.max_result_chars:
            cut = len(text) - self.max_result_chars
            text = text[: self.max_result_chars] + f"\n... [output truncated: {cut} more characters]"
        return ToolResult(output=text, latency_s=time.perf_counter() - start)

    def __call__(self, **kwargs: Any) -> Any:
        """Call the underlying function directly (no validation)."""
        return self.fn(**kwargs)

    def __repr__(self) -> str:
        return f"Tool({self.name!r})"


def tool(
    fn: Callable[..., Any] | None = None, *, name: str | None = None, **options: Any
) -> Any:
    """Decorator: ``@tool`` or ``@tool(name="...")`` turns a typed function into a ``Tool``."""
    if fn is None:
        return lambda f: Tool(f, name=name, **options)
    return Tool(fn, name=name, **options)
