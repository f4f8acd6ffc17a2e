"""The POLAR training recipe at the embedded model's scale (see :mod:`judges.polar`).

1. **Policy-discrimination pretraining.** Several "policies" -- the embedded SmolLM2 under
   different system prompts (styles) and temperatures -- each answer every prompt twice. For a
   prompt and policy ``P``: the reference is one of ``P``'s samples, the positive ``P``'s other
   sample, each negative a sample of a policy ``Q ≠ P``; the Bradley-Terry loss
   ``−log σ(r(ref, pos) − r(ref, neg))`` teaches the scorer to tell same-policy from
   other-policy outputs (the paper's contrastive objective).
2. **Preference fine-tune** (the paper's second stage): the reference is a preferred answer,
   chosen/rejected pairs, the same Bradley-Terry loss ``r(ref, chosen) > r(ref, rejected)``. The
   preference data here is closed-form: arithmetic questions, the reference the gold working,
   chosen a correct answer (the model's own when it got it right), rejected a wrong one (the
   model's own when it got it wrong, else the chosen text with its result changed).

Generated samples are cached under ``$RLENVS_CACHE/polar/`` (fixed seeds: a rerun reads them
back). Only the top blocks train, so each sequence's lower-block activations are computed once
(:class:`LowerCache`) and every epoch runs the top blocks alone.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from judges.polar import PolarScorer, encode_triple

__all__ = ["POLICIES", "TRAIN_POLICIES", "HELDOUT_POLICIES", "PROMPTS", "TRAIN_PROMPTS",
           "HELDOUT_PROMPTS", "generate_samples", "discrimination_pairs", "arithmetic_tasks",
           "preference_pairs", "LowerCache", "train_bradley_terry", "ordering_accuracy",
           "pair_accuracy", "calibrate_offset"]

#: name -> (system prompt, temperature): the policies the scorer learns to tell apart
POLICIES: dict[str, tuple[str, float]] = {
    "concise": ("Answer in one short sentence. No details, no lists.", 0.7),
    "detailed": ("Give a thorough, detailed explanation: explain the reasons step by step and "
                 "give an example.", 0.7),
    "playful": ("Answer in a playful, excited tone with exclamation marks, emojis and a fun "
                "fact!", 0.9),
    "listy": ("Answer only as a numbered list of short points.", 0.7),
    "formal": ("Answer formally, in the impersonal register of an academic textbook.", 0.5),
    "child": ("Explain it to a five-year-old child, with very simple words and a comparison "
              "to toys or animals.", 0.8),
}
TRAIN_POLICIES = ("concise", "detailed", "playful", "listy")
HELDOUT_POLICIES = ("formal", "child")

PROMPTS: tuple[str, ...] = (
    "How does a rainbow form?", "Why do cats purr?", "How do vaccines work?",
    "What causes the seasons?", "How does a refrigerator keep food cold?",
    "Why is the ocean salty?", "How do airplanes stay in the air?", "What is photosynthesis?",
    "How does the internet send a message?", "Why do leaves change color in autumn?",
    "What is inflation?", "How do bees make honey?", "Why do we need sleep?",
    "How does a compass work?", "What is a black hole?", "How do volcanoes erupt?",
    "Why does bread rise?", "How does a battery store energy?", "What is gravity?",
    "How do fish breathe underwater?", "Why do we have tides?", "How does recycling help?",
    "What is a computer virus?", "How do plants drink water?", "Why is exercise healthy?",
    "How are clouds formed?", "What does the heart do?", "How does soap clean hands?",
    # held out from training (HELDOUT_PROMPTS)
    "Why is the sky blue?", "How do birds migrate?", "What is an earthquake?",
    "How does a microwave heat food?", "Why do we yawn?", "How do magnets work?",
    "What is the moon made of?", "How does snow form?", "Why do onions make us cry?",
    "How does a bicycle stay upright?", "What is electricity?", "How do trees grow tall?",
)
TRAIN_PROMPTS = PROMPTS[:28]
HELDOUT_PROMPTS = PROMPTS[28:]


def _cache_dir() -> Path:
    from judges.llm.embedded import cache_root

    return cache_root() / "polar"


def _sample_texts(chat: Any, conversations: list[list[dict[str, str]]], temperature: float,
                  max_new_tokens: int, seed: int) -> list[str]:
    from judges.llm.base import SamplingParams

    return chat.generate(conversations, SamplingParams(temperature=temperature,
                                                       max_new_tokens=max_new_tokens, seed=seed))


def generate_samples(chat: Any, prompts: Sequence[str] = PROMPTS,
                     policies: Sequence[str] = tuple(POLICIES), n: int = 2,
                     max_new_tokens: int = 48, seed: int = 0,
                     cache: Path | None = None) -> dict[str, dict[str, list[str]]]:
    """``samples[policy][prompt]`` = ``n`` replies of that policy, cached in a JSON file named
    by a hash of everything that determines them."""
    key = hashlib.sha256(json.dumps([list(prompts), {p: POLICIES[p] for p in policies}, n,
                                     max_new_tokens, seed, chat.name]).encode()).hexdigest()[:16]
    path = (cache or _cache_dir()) / f"samples-{key}.json"
    if path.is_file():
        return json.loads(path.read_text())
    out: dict[str, dict[str, list[str]]] = {}
    for index, policy in enumerate(policies):
        system, temperature = POLICIES[policy]
        convs = [[{"role": "system", "content": system}, {"role": "user", "content": q}]
                 for q in prompts for _ in range(n)]
        texts = _sample_texts(chat, convs, temperature, max_new_tokens, seed + 7919 * index)
        out[policy] = {q: [t.strip() for t in texts[i * n:(i + 1) * n]]
                       for i, q in enumerate(prompts)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, ensure_ascii=False, indent=1))
    return out


def discrimination_pairs(samples: dict[str, dict[str, list[str]]], prompts: Iterable[str],
                         policies: Sequence[str], references: Sequence[int] = (0, 1)
                         ) -> list[dict[str, str]]:
    """Policy-discrimination pairs: for every prompt, policy ``P`` and choice of ``P``'s sample
    as reference (``references``: which sample indices), the other sample of ``P`` is chosen
    and the same-index sample of each other policy is rejected."""
    pairs = []
    for q in prompts:
        for p in policies:
            for r in references:
                for other in policies:
                    if other != p:
                        pairs.append({"prompt": q, "reference": samples[p][q][r],
                                      "chosen": samples[p][q][1 - r],
                                      "rejected": samples[other][q][1 - r],
                                      "policy": p, "other": other})
    return pairs


def arithmetic_tasks(count: int, seed: int) -> list[dict[str, Any]]:
    """Closed-form questions ``a op b`` with the gold working as reference."""
    rng = random.Random(seed)
    tasks = []
    for _ in range(count):
        a, b = rng.randint(2, 60), rng.randint(2, 40)
        op = rng.choice("+-*")
        value = a + b if op == "+" else a - b if op == "-" else a * b
        sign = {"+": "+", "-": "-", "*": "×"}[op]
        tasks.append({"prompt": f"What is {a} {sign} {b}?", "answer": value,
                      "reference": f"{a} {sign} {b} = {value}. The answer is {value}."})
    return tasks


def _last_number(text: str) -> int | None:
    found = re.findall(r"-?\d+", text.replace(",", ""))
    return int(found[-1]) if found else None


def preference_pairs(chat: Any, tasks: Sequence[dict[str, Any]], seed: int = 0,
                     max_new_tokens: int = 48, cache: Path | None = None
                     ) -> list[dict[str, str]]:
    """Chosen/rejected pairs per arithmetic task (see the module docstring), the model's
    replies cached like :func:`generate_samples`'s; ``chat=None`` uses no model replies (chosen
    ``"The result is c."``, rejected the same with the result changed)."""
    key = hashlib.sha256(json.dumps([[t["prompt"] for t in tasks], seed, max_new_tokens,
                                     getattr(chat, "name", None)]).encode()).hexdigest()[:16]
    path = (cache or _cache_dir()) / f"arith-{key}.json"
    if chat is None:
        replies = [[] for _ in tasks]
    elif path.is_file():
        replies = json.loads(path.read_text())
    else:
        convs = [[{"role": "user", "content": t["prompt"]}] for t in tasks for _ in range(2)]
        texts = _sample_texts(chat, convs, 0.8, max_new_tokens, seed)
        replies = [[texts[2 * i].strip(), texts[2 * i + 1].strip()] for i in range(len(tasks))]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(replies, ensure_ascii=False, indent=1))
    rng = random.Random(seed)
    pairs = []
    for task, own in zip(tasks, replies, strict=True):
        gold = int(task["answer"])
        right = [t for t in own if _last_number(t) == gold]
        wrong = [t for t in own if t and _last_number(t) not in (None, gold)]
        chosen = right[0] if right else f"The result is {gold}."
        if wrong:
            rejected = wrong[0]
        else:
            bad = gold + rng.choice([-10, -2, -1, 1, 2, 10])
            rejected = re.sub(rf"(?<!\d){re.escape(str(gold))}(?!\d)", str(bad), chosen)
        pairs.append({"prompt": task["prompt"], "reference": task["reference"],
                      "chosen": chosen, "rejected": rejected,
                      "chosen_is_model": bool(right), "rejected_is_model": bool(wrong)})
    return pairs


class LowerCache:
    """The frozen lower blocks' activations of each scored sequence, computed once."""

    def __init__(self, scorer: PolarScorer) -> None:
        self.scorer = scorer
        self._store: dict[tuple[str, str, str], torch.Tensor] = {}

    def __call__(self, prompt: str, reference: str, candidate: str) -> torch.Tensor:
        key = (prompt, reference, candidate)
        if key not in self._store:
            ids, _ = encode_triple(self.scorer.tokenizer, prompt, reference, candidate)
            self._store[key] = self.scorer.lower(ids)
        return self._store[key]

    def reward(self, prompt: str, reference: str, candidate: str) -> float:
        with torch.no_grad():
            return float(self.scorer.upper(self(prompt, reference, candidate)))


