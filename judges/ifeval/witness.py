"""Build a response that follows a composed prompt's constraints (a satisfiability witness).

:func:`build_witness` assembles filler sentences into the structure the constraints ask for
(paragraphs, sections, bullets, two answers, JSON), adds the required words, marks and
phrases, applies case and quotation, and grows the amount of filler until the strict check
passes. It exists to prove that :func:`~judges.ifeval.compose.compose_prompt` never emits an
impossible combination, and gives tests and benchmarks responses known to pass. It knows the
built-in constraints only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from judges.ifeval.check import check_instructions
from judges.ifeval.registry import resolve_kwargs
from judges.ifeval.substance import answers_task, content_words

__all__ = ["build_witness", "FILLER"]

#: Plain sentences per language: no commas, no all-capital words, no composer pool words, and
#: (for English) none of the rare letters z, q, x, j.
FILLER: dict[str, tuple[str, ...]] = {
    "en": (
        "The morning light fell softly over the calm water.",
        "People walked along the path and talked about their plans.",
        "The old house at the end of the road had a green door.",
        "Every evening the birds returned to the tall trees.",
        "Good habits make hard tasks feel much lighter.",
        "The children laughed while they painted the fence.",
        "Small steps add up to long trips over time.",
        "Most stories begin with a simple idea.",
        "The river ran past the mill and down into the valley.",
        "Clouds drifted slowly above the silent hills.",
    ),
    "es": (
        "El sol brilla sobre el mar tranquilo.",
        "Los niños juegan en la plaza del pueblo.",
        "Mi abuela prepara una sopa deliciosa cada domingo.",
        "El tren llega a la estación por la mañana.",
        "Las montañas están cubiertas de nieve en invierno.",
        "Nos gusta caminar por el parque después de cenar.",
        "La biblioteca tiene muchos libros interesantes.",
        "El viento sopla fuerte durante la tormenta.",
    ),
    "fr": (
        "Le soleil brille sur la mer calme.",
        "Les enfants jouent dans la cour de l'école.",
        "Ma grand-mère prépare une soupe délicieuse chaque dimanche.",
        "Le train arrive à la gare le matin.",
        "Les montagnes sont couvertes de neige en hiver.",
        "Nous aimons marcher dans le parc après le dîner.",
        "La bibliothèque possède beaucoup de livres intéressants.",
        "Le vent souffle fort pendant la tempête.",
    ),
    "de": (
        "Die Sonne scheint über dem ruhigen Meer.",
        "Die Kinder spielen auf dem Platz im Dorf.",
        "Meine Großmutter kocht jeden Sonntag eine leckere Suppe.",
        "Der Zug kommt am Morgen im Bahnhof an.",
        "Die Berge sind im Winter mit Schnee bedeckt.",
        "Wir gehen nach dem Abendessen gern im Park spazieren.",
        "Die Bibliothek hat viele interessante Bücher.",
        "Der Wind weht während des Sturms sehr stark.",
    ),
    "it": (
        "Il sole splende sul mare calmo.",
        "I bambini giocano nella piazza del paese.",
        "Mia nonna prepara una zuppa deliziosa ogni domenica.",
        "Il treno arriva alla stazione la mattina.",
        "Le montagne sono coperte di neve in inverno.",
        "Ci piace passeggiare nel parco dopo cena.",
        "La biblioteca ha molti libri interessanti.",
        "Il vento soffia forte durante la tempesta.",
    ),
    "pt": (
        "O sol brilha sobre o mar calmo.",
        "As crianças brincam na praça da cidade.",
        "Minha avó prepara uma sopa deliciosa todo domingo.",
        "O trem chega à estação pela manhã.",
        "As montanhas ficam cobertas de neve no inverno.",
        "Nós gostamos de caminhar no parque depois do jantar.",
        "A biblioteca tem muitos livros interessantes.",
        "O vento sopra forte durante a tempestade.",
    ),
    "ru": (
        "Солнце светит над спокойным морем.",
        "Дети играют на площади в деревне.",
        "Моя бабушка готовит вкусный суп каждое воскресенье.",
        "Поезд прибывает на вокзал утром.",
        "Зимой горы покрыты снегом.",
        "Мы любим гулять в парке после ужина.",
        "В библиотеке много интересных книг.",
        "Во время бури дует сильный ветер.",
    ),
    "pl": (
        "Słońce świeci nad spokojnym morzem.",
        "Dzieci bawią się na placu we wsi.",
        "Moja babcia gotuje pyszną zupę w każdą niedzielę.",
        "Pociąg przyjeżdża na dworzec rano.",
        "Zimą góry są pokryte śniegiem.",
        "Lubimy spacerować po parku po kolacji.",
        "W bibliotece jest wiele ciekawych książek.",
        "Podczas burzy wieje silny wiatr.",
    ),
    "fi": (
        "Aurinko paistaa tyynen meren yllä.",
        "Lapset leikkivät kylän aukiolla.",
        "Isoäitini keittää herkullista keittoa joka sunnuntai.",
        "Juna saapuu asemalle aamulla.",
        "Vuoret ovat talvella lumen peitossa.",
        "Pidämme kävelystä puistossa illallisen jälkeen.",
        "Kirjastossa on paljon kiinnostavia kirjoja.",
        "Myrskyn aikana tuulee kovaa.",
    ),
}

_CAPS = ("VERY", "BIG", "KEY", "NOTE", "TRUE", "BOLD", "CLEAR", "REAL", "GOOD", "WELL")


def _units(spec: Mapping[str, dict[str, Any]]) -> int:
    for cid, key in (
        ("combination:two_responses", None),
        ("length_constraints:number_paragraphs", "num_paragraphs"),
        ("length_constraints:nth_paragraph_first_word", "num_paragraphs"),
        ("detectable_format:multiple_sections", "num_sections"),
        ("detectable_format:number_bullet_lists", "num_bullets"),
    ):
        if cid in spec:
            return 2 if key is None else spec[cid][key]
    return 1


def _extras(spec: Mapping[str, dict[str, Any]], topic: str | None = None) -> list[str]:
    """Fragments (no sentence end) carrying required words, capitals, marks and letters."""
    out = []
    words: list[str] = [topic] if topic else []
    words += spec.get("keywords:existence", {}).get("keywords", [])
    freq = spec.get("keywords:frequency")
    if freq and freq["relation"] == "at least":
        words += [freq["keyword"]] * freq["frequency"]
    if words:
        out.append("We talked about " + " and ".join(words))
    caps = spec.get("change_case:capital_word_frequency")
    if caps and caps["capital_relation"] == "at least":
        n = caps["capital_frequency"]
        out.append("with " + " ".join((_CAPS * (n // len(_CAPS) + 1))[:n]) + " stuff")
    marks = []
    if "detectable_format:number_highlighted_sections" in spec:
        n = spec["detectable_format:number_highlighted_sections"]["num_highlights"]
        marks += [f"*{k + 1}*" for k in range(n)]
    if "detectable_content:number_placeholders" in spec:
        n = spec["detectable_content:number_placeholders"]["num_placeholders"]
        marks += [f"[{k + 1}]" for k in range(n)]
    if marks:
        out.append(" ".join(marks))
    letter = spec.get("keywords:letter_frequency")
    if letter and letter["let_relation"] == "at least":
        out.append("and " + letter["letter"] * letter["let_frequency"])
    return out


def _assemble(spec: Mapping[str, dict[str, Any]], m: int, topic: str | None = None) -> str:
    lang = spec.get("language:response_language", {}).get("language", "en")
    filler = FILLER[lang]
    n_units = _units(spec)
    units: list[list[str]] = [[] for _ in range(n_units)]
    for i in range(max(m, n_units)):
        units[i % n_units].append(filler[i % len(filler)])
    extras = _extras(spec, topic)
    bullets = "detectable_format:number_bullet_lists" in spec
    if not bullets and extras:  # a bullet's own '*' would pair up with highlight asterisks
        units[0][:0] = [" ".join(extras)]
    texts = [" ".join(u) for u in units]
    few = spec.get("length_constraints:number_sentences", {}).get("relation") == "less than"
    if few and n_units > 1:  # units without full stops run together as one sentence
        texts = [t.replace(".", "") for t in texts]

    if "combination:two_responses" in spec:
        body = "\n******\n".join(texts)
    elif "length_constraints:number_paragraphs" in spec:
        body = "\n***\n".join(texts)
    elif "length_constraints:nth_paragraph_first_word" in spec:
        kw = spec["length_constraints:nth_paragraph_first_word"]
        k = kw["nth_paragraph"] - 1
        texts[k] = kw["first_word"] + " " + texts[k]
        body = "\n\n".join(texts)
    elif "detectable_format:multiple_sections" in spec:
        splitter = spec["detectable_format:multiple_sections"]["section_spliter"]
        body = "\n\n".join(f"{splitter} {k + 1}\n{t}" for k, t in enumerate(texts))
    elif "detectable_format:number_bullet_lists" in spec:
        body = "\n".join(f"* {t}" for t in texts)
    elif "detectable_format:json_format" in spec:
        body = json.dumps({"answer": texts[0]}, ensure_ascii=False)
    else:
        body = texts[0]

    lines = []
    if "combination:repeat_prompt" in spec:
        lines.append(spec["combination:repeat_prompt"]["prompt_to_repeat"])
    title = "<<" + " ".join(filler[0].rstrip(".").split()[:3]) + ">>"
    nth = "length_constraints:nth_paragraph_first_word" in spec
    if "detectable_format:title" in spec and not nth:
        lines.append(title)
    if bullets and extras:
        lines.append("Notes " + " ".join(extras))
    lines.append(body)
    if "detectable_format:title" in spec and nth:  # a first line would be paragraph 1's start
        lines.append(title)
    if "detectable_content:postscript" in spec:
        marker = spec["detectable_content:postscript"]["postscript_marker"]
        lines.append(f"{marker} {filler[-1]}")
    if "startend:end_checker" in spec:
        lines.append(spec["startend:end_checker"]["end_phrase"])
    text = "\n".join(lines)

    if "change_case:english_capital" in spec:
        text = text.upper()
    if "change_case:english_lowercase" in spec:
        text = text.lower()
    if "startend:quotation" in spec:
        text = ('"\n' if "\n* " in "\n" + text else '"') + text + '"'
    return text


def _topic_word(base_task: str, spec: Mapping[str, dict[str, Any]]) -> str | None:
    """A word of the task to mention (None when the answer must be in another language)."""
    if "language:response_language" in spec:
        return None
    letter = spec.get("keywords:letter_frequency", {})
    avoid = letter.get("letter") if letter.get("let_relation") == "less than" else None
    for word in base_task.lower().replace("?", " ").replace(".", " ").split():
        if content_words(word) and (avoid is None or avoid not in word):
            return word
    return None


def build_witness(
    instruction_ids: Sequence[str],
    kwargs: Sequence[Mapping[str, Any] | None] | None = None,
    max_sentences: int = 80,
    prompt: str | None = None,
    base_task: str | None = None,
) -> str:
    """A response that passes the strict check for these instructions.

    With ``prompt`` and ``base_task`` (a composed prompt and the task in it) the response also
    answers the task as :func:`judges.ifeval.substance.answers_task` requires (it mentions the
    task's subject and says enough of its own), as ``rlenvs/Instruct-v0`` demands.

    Raises:
        ValueError: no response of this construction passes (the combination is unsupported or
            unsatisfiable), or an instruction's kwargs are invalid.
    """
    ids = list(instruction_ids)
    kw_list = list(kwargs) if kwargs is not None else [None] * len(ids)
    spec = {cid: resolve_kwargs(cid, kw) for cid, kw in zip(ids, kw_list, strict=True)}
    topic = _topic_word(base_task, spec) if prompt and base_task else None
    if "detectable_format:constrained_response" in spec:
        candidates = ["My answer is yes."]
    else:
        candidates = (_assemble(spec, m, topic) for m in range(1, max_sentences + 1))
    for text in candidates:
        if check_instructions(text, ids, kw_list).passed and (
            prompt is None or base_task is None
            or answers_task(text, prompt, base_task, ids, kw_list)[0]
        ):
            return text
    raise ValueError(f"no witness found for {ids} with kwargs {kw_list}")
