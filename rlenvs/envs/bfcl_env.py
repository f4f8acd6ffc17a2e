"""``rlenvs/BFCL-v0``: the Berkeley Function Calling Leaderboard (v4, single turn), read from the
installed ``bfcl-eval`` package's own data files and scored by :mod:`judges.bfcl`.

    env = rlenvs.make("rlenvs/BFCL-v0", category="parallel")

``category``: ``simple`` (= ``simple_python``), ``multiple``, ``parallel``,
``parallel_multiple``, ``irrelevance``, ``live_simple``, ``live_multiple``, ``live_parallel``,
``live_parallel_multiple``, ``live_irrelevance``, ``live_relevance`` (see
:data:`CATEGORIES`), or a list of them. The Java and JavaScript categories and the multi-turn
ones are not offered.

Install the data with ``pip install --no-deps bfcl-eval`` (its declared dependencies pin an old
numpy and pull some thirty API clients that neither the data nor the checker need).

The observation is the task's conversation, led by a system message that lists the functions as
OpenAI-style JSON schemas and asks for Hermes calls (``<tool_call>{"name": ..., "arguments":
{...}}</tool_call>``, several per reply for parallel tasks); ``reset``'s ``info["tools"]`` holds
the same schemas for chat templates that render tools themselves (``tools_in_prompt=False``
then leaves them out of the system message). The reply is parsed with
:mod:`rlenvs.tools.parsing` (``parser="hermes"``, ``"any"`` or ``"tags"``); nothing is executed.
A reply with a malformed call fails. The possible answers are the task's private field
(``possible_answer``); the reward is 1 when the calls match one of them (``judges.bfcl``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from judges import Verdict
from judges.bfcl import AST_CATEGORIES, RELEVANCE_CATEGORIES, check_bfcl_calls, check_bfcl_relevance
from rlenvs.envs.ifeval_env import strip_thinking
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource
from rlenvs.tools.parsing import fenced_regions, make_parser, missed_calls

__all__ = ["BFCLEnv", "CATEGORIES", "load_bfcl_tasks", "openai_schema", "decode_calls",
           "judge_bfcl", "bfcl_instructions", "attempted_call"]

CATEGORIES = AST_CATEGORIES + RELEVANCE_CATEGORIES
ALIASES = {"simple": "simple_python"}
INSTALL = "pip install --no-deps bfcl-eval==2026.3.23"
MAX_CALLS = 32
_JSON_TYPES = {"dict": "object", "float": "number", "tuple": "array", "any": None}


def _category(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in CATEGORIES:
        raise ValueError(f"unknown BFCL category {name!r}; choose from "
                         f"{['simple', *CATEGORIES]}")
    return name


def _data_dir() -> Any:
    from importlib.resources import files

    try:
        return files("bfcl_eval") / "data"
    except ModuleNotFoundError:
        raise ModuleNotFoundError(f"rlenvs/BFCL-v0 reads the data of the bfcl-eval package, "
                                  f"which is not installed: {INSTALL}") from None


def _json_lines(path: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


@cache
def _load(category: str) -> tuple[dict[str, Any], ...]:
    data = _data_dir()
    rows = _json_lines(data / f"BFCL_v4_{category}.json")
    answers: dict[str, Any] = {}
    if category in AST_CATEGORIES:
        answers = {r["id"]: r["ground_truth"]
                   for r in _json_lines(data / "possible_answer" / f"BFCL_v4_{category}.json")}
    tasks = []
    for row in rows:
        if len(row["question"]) != 1:
            continue  # a multi-turn entry: not a single-turn task
        task = {"id": row["id"], "category": category, "question": row["question"][0],
                "function": row["function"]}
        if category in AST_CATEGORIES:
            task["possible_answer"] = answers[row["id"]]
        tasks.append(task)
    return tuple(tasks)


def load_bfcl_tasks(category: str | Sequence[str] = "simple") -> list[dict[str, Any]]:
    """The tasks of one category or several, in the package's order (copies)."""
    names = [category] if isinstance(category, str) else list(category)
    if not names:
        raise ValueError("category must name at least one BFCL category")
    return [copy.deepcopy(t) for name in names for t in _load(_category(name))]


