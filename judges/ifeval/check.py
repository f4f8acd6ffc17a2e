"""Checking a response against a list of instructions (strict and loose) and IFEval metrics."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from judges.ifeval.normalize import lookalikes_of, normalize_text
from judges.ifeval.registry import get_constraint, resolve_kwargs
from judges.verdict import Verdict

__all__ = ["check_instructions", "loose_variants", "ifeval_accuracy"]


def loose_variants(response: str) -> list[tuple[str, str]]:
    """IFEval's eight loose-mode variants of a response, in IFEval's order, as (name, text).

    The response itself, with every ``*`` removed, without its first line, without its last
    line, without both, and the ``*``-free versions of the last three. Line-dropped variants
    are whitespace-stripped (the first two are not), exactly as IFEval builds them.
    "Every ``*``" includes the characters the checks read as ``*`` (a low asterisk, an Arabic
    five-pointed star), so no variant keeps an asterisk the checks would still see.
    """
    stars = str.maketrans(dict.fromkeys(lookalikes_of("*")))
    lines = response.split("\n")
    first = "\n".join(lines[1:]).strip()
    last = "\n".join(lines[:-1]).strip()
    both = "\n".join(lines[1:-1]).strip()
    return [
        ("response", response),
        ("no_asterisks", response.translate(stars)),
        ("without_first_line", first),
        ("without_last_line", last),
        ("without_first_and_last_line", both),
        ("without_first_line_no_asterisks", first.translate(stars)),
        ("without_last_line_no_asterisks", last.translate(stars)),
        ("without_first_and_last_line_no_asterisks", both.translate(stars)),
    ]


def _normalize_inputs(
    response: Any, instruction_ids: Any, kwargs: Any
) -> tuple[list[str], list[Mapping[str, Any] | None]]:
    if not isinstance(response, str):
        raise TypeError(f"response must be a str, got {type(response).__name__}")
    if isinstance(instruction_ids, str) or not isinstance(instruction_ids, Sequence):
        raise TypeError("instruction_ids must be a list of instruction id strings")
    ids = list(instruction_ids)
    if not ids:
        raise ValueError("instruction_ids is empty; give at least one instruction id")
    for i in ids:
        if not isinstance(i, str):
            raise TypeError(f"instruction ids must be strings, got {i!r}")
    if kwargs is None:
        kw_list: list[Mapping[str, Any] | None] = [None] * len(ids)
    elif isinstance(kwargs, Mapping) or not isinstance(kwargs, Sequence):
        raise TypeError("kwargs must be a list of dicts aligned with instruction_ids")
    else:
        kw_list = list(kwargs)
        if len(kw_list) != len(ids):
            raise ValueError(
                f"kwargs has {len(kw_list)} entries but instruction_ids has {len(ids)}; "
                "give one dict (possibly empty) per instruction"
            )
    return ids, kw_list


def _run_one(cid: str, text: str, kw: dict[str, Any], prompt: str | None) -> tuple[bool, str]:
    if not text.strip():
        return False, "empty response"
    try:
        ok, reason = get_constraint(cid).run(text, kw, prompt)
    except Exception as exc:  # a custom checker bug must not crash a training run
        return False, f"checker error: {type(exc).__name__}: {exc}"
    return bool(ok), str(reason)


def check_instructions(
    response: str,
    instruction_ids: Sequence[str],
    kwargs: Sequence[Mapping[str, Any] | None] | None = None,
    prompt: str | None = None,
    loose: bool = False,
) -> Verdict:
    """Check ``response`` against IFEval-style instructions.

    Args:
        response: the model's reply.
        instruction_ids: ids such as ``"keywords:existence"`` (see ``list_constraints()``).
        kwargs: one dict per id, as in IFEval's ``input_data.jsonl``; ``None`` values and missing
            dicts mean "no kwarg". ``None`` for the whole list means no kwargs at all.
        prompt: the user prompt; passed to custom checkers that take a ``prompt`` argument.
        loose: IFEval's loose mode: an instruction counts as followed if any of the eight
            :func:`loose_variants` follows it.

    Returns:
        A :class:`Verdict` with ``score`` = fraction of instructions followed, ``passed`` = all
        followed, and ``details["instructions"]``: one dict per instruction with ``id``,
        ``passed``, ``kwargs`` (resolved), ``reason`` and, in loose mode, ``variant`` (the first
        variant that followed it, or ``None``). ``details["mode"]`` is ``"strict"``/``"loose"``.

    Raises:
        TypeError: arguments of the wrong type.
        ValueError: unknown id, missing or invalid kwargs (message names the id and kwarg).

    The response is read as it looks, not as it is encoded: it is normalized once here
    (:func:`judges.ifeval.normalize.normalize_text`: NFKC, invisible characters removed) before
    anything else reads it, loose variants included, and each checker then gets the view it
    declares (by default with Unicode look-alikes mapped to ASCII). A zero-width space is no
    content, a full-width comma is a comma, a Cyrillic ``а`` in a forbidden word is an ``a``.
    """
    ids, kw_list = _normalize_inputs(response, instruction_ids, kwargs)
    resolved = [resolve_kwargs(cid, kw) for cid, kw in zip(ids, kw_list, strict=True)]
    response = normalize_text(response)
    if loose:
        seen: set[str] = set()
        variants = []
        for name, text in loose_variants(response):
            if text not in seen and text.strip():
                seen.add(text)
                variants.append((name, text))
    else:
        variants = [("response", response)]

    results = []
    for cid, kw in zip(ids, resolved, strict=True):
        ok, reason, used = False, "empty response", None
        first_reason = None
        for name, text in variants:
            ok, reason = _run_one(cid, text, kw, prompt)
            if first_reason is None:
                first_reason = reason
            if ok:
                used = name
                break
        if not ok and first_reason is not None:
            reason = first_reason
        entry: dict[str, Any] = {"id": cid, "passed": ok, "kwargs": kw, "reason": reason}
        if loose:
            entry["variant"] = used
        results.append(entry)

    followed = sum(r["passed"] for r in results)
    mode = "loose" if loose else "strict"
    failed = [f"{r['id']} ({r['reason']})" for r in results if not r["passed"]]
    reason = f"followed {followed}/{len(results)} instructions ({mode})"
    if failed:
        reason += "; failed: " + "; ".join(failed)
    return Verdict(
        score=followed / len(results),
        passed=followed == len(results),
        reason=reason,
        details={"mode": mode, "instructions": results, "followed": followed,
                 "total": len(results)},
    )


def ifeval_accuracy(verdicts: Iterable[Verdict]) -> dict[str, Any]:
    """IFEval's four accuracies (and per-instruction-id accuracy) from ``check_instructions``
    verdicts.

    Pass the strict verdicts, the loose ones, or both mixed (each carries its mode). Returns
    ``prompt_strict``, ``instruction_strict``, ``prompt_loose``, ``instruction_loose`` (``None``
    for a mode with no verdicts), ``n_prompts_strict``, ``n_prompts_loose`` and
    ``per_instruction``: ``{id: {"strict": acc|None, "loose": acc|None, "n_strict": k,
    "n_loose": k}}``. Prompt level = share of prompts with every instruction followed;
    instruction level = share of all instructions followed (micro-average).
    """
    prompts: dict[str, list[bool]] = {"strict": [], "loose": []}
    insts: dict[str, list[bool]] = {"strict": [], "loose": []}
    per_id: dict[str, dict[str, list[bool]]] = {}
    for v in verdicts:
        details = getattr(v, "details", None)
        if not isinstance(details, Mapping) or "instructions" not in details:
            raise ValueError("ifeval_accuracy needs verdicts returned by check_instructions")
        mode = details.get("mode", "strict")
        prompts[mode].append(bool(v.passed))
        for r in details["instructions"]:
            insts[mode].append(bool(r["passed"]))
            per_id.setdefault(r["id"], {"strict": [], "loose": []})[mode].append(bool(r["passed"]))

    def mean(xs: list[bool]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {
        "prompt_strict": mean(prompts["strict"]),
        "instruction_strict": mean(insts["strict"]),
        "prompt_loose": mean(prompts["loose"]),
        "instruction_loose": mean(insts["loose"]),
        "n_prompts_strict": len(prompts["strict"]),
        "n_prompts_loose": len(prompts["loose"]),
        "per_instruction": {
            cid: {
                "strict": mean(d["strict"]),
                "loose": mean(d["loose"]),
                "n_strict": len(d["strict"]),
                "n_loose": len(d["loose"]),
            }
            for cid, d in sorted(per_id.items())
        },
    }
