"""``rlenvs/BFCLMultiTurn-v0``: BFCL v4's multi-turn categories played against the package's own
stateful simulated APIs (file system, messaging, posting, tickets, trading, travel, vehicle,
math), scored the way BFCL scores them.

    env = rlenvs.make("rlenvs/BFCLMultiTurn-v0", category="base")

``category``: ``base`` (default), ``miss_param``, ``long_context`` or ``miss_func`` (some
functions are held out until a later user turn, which brings their schemas with BFCL's
"I have updated some more functions..." message). An episode is one BFCL entry: a system message
listing the entry's functions (JSON schemas, Hermes ``<tool_call>`` format), then the user's
turns one at a time. A reply with calls runs them on the episode's API instances (the
package's classes, loaded with the entry's ``initial_config``) and the results come back as
``tool`` messages; a reply with no call ends the user turn. Only the entry's documented
functions can be called, by name with JSON arguments (nothing is evaluated as code). At most
20 replies with calls per user turn, as in BFCL, and 128 calls per reply.

At the end of every user turn the turn is checked as BFCL checks it
(:func:`judges.bfcl.check_bfcl_turn`): the ground truth's calls for the turn run on a second
set of instances, and the policy's instances must be in the same state (every public
attribute equal), every result of the ground truth's calls must be among the results of the
policy's calls so far, and the policy must have called something when the ground truth does.
A failed turn ends the episode. The score is the fraction of turns passed; ``passed`` when all
are (reward ``binary`` by default: 1 only for a whole entry right). The ground truth is the
task's private field. ``clone()`` copies the API instances with the episode.
"""

from __future__ import annotations

import ast
import copy
import importlib
import json
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np

from judges import Verdict
from judges.bfcl import check_bfcl_turn
from rlenvs.core import LLMEnv, Turn
from rlenvs.envs.bfcl_env import INSTALL, bfcl_instructions, decode_calls, openai_schema
from rlenvs.envs.ifeval_env import strip_thinking

__all__ = ["BFCLMultiTurnEnv", "MULTI_TURN_CATEGORIES", "load_multi_turn_tasks",
           "parse_ground_truth_call", "run_call"]

MULTI_TURN_CATEGORIES = ("base", "miss_param", "long_context", "miss_func")
#: BFCL's user message of a turn that brings held-out functions (miss_func)
MORE_FUNCTIONS = "I have updated some more functions you can choose from. What about now?"
MAX_STEPS_PER_TURN = 20
#: calls read from one reply (BFCL sets none; its longest ground-truth turn has 34 calls)
MAX_CALLS_PER_REPLY = 128


def _backend() -> tuple[dict[str, str], dict[str, str], list[str]]:
    try:
        from bfcl_eval.constants.executable_backend_config import (
            CLASS_FILE_PATH_MAPPING,
            MULTI_TURN_FUNC_DOC_FILE_MAPPING,
            STATELESS_CLASSES,
        )
    except ModuleNotFoundError:
        raise ModuleNotFoundError("rlenvs/BFCLMultiTurn-v0 runs the bfcl-eval package's "
                                  f"simulated APIs, which is not installed: {INSTALL}") from None
    return CLASS_FILE_PATH_MAPPING, MULTI_TURN_FUNC_DOC_FILE_MAPPING, list(STATELESS_CLASSES)


def _data() -> Any:
    from importlib.resources import files

    return files("bfcl_eval") / "data"


def _lines(path: Any) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


@cache
def _docs(class_name: str) -> tuple[dict[str, Any], ...]:
    _, doc_files, _ = _backend()
    return tuple(_lines(_data() / "multi_turn_func_doc" / doc_files[class_name]))


