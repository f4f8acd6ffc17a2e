"""``judges.ifeval.normalize``: the views every IFEval check reads (issue 26)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from judges.ifeval import check_instructions, constraint, get_constraint
from judges.ifeval.normalize import (
    VIEWS,
    lookalikes_of,
    normalize_text,
    read_as,
    read_value_as,
    script_view,
    skeleton,
)
from judges.ifeval.render import strip_markup
from judges.ifeval.substance import answers_task

ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@given(ANY_TEXT)
def test_views_are_idempotent(text: str) -> None:
    for view in VIEWS:
        if view == "rendered":  # a rendering is not rendered again: <<b></b>b> shows <b>
            continue
        once = read_as(text, view)
        assert read_as(once, view) == once


@given(st.text(st.characters(min_codepoint=0, max_codepoint=0x7F), max_size=60))
def test_ascii_is_its_own_view(text: str) -> None:
    for view in VIEWS:
        if view == "rendered":  # removes markup, which is ASCII: ASCII without it is fixed
            assert read_as(text, view) == strip_markup(text)
            if not set("<*_~`") & set(text):
                assert read_as(text, view) == text
            continue
        assert read_as(text, view) == text


@given(ANY_TEXT)
def test_skeleton_reads_the_text_view(text: str) -> None:
    """The skeleton only maps characters of the text view; it never brings invisibles back."""
    assert skeleton(normalize_text(text)) == skeleton(text)
    assert "\u200b" not in skeleton(text) and "\ufeff" not in skeleton(text)


def test_what_each_view_does() -> None:
    raw = "h\u0430r\u200bbor\uff0c \u201cx\u201d caf\u00e9 \u043f\u0440\u0438\u0432\u0435\u0442"
    assert normalize_text(raw) == "h\u0430rbor, \u201cx\u201d caf\u00e9 \u043f\u0440\u0438\u0432\u0435\u0442"
    assert skeleton(raw).startswith('harbor, "x" caf\u00e9 ')
    assert script_view(raw) == "harbor, \u201cx\u201d caf\u00e9 \u043f\u0440\u0438\u0432\u0435\u0442"


def test_case_and_kind_survive_the_skeleton() -> None:
    assert skeleton("\u0399\u0406") == "II"  # Greek and Cyrillic capital I, not "ll"
    assert skeleton("\u0456") == "i"  # Cyrillic small i
    assert skeleton("\u0661\u0662") == "1\u0662"  # Arabic-Indic one looks like 1, two does not
    assert skeleton("\ua4d0") == "B"  # a Lisu letter that looks like a capital B
    assert skeleton("\u0434\u00e9\u4f60\U0001f600") == "\u0434\u00e9\u4f60\U0001f600"


def test_invisible_letters_become_a_space_and_marks_recompose() -> None:
    assert normalize_text("two\u3164words") == "two words"  # a Hangul filler renders blank
    assert normalize_text("cafe\u200b\u0301") == "caf\u00e9"
    assert normalize_text("a\u00b8 b") == "a, b"  # a cedilla, which NFKC would split, is a comma


def test_read_value_as_maps_strings_only() -> None:
    assert read_value_as(["h\u0430rbor", "x"]) == ["harbor", "x"]
    assert read_value_as(("\uff41",)) == ("a",)
    assert read_value_as(3) == 3 and read_value_as(None) is None
    with pytest.raises(ValueError, match="unknown view"):
        read_as("x", "raw")


def test_lookalikes_of_asterisk() -> None:
    stars = lookalikes_of("*")
    assert "*" in stars and "\u066d" in stars and "\u2217" in stars


def test_a_custom_checker_never_sees_raw_text(request: pytest.FixtureRequest) -> None:
    from judges.ifeval import registry

    seen: list[str] = []
    request.addfinalizer(lambda: registry._REGISTRY.pop("test_normalize:spy", None))

    @constraint("test_normalize:spy", kwargs={}, replace=True)
    def spy(response: str, prompt: str | None = None) -> tuple[bool, str]:
        seen.extend([response, prompt or ""])
        return True, "ok"

    check_instructions("\uff48i\u200b", ["test_normalize:spy"], [{}], prompt="p\u0430")
    assert seen == ["hi", "pa"]
    assert get_constraint("test_normalize:spy").run("\u0430\u2060", {}, None) == (True, "ok")
    assert seen[-2] == "a"
    with pytest.raises(ValueError, match="reads must be one of"):
        constraint("test_normalize:bad", reads="raw")(spy)
    for bad in ((), ("skeleton", "raw"), ["skeleton"]):
        with pytest.raises(ValueError, match="reads must be one of"):
            constraint("test_normalize:bad", reads=bad)(spy)  # type: ignore[arg-type]


def test_a_constraint_reading_several_views_must_pass_in_each(request) -> None:
    from judges.ifeval import registry

    request.addfinalizer(lambda: registry._REGISTRY.pop("test_normalize:both", None))
    seen: list[str] = []

    @constraint("test_normalize:both", kwargs={}, replace=True, reads=("skeleton", "rendered"))
    def both(response: str) -> tuple[bool, str]:
        seen.append(response)
        return "harbor" not in response, "looked"

    run = get_constraint("test_normalize:both").run
    assert run("har**bor**", {}, None) == (False, "looked (rendered)")
    assert seen == ["har**bor**", "harbor"]
    assert run("<!-- harbor -->", {}, None) == (False, "looked")  # the source shows it
    assert run("har<br>bor", {}, None)[0]


def test_answers_task_reads_the_skeleton() -> None:
    """An echo of the prompt with its words disguised says nothing of its own."""
    prompt = "Write a short story about a lighthouse keeper on a stormy island night."
    base = "Write a short story about a lighthouse keeper on a stormy island night."
    echo = "\u200b".join(prompt) + " " + prompt.replace("o", "\u043e").replace("a", "\u0430")
    ok, why = answers_task(echo, prompt, base, ["punctuation:no_comma"], [{}])
    assert not ok, why


def test_marks_that_compose_with_nothing_are_dropped_from_the_skeleton() -> None:
    """Strike-through and "zalgo" stacks on ASCII letters go; accents that make a letter stay."""
    assert skeleton("h\u0336a\u0336r\u0336b\u0336o\u0336r\u0336") == "harbor"
    assert skeleton("z\u0334\u0321a\u0337lgo") == "zalgo"
    assert skeleton("cafe\u0301 harbo\u0308r") == "caf\u00e9 harb\u00f6r"
    assert skeleton("\u0928\u093f") == "\u0928\u093f"  # a Devanagari vowel sign is kept
    assert script_view("h\u0336i") == "h\u0336i"  # only the skeleton drops them
