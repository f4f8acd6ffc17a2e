"""The endogenous reward judge (arXiv 2506.23235, issue 33) on the embedded SmolLM2-135M: its
formula against the logits by hand (per-token inverse soft Bellman, the telescoped sum), and
its accuracy on pairs whose preferred response is known -- correct vs corrupted arithmetic
answers, a reference sentence vs the same words shuffled -- next to the embedded pointwise LLM
judge on the same pairs (both accuracies printed; run with ``-s`` to see them)."""

from __future__ import annotations

import random

import pytest
import torch

from judges import Verdict
from judges.endogenous import EndogenousRewardJudge, endogenous_token_rewards
from judges.llm.base import SamplingParams
from judges.llmjudge import PointwiseJudge

ARITHMETIC = [(12, 7), (25, 13), (8, 9), (40, 2), (31, 16), (6, 7), (15, 15), (23, 44),
              (9, 3), (52, 21), (11, 11), (70, 5)]
SENTENCES = [
    ("Describe the sky on a clear day.", "The sky is blue and the sun is shining brightly."),
    ("What do cats like to do?", "Cats like to sleep in warm places during the day."),
    ("Say something about water.", "Water boils at one hundred degrees Celsius at sea level."),
    ("Tell me about Paris.", "Paris is the capital of France and has many museums."),
    ("What is a library?", "A library is a place where people can borrow books."),
    ("How do plants grow?", "Plants grow by using sunlight, water and air to make food."),
    ("What is a bicycle?", "A bicycle is a vehicle with two wheels that you pedal."),
    ("Why do we sleep?", "We sleep so that our body and brain can rest and recover."),
]


def _corrupt(n: int) -> int:
    return n + 10 if n % 10 != 0 else n + 1  # a plausible-looking wrong answer


def _shuffled(text: str, seed: int) -> str:
    words = text.rstrip(".").split()
    rng = random.Random(seed)
    while True:
        order = words[:]
        rng.shuffle(order)
        if order != words:
            return " ".join(order) + "."


def known_pairs() -> list[tuple[dict, str, str]]:
    """(task, preferred, worse) pairs: 12 arithmetic, 8 shuffled-text."""
    pairs = [({"prompt": f"What is {a} + {b}? Answer with the number only."},
              str(a + b), str(_corrupt(a + b))) for a, b in ARITHMETIC]
    pairs += [({"prompt": q}, ref, _shuffled(ref, i)) for i, (q, ref) in enumerate(SENTENCES)]
    return pairs


def test_token_rewards_are_the_inverse_soft_bellman_residuals(smollm2):
    """r_h = α z(s_h, a_h) − α lse z(s_{h+1}), V = 0 after the end-of-turn token; the sum
    telescopes to α log π(y|x) + V(s_1), α only scales."""
    judge = EndogenousRewardJudge(smollm2, alpha=1.0)
    task = {"prompt": "What is 2 + 3?"}
    ids, start = judge._ids("5", task)
    assert ids[-1] == smollm2.tokenizer.eos_token_id and start < len(ids) - 1
    tensor = torch.tensor([ids])
    with torch.inference_mode():
        z = smollm2.model(input_ids=tensor).logits[0].double()
    logp = torch.log_softmax(z, -1)
    lse = torch.logsumexp(z, -1)
    rewards = endogenous_token_rewards(z, ids, start)
    by_hand = [float(z[t - 1, ids[t]] - (lse[t] if t < len(ids) - 1 else 0.0))
               for t in range(start, len(ids))]
    assert rewards == pytest.approx(by_hand, rel=1e-9)
    loglik = sum(float(logp[t - 1, ids[t]]) for t in range(start, len(ids)))
    assert sum(rewards) == pytest.approx(loglik + float(lse[start - 1]), rel=1e-9)
    open_ended = endogenous_token_rewards(z, ids, start, terminal=False)
    assert sum(open_ended) == pytest.approx(sum(rewards) - float(lse[-1]), rel=1e-9)
    assert endogenous_token_rewards(z, ids, start, alpha=0.5) == \
        pytest.approx([0.5 * r for r in rewards])
    v = judge("5", task)
    assert isinstance(v, Verdict) and 0.0 <= v.score <= 1.0
    assert v.details["tokens"] == len(ids) - start
    assert v.details["endogenous_reward"] == pytest.approx(sum(judge.token_rewards(["5"],
                                                                                   task)[0]))


def _accuracy(better: list[float], worse: list[float]) -> float:
    return sum(1.0 if b > w else 0.5 if b == w else 0.0
               for b, w in zip(better, worse, strict=True)) / len(better)


def test_endogenous_reward_prefers_the_known_better_response(smollm2):
    pairs = known_pairs()
    accuracy = {}
    for aggregate in ("sum", "mean"):
        judge = EndogenousRewardJudge(smollm2, aggregate=aggregate, batch_size=20)
        tasks = [t for t, _, _ in pairs]
        good = judge.rewards([p for _, p, _ in pairs], tasks)  # batched, right-padded
        bad = judge.rewards([w for _, _, w in pairs], tasks)
        if aggregate == "sum":  # one at a time agrees with the padded batch (bf16 numerics)
            alone = [judge.rewards([p], t)[0] for t, p, _ in pairs[:3]]
            assert alone == pytest.approx(good[:3], rel=0.02, abs=0.2)
        accuracy[aggregate] = (_accuracy(good[:12], bad[:12]), _accuracy(good[12:], bad[12:]))
    print(f"\nendogenous reward, pairs preferred correctly (arithmetic 12, shuffled text 8): "
          f"sum {accuracy['sum']}, mean {accuracy['mean']}")
    arithmetic, text = accuracy["sum"]
    assert text >= 7 / 8  # word order is what a language model knows best
    assert arithmetic >= 8 / 12  # above chance on this small model's arithmetic


@pytest.mark.slow
def test_endogenous_reward_next_to_the_pointwise_llm_judge(smollm2):
    """The same pairs scored by the embedded pointwise judge (greedy, 1-10 rubric, 48 new
    tokens): a tie or an unparseable score counts half. Measured (issue 33): endogenous 0.85
    (arithmetic 9/12, text 8/8); the 135M pointwise judge wrote no parseable score line for any
    of the 40 responses (all unscored), so 0.5."""
    pairs = known_pairs()
    tasks = [t for t, _, _ in pairs]
    endo = EndogenousRewardJudge(smollm2, batch_size=20)
    llm = PointwiseJudge(smollm2, sampling=SamplingParams(temperature=0.0, max_new_tokens=48))
    endo_acc = _accuracy([v.score for v in endo.score_batch([p for _, p, _ in pairs], tasks)],
                         [v.score for v in endo.score_batch([w for _, _, w in pairs], tasks)])
    judged = llm.score_batch([p for _, p, _ in pairs], tasks) + \
        llm.score_batch([w for _, _, w in pairs], tasks)
    scores = [v.score for v in judged]
    llm_acc = _accuracy(scores[:len(pairs)], scores[len(pairs):])
    unscored = sum(v.status == "unscored" for v in judged)
    print(f"\n20 known pairs: endogenous reward accuracy {endo_acc:.3f}, "
          f"pointwise SmolLM2 judge accuracy {llm_acc:.3f} ({unscored} of {len(judged)} "
          f"judgements unscored)")
    assert endo_acc > llm_acc