@cache
def _load(category: str) -> tuple[dict[str, Any], ...]:
    if category not in MULTI_TURN_CATEGORIES:
        raise ValueError(f"unknown BFCL multi-turn category {category!r}; choose from "
                         f"{list(MULTI_TURN_CATEGORIES)}")
    name = f"BFCL_v4_multi_turn_{category}.json"
    answers = {r["id"]: r["ground_truth"] for r in _lines(_data() / "possible_answer" / name)}
    tasks = []
    for row in _lines(_data() / name):
        excluded = set(row.get("excluded_function", []))
        functions = [f for c in row["involved_classes"] for f in _docs(c)
                     if f["name"] not in excluded]
        held = {int(k): v for k, v in row.get("missed_function", {}).items()}
        missed = {k: [f for f in functions if f["name"] in names] for k, names in held.items()}
        late = {f["name"] for docs in missed.values() for f in docs}
        functions = [f for f in functions if f["name"] not in late]
        tasks.append({"id": row["id"], "category": category, "turns": row["question"],
                      "initial_config": row["initial_config"],
                      "involved_classes": row["involved_classes"], "function": functions,
                      "ground_truth": answers[row["id"]], "missed_function": missed})
    return tuple(tasks)


def load_multi_turn_tasks(category: str = "base") -> list[dict[str, Any]]:
    """The entries of a multi-turn category, in the package's order (copies)."""
    return copy.deepcopy(list(_load(category)))


def _instances(task: dict[str, Any]) -> dict[str, Any]:
    """Fresh API instances for ``task``, loaded with its initial configuration."""
    modules, _, stateless = _backend()
    out = {}
    for class_name in task["involved_classes"]:
        instance = getattr(importlib.import_module(modules[class_name]), class_name)()
        if class_name not in stateless:
            instance._load_scenario(copy.deepcopy(task["initial_config"].get(class_name, {})),
                                    long_context=task["category"] == "long_context")
        out[class_name] = instance
    return out


def _offered(task: dict[str, Any], upto_turn: int | None = None) -> list[dict[str, Any]]:
    """The functions offered by user turn ``upto_turn`` (None: all of them, held out or not)."""
    late = task.get("missed_function") or {}
    return list(task["function"]) + [f for k, docs in sorted(late.items(), key=lambda x: int(x[0]))
                                      if upto_turn is None or int(k) <= upto_turn for f in docs]


def _owner(functions: Sequence[dict[str, Any]], instances: dict[str, Any], name: str) -> Any:
    """The instance whose method ``name`` is (later classes win, as in BFCL), if offered."""
    if name not in {f["name"] for f in functions} or name.startswith("_"):
        return None
    owner = None
    for instance in instances.values():
        if callable(getattr(instance, name, None)):
            owner = instance
    return owner


def _as_text(result: Any) -> str:
    if isinstance(result, str):
        return result
    if isinstance(result, dict):
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


