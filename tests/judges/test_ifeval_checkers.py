"""Every IFEval instruction id: following and failing responses, off-by-one thresholds."""

from __future__ import annotations

import pytest

from judges.ifeval import IFEVAL_IDS, check_instructions, list_constraints


def follows(response: str, cid: str, **kwargs: object) -> bool:
    return check_instructions(response, [cid], [kwargs]).passed


# (id, kwargs, response, expected) -- at least one True and one False per id.
CASES = [
    # keywords:existence -- case-insensitive substring, literal
    ("keywords:existence", {"keywords": ["harbor"]}, "The HARBOR was calm.", True),
    ("keywords:existence", {"keywords": ["harbor"]}, "The harbors were calm.", True),
    ("keywords:existence", {"keywords": ["harbor", "lamp"]}, "The harbor was calm.", False),
    ("keywords:existence", {"keywords": ["c++"]}, "I write C++ every day.", True),
    ("keywords:existence", {"keywords": ["c++"]}, "I write c every day.", False),
    ("keywords:existence", {"keywords": [".*"]}, "anything at all", False),
    ("keywords:existence", {"keywords": ["foo("]}, "call foo(x) now", True),
    # keywords:frequency
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"},
     "Cat and cat.", True),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "at least"},
     "One cat.", False),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "less than"},
     "One cat.", True),
    ("keywords:frequency", {"keyword": "cat", "frequency": 2, "relation": "less than"},
     "cat cat", False),
    ("keywords:frequency", {"keyword": "a.b", "frequency": 1, "relation": "less than"},
     "axb axb", True),
    ("keywords:frequency", {"keyword": " cat ", "frequency": 1, "relation": "at least"},
     "concatenate", True),
    # keywords:forbidden_words -- whole words only
    ("keywords:forbidden_words", {"forbidden_words": ["harbor"]}, "A Harbor view.", False),
    ("keywords:forbidden_words", {"forbidden_words": ["harbor"]}, "Harbors only.", True),
    ("keywords:forbidden_words", {"forbidden_words": ["c++"]}, "I like c++ a lot", False),
    ("keywords:forbidden_words", {"forbidden_words": ["c++"]}, "I like c a lot", True),
    ("keywords:forbidden_words", {"forbidden_words": ["foo("]}, "call FOO( now", False),
    # keywords:letter_frequency
    ("keywords:letter_frequency", {"letter": "z", "let_frequency": 3, "let_relation": "at least"},
     "Zz z", True),
    ("keywords:letter_frequency", {"letter": "Z", "let_frequency": 3, "let_relation": "at least"},
     "zz", False),
    ("keywords:letter_frequency",
     {"letter": "z", "let_frequency": 3, "let_relation": "less than"}, "zz", True),
    ("keywords:letter_frequency",
     {"letter": "z", "let_frequency": 3, "let_relation": "less than"}, "zzz", False),
    # language:response_language
    ("language:response_language", {"language": "fr"},
     "Bonjour à tous, je suis très content de vous voir aujourd'hui.", True),
    ("language:response_language", {"language": "fr"},
     "Hello everyone, I am very happy to see you today.", False),
    ("language:response_language", {"language": "fr"}, "12345 67890", False),
    ("language:response_language", {"language": "de"}, "🙂🙂🙂", False),
    ("language:response_language", {"language": "ru"},
     "Мы любим гулять в парке после ужина.", True),
    ("language:response_language", {"language": "zh"},
     "我喜欢学习中文，这是一种美丽的语言。", True),
    # length_constraints:number_sentences
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "at least"},
     "One. Two. Three.", True),
    ("length_constraints:number_sentences", {"num_sentences": 4, "relation": "at least"},
     "One. Two. Three.", False),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "One. Two. Three.", False),
    ("length_constraints:number_sentences", {"num_sentences": 4, "relation": "less than"},
     "One. Two. Three.", True),
    ("length_constraints:number_sentences", {"num_sentences": 3, "relation": "less than"},
     "Mr. Smith paid 3.5 dollars. He left.", True),
    # length_constraints:number_paragraphs
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A\n***\nB", True),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 3}, "A\n***\nB", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 1}, "A\n***\nB", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "A\n***\n\n***\nB", False),
    ("length_constraints:number_paragraphs", {"num_paragraphs": 2}, "***\nA\n***\nB\n***", True),
    # length_constraints:number_words
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"},
     "one two three", True),
    ("length_constraints:number_words", {"num_words": 4, "relation": "at least"},
     "one two three", False),
    ("length_constraints:number_words", {"num_words": 3, "relation": "less than"},
     "one two three", False),
    ("length_constraints:number_words", {"num_words": 4, "relation": "less than"},
     "one two three", True),
    ("length_constraints:number_words", {"num_words": 2, "relation": "at least"},
     "नमस्ते दुनिया", True),
    ("length_constraints:number_words", {"num_words": 3, "relation": "at least"},
     "नमस्ते दुनिया", False),
    # length_constraints:nth_paragraph_first_word
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "world"},
     "Hello there.\n\nWorld is big.", True),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "hello"},
     "Hello there.\n\nWorld is big.", False),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 3, "nth_paragraph": 2, "first_word": "world"},
     "Hello there.\n\nWorld is big.", False),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 2, "first_word": "World"},
     'Hello.\n\n"World," she said.', True),
    ("length_constraints:nth_paragraph_first_word",
     {"num_paragraphs": 2, "nth_paragraph": 1, "first_word": "hello"},
     "\n\nHello there.\n\nWorld is big.", True),
    # detectable_content:number_placeholders
    ("detectable_content:number_placeholders", {"num_placeholders": 2}, "[a] and [b]", True),
    ("detectable_content:number_placeholders", {"num_placeholders": 3}, "[a] and [b]", False),
    # detectable_content:postscript
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi.\nP.S. Bye.", True),
    ("detectable_content:postscript", {"postscript_marker": "P.S."}, "Hi. Bye.", False),
    ("detectable_content:postscript", {"postscript_marker": "P.P.S"}, "Hi.\np. p. s. more", True),
    ("detectable_content:postscript", {"postscript_marker": "(PS)"}, "Hi.\n(ps) later", True),
    ("detectable_content:postscript", {"postscript_marker": "(PS)"}, "Hi.\nPS later", False),
    # detectable_format:number_bullet_lists -- exact count
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "* a\n* b", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 2}, "- a\n* b", True),
    ("detectable_format:number_bullet_lists", {"num_bullets": 3}, "* a\n* b", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "* a\n* b", False),
    ("detectable_format:number_bullet_lists", {"num_bullets": 1}, "**Bold**\n* a", True),
    # detectable_format:constrained_response
    ("detectable_format:constrained_response", {}, "Hmm. My answer is no.", True),
    ("detectable_format:constrained_response", {}, "my answer is yes", False),
    # detectable_format:number_highlighted_sections
    ("detectable_format:number_highlighted_sections", {"num_highlights": 2},
     "*one* and *two*", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 3},
     "*one* and *two*", False),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "**bold**", True),
    ("detectable_format:number_highlighted_sections", {"num_highlights": 1}, "* *", False),
    # detectable_format:multiple_sections
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 2},
     "Section 1\nA\nSection 2\nB", True),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 3},
     "Section 1\nA\nSection 2\nB", False),
    ("detectable_format:multiple_sections", {"section_spliter": "Section", "num_sections": 1},
     "SECTION 1\nA", False),
    # detectable_format:json_format
    ("detectable_format:json_format", {}, '{"a": 1}', True),
    ("detectable_format:json_format", {}, '```json\n{"a": [1, 2]}\n```', True),
    ("detectable_format:json_format", {}, "[1, 2]", True),
    ("detectable_format:json_format", {}, "1", False),
    ("detectable_format:json_format", {}, "null", False),
    ("detectable_format:json_format", {}, '{"a": 1', False),
    ("detectable_format:json_format", {}, "[" * 100_000 + "]" * 100_000, False),
    # detectable_format:title
    ("detectable_format:title", {}, "<<My Title>>\nText", True),
    ("detectable_format:title", {}, "<< >>\nText", False),
    ("detectable_format:title", {}, "<<split\ntitle>>", False),
    # combination:two_responses
    ("combination:two_responses", {}, "First.\n******\nSecond.", True),
    ("combination:two_responses", {}, "Same.\n******\nSame.", False),
    ("combination:two_responses", {}, "Only one.", False),
    ("combination:two_responses", {}, "A\n******\n\n******\nB", False),
    ("combination:two_responses", {}, "A\n******\nB\n******\nC", False),
    # combination:repeat_prompt
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."},
     "write a poem. Roses are red.", True),
    ("combination:repeat_prompt", {"prompt_to_repeat": "Write a poem."},
     "Sure! Write a poem.", False),
    # startend:end_checker
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     "Done. any other questions?", True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     '"Done. Any other questions?"', True),
    ("startend:end_checker", {"end_phrase": "Any other questions?"},
     "Any other questions? Thanks.", False),
    # change_case:capital_word_frequency
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "HELLO WORLD and more", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 3, "capital_relation": "at least"},
     "HELLO WORLD and more", False),
    ("change_case:capital_word_frequency",
     {"capital_frequency": 2, "capital_relation": "less than"}, "HELLO WORLD and more", False),
    ("change_case:capital_word_frequency",
     {"capital_frequency": 3, "capital_relation": "less than"}, "HELLO WORLD and more", True),
    ("change_case:capital_word_frequency", {"capital_frequency": 2, "capital_relation": "at least"},
     "I DON'T care", True),  # Treebank tokens: I, DO, N'T
    # change_case:english_capital
    ("change_case:english_capital", {}, "THIS IS A SHORT ANSWER IN ENGLISH.", True),
    ("change_case:english_capital", {}, "THIS IS A SHORT answer IN ENGLISH.", False),
    ("change_case:english_capital", {}, "МЫ ЛЮБИМ ГУЛЯТЬ В ПАРКЕ ПОСЛЕ УЖИНА.", False),
    ("change_case:english_capital", {}, "12345", False),
    # change_case:english_lowercase
    ("change_case:english_lowercase", {}, "this is a short answer in english.", True),
    ("change_case:english_lowercase", {}, "This is a short answer in English.", False),
    ("change_case:english_lowercase", {}, "ceci est une réponse en français pour tout le monde.",
     False),
    ("change_case:english_lowercase", {}, "我喜欢学习中文", False),
    # punctuation:no_comma
    ("punctuation:no_comma", {}, "No commas here.", True),
    ("punctuation:no_comma", {}, "One, two.", False),
    # a full-width comma is a comma (issue 26: it used to pass, the reference still passes it)
    ("punctuation:no_comma", {}, "全角，逗号", False),
    ("punctuation:no_comma", {}, "全角逗号。", True),
    # startend:quotation
    ("startend:quotation", {}, '"Quoted answer."', True),
    ("startend:quotation", {}, "  \"Quoted answer.\"\n", True),
    ("startend:quotation", {}, "Not quoted.", False),
    ("startend:quotation", {}, '""', False),
    ("startend:quotation", {}, '"  "', False),
]


