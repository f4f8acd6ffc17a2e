"""The constraint registry: ids, kwarg schemas, checkers, descriptions and samplers.

A constraint is registered with the :func:`constraint` decorator on its checker::

    @constraint(
        "my:min_exclamations",
        kwargs={"count": Kwarg("int", minimum=1)},
        describe=lambda kw: f"Use at least {kw['count']} exclamation marks.",
        sample=lambda rng, ctx: {"count": rng.randint(1, 3)},
    )
    def min_exclamations(response: str, count: int) -> tuple[bool, str]:
        n = response.count("!")
        return n >= count, f"{n} exclamation marks, need at least {count}"

A checker takes the response and the constraint's kwargs as keyword arguments (plus
``prompt=`` if it declares a ``prompt`` parameter) and returns ``(followed, reason)``.
A checker never sees the raw response: :meth:`Constraint.run` hands it the view the constraint
``reads`` (:mod:`judges.ifeval.normalize`: ``"skeleton"`` by default, look-alikes mapped to
ASCII; ``"text"`` for checks about the script itself), and the string kwargs and the prompt in
the same view, so that what it compares is compared on equal terms.
Kwargs are validated and normalized by :func:`resolve_kwargs` before the checker runs:
``None`` values (and empty strings or lists, which IFEval's harness also drops) count as
absent; a missing required kwarg or a bad value raises ``ValueError`` naming the id and kwarg.
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from judges.ifeval.normalize import VIEWS, read_as, read_value_as

__all__ = [
    "Kwarg",
    "Constraint",
    "ComposeContext",
    "constraint",
    "get_constraint",
    "list_constraints",
    "resolve_kwargs",
    "conflicts_between",
    "RELATIONS",
]

#: The two comparison relations IFEval uses for counted constraints.
RELATIONS: tuple[str, str] = ("less than", "at least")

CheckResult = tuple[bool, str]


@dataclass(frozen=True)
class Kwarg:
    """Schema of one constraint kwarg.

    Attributes:
        kind: ``"int"``, ``"str"`` or ``"str_list"``.
        required: whether the kwarg must be given (all IFEval kwargs are).
        choices: allowed values (after normalization), if restricted.
        minimum: smallest allowed value for ``"int"`` kwargs.
        normalize: optional ``value -> value`` hook run after type checks; raise ``ValueError``
            with a short message to reject a value.
        doc: one line for documentation.
    """

    kind: str
    required: bool = True
    choices: tuple[Any, ...] | None = None
    minimum: int | None = None
    normalize: Callable[[Any], Any] | None = None
    doc: str = ""


@dataclass
class ComposeContext:
    """What a sampler may look at while the composer builds one prompt.

    ``task`` is the base task text; ``used_words`` collects lower-cased words already in the
    prompt or claimed by earlier constraints, so that keyword-like samplers pick fresh ones.
    """

    task: str
    used_words: set[str] = field(default_factory=set)


Sampler = Callable[[random.Random, ComposeContext], dict[str, Any]]


@dataclass(frozen=True)
class Constraint:
    """A registered constraint (see :func:`constraint`)."""

    id: str
    check: Callable[..., CheckResult]
    kwargs: Mapping[str, Kwarg]
    describe: Callable[[dict[str, Any]], str]
    sample: Sampler | None = None
    conflicts: frozenset[str] = frozenset()
    validate: Callable[[dict[str, Any]], None] | None = None
    task_kinds: frozenset[str] = frozenset({"open", "yesno"})
    wants_prompt: bool = False
    reads: str | tuple[str, ...] = "skeleton"

    def run(self, response: str, kwargs: Mapping[str, Any], prompt: str | None) -> CheckResult:
        """Run the checker on already-resolved kwargs, in the view(s) it ``reads``.

        The only way a registered checker is called: the response, every string kwarg and the
        prompt are read through :func:`judges.ifeval.normalize.read_as` first. A constraint
        that reads several views is followed only if it is followed in every one of them (the
        reading least favourable to the reply decides: a forbidden word in an HTML comment is
        used in the source, one split by markup is used in the rendering).
        """
        result: CheckResult = (True, "")
        for view in (self.reads,) if isinstance(self.reads, str) else self.reads:
            kw = {name: read_value_as(value, view) for name, value in kwargs.items()}
            if self.wants_prompt:
                kw["prompt"] = None if prompt is None else read_as(prompt, view)
            result = self.check(read_as(response, view), **kw)
            if not result[0]:
                return result[0], (result[1] if view == "skeleton" else f"{result[1]} ({view})")
        return result


_REGISTRY: dict[str, Constraint] = {}


def constraint(
    id: str,
    *,
    kwargs: Mapping[str, Kwarg] | None = None,
    describe: Callable[[dict[str, Any]], str] | None = None,
    sample: Sampler | None = None,
    conflicts: tuple[str, ...] | frozenset[str] = (),
    validate: Callable[[dict[str, Any]], None] | None = None,
    task_kinds: tuple[str, ...] = ("open", "yesno"),
    replace: bool = False,
    reads: str | tuple[str, ...] = "skeleton",
) -> Callable[[Callable[..., CheckResult]], Callable[..., CheckResult]]:
    """Register the decorated checker under ``id``.

    Args:
        id: the instruction id, ``"family:name"`` by convention.
        kwargs: kwarg schema, name -> :class:`Kwarg`.
        describe: ``kwargs -> str``, the instruction as it is appended to a prompt.
        sample: ``(rng, ComposeContext) -> kwargs``; constraints without one are never picked
            by the composer.
        conflicts: ids this constraint must not be composed with (made symmetric; ``"*"``
            means every other constraint).
        validate: cross-kwarg check on resolved kwargs; raise ``ValueError`` to reject.
        task_kinds: base-task kinds the composer may pair it with (``"open"``, ``"yesno"``).
        replace: allow re-registering an existing id (otherwise ``ValueError``).
        reads: the view of the response the checker gets: ``"skeleton"`` (default; Unicode
            look-alikes mapped to ASCII, for anything compared with letters, words or
            punctuation), ``"text"`` (NFKC, invisible characters removed, script kept: for
            checks that read exact characters, such as JSON parsing) or ``"script"`` (words
            that read as Latin mapped, others kept: for language detection) or ``"rendered"``
            (the skeleton with inline markdown/HTML markup removed), ``"sentences"`` (the
            skeleton with every script's full stops read as ``.``), or a tuple of views:
            followed only if followed in each (the word checks read the source and the
            rendering, ``("skeleton", "rendered")``).
    """
    if not isinstance(id, str) or not id.strip():
        raise ValueError("constraint id must be a non-empty string")
    if not (reads in VIEWS if isinstance(reads, str)
            else isinstance(reads, tuple) and reads and set(reads) <= set(VIEWS)):
        raise ValueError(f"constraint {id!r}: reads must be one of {VIEWS}, got {reads!r}")

    def decorator(fn: Callable[..., CheckResult]) -> Callable[..., CheckResult]:
        if id in _REGISTRY and not replace:
            raise ValueError(f"constraint {id!r} is already registered (pass replace=True)")
        params = inspect.signature(fn).parameters
        _REGISTRY[id] = Constraint(
            id=id,
            check=fn,
            kwargs=dict(kwargs or {}),
            describe=describe or (lambda kw: f"Follow the constraint {id}."),
            sample=sample,
            conflicts=frozenset(conflicts),
            validate=validate,
            task_kinds=frozenset(task_kinds),
            wants_prompt="prompt" in params,
            reads=reads,
        )
        return fn

    return decorator


def get_constraint(id: str) -> Constraint:
    """The registered constraint ``id``; ``ValueError`` listing close ids if unknown.

    The 25 IFEval constraints are registered by ``judges.ifeval.builtin``, which the package's
    ``__init__`` imports before anything else can reach this registry.
    """
    try:
        return _REGISTRY[id]
    except (KeyError, TypeError):
        family = str(id).split(":")[0]
        close = [k for k in _REGISTRY if k.startswith(family + ":")] or sorted(_REGISTRY)[:8]
        raise ValueError(f"unknown instruction id {id!r}; known ids include {close}") from None


def list_constraints() -> list[str]:
    """All registered instruction ids, sorted."""
    return sorted(_REGISTRY)


def conflicts_between(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` must not be composed together (symmetric; ``a == b`` conflicts)."""
    if a == b:
        return True
    ca, cb = get_constraint(a).conflicts, get_constraint(b).conflicts
    return "*" in ca or "*" in cb or b in ca or a in cb


def _is_absent(value: Any) -> bool:
    return value is None or (isinstance(value, (str, list, tuple)) and len(value) == 0)


def _coerce(cid: str, name: str, spec: Kwarg, value: Any) -> Any:
    def bad(msg: str) -> ValueError:
        return ValueError(f"{cid}: kwarg {name!r} {msg} (got {value!r})")

    if spec.kind == "int":
        if isinstance(value, bool):
            raise bad("must be an integer")
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if not isinstance(value, int):
            raise bad("must be an integer")
        if spec.minimum is not None and value < spec.minimum:
            raise bad(f"must be >= {spec.minimum}")
    elif spec.kind == "str":
        if not isinstance(value, str):
            raise bad("must be a string")
    elif spec.kind == "str_list":
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise bad("must be a list of strings")
        if not all(isinstance(v, str) and v for v in value):
            raise bad("must contain only non-empty strings")
        value = list(value)
    else:  # pragma: no cover - schema bug
        raise ValueError(f"{cid}: unknown kwarg kind {spec.kind!r}")
    if spec.normalize is not None:
        try:
            value = spec.normalize(value)
        except ValueError as exc:
            raise bad(str(exc)) from None
    if spec.choices is not None and value not in spec.choices:
        raise bad(f"must be one of {list(spec.choices)}")
    return value


def resolve_kwargs(id: str, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate and normalize the kwargs of one instruction.

    ``None`` values, empty strings and empty lists are treated as absent. Unknown keys with a
    value, missing required kwargs and out-of-range values raise ``ValueError`` naming ``id``.
    """
    spec = get_constraint(id)
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ValueError(f"{id}: kwargs must be a dict, got {type(raw).__name__}")
    given = {k: v for k, v in raw.items() if not _is_absent(v)}
    unknown = sorted(set(given) - set(spec.kwargs))
    if unknown:
        raise ValueError(
            f"{id}: unexpected kwarg(s) {unknown}; this instruction takes {sorted(spec.kwargs)}"
        )
    out: dict[str, Any] = {}
    for name, kw in spec.kwargs.items():
        if name not in given:
            if kw.required:
                raise ValueError(f"{id}: missing required kwarg {name!r}")
            continue
        out[name] = _coerce(id, name, kw, given[name])
    if spec.validate is not None:
        try:
            spec.validate(out)
        except ValueError as exc:
            raise ValueError(f"{id}: {exc}") from None
    return out
