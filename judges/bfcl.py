"""BFCL's single-turn AST match, written for rlenvs: decoded function calls against a task's
possible answers (the Berkeley Function Calling Leaderboard's ``possible_answer`` files).

A call is ``{function_name: {param: value}}`` (what a decoded reply gives). A task has the
function schemas (``function``: BFCL's JSON-schema dialect, types ``string``, ``integer``,
``float``, ``boolean``, ``array``, ``tuple``, ``dict``, ``any``) and ``possible_answer``:
``[{function_name: {param: [allowed values]}}]``, where ``""`` among the allowed values marks
the parameter optional. The rules are BFCL's (Python test categories):

* **names and count**: ``simple`` wants exactly one call of the one function; ``multiple``
  exactly one call of the expected function among several offered; ``parallel`` /
  ``parallel_multiple`` exactly as many calls as expected, matched **in any order**.
* **parameters**: every schema-required parameter present; no parameter outside both the schema
  and the possible answer; every parameter of the possible answer present unless ``""`` allows
  leaving it out.
* **types**: the exact type the schema declares (``bool`` is not an ``integer``); an ``int``
  passes for a ``float``; one level of item types is checked for arrays. A value of the type
  of the possible answers where the schema declares another is taken as a variable reference
  (BFCL's rule) and must equal one of them exactly.
* **values**: strings compare after dropping spaces and ``,./-_*^``, lower-casing and reading
  ``'`` as ``"`` (``"April 1, 2024"`` = ``"april 1 2024"``), also inside lists and dicts; lists
  compare element-wise in order; dicts key by key; a list of dicts dict by dict in order;
  other values by equality.
* **irrelevance** (no function fits the question): passes when no call is made;
  **relevance**: passes when at least one call is made (its arguments are not checked).

Where this differs from ``bfcl_eval``'s own checker (``benchmarks/bench_bfcl_agreement.py``
measures the agreement on ground truth, perturbations of it and a small model's replies):
parallel calls are matched by a maximum bipartite matching, not greedily, so a reply is never
failed because an early call could match two expected calls; and a malformed value (a list
where a dict must be) fails instead of raising.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from judges.verdict import Verdict

__all__ = ["check_bfcl_calls", "check_bfcl_relevance", "check_call", "check_bfcl_turn",
           "standardize",
           "RELEVANCE_CATEGORIES", "AST_CATEGORIES"]

#: the Python AST categories of BFCL v4 (single turn) and the relevance ones
AST_CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple",
                  "live_multiple", "live_parallel", "live_parallel_multiple")
RELEVANCE_CATEGORIES = ("irrelevance", "live_irrelevance", "live_relevance")

_TYPES: dict[str, type] = {"string": str, "integer": int, "float": float, "boolean": bool,
                           "array": list, "tuple": list, "dict": dict, "any": str}
_STRIP = re.compile(r"[ ,./\-_*^]")

Call = Mapping[str, Any]


def standardize(text: str) -> str:
    """BFCL's string normal form: no spaces or ``,./-_*^``, lower case, ``'`` read as ``"``."""
    return _STRIP.sub("", text).lower().replace("'", '"')


def _norm(value: Any) -> Any:
    return standardize(value) if type(value) is str else value


def _declared(options: Sequence[Any]) -> type | None:
    """The type of the possible answers (the first that is not the optional marker ``""``)."""
    return next((type(o) for o in options if o != ""), None)


