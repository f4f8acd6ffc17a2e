"""``rlenvs/ReasoningGym-v0``: every dataset reasoning-gym registers, one id, ``dataset=`` picks it.

reasoning-gym (``pip install reasoning-gym``) generates its tasks offline; each dataset scores an
answer with its own ``score_answer(answer, entry)``. This env keeps that scorer as the judge
(agreement with reasoning-gym is 100% by construction) and puts rlenvs's integrity rules in
front of it: the reply's final answer is read the way every boxed rlenvs env reads it
(:func:`rlenvs.tools.answers.committed`: the last ``\\boxed{}`` outside thinking blocks; several
different boxes, a hedge or a second value joined after the box, or a later "the answer is"
that differs commit to no answer), and only a box that stands alone reaches ``score_answer``.

* ``dataset``: a name from :func:`reasoning_gym_datasets` (``rlenvs list`` shows them);
* ``config``: the dataset's own config fields (difficulty ranges, sizes ...), passed through to
  ``reasoning_gym.create_dataset`` unchanged and checked there when the env is made;
* ``score_timeout_s``: a wall-clock bound on one ``score_answer`` call (some parse with sympy);
  a scorer that runs past it gives an unscored verdict (cause ``deadline``), never a zero.

The task's ``answer`` and ``metadata`` are private (the gold and what the scorer checks
against); the policy sees the question only. ``passed`` means the dataset's score is 1; the
``dense`` reward schedule pays the dataset's partial scores.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from judges import Verdict
from judges.math.final import boxed_all
from judges.math.hedge import hedge_in
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import TaskSource
from rlenvs.tools.answers import boxed_contents, committed, reply_view

__all__ = ["ReasoningGymEnv", "reasoning_gym_datasets", "make_reasoning_gym_judge"]

INSTRUCTION = "Put your final answer in \\boxed{}."
# the rest of the box's sentence: a word or value there is joined to the answer ("\\boxed{off},
# off+1"), except a plain "is the answer"
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)|\n")
_SAYS_ANSWER = re.compile(r"(?i)^[\s$*)\]\\]*(?:is|was|are)\s+(?:the|my)\s+(?:final\s+)?answers?\b")
# what makes one box say something other than one value, unless the gold itself has it: several
# values, a negation ("not 0 0 1"), a relation ("x \\geq 20"), several lines; a task without a
# gold (its scorer checks a plan or a structure) is left to its scorer
_NOT_ONE_VALUE = (
    ("several answers", re.compile(r"(?i)(?<![^\W\d_])(?:or|and|nor|vs\.?|versus|else|otherwise|"
                                   r"alternatively)(?![^\W\d_])|[;|]|\s/\s")),
    ("a negation", re.compile(r"(?i)(?<![^\W\d_])(?:not|never|isn't|no)(?![^\W\d_])")),
    ("a relation", re.compile(r"\\(?:geq|leq|ge|le|neq|ne|approx|sim|gtrsim|lesssim)"
                              r"(?![A-Za-z])|[≥≤≠≈<>]")),
    ("several lines", re.compile(r"\n")),  # "0\n<the answer>": scorers read one of the lines
)
# a later sentence that offers another answer ("\\boxed{off}. But maybe it is on."): a cue of
# an alternative whose clause, the words below taken out, says anything but the answer;
# self-doubt without an alternative ("Maybe I'm wrong, but ...") offers no second answer
_ALTERNATIVE = re.compile(r"(?i)(?:^|[.!?]\s+|\n)\s*or(?![^\W_])|(?<![^\W_])(?:maybe|perhaps|"
                          r"possibly|alternatively|otherwise|either|(?:could|might|may)\s+"
                          r"(?:also\s+|instead\s+)?be)(?![^\W_])")
_NO_ANSWER_WORDS = frozenset(
    "i i'm im am m it it's its s is was be been the a an answer answers my this that so but "
    "and though however wrong right correct sure not unsure mistaken here above final "
    "result way".split())
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
# the cue's clause ("Maybe I'm wrong, but I checked it twice": the doubt ends at the comma)
_CLAUSE_END = re.compile(r"(?i)[.!?](?:\s|$)|\n|[,;:](?:\s|$)|(?<![^\W_])but(?![^\W_])")
# a number, thousands separators and decimals included ("1,000.5" is one)
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


#: the datasets reasoning-gym SNAPSHOT_VERSION registers (``rlenvs list`` shows them without
#: importing reasoning-gym, which takes seconds; another version is asked directly)
SNAPSHOT_VERSION = "0.1.25"
SNAPSHOT = (
    "ab", "acre", "advanced_geometry", "aiw", "arc_1d", "arc_agi", "base_conversion",
    "basic_arithmetic", "bf", "binary_alternation", "binary_matrix", "bitwise_arithmetic",
    "boxnet", "caesar_cipher", "calendar_arithmetic", "chain_sum", "circuit_logic", "codeio",
    "coin_flip", "color_cube_rotation", "complex_arithmetic", "composite", "count_bits",
    "count_primes", "countdown", "course_schedule", "cryptarithm", "decimal_arithmetic",
    "decimal_chain_sum", "dice", "emoji_mystery", "family_relationships", "figlet_font",
    "fraction_simplification", "futoshiki", "game_of_life", "game_of_life_halting", "gcd",
    "graph_color", "group_anagrams", "gsm_symbolic", "intermediate_integration",
    "isomorphic_strings", "jugs", "kakurasu", "knight_swap", "knights_knaves",
    "largest_island", "lcm", "leg_counting", "letter_counting", "letter_jumble",
    "list_functions", "mahjong_puzzle", "manipulate_matrix", "maze", "mini_sudoku",
    "modulo_grid", "n_queens", "needle_haystack", "number_filtering", "number_format",
    "number_sequence", "number_sorting", "palindrome_generation", "palindrome_partitioning",
    "path_star", "polynomial_equations", "polynomial_multiplication", "pool_matrix",
    "power_function", "prime_factorization", "products", "propositional_logic", "puzzle24",
    "quantum_lock", "ransom_note", "rearc", "rectangle_count", "rotate_matrix",
    "rotten_oranges", "rubiks_cube", "rush_hour", "self_reference", "sentence_reordering",
    "shortest_path", "simple_equations", "simple_geometry", "simple_integration", "sokoban",
    "spell_backward", "spiral_matrix", "string_insertion", "string_manipulation",
    "string_splitting", "string_synthesis", "sudoku", "survo", "syllogism", "time_intervals",
    "tower_of_hanoi", "tsumego", "word_ladder", "word_sequence_reversal", "word_sorting",
    "zebra_puzzles"
)


def reasoning_gym_datasets() -> list[str]:
    """The names of every dataset the installed reasoning-gym registers, sorted."""
    from reasoning_gym.factory import DATASETS

    return sorted(DATASETS)


def _listed_datasets() -> list[str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        installed = version("reasoning-gym")
    except PackageNotFoundError:
        return []
    return list(SNAPSHOT) if installed == SNAPSHOT_VERSION else reasoning_gym_datasets()


def _same_bool(answer: str, entry: Mapping[str, Any]) -> float:
    """game_of_life_halting's own check compares ``bool(answer) == bool(gold)``, which every
    non-empty reply passes ("False" is truthy); rlenvs reads the word instead."""
    return 1.0 if answer.strip().lower() == str(entry["answer"]).strip().lower() else 0.0


#: datasets whose own ``score_answer`` pays wrong answers, and the check rlenvs uses instead
SCORER_FIXES: dict[str, Callable[[str, Mapping[str, Any]], float]] = {
    "game_of_life_halting": _same_bool,
}


def _create(name: str, seed: int, config: Mapping[str, Any]) -> Any:
    import reasoning_gym

    config = dict(config)
    if name == "composite" and isinstance(config.get("datasets"), list):
        from reasoning_gym.composite import DatasetSpec  # plain dicts (JSON, TOML) work too

        config["datasets"] = [DatasetSpec(**d) if isinstance(d, Mapping) else d
                              for d in config["datasets"]]
    return reasoning_gym.create_dataset(name, size=1, seed=seed, **config)


def _space_key(text: str) -> str:
    """Boxes are one answer when they agree up to whitespace."""
    return " ".join(text.split())


class ReasoningGymSource(TaskSource):
    """One task per draw: the first item of ``dataset`` generated with a seed from the episode
    RNG (reasoning-gym items depend only on the dataset's seed and config)."""

    def __init__(self, dataset: str, config: Mapping[str, Any]) -> None:
        names = reasoning_gym_datasets()
        if dataset not in names:
            import difflib

            close = difflib.get_close_matches(dataset, names, n=3)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"reasoning-gym has no dataset {dataset!r}.{hint} "
                             f"The {len(names)} datasets: {', '.join(names)}")
        self.dataset, self.config = dataset, dict(config)
        try:  # a bad config fails here, when the env is made, not at the first reset
            self.scorer = _create(dataset, 0, self.config)
        except (TypeError, ValueError, AssertionError, AttributeError) as e:
            hint = (' (composite mixes datasets: config={"datasets": [{"name": "chain_sum", '
                    '"weight": 1, "config": {}}, ...]})' if dataset == "composite" else "")
            raise ValueError(f"reasoning-gym dataset {dataset!r} rejects config "
                             f"{self.config!r}: {type(e).__name__}: {e}{hint}") from None

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        seed = int(rng.integers(2**31 - 1))
        entry = _create(self.dataset, seed, self.config)[0]
        return {
            "id": f"{self.dataset}-{seed}",
            "dataset": self.dataset,
            "question": entry["question"],
            "answer": entry.get("answer"),
            "metadata": entry.get("metadata", {}),
        }


