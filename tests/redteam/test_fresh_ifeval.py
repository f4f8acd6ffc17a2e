"""Fresh red team, IFEval checks (issue 26, before closing): transforms outside the families
of ``test_ifeval_generated.py`` that make a reader and the checks disagree.

Both holes are left ``xfail(strict=True)``: the fix is a new view of the text (a rendered
view of inline markup; a reading of small capitals as capitals), not a few lines.
"""

from __future__ import annotations

import pytest
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


@pytest.mark.xfail(strict=True, reason="inline markup inside a word (har**bor**, har<b></b>bor, "
                   "h<i>arbor</i>) renders as the word, but the checks read the raw markup: a "
                   "forbidden word split by markup is not found")
@settings(max_examples=30)
@given(word=st.sampled_from(WORDS), split=st.sampled_from(SPLITS), data=st.data())
def test_a_forbidden_word_split_by_inline_markup_is_found(word, split, data):
    cut = data.draw(st.integers(min_value=1, max_value=len(word) - 1))
    shown = f"{word[:cut]}{split[0]}{word[cut:]}{split[1]}"
    reply = f"We walked past the {shown} before sunset."
    assert _violates(reply, word), reply


@pytest.mark.xfail(strict=True, reason="small capitals (ʜᴀʀʙᴏʀ) are lowercase letters whose only "
                   "ASCII look-alike is a capital; the skeleton keeps them, so a forbidden word "
                   "written in small capitals is not found by a case-blind check")
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


@pytest.mark.xfail(strict=True, reason="markdown emphasis by underscores (__harbor__, _harbor_) "
                   "renders as the word, but '_' is a word character to the checks' \\b: the "
                   "whole forbidden word in underscore emphasis is not found (as in IFEval's own "
                   "checker)")
@settings(max_examples=20)
@given(word=st.sampled_from(WORDS), mark=st.sampled_from(["_", "__", "___"]))
def test_a_whole_word_in_underscore_emphasis_is_found(word, mark):
    reply = f"We walked past the {mark}{word}{mark} before sunset."
    assert _violates(reply, word), reply


# full stops of other scripts (Unicode Sentence_Terminal) that end a sentence to any reader
FULL_STOPS = ["\u3002", "\uff61", "\u06d4", "\u0589", "\u1362", "\u2e3c"]
SENTENCES = ["I like boats", "They float well", "The sea is calm today", "We sail at noon",
             "It is fun for everyone", "The wind is strong", "Gulls fly over the bay"]


@pytest.mark.xfail(strict=True, reason="sentence counts are English Punkt's: sentences ended by "
                   "the full stops of other scripts (。 ｡ ۔ ։ ። ⸼) are one sentence, so a reply of "
                   "five such sentences meets 'less than 3 sentences'")
@settings(max_examples=20)
@given(stop=st.sampled_from(FULL_STOPS), n=st.integers(4, 7))
def test_sentences_ended_by_other_full_stops_are_counted(stop, n):
    reply = " ".join(f"{s}{stop}" for s in SENTENCES[:n])
    kwargs = [{"num_sentences": 3, "relation": "less than"}]
    v = check_instructions(reply, ["length_constraints:number_sentences"], kwargs)
    assert not v.passed, (reply, v.details["instructions"][0]["reason"])