class _Mismatch(Exception):
    """One reason a call does not match (``kind`` is BFCL's error family)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _check_type(name: str, value: Any, options: Sequence[Any], want: type,
                item: type | None) -> bool:
    """Raise if ``value`` has neither the declared type nor the answers' type; return whether
    it is a variable reference (compared by plain equality)."""
    declared = _declared(options)
    variable = declared is not None and declared is not want
    if type(value) is want:
        if item is None:
            return variable
        for option in options:
            if not isinstance(option, list):
                return variable
            item_declared = _declared(option)
            if all(type(v) is item or (item_declared is not None and type(v) is item_declared)
                   for v in value):
                return variable
        raise _Mismatch("type_error:nested", f"{name!r}: items of {value!r} are not "
                        f"{item.__name__}")
    if declared is not None and type(value) is declared:
        return True
    raise _Mismatch("type_error:simple",
                    f"{name!r}: expected {want.__name__}, got {type(value).__name__} {value!r}")


def _dict_matches(value: Any, options: Sequence[Any]) -> bool:
    if not isinstance(value, dict):
        return False
    for option in options:
        if option == "" or not isinstance(option, dict):
            continue
        if all(k in option and _norm(v) in [_norm(o) for o in option[k]]
               for k, v in value.items()) and \
                all(k in value or "" in allowed for k, allowed in option.items()):
            return True
    return False


def _list_of_dicts_matches(value: list[Any], options: Sequence[Any]) -> bool:
    for option in options:
        if not isinstance(option, list | str) or len(option) != len(value):
            continue
        if all(_dict_matches(v, [o]) for v, o in zip(value, option, strict=True)):
            return True
    return False


def _list_matches(value: list[Any], options: Sequence[Any]) -> bool:
    got = [_norm(v) for v in value]
    return any(isinstance(o, list | str) and got == [_norm(x) for x in o] for o in options)


def _check_value(name: str, value: Any, options: Sequence[Any], schema: Mapping[str, Any]) -> None:
    kind = schema.get("type", "any")
    want = _TYPES.get(kind, str)
    items = schema.get("items") if kind in ("array", "tuple") else None
    item = _TYPES.get(items.get("type", "any"), str) if isinstance(items, dict) else None
    if kind == "float" and type(value) is int:
        value = float(value)
    if _check_type(name, value, options, want, item):
        ok = value in options
    elif want is dict:
        ok = _dict_matches(value, options)
    elif want is list and item is dict:
        ok = _list_of_dicts_matches(value, options)
    elif want is str:
        ok = standardize(value) in [standardize(o) for o in options if type(o) is str]
    elif want is list:
        ok = _list_matches(value, options)
    else:
        ok = value in options
    if not ok:
        raise _Mismatch("value_error", f"{name!r}: {value!r} is not one of {list(options)!r}")


def check_call(call: Call, function: Mapping[str, Any], expected: Call) -> str | None:
    """Why ``call`` does not match ``expected`` (one possible answer) under ``function``'s
    schema, or ``None`` when it matches."""
    try:
        _match(call, function, expected)
    except _Mismatch as e:
        return f"{e.kind}: {e}"
    return None


def _match(call: Call, function: Mapping[str, Any], expected: Call) -> None:
    name = function["name"]
    options: Mapping[str, Any] = next(iter(expected.values()))
    if not isinstance(call, Mapping) or name not in call:
        got = list(call) if isinstance(call, Mapping) else call
        raise _Mismatch("wrong_func_name", f"expected a call of {name!r}, got {got!r}")
    args = call[name]
    if not isinstance(args, Mapping):
        raise _Mismatch("wrong_arguments", f"arguments of {name!r} must be an object")
    params = function.get("parameters", {})
    props = params.get("properties", {})
    for p in params.get("required", []):
        if p not in args:
            raise _Mismatch("missing_required", f"missing required parameter {p!r}")
    for p, value in args.items():
        if p not in props or p not in options:
            raise _Mismatch("unexpected_param", f"unexpected parameter {p!r}")
        _check_value(p, value, options[p], props[p])
    for p, allowed in options.items():
        if p not in args and "" not in allowed:
            raise _Mismatch("missing_optional", f"parameter {p!r} is required by the answer")


def _schema(functions: Sequence[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((f for f in functions if f.get("name") == name), None)


def _parallel_mismatch(calls: Sequence[Call], functions: Sequence[Mapping[str, Any]],
                       expected: Sequence[Call]) -> str | None:
    """Match every expected call to a distinct reply call (maximum bipartite matching)."""
    fits: list[list[int]] = []
    for want in expected:
        schema = _schema(functions, next(iter(want)))
        if schema is None:
            return f"the expected function {next(iter(want))!r} is not among the functions"
        fits.append([j for j, c in enumerate(calls) if check_call(c, schema, want) is None])
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in fits[i]:
            if j not in seen:
                seen.add(j)
                if j not in owner or place(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    for i, want in enumerate(expected):
        if not place(i, set()):
            name = next(iter(want))
            near = next((c for c in calls if isinstance(c, Mapping) and name in c), calls[0])
            schema = _schema(functions, name)
            assert schema is not None
            why = check_call(near, schema, want) or "its calls are taken by other answers"
            return f"no call matches the expected {want!r}"[:240] + f" (nearest: {why})"[:260]
    return None


def check_bfcl_calls(calls: Sequence[Call], functions: Sequence[Mapping[str, Any]],
                     possible_answer: Sequence[Call], category: str) -> Verdict:
    """BFCL's AST verdict for the decoded ``calls`` of one reply (see the module docstring)."""
    calls, expected = list(calls), list(possible_answer)
    if "parallel" in category or "multiple" in category:
        if len(calls) != len(expected):
            why = f"wrong number of calls: {len(calls)}, expected {len(expected)}"
        elif "parallel" in category:
            why = _parallel_mismatch(calls, functions, expected)
        else:
            schema = _schema(functions, next(iter(expected[0])))
            why = (check_call(calls[0], schema, expected[0]) if schema is not None
                   else "the expected function is not among the functions")
    elif len(calls) != 1:
        why = f"wrong number of calls: {len(calls)}, expected 1"
    else:
        why = check_call(calls[0], functions[0], expected[0])
    components = {"ast_match": 0.0 if why else 1.0}
    if why:
        return Verdict.fail(why, calls=calls, components=components)
    return Verdict.ok("calls match a possible answer", calls=calls, components=components)


