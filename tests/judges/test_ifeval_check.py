"""check_instructions: strict vs loose, API misuse, degenerate and huge responses, metrics."""

from __future__ import annotations

import pytest

from judges import Verdict
from judges.ifeval import (
    IFEVAL_IDS,
    check_instructions,
    compose_prompt,
    ifeval_accuracy,
    loose_variants,
)

#: Valid kwargs for every id (used for empty / huge responses).
VALID_KWARGS: dict[str, dict] = {
    "keywords:existence": {"keywords": ["harbor"]},
    "keywords:frequency": {"keyword": "harbor", "frequency": 2, "relation": "at least"},
    "keywords:forbidden_words": {"forbidden_words": ["harbor"]},
    "keywords:letter_frequency": {"letter": "e", "let_frequency": 3, "let_relation": "less than"},
    "language:response_language": {"language": "en"},
    "length_constraints:number_sentences": {"num_sentences": 2, "relation": "at least"},
    "length_constraints:number_paragraphs": {"num_paragraphs": 2},
    "length_constraints:number_words": {"num_words": 5, "relation": "less than"},
    "length_constraints:nth_paragraph_first_word": {
        "num_paragraphs": 2, "nth_paragraph": 1, "first_word": "the"},
    "detectable_content:number_placeholders": {"num_placeholders": 1},
    "detectable_content:postscript": {"postscript_marker": "P.S."},
    "detectable_format:number_bullet_lists": {"num_bullets": 0},
    "detectable_format:constrained_response": {},
    "detectable_format:number_highlighted_sections": {"num_highlights": 0},
    "detectable_format:multiple_sections": {"section_spliter": "Section", "num_sections": 0},
    "detectable_format:json_format": {},
    "detectable_format:title": {},
    "combination:two_responses": {},
    "combination:repeat_prompt": {"prompt_to_repeat": "Write a poem."},
    "startend:end_checker": {"end_phrase": "Bye."},
    "change_case:capital_word_frequency": {"capital_frequency": 1, "capital_relation": "less than"},
    "change_case:english_capital": {},
    "change_case:english_lowercase": {},
    "punctuation:no_comma": {},
    "startend:quotation": {},
}


def test_valid_kwargs_cover_all_ids() -> None:
    assert set(VALID_KWARGS) == set(IFEVAL_IDS)


@pytest.mark.parametrize("response", ["", "   ", "\n\n\t "])
@pytest.mark.parametrize("loose", [False, True])
def test_empty_and_whitespace_responses_follow_nothing(response: str, loose: bool) -> None:
    ids = list(VALID_KWARGS)
    v = check_instructions(response, ids, [VALID_KWARGS[i] for i in ids], loose=loose)
    assert not v.passed and v.score == 0.0
    assert all(r["reason"] == "empty response" for r in v.details["instructions"])


def test_score_is_fraction_followed_and_details_per_instruction() -> None:
    v = check_instructions(
        "hello, world",
        ["punctuation:no_comma", "change_case:english_lowercase", "detectable_format:title"],
        [{}, {}, {}],
    )
    assert isinstance(v, Verdict)
    assert v.score == pytest.approx(1 / 3) and not v.passed
    assert [r["passed"] for r in v.details["instructions"]] == [False, True, False]
    assert v.details["mode"] == "strict" and v.details["followed"] == 1
    assert "punctuation:no_comma" in v.reason and "detectable_format:title" in v.reason


def test_loose_variants_match_ifeval() -> None:
    names = [n for n, _ in loose_variants("*a*\nb\n*c*")]
    assert len(names) == 8
    texts = dict(loose_variants("*a*\nb\n*c*"))
    assert texts["response"] == "*a*\nb\n*c*"
    assert texts["no_asterisks"] == "a\nb\nc"
    assert texts["without_first_line"] == "b\n*c*"
    assert texts["without_last_line"] == "*a*\nb"
    assert texts["without_first_and_last_line"] == "b"
    assert texts["without_first_line_no_asterisks"] == "b\nc"


