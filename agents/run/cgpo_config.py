"""Multi-task CGPO from a config file: ``rlenvs train --algo cgpo --config cgpo.json``.

The file holds :class:`~agents.trainers.cgpo.CGPOConfig` settings (shared by every task) and a
``tasks`` list, one entry per task (:class:`~agents.trainers.cgpo_tasks.CGPOTask` fields)::

    {"learning_rate": 2e-4, "max_completion_length": 80, "max_steps": 50,
     "tasks": [
       {"name": "math", "env": "rlenvs/Arithmetic-v0", "env_kwargs": {"level": 1},
        "optimizer": "crpg", "num_generations": 4, "prompts_per_step": 2,
        "kl_threshold": 20, "judge": {"factory": "judges.moj:math_constraint"}},
       {"name": "code", "env": "rlenvs/Code-v0", "optimizer": "crraft", "kl_threshold": 40,
        "baseline": {"format": "```python\\n{solution}\\n```"}}]}

A **judge** is omitted (the environment's own verdict and reward), ``"module:attr"`` (a judge:
``(response, task) -> Verdict``), ``{"factory": "module:attr", "kwargs": {...}}`` (what the call
returns is the judge), or a Mixture of Judges ``{"reward": JUDGE, "constraints": {NAME: JUDGE},
"scale": 4.0, ...}`` (any :class:`judges.moj.MixtureOfJudges` argument). A **baseline** ``ā`` is
a task-data key (``"solution"``), ``{"format": "... {answer} ..."}`` (filled from the task
data; a prompt whose data lacks a field has no ``ā``) or ``{"function": "module:attr"}``
(``task -> str | None``). Without ``tasks``, one task is made from ``--env``/``--env-kwarg``
and the task fields among the settings (``optimizer``, ``kl_threshold``, ``judge``...).
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["cgpo_from_dict", "task_from_dict", "judge_from_spec", "baseline_from_spec"]

# task fields that a single-task config may give at the top level
_TASK_LEVEL = ("optimizer", "judge", "kl_threshold", "weight", "prompts_per_step",
               "baseline_reward", "baseline")
_MOJ_ARGS = ("baseline_key", "calibrate", "scale", "violation_score", "name")


def cgpo_from_dict(values: Mapping[str, Any], env_id: str | None = None,
                   env_kwargs: Mapping[str, Any] | None = None) -> tuple[Any, list[Any]]:
    """``(CGPOConfig, [CGPOTask, ...])`` from a config mapping (see the module docstring);
    ``env_id``/``env_kwargs`` make the one task of a config without ``tasks``. Every mistake
    is a ``ValueError`` (``TypeError`` for a wrong kind of value) naming where it is."""
    from agents.trainers.cgpo import CGPOConfig

    values = dict(values)
    specs = values.pop("tasks", None)
    top = {k: values.pop(k) for k in _TASK_LEVEL if k in values}
    if specs is None:
        if env_id is None:
            raise ValueError("CGPO needs tasks: a 'tasks' list in --config, or --env for one "
                             "task")
        tasks = [task_from_dict({"env": env_id, "env_kwargs": dict(env_kwargs or {}), **top},
                                "the task")]
    else:
        if top:
            raise ValueError(f"{', '.join(sorted(top))}: task settings go into each entry of "
                             f"'tasks' (they differ per task)")
        if env_kwargs:
            raise ValueError("--env-kwarg: the environments come from the config's tasks "
                             "(their env_kwargs)")
        if not isinstance(specs, list) or not specs:
            raise ValueError("'tasks' must be a non-empty list of task settings")
        tasks = [task_from_dict(spec, f"tasks[{i}]") for i, spec in enumerate(specs)]
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must differ (they prefix the metrics): {names}")
    return CGPOConfig.from_dict(values), tasks


def task_from_dict(spec: Any, where: str = "task") -> Any:
    """A :class:`~agents.trainers.cgpo_tasks.CGPOTask` from one ``tasks`` entry."""
    from agents.trainers.cgpo_tasks import CGPOTask

    if not isinstance(spec, Mapping):
        raise ValueError(f"{where} must be a mapping of task settings, got "
                         f"{type(spec).__name__}")
    known = {f.name for f in dataclasses.fields(CGPOTask)}
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"{where} has no setting {unknown[0]!r}; known: {sorted(known)}")
    if not spec.get("env"):
        raise ValueError(f"{where} needs 'env' (an environment id)")
    values = dict(spec)
    values["judge"] = judge_from_spec(values.get("judge"), f"{where}.judge")
    values["baseline"] = baseline_from_spec(values.get("baseline"), f"{where}.baseline")
    try:
        return CGPOTask(**values)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{where}: {e}") from None


def judge_from_spec(spec: Any, where: str = "judge") -> Any:
    """A judge from its config spec (``None``: the environment's verdict)."""
    if spec is None:
        return None
    if isinstance(spec, str):
        judge = _import(spec, where)
    elif isinstance(spec, Mapping) and "factory" in spec:
        extra = sorted(set(spec) - {"factory", "kwargs"})
        if extra:
            raise ValueError(f"{where}: a factory spec takes 'factory' and 'kwargs', not "
                             f"{extra[0]!r}")
        kwargs = spec.get("kwargs") or {}
        if not isinstance(kwargs, Mapping):
            raise ValueError(f"{where}.kwargs must be a mapping")
        judge = _import(spec["factory"], f"{where}.factory")(**kwargs)
    elif isinstance(spec, Mapping) and ("reward" in spec or "constraints" in spec):
        from judges.moj import MixtureOfJudges

        extra = sorted(set(spec) - {"reward", "constraints", *_MOJ_ARGS})
        if extra:
            raise ValueError(f"{where}: a Mixture of Judges takes reward, constraints and "
                             f"{', '.join(_MOJ_ARGS)}; not {extra[0]!r}")
        if "reward" not in spec:
            raise ValueError(f"{where}: a Mixture of Judges needs a 'reward' judge")
        constraints = spec.get("constraints") or {}
        if not isinstance(constraints, Mapping):
            raise ValueError(f"{where}.constraints must map names to judges")
        judge = MixtureOfJudges(
            judge_from_spec(spec["reward"], f"{where}.reward"),
            {name: judge_from_spec(c, f"{where}.constraints.{name}")
             for name, c in constraints.items()},
            **{k: spec[k] for k in _MOJ_ARGS if k in spec})
    else:
        raise ValueError(f"{where}: expected 'module:attr' (a judge), {{\"factory\": "
                         f"\"module:attr\", \"kwargs\": {{...}}}} or a Mixture of Judges "
                         f"{{\"reward\": ..., \"constraints\": {{...}}}}; got {spec!r}")
    if not callable(judge):
        raise ValueError(f"{where}: {spec!r} is not a judge (not callable)")
    if not isinstance(spec, str):  # a built judge: the run's identity names it by its spec
        _remember(judge, spec)
    return judge


def baseline_from_spec(spec: Any, where: str = "baseline") -> Any:
    """A baseline source from its config spec: a task-data key, a format or a function."""
    if spec is None or isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping) and set(spec) == {"format"} and isinstance(spec["format"], str):
        return _Format(spec["format"])
    if isinstance(spec, Mapping) and set(spec) == {"function"}:
        fn = _import(spec["function"], f"{where}.function")
        if not callable(fn):
            raise ValueError(f"{where}: {spec['function']!r} is not callable")
        return fn
    raise ValueError(f"{where}: expected a task-data key, {{\"format\": \"...{{answer}}...\"}} "
                     f"or {{\"function\": \"module:attr\"}}; got {spec!r}")


class _Format:
    """``ā`` = a format string filled from the task data (``None`` when a field is missing)."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.spec = {"format": template}
        try:
            template.format_map(_Probe())
        except (ValueError, IndexError) as e:
            raise ValueError(f"baseline format {template!r}: {e}") from None

    def __call__(self, task: Mapping[str, Any]) -> str | None:
        try:
            return self.template.format_map(dict(task))
        except KeyError:
            return None


class _Probe(dict):
    def __missing__(self, key: str) -> str:
        return ""


def _import(path: Any, where: str) -> Any:
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"{where}: expected 'module:attr', got {path!r}")
    module, _, attr = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"{where}: cannot import {path!r} ({e})") from None
    return obj


def _remember(judge: Any, spec: Any) -> None:
    """Keep the spec on the judge (``judge.spec``, read by ``task_identity``)."""
    try:
        judge.spec = spec
    except (AttributeError, TypeError):
        pass