def check_bfcl_relevance(calls: Sequence[Call], category: str) -> Verdict:
    """``irrelevance``: no call must be made; ``relevance``: at least one."""
    made = any(isinstance(c, Mapping) and len(c) > 0 for c in calls)
    want_call = "irrelevance" not in category
    ok = made == want_call
    components = {"relevance": 1.0 if ok else 0.0}
    reason = ("a function was called" if made else "no function was called") + (
        "" if ok else (" but none fits the question" if made else " but one fits the question"))
    if ok:
        return Verdict.ok(reason, calls=list(calls), components=components)
    return Verdict.fail(reason, calls=list(calls), components=components)


def _differences(model: Any, truth: Any) -> list[str]:
    return [name for name, value in vars(truth).items()
            if not name.startswith("_") and getattr(model, name, object()) != value]


def check_bfcl_turn(model_instances: Mapping[str, Any], truth_instances: Mapping[str, Any],
                    model_results: Sequence[str], truth_results: Sequence[str],
                    called: bool, expects_calls: bool = True) -> Verdict:
    """BFCL's check of one user turn of a multi-turn entry.

    ``model_instances`` / ``truth_instances``: the simulated APIs after the policy's calls and
    after the ground truth's calls (by class name); ``model_results``: the results of every
    call the policy made so far (all turns); ``truth_results``: those of this turn's ground
    truth; ``called``: whether the policy made a call this turn. A turn whose ground truth is
    empty (the request cannot be done with the functions) is not checked. Otherwise the policy
    must have called something, every public attribute of every instance must equal the
    ground truth's, and each ground-truth result must be among the policy's results (a
    multiset, any order: a result produced in an earlier turn counts).
    """
    if not expects_calls:
        return Verdict.ok("nothing to do in this turn", components={"turn": 1.0})
    if not called:
        return Verdict.fail("no call in a turn that needs calls", components={"turn": 0.0})
    for name, truth in truth_instances.items():
        model = model_instances.get(name)
        if model is None or type(model) is not type(truth):
            return Verdict.fail(f"{name}: no instance to compare", components={"turn": 0.0})
        differ = _differences(model, truth)
        if differ:
            return Verdict.fail(f"{name} state differs from the ground truth's in {differ}",
                                components={"turn": 0.0}, differences=differ)
    left = list(model_results)
    missing = []
    for result in truth_results:
        if result in left:
            left.remove(result)
        else:
            missing.append(result)
    if missing:
        return Verdict.fail(f"results of the ground truth's calls missing: {missing!r}"[:400],
                            components={"turn": 0.0})
    return Verdict.ok("state and results match the ground truth", components={"turn": 1.0})