def _schema(node: Any) -> Any:
    """BFCL's schema dialect as JSON Schema (``dict`` -> ``object``, ``float`` -> ``number``,
    ``tuple`` -> ``array``, ``any`` -> no type)."""
    if isinstance(node, list):
        return [_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str) and value in _JSON_TYPES:
            if _JSON_TYPES[value] is not None:
                out[key] = _JSON_TYPES[value]
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _schema(v) for name, v in value.items()}
        else:
            out[key] = _schema(value)
    return out


def openai_schema(function: Mapping[str, Any]) -> dict[str, Any]:
    """One BFCL function as an OpenAI function-calling tool schema."""
    return {"type": "function", "function": {
        "name": function["name"], "description": function.get("description", ""),
        "parameters": _schema(function.get("parameters", {"type": "dict", "properties": {}}))}}


def bfcl_instructions(functions: Sequence[Mapping[str, Any]], parser: str = "hermes",
                      list_tools: bool = True) -> str:
    """The system-prompt text: the functions (JSON schemas) and how to call them."""
    lines = ["You can call functions. Available functions (JSON schemas):"] if list_tools else []
    if list_tools:
        lines += [json.dumps(openai_schema(f), ensure_ascii=False) for f in functions]
    if parser == "tags":
        lines.append("To call a function, write its tag with the input inside.")
    else:
        lines.append('To call a function, write <tool_call>{"name": "<function name>", '
                     '"arguments": {...}}</tool_call>. Make every call the request needs, one '
                     "block per call. If none of the functions fits the request, make no call "
                     "and say so.")
    return "\n".join(lines)


class _Spec:
    """What the tag parser reads of a tool: its parameters schema."""

    def __init__(self, function: Mapping[str, Any]) -> None:
        self.parameters = _schema(function.get("parameters", {}))
        self.parameters.setdefault("properties", {})


def decode_calls(reply: str, functions: Sequence[Mapping[str, Any]],
                 parser: Any = "hermes",
                 max_calls: int = MAX_CALLS) -> tuple[list[dict[str, Any]], list[str]]:
    """The calls in ``reply`` as BFCL reads them (``[{name: arguments}]``) and the problems
    that make the reply unreadable (malformed calls, calls over the cap); calls inside a code
    fence are examples, not calls (:mod:`rlenvs.tools.parsing`)."""
    parse = make_parser(parser, max_calls=max_calls)
    tools = {f["name"]: _Spec(f) for f in functions}
    parsed = parse.parse(reply, tools)
    problems = [f"malformed call: {c.error}" for c in parsed.calls if c.error]
    problems += [f"call {c.name!r} has arguments that are not an object"
                 for c in parsed.calls if not c.error and not isinstance(c.arguments, dict)]
    if parsed.skipped:
        problems.append(f"{parsed.skipped} call(s) over the limit of {max_calls} per reply")
    calls = [{c.name: c.arguments} for c in parsed.calls
             if not c.error and isinstance(c.arguments, dict)]
    return calls, problems


def attempted_call(text: str, functions: Sequence[Mapping[str, Any]]) -> str | None:
    """The syntax of a call of one of ``functions`` written outside the reply's tool-call
    format and outside code fences - a bare JSON call, BFCL's own ``[f(x=1)]``, Llama's
    ``<function=f>`` - or None. Prose naming a function is not a call."""
    names = "|".join(re.escape(str(f["name"])) for f in functions if f.get("name"))
    if not names:
        return None
    fences = fenced_regions(text)
    for kind, pattern in (("a bare JSON call", rf'\{{\s*"name"\s*:\s*"(?:{names})"'),
                          ("a Python-style call list", rf"\[\s*(?:{names})\s*\("),
                          ("a <function=...> tag", rf"<function\s*=\s*(?:{names})(?![\w.])")):
        if any(not any(a <= m.start() < b for a, b in fences)
               for m in re.finditer(pattern, text)):
            return kind
    return None