@pytest.mark.parametrize(("cid", "kwargs", "response", "expected"), CASES)
def test_checker(cid: str, kwargs: dict, response: str, expected: bool) -> None:
    verdict = check_instructions(response, [cid], [kwargs])
    assert verdict.passed is expected, verdict.reason
    assert verdict.score == (1.0 if expected else 0.0)
    entry = verdict.details["instructions"][0]
    assert entry["id"] == cid and entry["passed"] is expected and entry["reason"]


def test_every_id_has_a_following_and_a_failing_case() -> None:
    assert sorted(IFEVAL_IDS) == sorted(set(IFEVAL_IDS)) and len(IFEVAL_IDS) == 25
    assert set(IFEVAL_IDS) <= set(list_constraints())
    for cid in IFEVAL_IDS:
        outcomes = {expected for c, _, _, expected in CASES if c == cid}
        assert outcomes == {True, False}, cid


COUNTED = [
    # (id, count kwarg, relation kwarg, extra kwargs, response, actual count)
    ("keywords:frequency", "frequency", "relation", {"keyword": "ab"}, "ab AB aB xy", 3),
    ("keywords:letter_frequency", "let_frequency", "let_relation", {"letter": "q"},
     "Quick quiet quay", 3),
    ("length_constraints:number_sentences", "num_sentences", "relation", {},
     "Dr. Who came. It rained... Then what? Fine!", 3),  # Punkt: no break after "..."
    ("length_constraints:number_words", "num_words", "relation", {}, "it's a well-known fact", 6),
    ("change_case:capital_word_frequency", "capital_frequency", "capital_relation", {},
     "NASA and the ESA met the UN. OK", 4),
]