def _score_with_deadline(score: Callable[[Any, dict[str, Any]], Any], answer: str,
                         entry: dict[str, Any], timeout_s: float | None) -> tuple[str, Any]:
    """``("score", value)``, ``("error", exception)`` or ``("deadline", None)``: the scorer runs
    on a daemon thread that is abandoned when ``timeout_s`` passes (a thread cannot be killed;
    the wait is what is bounded)."""
    out: dict[str, Any] = {}

    def work() -> None:
        try:
            out["score"] = score(answer, entry)
        except Exception as e:  # noqa: BLE001 - the scorer rejecting an answer by raising
            out["error"] = e

    if timeout_s is None:
        work()
    else:
        worker = threading.Thread(target=work, name="reasoning-gym score_answer", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            return "deadline", None
    return ("error", out["error"]) if "error" in out else ("score", out["score"])


def make_reasoning_gym_judge(scorer: Any, score_timeout_s: float | None = 10.0,
                             dataset: str | None = None
                             ) -> Callable[[str, Mapping[str, Any]], Verdict]:
    """A judge ``(reply, task) -> Verdict``: rlenvs's final-answer rules, then the dataset's own
    ``scorer.score_answer`` on the one boxed answer. Reward components: ``answer`` (the
    dataset's score) and ``format`` (1 when the reply committed to one boxed answer)."""

    def fail(reason: str, extracted: str | None = None, fmt: float = 0.0) -> Verdict:
        return Verdict(score=0.0, passed=False, reason=reason,
                       details={"extracted": extracted,
                                "components": {"answer": 0.0, "format": fmt}})

    score_answer = SCORER_FIXES.get(dataset or "", scorer.score_answer)

    def judge(reply: str, task: Mapping[str, Any]) -> Verdict:
        got = committed(reply, _space_key)
        if got.answer is None:
            return fail(str(got.problem))
        if got.later:
            return fail(f"the boxed answer {got.answer[:40]!r} is followed by another committed "
                        f"answer {got.later[0][:40]!r}: a reply that commits to two answers "
                        "commits to none", got.answer[:200])
        body = reply_view(reply) or ""
        boxes = [b for b in boxed_contents(body) if b.strip()]
        box = boxes[-1].strip() if boxes else ""
        if _space_key(got.answer) != _space_key(box):
            return fail(f"the box is joined to more after it ({got.answer[:60]!r}): a hedged "
                        "or joined answer is not one answer", got.answer[:200])
        last = boxed_all(body)
        if last:
            rest = body[last[-1][2]:]
            cut = _SENTENCE_END.search(rest)
            rest = rest[: cut.start()] if cut else rest
            if re.search(r"[^\W_]", rest) and not _SAYS_ANSWER.match(rest):
                return fail(f"the box's sentence goes on ({rest.strip()[:40]!r}): a value joined "
                            "after the answer makes it no single answer", box[:200])
        offered = _offered_after(body[last[-1][2]:], box) if last else None
        if offered is not None:
            return fail(f"a later sentence offers another answer ({offered[:60]!r}): a reply "
                        "that hedges between answers commits to none", box[:200])
        gold = task.get("answer")
        for what, pattern in _NOT_ONE_VALUE if gold is not None else ():
            found = pattern.search(box)
            if found is not None and not pattern.search(str(gold)):
                return fail(f"the box holds {what} ({found.group(0)!r}), which the task's answer "
                            "does not: not one value", box[:200])
        numbers = len(_NUMBER.findall(str(gold))) if gold is not None else 0
        if numbers and len(_NUMBER.findall(box)) > numbers:  # a numeric gold: no extra values
            return fail(f"the box holds more numbers than the task's answer ({box[:60]!r}): "
                        "several values are not one answer", box[:200])
        hedge = hedge_in(box)
        if hedge is not None and (not isinstance(gold, str) or hedge_in(gold) is None):
            return fail(f"a hedged answer ({hedge}) is not a value", box[:200])
        entry = {"question": task.get("question"), "answer": gold,
                 "metadata": task.get("metadata", {})}
        kind, value = _score_with_deadline(score_answer, box, entry, score_timeout_s)
        if kind == "deadline":
            return Verdict.unscored(f"{type(scorer).__name__}.score_answer ran past "
                                    f"{score_timeout_s} s", cause="deadline", extracted=box[:200])
        if kind == "error":  # the dataset's scorer could not read this answer: a wrong answer
            return fail(f"the dataset's score_answer rejected the answer ({type(value).__name__}: "
                        f"{str(value)[:80]})", box[:200], fmt=1.0)
        score = min(1.0, max(0.0, float(value or 0.0)))
        # exactly 1: above 1 is float noise in a partial-credit sum (spell_backward adds 1/n per
        # matching letter, and a right prefix with junk after it summed to 1.0000000000000002)
        passed = float(value or 0.0) == 1.0
        score = score if passed else min(score, 0.999)
        reason = "correct" if passed else (
            f"expected {str(gold)[:60]!r}, got {box[:60]!r} (score {score:.3g})"
            if gold is not None else f"the dataset's check failed (score {score:.3g})")
        return Verdict(score=score, passed=passed, reason=reason,
                       details={"extracted": box[:200], "dataset_score": float(value or 0.0),
                                "components": {"answer": score, "format": 1.0}})

    return judge


def _offered_after(rest: str, box: str) -> str | None:
    """The sentence after the answer that offers an alternative to it, or None: a value
    stated later that differs (the Math rule, :func:`judges.math.final.final_answer`'s
    ``trailing``), or an alternative cue whose clause says something other than the box
    (once the words in ``_NO_ANSWER_WORDS`` are taken out)."""
    from judges.math.final import final_answer

    read = final_answer(f"\\boxed{{{box}}}{rest}", ("boxed",))
    if read is not None and read.trailing:
        return read.trailing
    for cue in _ALTERNATIVE.finditer(rest):
        end = _CLAUSE_END.search(rest, cue.end())
        clause = rest[cue.end(): end.start() if end else len(rest)]
        said = _WORD.sub(lambda m: "" if m.group().lower() in _NO_ANSWER_WORDS else m.group(),
                         clause).strip(" .,;:!?'\"$")
        if re.search(r"[^\W_]", said) and _space_key(said) != _space_key(box):
            return rest[cue.start(): end.start() if end else len(rest)].strip(" .!?\n")
    return None


class ReasoningGymEnv(TaskEnv):
    """Any reasoning-gym dataset (``dataset=``, ``config=`` its own options), scored by the
    dataset's own ``score_answer`` behind rlenvs's final-answer rules; ``rlenvs list`` names the
    datasets.

    Args:
        dataset: a reasoning-gym dataset name (:func:`reasoning_gym_datasets`).
        config: the dataset's config fields (``{"min_terms": 2, ...}``), passed through.
        score_timeout_s: wall-clock bound on one ``score_answer`` call (None: unbounded).
    """

    public_fields = ("id", "dataset", "question")  # answer and metadata are private

    def __init__(self, dataset: str = "chain_sum", config: Mapping[str, Any] | None = None,
                 score_timeout_s: float | None = 10.0, **kwargs: Any) -> None:
        source = ReasoningGymSource(dataset, config or {})
        super().__init__(
            source=source,
            prompt=lambda t: f"{t['question']}\n\n{INSTRUCTION}",
            judge=make_reasoning_gym_judge(source.scorer, score_timeout_s, dataset),
            required_keys=("question",),
            **kwargs,
        )

    @staticmethod
    def list_variants() -> str:
        """What ``rlenvs list`` prints under the id: the datasets ``dataset=`` takes."""
        names = _listed_datasets()
        if not names:
            return "dataset= (reasoning-gym is not installed: pip install reasoning-gym)"
        return f"dataset= one of {len(names)}: {', '.join(names)}"
