"""``bfcl_eval``'s own checker, and systematic perturbations of BFCL's ground truth, for the
agreement tests (``tests/rlenvs/test_bfcl.py``) and benchmark
(``benchmarks/bench_bfcl_agreement.py``).

``bfcl_eval.eval_checker.ast_eval.ast_checker`` imports the package's model registry only to
ask whether a model rewrites ``.`` in function names as ``_``; that registry imports some thirty
API clients we do not install (``--no-deps``). A one-entry stand-in registry (no rewriting, as
for a model that calls ``math.factorial`` by its name) is put in its place for the import only.
``bfcl_eval.utils`` makes result folders under ``BFCL_PROJECT_ROOT`` when imported: it is
pointed at a temporary folder.
"""

from __future__ import annotations

import copy
import os
import sys
import tempfile
import types
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from judges.bfcl import RELEVANCE_CATEGORIES

__all__ = ["reference_checker", "reference_passes", "ground_truth_calls", "perturbations",
           "REFERENCE_MODEL"]

REFERENCE_MODEL = "rlenvs-reference"


class _Config:
    underscore_to_dot = False


@lru_cache(maxsize=1)
def reference_checker() -> tuple[Any, Any, Any]:
    """``(ast_checker, Language, is_empty_output)`` from the installed ``bfcl_eval``."""
    os.environ.setdefault("BFCL_PROJECT_ROOT", tempfile.mkdtemp(prefix="bfcl-eval-"))
    name = "bfcl_eval.constants.model_config"
    saved = sys.modules.get(name)
    stub = types.ModuleType(name)
    stub.MODEL_CONFIG_MAPPING = {REFERENCE_MODEL.replace("_", "/"): _Config()}  # type: ignore[attr-defined]
    sys.modules[name] = stub
    try:
        from bfcl_eval.constants.enums import Language
        from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
        from bfcl_eval.utils import is_empty_output
    finally:
        if saved is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = saved
    return ast_checker, Language, is_empty_output


def reference_passes(calls: list[dict[str, Any]], task: Mapping[str, Any]) -> bool:
    """``bfcl_eval``'s verdict on decoded ``calls`` for ``task`` (as its eval runner reads it;
    a checker that raises on a malformed value counts as a fail)."""
    ast_checker, language, is_empty_output = reference_checker()
    calls = copy.deepcopy(calls)
    category = task["category"]
    if category in RELEVANCE_CATEGORIES:
        made = not is_empty_output(calls)
        return made != ("irrelevance" in category)
    try:
        result = ast_checker(copy.deepcopy(task["function"]), calls,
                             copy.deepcopy(task["possible_answer"]), language.PYTHON, category,
                             REFERENCE_MODEL)
    except Exception:  # noqa: BLE001 - BFCL's checker raises on some malformed values
        return False
    return bool(result["valid"])


# ------------------------------------------------------------------ ground truth and perturbations

def _pick(options: list[Any], last: bool, schema: Mapping[str, Any]) -> tuple[bool, Any]:
    """``(present, value)``: the first (or last) allowed value; an optional parameter whose
    first option is ``""`` is left out (first) or given its last real value (last). A ``dict``
    parameter's answer lists allowed values per key, and is instantiated key by key (so is
    each dict of a list of dicts)."""
    real = [o for o in options if o != ""]
    if not real or (not last and options[0] == ""):
        return False, None
    value = copy.deepcopy(real[-1] if last else real[0])
    kind = schema.get("type")
    items = schema.get("items", {}) if isinstance(schema.get("items"), dict) else {}
    if kind == "dict" and isinstance(value, dict):
        value = _instance(value, last)
    elif kind in ("array", "tuple") and items.get("type") == "dict" and isinstance(value, list):
        value = [_instance(v, last) if isinstance(v, dict) else v for v in value]
    return True, value