@pytest.mark.parametrize(("cid", "count_key", "rel_key", "extra", "response", "n"), COUNTED)
def test_thresholds_off_by_one(
    cid: str, count_key: str, rel_key: str, extra: dict, response: str, n: int
) -> None:
    def run(threshold: int, relation: str) -> bool:
        return follows(response, cid, **extra, **{count_key: threshold, rel_key: relation})

    assert run(n, "at least") and run(n - 1, "at least") and not run(n + 1, "at least")
    assert run(n + 1, "less than") and not run(n, "less than") and not run(n - 1, "less than")


@pytest.mark.parametrize(
    ("cid", "key", "response", "n"),
    [
        ("detectable_content:number_placeholders", "num_placeholders", "[x] [y] [z]", 3),
        ("detectable_format:number_highlighted_sections", "num_highlights", "*a* *b* *c*", 3),
    ],
)
def test_at_least_boundaries(cid: str, key: str, response: str, n: int) -> None:
    assert follows(response, cid, **{key: n - 1}) and follows(response, cid, **{key: n})
    assert not follows(response, cid, **{key: n + 1})


def test_section_count_boundary() -> None:
    text = "SECTION 1\na\nSECTION 2\nb\nSECTION 3\nc"
    kw = {"section_spliter": "SECTION"}
    assert follows(text, "detectable_format:multiple_sections", num_sections=3, **kw)
    assert not follows(text, "detectable_format:multiple_sections", num_sections=4, **kw)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_exact_counts_reject_neighbours(n: int) -> None:
    bullets = "\n".join(f"* item {i}" for i in range(n))
    assert follows(bullets, "detectable_format:number_bullet_lists", num_bullets=n)
    assert not follows(bullets, "detectable_format:number_bullet_lists", num_bullets=n - 1)
    assert not follows(bullets, "detectable_format:number_bullet_lists", num_bullets=n + 1)
    paras = "\n***\n".join(f"Paragraph {i}." for i in range(n))
    assert follows(paras, "length_constraints:number_paragraphs", num_paragraphs=n)
    assert not follows(paras, "length_constraints:number_paragraphs", num_paragraphs=n - 1)
    assert not follows(paras, "length_constraints:number_paragraphs", num_paragraphs=n + 1)