def run_call(functions: Sequence[dict[str, Any]], instances: dict[str, Any], name: str,
             args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """Run one call of one of ``functions`` on the episode's instances; the result as BFCL
    writes it (errors too)."""
    owner = _owner(functions, instances, name)
    if owner is None:
        return f"Error during execution: no function named {name!r}"[:300]
    if type(owner).__name__ in _backend()[2]:  # stateless (MathAPI): bounded in a child
        return _run_bounded(getattr(owner, name), args, kwargs)
    return _call_text(getattr(owner, name), args, kwargs)


def _call_text(method: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    try:
        return _as_text(method(*args, **kwargs))
    except Exception as e:  # noqa: BLE001 - the simulated API's own error is the result
        return f"Error during execution: {e}"


#: wall-clock and memory bounds of one stateless call (``power(base=7, exponent=10**9)``,
#: ``logarithm(precision=10**9)``: the policy chooses the arguments)
CALL_TIMEOUT_S = 5.0
CALL_MEMORY_MB = 1024


def _run_bounded(method: Any, args: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """A stateless call run in a forked child with a deadline and a memory cap, killed past
    them (a thread cannot be stopped; the call's arguments are the policy's). It changes no
    state, so only its text comes back."""
    import os
    import resource
    import select
    import signal
    import time

    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: compute, write the text, exit without cleanup
        try:
            os.close(read_fd)
            with open("/proc/self/statm", encoding="ascii") as statm:  # what is mapped now
                mapped = int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            limit = mapped + (CALL_MEMORY_MB << 20)  # the call's own growth is what is capped
            hard = resource.getrlimit(resource.RLIMIT_AS)[1]
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
            data = _call_text(method, args, kwargs).encode("utf-8", "replace")[:65536]
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view):]
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks, deadline = [], time.monotonic() + CALL_TIMEOUT_S
    try:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([read_fd], [], [], left)[0]:
                break
            chunk = os.read(read_fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        timed_out = time.monotonic() >= deadline
    finally:
        os.close(read_fd)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
    if timed_out and not chunks:
        return f"Error during execution: the call ran past {CALL_TIMEOUT_S:g} s"
    if not chunks:
        return "Error during execution: the call ran out of memory"
    return b"".join(chunks).decode("utf-8", "replace")


def parse_ground_truth_call(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    """``"mv(source='a', destination='b')"`` -> ``("mv", [], {...})``: literals only."""
    node = ast.parse(text.strip(), mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise ValueError(f"not a plain call: {text!r}")
    args = [ast.literal_eval(a) for a in node.args]
    kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords if k.arg}
    return node.func.id, args, kwargs


def _public_state(instances: dict[str, Any]) -> dict[str, Any]:
    """A deterministic JSON-able view of the instances' public attributes (state keys)."""
    def view(value: Any, seen: frozenset[int]) -> Any:
        if isinstance(value, str | int | float | bool) or value is None:
            return value
        if id(value) in seen:
            return "<cycle>"
        seen = seen | {id(value)}
        if isinstance(value, dict):
            return {str(k): view(v, seen) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            items = [view(v, seen) for v in value]
            return sorted(items, key=repr) if isinstance(value, set) else items
        if hasattr(value, "__dict__"):
            return {k: view(v, seen) for k, v in vars(value).items()
                    if not k.startswith("_") and k != "parent"}
        return repr(value)

    return {name: view(inst, frozenset()) for name, inst in instances.items()}


class BFCLMultiTurnEnv(LLMEnv):
    """BFCL v4 multi-turn entries on the package's stateful simulated APIs, each user turn
    checked as BFCL does (``category=`` base, miss_param, long_context; see the module doc).

    Args:
        category: ``base``, ``miss_param`` or ``long_context``.
        parser: tool-call format (``"hermes"``, ``"any"``, ``"tags"``).
        max_steps_per_turn: replies with calls allowed per user turn (BFCL: 20).
        **kwargs: ``LLMEnv`` options (``reward``: ``binary`` or ``dense``, ``max_turns``:
            replies per episode, default 400, ...).
    """

    public_fields = ("id", "category", "turns", "function", "involved_classes")
    public_info_keys = ("tools",)  # the function schemas cross a wire with reset's info

    def __init__(self, category: str = "base", parser: str = "hermes",
                 max_steps_per_turn: int = MAX_STEPS_PER_TURN, **kwargs: Any) -> None:
        kwargs.setdefault("max_turns", 400)
        super().__init__(**kwargs)
        self.tasks = _load(category)
        self.category = category
        self.parser_name = parser
        self.max_steps_per_turn = max_steps_per_turn

    @staticmethod
    def list_variants() -> str:
        """What ``rlenvs list`` prints under the id: the categories ``category=`` takes."""
        return f"category= one of: {', '.join(MULTI_TURN_CATEGORIES)}"

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return copy.deepcopy(self.tasks[int(rng.integers(len(self.tasks)))])

    def validate_task(self, task: Any) -> dict[str, Any]:
        task = super().validate_task(task)
        missing = [k for k in ("id", "category", "turns", "initial_config", "involved_classes",
                               "function", "ground_truth") if k not in task]
        if missing:
            raise ValueError(f"a BFCL multi-turn task needs {missing}")
        if len(task["turns"]) != len(task["ground_truth"]):
            raise ValueError("a BFCL multi-turn task has one ground-truth list per turn")
        return task

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        public = self.public_task(task)
        text = bfcl_instructions(public["function"], self.parser_name) + (
            " When a request is done, reply without a call.")
        return [{"role": "system", "content": text}, *copy.deepcopy(public["turns"][0])]

    def on_reset(self) -> None:
        task = self.task
        self.episode.extra.update(
            instances=_instances(task), truth=_instances(task), user_turn=0, steps=0,
            calls_this_turn=0, results=[], turn_results=[])

    @property
    def tool_schemas(self) -> list[dict[str, Any]]:
        return [openai_schema(f) for f in _offered(self.task, self.episode.extra["user_turn"])]

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[list, dict[str, Any]]:
        obs, info = super().reset(seed=seed, options=options)
        info["tools"] = self.tool_schemas
        return obs, info

    def respond(self, reply: str) -> Turn:
        extra, task = self.episode.extra, self.task
        offered = _offered(task, extra["user_turn"])
        calls, problems = decode_calls(strip_thinking(reply), offered,
                                       self.parser_name, max_calls=MAX_CALLS_PER_REPLY)
        if calls or problems:
            extra["steps"] += 1
            feedback = []
            records = []
            for call in calls:
                (name, arguments), = call.items()
                result = run_call(offered, extra["instances"], name, [], arguments)
                extra["results"].append(result)
                extra["calls_this_turn"] += 1
                records.append({"name": name, "arguments": arguments, "result": result[:2000]})
                feedback.append({"role": "tool", "name": name, "content": result[:4000]})
            feedback += [{"role": "tool", "name": "tool_parser", "content": f"Error: {p}"}
                         for p in problems]
            if extra["steps"] > self.max_steps_per_turn:
                return self._end(f"over {self.max_steps_per_turn} steps in user turn "
                                 f"{extra['user_turn']}", records)
            return Turn(verdict=Verdict.fail("turn in progress", pending=True),
                        terminated=False, feedback=feedback, reward=0.0,
                        reward_components={"turns": 0.0}, info={"tool_calls": records})
        return self._finish_turn()

    def _finish_turn(self) -> Turn:
        extra, task = self.episode.extra, self.task
        k = extra["user_turn"]
        truth_results = []
        for text in task["ground_truth"][k]:
            name, args, kwargs = parse_ground_truth_call(text)
            truth_results.append(run_call(_offered(task), extra["truth"], name, args, kwargs))
        verdict = check_bfcl_turn(extra["instances"], extra["truth"], extra["results"],
                                  truth_results, extra["calls_this_turn"] > 0,
                                  expects_calls=bool(task["ground_truth"][k]))
        extra["turn_results"].append({"turn": k, "passed": verdict.passed,
                                      "reason": verdict.reason})
        if not verdict.passed:
            return self._end(f"user turn {k}: {verdict.reason}", [])
        if k + 1 == len(task["turns"]):
            return self._end(None, [])
        extra.update(user_turn=k + 1, steps=0, calls_this_turn=0)
        feedback = copy.deepcopy(task["turns"][k + 1])
        new = (task.get("missed_function") or {}).get(k + 1) or \
            (task.get("missed_function") or {}).get(str(k + 1))
        if new:  # miss_func: the held-out functions arrive with BFCL's message
            schemas = "\n".join(json.dumps(openai_schema(f), ensure_ascii=False) for f in new)
            feedback = [*feedback, {"role": "user", "content": f"{schemas}\n{MORE_FUNCTIONS}"}]
        return Turn(verdict=Verdict.fail(f"user turn {k} passed", pending=True),
                    terminated=False, feedback=feedback, reward=0.0,
                    reward_components={"turns": 0.0}, info={"tool_calls": []})

    def _end(self, failure: str | None, records: list[dict[str, Any]]) -> Turn:
        extra = self.episode.extra
        passed = sum(t["passed"] for t in extra["turn_results"])
        score = passed / len(self.task["turns"])
        details = {"turns": list(extra["turn_results"]), "components": {"turns": score}}
        verdict = (Verdict.ok("every user turn matches the ground truth", **details)
                   if failure is None else Verdict.fail(failure, score=score, **details))
        return Turn(verdict=verdict, terminated=True, reward_components={"turns": score},
                    info={"tool_calls": records})

    def state_extra(self) -> Any:
        extra = self.episode.extra
        return {"state": _public_state(extra["instances"]), "user_turn": extra["user_turn"],
                "steps": extra["steps"], "calls": extra["calls_this_turn"],
                "results": extra["results"]}