@pytest.mark.parametrize(
    ("response", "cid", "kwargs", "variant"),
    [
        ('Here is the JSON you asked for:\n{"a": 1}', "detectable_format:json_format", {},
         "without_first_line"),
        ("Any other questions?\nHope this helps!", "startend:end_checker",
         {"end_phrase": "Any other questions?"}, "without_last_line"),
        ("**Hello** there.\n\nWorld.", "length_constraints:nth_paragraph_first_word",
         {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "hello"}, "no_asterisks"),
        ('Sure:\n"quoted answer"\nThanks!', "startend:quotation", {},
         "without_first_and_last_line"),
    ],
)
def test_loose_rescues_what_strict_rejects(
    response: str, cid: str, kwargs: dict, variant: str
) -> None:
    strict = check_instructions(response, [cid], [kwargs])
    loose = check_instructions(response, [cid], [kwargs], loose=True)
    assert not strict.passed and loose.passed
    assert loose.details["mode"] == "loose"
    assert loose.details["instructions"][0]["variant"] == variant


def test_loose_cannot_rescue_a_comma_in_the_middle() -> None:
    text = "First line\nsecond, line\nthird line"
    assert not check_instructions(text, ["punctuation:no_comma"], [{}], loose=True).passed


def test_loose_is_never_stricter_than_strict() -> None:
    for seed in range(60):
        item = compose_prompt(seed)
        response = f"Intro line\n{item['prompt']}\n**Outro**, done"
        args = (response, item["instruction_id_list"], item["kwargs"])
        strict, loose = check_instructions(*args), check_instructions(*args, loose=True)
        for s, lo in zip(strict.details["instructions"], loose.details["instructions"],
                         strict=True):
            assert lo["passed"] or not s["passed"]


def test_missing_kwarg_raises_naming_id_and_kwarg() -> None:
    with pytest.raises(ValueError, match=r"keywords:frequency.*'relation'"):
        check_instructions("x", ["keywords:frequency"], [{"keyword": "a", "frequency": 1}])
    with pytest.raises(ValueError, match=r"combination:repeat_prompt.*'prompt_to_repeat'"):
        check_instructions("x", ["combination:repeat_prompt"], [{}])
    with pytest.raises(ValueError, match=r"keywords:existence.*'keywords'"):
        check_instructions("x", ["keywords:existence"], [{"keywords": None}])
    with pytest.raises(ValueError, match="missing required kwarg"):
        check_instructions("x", ["keywords:existence"], None)


def test_none_valued_kwargs_of_other_instructions_are_ignored() -> None:
    # The HF dataset layout: every kwarg key present, most of them None.
    kw = {"num_highlights": None, "relation": None, "num_words": None, "keywords": None,
          "end_phrase": "Bye."}
    assert check_instructions("Well. Bye.", ["startend:end_checker"], [kw]).passed


@pytest.mark.parametrize(
    ("cid", "kwargs", "match"),
    [
        ("keywords:frequency", {"keyword": "a", "frequency": 1, "relation": "at most"},
         "one of"),
        ("keywords:frequency", {"keyword": "a", "frequency": -1, "relation": "at least"},
         ">= 0"),
        ("keywords:frequency", {"keyword": "a", "frequency": "3", "relation": "at least"},
         "integer"),
        ("keywords:frequency", {"keyword": "a", "frequency": True, "relation": "at least"},
         "integer"),
        ("keywords:letter_frequency", {"letter": "ab", "let_frequency": 1,
                                       "let_relation": "at least"}, "single ASCII letter"),
        ("keywords:letter_frequency", {"letter": "é", "let_frequency": 1,
                                       "let_relation": "at least"}, "single ASCII letter"),
        ("language:response_language", {"language": "xx"}, "language code"),
        ("length_constraints:nth_paragraph_first_word",
         {"num_paragraphs": 2, "nth_paragraph": 3, "first_word": "a"}, "exceeds"),
        ("keywords:existence", {"keywords": "harbor"}, "list of strings"),
        ("punctuation:no_comma", {"oops": 1}, "unexpected kwarg"),
        ("no:such_id", {}, "unknown instruction id"),
    ],
)
def test_invalid_kwargs_and_ids_raise_value_error(cid: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        check_instructions("x", [cid], [kwargs])


def test_api_misuse_raises_clear_errors() -> None:
    with pytest.raises(TypeError, match="response must be a str"):
        check_instructions(None, ["punctuation:no_comma"], [{}])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="list of instruction id"):
        check_instructions("x", "punctuation:no_comma", [{}])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one dict"):
        check_instructions("x", ["punctuation:no_comma", "detectable_format:title"], [{}])
    with pytest.raises(ValueError, match="empty"):
        check_instructions("x", [], [])


