"""Offline sentence splitting, word counts and seeded language detection; the JSONL reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judges.ifeval import IFEVAL_IDS, SAMPLE_PATH, check_instructions, load_ifeval_jsonl
from judges.ifeval.text_utils import (
    count_sentences,
    count_words,
    detect_language,
    split_sentences,
    word_tokens,
)


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("Mr. Smith went to Washington. He stayed.",
         ["Mr. Smith went to Washington.", "He stayed."]),
        ("It costs 3.50 dollars. Cheap!", ["It costs 3.50 dollars.", "Cheap!"]),
        ("Dr. Lee met Mrs. Jones at 5 p.m. yesterday.",
         ["Dr. Lee met Mrs. Jones at 5 p.m. yesterday."]),
        ('She said "Stop." Then she left.', ['She said "Stop."', "Then she left."]),
        ("Really?! Yes.", ["Really?!", "Yes."]),
        ("Wait... Then what?", ["Wait... Then what?"]),
        ("The U.S. is large. So is Canada.", ["The U.S. is large.", "So is Canada."]),
        ("no terminal punctuation", ["no terminal punctuation"]),
        ("", []),
        ("   \n ", []),
    ],
)
def test_sentence_splitter_matches_punkt(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences
    assert count_sentences(text) == len(sentences)


def test_splitter_needs_no_nltk_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import nltk

    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    assert count_sentences("One. Two. Three.") == 3
    assert word_tokens("I DON'T know.") == ["I", "DO", "N'T", "know", "."]


def test_word_counts() -> None:
    assert count_words("it's a well-known fact") == 6
    assert count_words("नमस्ते दुनिया") == 2  # vowel signs stay inside the word
    assert count_words("") == 0


def test_language_detection_is_deterministic_and_leaves_langdetect_global_alone() -> None:
    import langdetect

    before = langdetect.DetectorFactory.seed
    results = {detect_language.__wrapped__("Hello world") for _ in range(30)}
    assert results == {"en"}
    assert detect_language("Das ist ein kurzer deutscher Satz über das Wetter.") == "de"
    assert detect_language("12345 67890") is None
    assert detect_language("🙂🙂🙂") is None
    assert langdetect.DetectorFactory.seed == before


def test_langdetect_rs_backend_agrees_with_langdetect() -> None:
    pytest.importorskip("langdetect_rs")
    texts = [
        "Hello world", "Bonjour tout le monde", "Das ist gut", "ok", "12 + 3 = 15",
        "Мы любим гулять в парке.", "我喜欢学习中文", "HELLO WORLD THIS IS LOUD",
        "Il vento soffia forte durante la tempesta.", "a", "P.S. see you",
    ]
    for t in texts:
        assert detect_language(t) == detect_language(t, backend="langdetect"), t


def test_sample_jsonl_loads_and_covers_every_id() -> None:
    rows = load_ifeval_jsonl(SAMPLE_PATH)
    assert len(rows) >= 30
    assert {i for r in rows for i in r["instruction_id_list"]} == set(IFEVAL_IDS)
    for row in rows:  # rows are directly usable
        check_instructions("Some answer.", row["instruction_id_list"], row["kwargs"],
                           prompt=row["prompt"])


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"prompt": "p", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
         "missing field 'key'"),
        ({"key": 1, "prompt": "", "instruction_id_list": ["punctuation:no_comma"],
          "kwargs": [{}]}, "'prompt'"),
        ({"key": 1, "prompt": "p", "instruction_id_list": ["bad:id"], "kwargs": [{}]},
         "unknown instruction id"),
        ({"key": 1, "prompt": "p", "instruction_id_list": ["keywords:existence"],
          "kwargs": [{}]}, "keywords:existence: missing required kwarg 'keywords'"),
        ({"key": 1, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"],
          "kwargs": [{}, {}]}, "one dict per instruction"),
        ([1, 2], "JSON object"),
    ],
)
def test_jsonl_reader_reports_bad_rows_with_line_numbers(
    tmp_path: Path, row: object, match: str
) -> None:
    good = {"key": 0, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"],
            "kwargs": [{}]}
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(row) + "\n")
    with pytest.raises(ValueError, match=match) as err:
        load_ifeval_jsonl(path)
    assert f"{path}:3" in str(err.value)


def test_jsonl_reader_rejects_invalid_json_and_duplicate_keys(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: invalid JSON"):
        load_ifeval_jsonl(path)
    row = {"key": 7, "prompt": "p", "instruction_id_list": ["punctuation:no_comma"],
           "kwargs": None}
    path.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="duplicate key 7"):
        load_ifeval_jsonl(path)
    path.write_text(json.dumps(row) + "\n")
    assert load_ifeval_jsonl(path)[0]["kwargs"] == [{}]