def train_bradley_terry(scorer: PolarScorer, pairs: Sequence[dict[str, str]], cache: LowerCache,
                        epochs: int = 2, lr: float = 1e-3, batch_size: int = 8, seed: int = 0,
                        log: Callable[[str], None] | None = None) -> list[float]:
    """Minimise ``−log σ(r(ref, chosen) − r(ref, rejected))`` over ``pairs`` (AdamW on the
    adapters and head); returns the mean loss of each epoch."""
    torch.manual_seed(seed)
    order = list(range(len(pairs)))
    optim = torch.optim.AdamW(scorer.trainable_parameters(), lr=lr, weight_decay=0.0)
    rng = random.Random(seed)
    scorer.train()
    history = []
    for epoch in range(epochs):
        rng.shuffle(order)
        total = 0.0
        for first in range(0, len(order), batch_size):
            chunk = [pairs[i] for i in order[first:first + batch_size]]
            loss = torch.zeros(())
            for pair in chunk:
                good = scorer.upper(cache(pair["prompt"], pair["reference"], pair["chosen"]))
                bad = scorer.upper(cache(pair["prompt"], pair["reference"], pair["rejected"]))
                loss = loss - torch.nn.functional.logsigmoid(good - bad)
            loss = loss / len(chunk)
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += float(loss.detach()) * len(chunk)
        history.append(total / max(1, len(pairs)))
        if log:
            log(f"epoch {epoch + 1}/{epochs}: BT loss {history[-1]:.4f}")
    scorer.eval()
    return history