def _instance(allowed: Mapping[str, Any], last: bool) -> dict[str, Any]:
    out = {}
    for key, options in allowed.items():
        present, value = _pick(options, last, {}) if isinstance(options, list) else (
            True, options)
        if present:
            out[key] = value
    return out


def ground_truth_calls(task: Mapping[str, Any], last: bool = False) -> list[dict[str, Any]]:
    """One reply the possible answers allow: each call with the first (``last``: the last)
    allowed value of every parameter."""
    calls = []
    for want in task["possible_answer"]:
        (name, options), = want.items()
        props = _schema(task, name).get("parameters", {}).get("properties", {})
        args = {}
        for param, allowed in options.items():
            present, value = _pick(allowed, last, props.get(param, {}))
            if present:
                args[param] = value
        calls.append({name: args})
    return calls


def _schema(task: Mapping[str, Any], name: str) -> dict[str, Any]:
    return next((f for f in task["function"] if f["name"] == name), {"parameters": {}})


def _other_value(value: Any, allowed: list[Any]) -> Any:
    """A value of the same type that none of ``allowed`` equals."""
    if isinstance(value, bool):
        candidates: list[Any] = [not value]
    elif isinstance(value, int):
        candidates = [value + k for k in (1, 2, 3, 7, 1000)]
    elif isinstance(value, float):
        candidates = [value + k for k in (0.5, 1.25, 3.5, 1000.5)]
    elif isinstance(value, str):
        candidates = [value + " extra", "zzz" + value, "unrelated value"]
    elif isinstance(value, list):
        candidates = [value + value[:1] if value else ["unrelated"], value[1:], []]
    elif isinstance(value, dict):
        candidates = [{**value, "unrelated_key": "x"}, {}]
    else:
        return None
    for c in candidates:
        if c not in allowed and all(not (isinstance(a, str) and isinstance(c, str)
                                         and a.lower() == c.lower()) for a in allowed):
            return c
    return None


