"""Procedural training prompts: a base task plus 1-3 compatible, verifiable constraints.

>>> from judges.ifeval.compose import compose_prompt
>>> item = compose_prompt(7)
>>> sorted(item)
['instruction_id_list', 'kwargs', 'prompt']

The result has IFEval's row shape, so it goes straight into ``check_instructions``. The same
seed always gives the same item. Constraints that conflict (see ``conflicts_between``) are
never combined, and kwargs are sampled in ranges a short answer can meet; the witness builder
(:mod:`judges.ifeval.witness`) constructs a passing response for every composed item, which
the tests check over hundreds of seeds.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from judges.ifeval.builtin import IFEVAL_IDS
from judges.ifeval.registry import (
    ComposeContext,
    conflicts_between,
    get_constraint,
    resolve_kwargs,
)

__all__ = ["compose_prompt", "BASE_TASKS", "YES_NO_TASKS"]

#: Open-ended writing tasks (no commas, so they can be repeated under ``no_comma``).
BASE_TASKS: tuple[str, ...] = (
    "Write a short story about a lighthouse keeper.",
    "Describe a perfect day at the beach.",
    "Explain how a bicycle stays upright.",
    "Write a letter to a friend who moved to another city.",
    "Give advice to a student starting their first year at university.",
    "Write a product description for a reusable water bottle.",
    "Explain why the sky looks blue during the day.",
    "Write a poem about autumn leaves.",
    "Describe how to make a cup of tea.",
    "Write a short speech for a school graduation.",
    "Summarize the benefits of regular exercise.",
    "Write a review of an imaginary restaurant.",
    "Explain the water cycle to a ten year old.",
    "Write a diary entry from the point of view of a cat.",
    "Describe the city you would most like to visit.",
    "Write a cover letter for a job at a bakery.",
    "Explain how to plant a tree.",
    "Write a short fable with a moral at the end.",
    "Describe a memorable train ride.",
    "Write an announcement for a community clean up event.",
    "Explain what a budget is and why it matters.",
    "Write a thank you note to a teacher.",
    "Describe a day in the life of a bee.",
    "Write a travel guide entry for a small mountain town.",
    "Explain how rain forms.",
    "Write a short biography of an imaginary inventor.",
    "Describe the rules of a board game you invented.",
    "Write a motivational message for someone learning to play the piano.",
    "Explain the difference between weather and climate.",
    "Write a short mystery story set in a library.",
    "Describe how to prepare for a long hike.",
    "Write a news report about a town festival.",
    "Explain how a library organizes its books.",
    "Write a short dialogue between two old friends.",
    "Describe your ideal home office.",
    "Write a recipe for a simple vegetable soup.",
    "Explain how the moon affects the tides.",
    "Write a postcard message from a trip to the mountains.",
    "Describe the sounds of a city at night.",
    "Write a short essay on the value of kindness.",
    "Give tips for keeping a room tidy.",
    "Write an invitation to a birthday party.",
)

#: Yes/no questions; the only tasks ``detectable_format:constrained_response`` is paired with.
YES_NO_TASKS: tuple[str, ...] = (
    "Is it a good idea to learn a second language as an adult?",
    "Should cities build more bike lanes?",
    "Is breakfast the most important meal of the day?",
    "Can houseplants improve the air in a room?",
    "Is it better to read books on paper than on a screen?",
    "Should students wear school uniforms?",
    "Is it worth waking up early to exercise?",
    "Do cats make better pets than dogs?",
)


def _as_rng(rng_or_seed: random.Random | int | None) -> random.Random:
    if isinstance(rng_or_seed, random.Random):
        return rng_or_seed
    if rng_or_seed is None or isinstance(rng_or_seed, int) and not isinstance(rng_or_seed, bool):
        return random.Random(rng_or_seed)
    raise TypeError(f"rng_or_seed must be a random.Random or an int, got {rng_or_seed!r}")


def _bounds(n_constraints: int | tuple[int, int]) -> tuple[int, int]:
    lo, hi = (n_constraints, n_constraints) if isinstance(n_constraints, int) else n_constraints
    if not (isinstance(lo, int) and isinstance(hi, int)) or lo < 1 or hi < lo:
        raise ValueError(f"n_constraints must be an int >= 1 or (lo, hi) with 1 <= lo <= hi, "
                         f"got {n_constraints!r}")
    return lo, hi


def compose_prompt(
    rng_or_seed: random.Random | int | None,
    base_tasks: Sequence[str] | None = None,
    n_constraints: int | tuple[int, int] = (1, 3),
    constraint_ids: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Build one training prompt: a base task followed by the constraints' descriptions.

    Args:
        rng_or_seed: a ``random.Random`` (advanced in place) or an int seed.
        base_tasks: open-ended tasks to draw from; default :data:`BASE_TASKS` plus
            :data:`YES_NO_TASKS` (tasks ending in ``?`` count as yes/no questions).
        n_constraints: how many constraints, an int or an inclusive ``(lo, hi)`` range. Fewer
            are returned when no further compatible constraint is left.
        constraint_ids: the candidate ids (default: IFEval's 25, so results do not change when
            other constraints are registered). Ids without a sampler are skipped.

    Returns:
        ``{"prompt": str, "instruction_id_list": [ids], "kwargs": [dicts]}``, IFEval's row shape.
    """
    rng = _as_rng(rng_or_seed)
    lo, hi = _bounds(n_constraints)
    tasks = list(base_tasks) if base_tasks is not None else [*BASE_TASKS, *YES_NO_TASKS]
    if not tasks or not all(isinstance(t, str) and t.strip() for t in tasks):
        raise ValueError("base_tasks must be a non-empty list of non-blank strings")
    task = rng.choice(tasks).strip()
    kind = "yesno" if task.endswith("?") else "open"
    ids = sorted(constraint_ids if constraint_ids is not None else IFEVAL_IDS)
    pool = [c for c in ids if get_constraint(c).sample is not None
            and kind in get_constraint(c).task_kinds]
    want = rng.randint(lo, hi)
    rng.shuffle(pool)
    chosen: list[str] = []
    for cid in pool:
        if len(chosen) == want:
            break
        if not any(conflicts_between(cid, other) for other in chosen):
            chosen.append(cid)

    ctx = ComposeContext(task=task, used_words=set(task.lower().split()))
    kwargs: list[dict[str, Any]] = []
    descriptions: list[str] = []
    for cid in chosen:
        spec = get_constraint(cid)
        raw = spec.sample(rng, ctx) if spec.sample else {}
        resolved = resolve_kwargs(cid, raw)  # a sampler bug surfaces here, not at check time
        kwargs.append(dict(raw))
        descriptions.append(spec.describe(resolved))
    prompt = " ".join([task, *descriptions])
    return {"prompt": prompt, "instruction_id_list": chosen, "kwargs": kwargs}