def pair_accuracy(cache: LowerCache, pairs: Sequence[dict[str, str]]) -> float:
    """Fraction of pairs with ``r(ref, chosen) > r(ref, rejected)``."""
    wins = [cache.reward(p["prompt"], p["reference"], p["chosen"])
            > cache.reward(p["prompt"], p["reference"], p["rejected"]) for p in pairs]
    return sum(wins) / max(1, len(wins))


def calibrate_offset(cache: LowerCache, pairs: Sequence[dict[str, str]]) -> float:
    """The midpoint of the mean chosen and mean rejected rewards (the judge's 0.5 point)."""
    good = [cache.reward(p["prompt"], p["reference"], p["chosen"]) for p in pairs]
    bad = [cache.reward(p["prompt"], p["reference"], p["rejected"]) for p in pairs]
    return (sum(good) / len(good) + sum(bad) / len(bad)) / 2


def ordering_accuracy(reward: Callable[[str, str, str], float],
                      samples: dict[str, dict[str, list[str]]], prompts: Iterable[str],
                      ref_policies: Sequence[str], candidate_policies: Sequence[str]
                      ) -> dict[str, Any]:
    """The rainbow test: for each prompt and reference policy ``P`` (reference = ``P``'s
    sample 0), candidates = sample 1 of every policy. ``pairwise``: the fraction of ``Q ≠ P``
    with ``r(ref, cand_P) > r(ref, cand_Q)``; ``top1``: the fraction of references whose
    own-policy candidate scores highest; per reference policy too."""
    wins = total = top = refs = 0
    per: dict[str, list[int]] = {}
    for q in prompts:
        for p in ref_policies:
            ref = samples[p][q][0]
            scores = {c: reward(q, ref, samples[c][q][1]) for c in candidate_policies}
            own = scores[p]
            beaten = [own > s for c, s in scores.items() if c != p]
            wins += sum(beaten)
            total += len(beaten)
            top += all(beaten)
            refs += 1
            row = per.setdefault(p, [0, 0])
            row[0] += sum(beaten)
            row[1] += len(beaten)
    return {"pairwise": wins / max(1, total), "top1": top / max(1, refs), "pairs": total,
            "references": refs, "chance_top1": 1 / len(candidate_policies),
            "per_reference_policy": {p: w / n for p, (w, n) in per.items()}}