def perturbations(task: Mapping[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """``(kind, calls)``: the ground truth and systematic changes of it, for AST tasks."""
    gt = ground_truth_calls(task)
    yield "ground_truth", gt
    yield "ground_truth_last_option", ground_truth_calls(task, last=True)
    names = [f["name"] for f in task["function"]]
    for i, call in enumerate(gt):
        (name, args), = call.items()
        options = task["possible_answer"][i][name]
        schema = _schema(task, name)
        props = schema.get("parameters", {}).get("properties", {})
        required = schema.get("parameters", {}).get("required", [])

        def variant(new_args: dict[str, Any], new_name: str = name,
                    at: int = i) -> list[dict[str, Any]]:
            out = copy.deepcopy(gt)
            out[at] = {new_name: new_args}
            return out

        for param, value in args.items():
            other = _other_value(value, options[param])
            if other is not None:
                yield "wrong_value", variant({**args, param: other})
            rest = {k: v for k, v in args.items() if k != param}
            yield ("missing_required" if param in required else "missing_param"), variant(rest)
            if type(value) is int:
                yield "int_to_str", variant({**args, param: str(value)})
                yield "int_to_float", variant({**args, param: float(value)})
                yield "int_to_bool", variant({**args, param: bool(value)})
            elif type(value) is float:
                yield "float_to_int", variant({**args, param: int(value)})
                yield "float_to_str", variant({**args, param: str(value)})
            elif type(value) is str:
                stripped = value.strip()
                if stripped.lstrip("-").isdigit():
                    yield "str_to_int", variant({**args, param: int(stripped)})
                yield "str_case_spacing", variant({**args, param: value.upper().replace(" ", "")})
            elif type(value) is bool:
                yield "bool_to_str", variant({**args, param: str(value).lower()})
                yield "bool_to_int", variant({**args, param: int(value)})
            elif type(value) is list and len(value) > 1 and value[::-1] != value:
                yield "list_reordered", variant({**args, param: value[::-1]})
        yield "extra_unknown_param", variant({**args, "unrelated_param": 1})
        extra = [p for p in props if p not in args]
        if extra:
            p = extra[0]
            kind = props[p].get("type")
            sample: Any = {"string": "x", "integer": 1, "float": 1.5, "boolean": True,
                           "array": [], "tuple": [], "dict": {}}.get(kind, "x")
            yield "extra_schema_param", variant({**args, p: sample})
        others = [n for n in names if n != name]
        yield "wrong_function", variant(args, others[0] if others else name + "_v2")
    if len(gt) > 1:
        yield "parallel_reordered", gt[::-1]
        yield "parallel_rotated", gt[1:] + gt[:1]
        yield "call_dropped", gt[:-1]
        yield "call_duplicated", gt + gt[:1]
    else:
        yield "call_duplicated", gt + gt
    yield "no_call", []


# ------------------------------------------------------------------ multi-turn

def reference_multi_turn_passes(turn_calls: list[list[str]], task: Mapping[str, Any]) -> bool:
    """``bfcl_eval``'s ``multi_turn_checker`` on the policy's calls per user turn (each turn
    one step of call strings; the strings are ours, made from the ground truth: BFCL's
    executor ``eval``s them). A fresh model name per check keeps its cached instances apart."""
    import uuid

    reference_checker()  # BFCL_PROJECT_ROOT before bfcl_eval.utils is imported
    from bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker import multi_turn_checker

    entry = {"id": task["id"], "initial_config": copy.deepcopy(task["initial_config"]),
             "involved_classes": list(task["involved_classes"])}
    decoded = [[list(calls)] if calls else [] for calls in turn_calls]
    result = multi_turn_checker(decoded, copy.deepcopy(task["ground_truth"]), entry,
                                f"multi_turn_{task['category']}",
                                f"ref{uuid.uuid4().hex}")
    return bool(result["valid"])


def _mutate_literal(call: str) -> str | None:
    """``call`` with its first string/number argument changed, or None if it has none."""
    import ast

    tree = ast.parse(call, mode="eval")
    node = tree.body
    values = [*getattr(node, "args", []), *(k.value for k in getattr(node, "keywords", []))]
    for v in values:
        if isinstance(v, ast.Constant) and isinstance(v.value, str):
            v.value = v.value + "_x"
            return ast.unparse(tree)
        if isinstance(v, ast.Constant) and type(v.value) in (int, float):
            v.value = v.value + 1
            return ast.unparse(tree)
    return None


def multi_turn_perturbations(task: Mapping[str, Any]) -> Iterator[tuple[str, list[list[str]]]]:
    """``(kind, calls per turn)``: the ground truth and changes of it."""
    gt = [list(t) for t in task["ground_truth"]]
    yield "ground_truth", gt
    for k, turn in enumerate(gt):
        if not turn:
            continue
        yield "turn_without_calls", [t if i != k else [] for i, t in enumerate(gt)]
        if len(turn) > 1:
            yield "last_call_dropped", [t if i != k else t[:-1] for i, t in enumerate(gt)]
        changed = _mutate_literal(turn[-1])
        if changed is not None:
            yield "wrong_argument", [t if i != k else t[:-1] + [changed]
                                     for i, t in enumerate(gt)]
        yield "call_repeated", [t if i != k else t + t[-1:] for i, t in enumerate(gt)]
        break  # the first turn with calls: later turns build on its state


def calls_held_out_function(task: Mapping[str, Any], turn_calls: list[list[str]]) -> bool:
    """Whether a call is made at a user turn before its function is offered (miss_func): BFCL's
    executor runs any method of the class, rlenvs only the functions offered so far."""
    from rlenvs.envs.bfcl_multi_turn import _offered, parse_ground_truth_call

    for k, calls in enumerate(turn_calls):
        offered = {f["name"] for f in _offered(dict(task), k)}
        if any(parse_ground_truth_call(c)[0] not in offered for c in calls):
            return True
    return False
