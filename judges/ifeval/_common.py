"""Small helpers shared by the built-in constraint modules."""

from __future__ import annotations

import random
import re

from judges.ifeval.registry import RELATIONS, ComposeContext, Kwarg

__all__ = [
    "compare",
    "relation_kwarg",
    "literal_pattern",
    "whole_word_pattern",
    "WORD_POOL",
    "pick_fresh_words",
]


def compare(count: int, relation: str, threshold: int) -> bool:
    """``count < threshold`` for ``"less than"``, ``count >= threshold`` for ``"at least"``."""
    if relation == "less than":
        return count < threshold
    return count >= threshold


def _strip(value: str) -> str:
    return value.strip()


#: A comparison relation kwarg (``"less than"`` / ``"at least"``).
relation_kwarg = Kwarg("str", choices=RELATIONS, normalize=_strip, doc="'less than' or 'at least'")


def literal_pattern(text: str) -> re.Pattern[str]:
    """Case-insensitive pattern matching ``text`` literally (metacharacters escaped)."""
    return re.compile(re.escape(text), re.IGNORECASE)


def whole_word_pattern(text: str) -> re.Pattern[str]:
    """Case-insensitive literal match of ``text`` not glued to other word characters.

    Equivalent to IFEval's ``\\bword\\b`` for ordinary words, and still sensible for words that
    start or end with punctuation (``c++``, ``foo(``) where ``\\b`` would demand a neighbour.
    """
    return re.compile(r"(?<!\w)" + re.escape(text) + r"(?!\w)", re.IGNORECASE)


#: Content words the composer draws keywords, forbidden words and first words from.
#: None is a substring of another (so counting one never counts another).
WORD_POOL: tuple[str, ...] = (
    "harbor", "lantern", "meadow", "violin", "glacier", "pepper", "compass", "orchard",
    "thunder", "velvet", "marble", "falcon", "saddle", "canyon", "biscuit", "kettle",
    "ribbon", "tunnel", "walnut", "blanket", "silver", "candle", "mirror", "garden",
    "bridge", "castle", "forest", "island", "ladder", "engine", "puzzle", "rocket",
    "shadow", "window", "pillow", "wallet", "helmet", "feather", "planet", "anchor",
    "basket", "cotton", "dragon", "honey", "jungle", "kitten", "melon", "needle",
    "pirate", "quartz", "rabbit", "spider", "tomato", "turtle", "umbrella", "wizard",
)


def pick_fresh_words(rng: random.Random, ctx: ComposeContext, k: int) -> list[str]:
    """``k`` distinct pool words that are not already used in the prompt (and mark them used)."""
    prompt_text = ctx.task.lower()
    free = [w for w in WORD_POOL if w not in ctx.used_words and w not in prompt_text]
    chosen = rng.sample(free, k)
    ctx.used_words.update(chosen)
    return chosen
