"""Fresh red team, IFEval checks (issue 26, before closing): transforms outside the families
of ``test_ifeval_generated.py`` that make a reader and the checks disagree.

The four holes were left ``xfail(strict=True)``; they are closed by construction: the word and
keyword checks read the ``"rendered"`` view (inline markdown/HTML markup removed as a renderer
shows it), and the skeleton reads small capitals as their lowercase letters and the sentence
terminals of every script as ``.``/``?``/``!`` (``judges/ifeval/normalize.py``). Each family has
its opposite direction below: what a reader does not see is not found.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from judges.ifeval import check_instructions

WORDS = ["harbor", "lantern", "bridge", "garden", "window", "market", "thunder", "planet"]
# inline markup a markdown or HTML renderer shows as nothing (or as emphasis only)
SPLITS = [("**", "**"), ("*", "*"), ("__", "__"), ("<b>", "</b>"), ("<i>", "</i>"),
          ("<span>", "</span>"), ("", "<b></b>"), ("", "<!-- -->"), ("", "**__**")]
SMALL_CAPS = dict(zip("abcdefghijklmnoprstuvwyz", "ᴀʙᴄᴅᴇꜰɢʜɪᴊᴋʟᴍɴᴏᴘʀꜱᴛᴜᴠᴡʏᴢ", strict=True))


def _violates(reply: str, word: str) -> bool:
    kwargs = [{"forbidden_words": [word]}]
    return all(not check_instructions(reply, ["keywords:forbidden_words"], kwargs, loose=loose)
               .passed for loose in (False, True))


@settings(max_examples=30)
@given(word=st.sampled_from(WORDS), split=st.sampled_from(SPLITS), data=st.data())
def test_a_forbidden_word_split_by_inline_markup_is_found(word, split, data):
    cut = data.draw(st.integers(min_value=1, max_value=len(word) - 1))
    shown = f"{word[:cut]}{split[0]}{word[cut:]}{split[1]}"
    reply = f"We walked past the {shown} before sunset."
    assert _violates(reply, word), reply


@settings(max_examples=30)
@given(word=st.sampled_from([w for w in WORDS if set(w) <= set(SMALL_CAPS)]), data=st.data())
def test_a_forbidden_word_in_small_capitals_is_found(word, data):
    which = data.draw(st.sets(st.integers(0, len(word) - 1), min_size=1))
    shown = "".join(SMALL_CAPS[c] if i in which else c for i, c in enumerate(word))
    reply = f"We walked past the {shown} before sunset."
    assert _violates(reply, word), reply


@settings(max_examples=30)
@given(word=st.sampled_from(WORDS),
       split=st.sampled_from([s for s in SPLITS[:6] if "_" not in s[0]]))
def test_a_whole_word_in_markup_is_found(word, split):
    # the direction that holds today: markup around the whole word does not hide it
    reply = f"We walked past the {split[0]}{word}{split[1]} before sunset."
    assert _violates(reply, word), reply


@settings(max_examples=20)
@given(word=st.sampled_from(WORDS), mark=st.sampled_from(["_", "__", "___"]))
def test_a_whole_word_in_underscore_emphasis_is_found(word, mark):
    reply = f"We walked past the {mark}{word}{mark} before sunset."
    assert _violates(reply, word), reply


# full stops of other scripts (Unicode Sentence_Terminal) that end a sentence to any reader
FULL_STOPS = ["\u3002", "\uff61", "\u06d4", "\u0589", "\u1362", "\u2e3c"]
SENTENCES = ["I like boats", "They float well", "The sea is calm today", "We sail at noon",
             "It is fun for everyone", "The wind is strong", "Gulls fly over the bay"]


@settings(max_examples=20)
@given(stop=st.sampled_from(FULL_STOPS), n=st.integers(4, 7))
def test_sentences_ended_by_other_full_stops_are_counted(stop, n):
    reply = " ".join(f"{s}{stop}" for s in SENTENCES[:n])
    kwargs = [{"num_sentences": 3, "relation": "less than"}]
    v = check_instructions(reply, ["length_constraints:number_sentences"], kwargs)
    assert not v.passed, (reply, v.details["instructions"][0]["reason"])


# --- the opposite direction: what a reader does not see is not found, honest text still passes

BREAKS = ["<br>", "<p>", "</p><p>", "<div>", "<hr/>", "<br />"]


@settings(max_examples=30)
@given(word=st.sampled_from(WORDS), brk=st.sampled_from(BREAKS), data=st.data())
def test_a_word_broken_by_a_block_tag_is_not_found(word, brk, data):
    # a line or block break renders as a break: har<br>bor shows two words, not the word
    cut = data.draw(st.integers(min_value=1, max_value=len(word) - 1))
    reply = f"We walked past the {word[:cut]}{brk}{word[cut:]} before sunset."
    kwargs = [{"forbidden_words": [word]}]
    assert check_instructions(reply, ["keywords:forbidden_words"], kwargs).passed, reply
    assert not check_instructions(reply, ["keywords:existence"], [{"keywords": [word]}]).passed


@settings(max_examples=30)
@given(word=st.sampled_from(WORDS), split=st.sampled_from(SPLITS), data=st.data())
def test_a_keyword_split_by_markup_is_counted_against_a_limit(word, split, data):
    cut = data.draw(st.integers(min_value=1, max_value=len(word) - 1))
    reply = f"The {word[:cut]}{split[0]}{word[cut:]}{split[1]} and the **{word}** are here."
    v = check_instructions(reply, ["keywords:frequency"],
                           [{"keyword": word, "frequency": 2, "relation": "less than"}])
    assert not v.passed, (reply, v.details)


HIDDEN = ["<!-- {w} -->", '<span title="{w}">x</span>', "<{w}>", "<!--{w}-->"]


@settings(max_examples=30)
@given(word=st.sampled_from(WORDS), hide=st.sampled_from(HIDDEN))
def test_a_word_only_in_the_source_is_forbidden_but_not_present(word, hide):
    # markup a renderer hides: the word is still written (forbidden), but not shown (no keyword)
    reply = f"We walked past the {hide.format(w=word)} before sunset."
    assert _violates(reply, word), reply
    assert not check_instructions(reply, ["keywords:existence"], [{"keywords": [word]}]).passed


@settings(max_examples=30)
@given(word=st.sampled_from(WORDS), split=st.sampled_from(SPLITS[:6]))
def test_a_keyword_in_whole_word_markup_is_present(word, split):
    reply = f"We walked past the {split[0]}{word}{split[1]} and the {word} today."
    v = check_instructions(reply, ["keywords:existence", "keywords:frequency"],
                           [{"keywords": [word]},
                            {"keyword": word, "frequency": 2, "relation": "at least"}])
    assert v.passed, (reply, v.details)


@settings(max_examples=20)
@given(word=st.sampled_from([w for w in WORDS if set(w) <= set(SMALL_CAPS)]))
def test_small_capitals_read_as_lowercase(word):
    # small capitals are lowercase letters (Unicode Ll): the case checks read them as such
    shown = "".join(SMALL_CAPS[c] for c in word)
    reply = f"we walked past the {shown} before sunset."
    ids = ["change_case:english_lowercase", "change_case:english_capital"]
    v = check_instructions(reply, ids, [{}, {}])
    results = [r["passed"] for r in v.details["instructions"]]
    assert results == [True, False], (reply, v.details)


@settings(max_examples=20)
@given(stop=st.sampled_from(FULL_STOPS), n=st.integers(1, 2))
def test_few_sentences_ended_by_other_full_stops_stay_few(stop, n):
    reply = " ".join(f"{s}{stop}" for s in SENTENCES[:n])
    for kwargs, want in (({"num_sentences": 3, "relation": "less than"}, True),
                         ({"num_sentences": n, "relation": "at least"}, True),
                         ({"num_sentences": n + 1, "relation": "at least"}, False)):
        v = check_instructions(reply, ["length_constraints:number_sentences"], [kwargs])
        assert v.passed is want, (reply, kwargs, v.details["instructions"][0]["reason"])


@settings(max_examples=10)
@given(unit=st.sampled_from(["<!--", "<a ", "<", "<<b>", "*_", "<b x=", "-->"]))
def test_the_rendering_is_linear_on_degenerate_markup(unit):
    import time

    from judges.ifeval.render import strip_markup

    reply = unit * (400_000 // len(unit)) + " harbor"
    start = time.perf_counter()
    rendered = strip_markup(reply)
    assert time.perf_counter() - start < 2.0
    assert rendered.endswith(" harbor")
    assert _violates(reply, "harbor")


def test_a_rendering_is_not_rendered_again():
    from judges.ifeval.render import strip_markup

    assert strip_markup("har<<b></b>b>bor") == "har<b>bor"  # what a renderer shows
    assert strip_markup("har<!-- x --><!--bor") == "har<!--bor"  # an unclosed comment is text
    assert not _violates("We walked past the har<<b></b>b>bor today.", "harbor")


@settings(max_examples=20)
@given(mark=st.sampled_from(["*", "**", "__", "_", "~~", "`", "<b></b>", "<!-- -->"]),
       present=st.booleans())
def test_a_keyword_of_markup_alone_is_judged_in_the_source(mark, present):
    # it reads as "" in the rendering, which would otherwise match everywhere
    reply = f"We like {mark} snakes here." if present else "We like snakes here."
    ids = ["keywords:forbidden_words", "keywords:existence", "keywords:frequency"]
    kwargs = [{"forbidden_words": [mark]}, {"keywords": [mark]},
              {"keyword": mark, "frequency": 2, "relation": "less than"}]
    v = check_instructions(reply, ids, kwargs)
    got = [r["passed"] for r in v.details["instructions"]]
    assert got == [not present, present, True], (reply, v.details)