def test_float_integers_from_json_are_accepted() -> None:
    assert check_instructions("a b c", ["length_constraints:number_words"],
                              [{"num_words": 3.0, "relation": "at least"}]).passed


def test_huge_response_does_not_crash() -> None:
    unit = "The harbor lights glowed. Mr. Smith paid 3.5 dollars, e.g. for tea! WHY? "
    big = (unit * (1_000_000 // len(unit) + 1))[:1_000_000]
    ids = list(VALID_KWARGS)
    v = check_instructions(big, ids, [VALID_KWARGS[i] for i in ids])
    assert len(v.details["instructions"]) == 25
    by_id = {r["id"]: r["passed"] for r in v.details["instructions"]}
    assert by_id["keywords:frequency"] and by_id["length_constraints:number_sentences"]
    assert not by_id["punctuation:no_comma"]
    few = ["length_constraints:number_sentences", "change_case:capital_word_frequency"]
    v = check_instructions(big, few, [VALID_KWARGS[i] for i in few], loose=True)
    assert v.details["instructions"][0]["passed"]


def test_deep_json_nesting_fails_without_crashing() -> None:
    v = check_instructions("[" * 200_000, ["detectable_format:json_format"], [{}])
    assert not v.passed and "JSON" in v.reason


def test_ifeval_accuracy_prompt_and_instruction_level() -> None:
    rows = [
        ("there are no commas in this short english sentence",
         ["punctuation:no_comma", "change_case:english_lowercase"]),
        ("Commas, here", ["punctuation:no_comma", "change_case:english_lowercase"]),
        ("Title:\n<<t>>", ["detectable_format:title"]),
    ]
    verdicts = []
    for text, ids in rows:
        for loose in (False, True):
            verdicts.append(check_instructions(text, ids, [{}] * len(ids), loose=loose))
    acc = ifeval_accuracy(verdicts)
    assert acc["n_prompts_strict"] == 3 and acc["n_prompts_loose"] == 3
    assert acc["prompt_strict"] == pytest.approx(2 / 3)
    assert acc["instruction_strict"] == pytest.approx(3 / 5)
    assert acc["prompt_loose"] == pytest.approx(2 / 3)
    per = acc["per_instruction"]
    assert per["punctuation:no_comma"]["strict"] == 0.5
    assert per["punctuation:no_comma"]["n_strict"] == 2
    assert per["detectable_format:title"]["loose"] == 1.0
    only_strict = ifeval_accuracy(v for v in verdicts if v.details["mode"] == "strict")
    assert only_strict["prompt_loose"] is None


def test_ifeval_accuracy_rejects_foreign_verdicts() -> None:
    with pytest.raises(ValueError, match="check_instructions"):
        ifeval_accuracy([Verdict.ok()])


@pytest.mark.parametrize(
    "text",
    ["[" * 300_000, "<<" * 150_000, "x" + "\n" * 300_000 + "x", "x" + " " * 300_000 + "p",
     "*" * 300_000, "-\n" * 150_000],
)
def test_backtracking_prone_inputs_are_checked_in_linear_time(text: str) -> None:
    ids = ["detectable_content:number_placeholders", "detectable_format:title",
           "detectable_format:number_bullet_lists", "detectable_content:postscript",
           "detectable_format:number_highlighted_sections"]
    kws = [VALID_KWARGS[i] for i in ids]
    v = check_instructions(text, ids, kws)
    assert len(v.details["instructions"]) == len(ids)
