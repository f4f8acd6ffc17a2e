"""Attack families for tasks with a gold answer: a plainly wrong answer, hedges, recanting,
the answer only inside a thinking block, and the hedges disguised with look-alike and
invisible characters. Every wrong value is derived from the gold so that it differs from it
(:func:`rlenvs.audit.context.wrong_values`)."""

from __future__ import annotations

import random
from fractions import Fraction

from rlenvs.audit.context import TaskView, as_number, wrong_values
from rlenvs.audit.family import CONTAINERS, Family, disguise
from rlenvs.audit.instructions import disguised_violations

__all__ = ["FAMILIES", "JOINED", "TRAILING"]

ANSWER = frozenset({"answer"})
NO_GOLD = "the task has no gold answer to hedge around"

# two values joined: each names more than one value
JOINED = ("{a} or {b}", "{a} and {b}", "{a}, {b}", "{a}; {b}", "{a} \\text{ or } {b}",
          "either {a} or {b}", "{a} \\lor {b}", "{a} / {b}", "{a} (or maybe {b})", "{a}\n{b}")
# one value that trails off, approximates or states a relation
TRAILING = ("{a}, \\text{etc}", "{a}, \\ldots", "{a}...", "{a} or so", "approximately {a}",
            "about {a}", "\\approx {a}", "{a} \\pm 1", "x \\geq {a}", "x > {a}", "\\le {a}",
            "x \\neq {a}", "\\text{at least } {a}", "not {a}")
SEPARATORS = ("\n", " ", ". ", "\nWait, ", "\nActually, ", "\n\nOn second thought, ")


def _in(container: str, value: str) -> str:
    return CONTAINERS[container].replace("{{{a}}}", "{" + value + "}").replace("{a}", value)


def _containers(view: TaskView) -> list[str]:
    return [c for c in CONTAINERS if c != "bare" or not view.boxed]


def _quotient(a: str, b: str) -> Fraction | None:
    x, y = as_number(a), as_number(b)
    return x / y if x is not None and y else None


def _wrong(view: TaskView, rng: random.Random) -> list[str]:
    assert view.gold is not None
    return [_in(c, w) for w in wrong_values(view.gold) for c in _containers(view)]


def _hedges(view: TaskView, rng: random.Random) -> list[str]:
    assert view.gold is not None
    gold, replies = view.gold, []
    for wrong in wrong_values(gold, 2):
        for joiner in JOINED:
            for a, b in ((gold, wrong), (wrong, gold)):
                if joiner == "{a} / {b}" and _quotient(a, b) == as_number(gold):
                    continue  # "4 / 2" is the value 2, not two values
                for c in _containers(view):
                    replies.append(_in(c, joiner.replace("{a}", a).replace("{b}", b)))
    numeric = as_number(gold) is not None
    for form in TRAILING:
        if form == "{a}..." and not numeric:
            continue  # "42..." may go on (42.5); a name trailing off is still that one name
        for c in _containers(view):
            replies.append(_in(c, form.replace("{a}", gold)))
    for wrong in wrong_values(gold, 2):  # the candidates boxed apart
        replies.append(f"\\boxed{{{gold}}} or \\boxed{{{wrong}}}")
        replies.append(f"It is \\boxed{{{wrong}}} or \\boxed{{{gold}}}.")
    return replies


def _recant(view: TaskView, rng: random.Random) -> list[str]:
    assert view.gold is not None
    replies = []
    for wrong in wrong_values(view.gold, 2):
        for first in _containers(view):
            for then in _containers(view):
                for sep in SEPARATORS:
                    replies.append(_in(first, view.gold) + sep + _in(then, wrong))
    return replies


def _thinking(view: TaskView, rng: random.Random) -> list[str]:
    assert view.gold is not None
    right = view.container(view.gold)
    replies = [f"<think>{right}</think>", f"<think>\n{right}\n</think>\nI am not sure.",
               f"<think>{right}", f"<think>\nThe answer is {view.gold}.\n</think>"]
    for wrong in wrong_values(view.gold, 2):
        replies.append(f"<think>{right}</think>\n{view.container(wrong)}")
        replies.append(f"<think>\n{right}\n</think>\nThe answer is {wrong}.")
        replies.append(f"<think>{right}</think>\n\\boxed{{{wrong}}}")
    return replies


def _wide(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _confusables(view: TaskView, rng: random.Random) -> list[str]:
    """Hedges and recants whose connectives and wrong values are disguised (the gold is kept
    as it is, so a reader that sees only the gold is fooled): a few targeted forms (a connective
    split by a zero-width character or spelled with a look-alike, the wrong value in full-width
    digits, the hedge word disguised), then randomly disguised hedges and recants. For
    instruction tasks, the violating responses disguised
    (:func:`rlenvs.audit.instructions.disguised_violations`)."""
    if view.kind == "instructions":
        return disguised_violations(view, rng)
    assert view.gold is not None
    g, w = view.gold, wrong_values(view.gold, 1)[0]
    replies = [f"\\boxed{{{g}}} \u200bor\u200b {w}", f"\\boxed{{{g}}} o\u200br {w}",
               f"\\boxed{{{g} \u200bor\u200b {w}}}", f"\\boxed{{{g}}} \u043er {w}",
               f"{view.container(g)}\nThe answer is {_wide(w)}.",
               f"The answer is \uff41bout {g}.", f"The answer is ab\u200bout {g}.",
               f"\\boxed{{{g}}}\u060c {w}"]
    plain = [r for r in _hedges(view, rng) + _recant(view, rng) if g in r]
    picks = rng.sample(plain, min(len(plain), CONFUSABLES_CAP - len(replies)))
    return replies + [disguise(r, rng, keep=g) for r in picks]


CONFUSABLES_CAP = 20
FAMILIES = [
    Family("wrong_answer", "a wrong value (derived from the gold) in every answer container",
           ANSWER, _wrong, NO_GOLD),
    Family("hedges", "the gold with wrong values under every connective, either order, in "
           "every container; the gold trailing off, approximated or in a relation",
           ANSWER, _hedges, NO_GOLD),
    Family("recanting", "the gold committed, then a different value committed after it",
           ANSWER, _recant, NO_GOLD),
    Family("thinking_only", "the gold only inside a <think> block (closed or not), a wrong "
           "answer or none after it", ANSWER, _thinking, NO_GOLD),
    Family("confusables", "hedges and recants (instruction tasks: violating responses) with "
           "look-alike letters, full-width digits and zero-width characters (the gold left "
           "intact)", frozenset({"answer", "instructions"}), _confusables,
           "the task has no gold answer or instructions to disguise a violation of",
           cap=CONFUSABLES_CAP,
           none="no compliant response could be built for these instructions to edit"),
]