def judge_bfcl(reply: str, task: Mapping[str, Any], parser: Any = "hermes",
               strip_think: bool = True) -> Verdict:
    """Parse ``reply`` and score it against ``task`` (BFCL's rules, :mod:`judges.bfcl`)."""
    text = strip_thinking(reply) if strip_think else reply
    calls, problems = decode_calls(text, task["function"], parser)
    category = task["category"]
    key = "relevance" if category in RELEVANCE_CATEGORIES else "ast_match"
    if problems:  # an attempted call that cannot be read is a call, and a wrong one
        return Verdict.fail("; ".join(problems)[:500], calls=calls, components={key: 0.0})
    if category in RELEVANCE_CATEGORIES:
        attempt = None if calls else attempted_call(text, task["function"])
        if attempt is not None and "irrelevance" in category:
            return Verdict.fail(f"no call in the reply's format, but a call written as {attempt}: "
                                "an attempted call is not an abstention", calls=[],
                                components={key: 0.0})
        return check_bfcl_relevance(calls, category)
    verdict = check_bfcl_calls(calls, task["function"], task["possible_answer"], category)
    if not calls and not verdict.passed:
        tools = {f["name"]: _Spec(f) for f in task["function"]}
        missed = missed_calls(text, tools, make_parser(parser))
        if missed:
            verdict = Verdict.fail("; ".join([verdict.reason, *missed]), **verdict.details)
    return verdict


class BFCLEnv(TaskEnv):
    """BFCL v4 single-turn function calling, scored by BFCL's AST match (``category=``:
    simple, multiple, parallel, parallel_multiple, irrelevance, live_*; see the module doc).

    Args:
        category: a category name (default ``simple``) or a list of them.
        parser: tool-call format of the replies: ``"hermes"`` (default), ``"any"``, ``"tags"``.
        tools_in_prompt: list the function schemas in the system message (else only
            ``info["tools"]``, for chat templates that render tools themselves).
        strip_think: ignore ``<think>...</think>`` sections of the reply.
        **kwargs: ``LLMEnv`` options (``reward``, ``system_prompt``, ...).
    """

    public_fields = ("id", "category", "question", "function")
    public_info_keys = ("tools",)  # the function schemas cross a wire with reset's info

    def __init__(self, category: str | Sequence[str] = "simple", parser: str = "hermes",
                 tools_in_prompt: bool = True, strip_think: bool = True, **kwargs: Any) -> None:
        tasks = load_bfcl_tasks(category)
        self.category = category
        self.parser_name = parser
        make_parser(parser)  # an unknown name fails here, not at the first step
        self.tools_in_prompt = tools_in_prompt
        super().__init__(
            source=ListSource(tasks, name=f"BFCL {category}"),
            prompt=lambda task: "",
            judge=lambda reply, task: judge_bfcl(reply, task, parser, strip_think),
            required_keys=("id", "category", "question", "function"),
            **kwargs,
        )

    @staticmethod
    def list_variants() -> str:
        """What ``rlenvs list`` prints under the id: the categories ``category=`` takes."""
        return f"category= one of: simple, {', '.join(CATEGORIES)} (or a list of them)"

    def validate_task(self, task: Any) -> dict[str, Any]:
        task = super().validate_task(task)
        task["category"] = _category(task["category"])
        if task["category"] in AST_CATEGORIES and "possible_answer" not in task:
            raise ValueError(f"a BFCL {task['category']} task needs its 'possible_answer'")
        if not isinstance(task["question"], list) or not all(
                isinstance(m, dict) and "role" in m for m in task["question"]):
            raise ValueError("a BFCL task's 'question' is a list of chat messages")
        return task

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        public = self.public_task(task)
        messages = [dict(m) for m in public["question"]]
        system = [m["content"] for m in messages if m["role"] == "system"]
        rest = [m for m in messages if m["role"] != "system"]
        text = bfcl_instructions(public["function"], self.parser_name, self.tools_in_prompt)
        return [{"role": "system", "content": "\n\n".join([*system, text])}, *rest]

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[list, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        info["tools"] = self.tool_schemas
        return obs, info

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        """The episode's functions as OpenAI tool schemas (``tools=`` of a chat template)."""
        return [openai_schema(f) for f in self.task["function"]]
