"""Endogenous reward: a reward read off a causal LM's own logits, with no training (Li et al.,
"Generalist Reward Models: Found Inside Large Language Models", arXiv 2506.23235).

**Why a language model holds a reward.** Next-token training of ``π = softmax(f / α)`` on a
corpus maximises, over logit functions ``Q``, the offline inverse soft-Q-learning objective
``Σ_h [Q(s_h, a_h) − α log Σ_a exp(Q(s_h, a) / α)]``; the trained logits ``f`` are one of its
solutions, so ``Q̂ = f`` is a soft Q-function of the demonstrations and the reward it implies
follows from the inverse soft Bellman operator. With the state ``s_h`` = prompt + the first
``h − 1`` response tokens, the action ``a_h`` = the next token, ``V(s) = α log Σ_a exp(Q(s, a)/α)``
and no discount (γ = 1, as in the paper):

    r(s_h, a_h) = Q(s_h, a_h) − V(s_{h+1})
                = α log π(a_h | s_h) + V(s_h) − V(s_{h+1})

For a model whose raw logits are ``z``, ``π = softmax(z)`` means ``Q = α z`` and ``V = α·lse(z)``,
so ``α`` only scales every reward (``alpha``, default 1). The response's reward is the sum over its
tokens (the paper's cumulative reward, ``aggregate="sum"``), which telescopes:

    R(x, y) = Σ_h r(s_h, a_h) = α Σ_h log π(a_h | s_h) + V(s_1) − V(s_{H+1})

**Assumptions, stated.** (1) The model's logits are a soft Q-function of the behaviour it was
trained to imitate (the paper's Proposition 1 needs next-token training to optimum; a 135M model
is far from it): the reward says how much the response looks like what the model's training data
would do, not whether it is true. (2) γ = 1 and the response is an episode: the end-of-turn token
is appended (``terminal=True``) and the state after it is terminal with ``V = 0``, so the last
reward is ``Q(s_H, a_H)`` and ``R = α log π(y | x) + V(s_1)`` -- for responses to one prompt the
ranking of sequence log-likelihoods, end of turn included. ``terminal=False`` keeps the model's
``V(s_{H+1})`` instead (an unfinished response). (3) Only local logits over the whole vocabulary
give ``V``: a backend that returns top-k log-probs (an OpenAI-compatible server) cannot, so the
judge needs a local model (``TransformersChat`` or any ``transformers`` causal LM + tokenizer).
(4) The sum grows with length (more tokens, more negative ``log π``); ``aggregate="mean"`` gives
the per-token reward, a length-normalised variant that is *not* the paper's.

The ``Verdict``'s score is ``σ(R / temperature)`` (monotone in ``R``, in ``[0, 1]`` as the
contract requires); the raw reward, its per-token mean and the token count are in ``details``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from judges.verdict import Verdict

__all__ = ["EndogenousRewardJudge", "endogenous_token_rewards"]

AGGREGATES = ("sum", "mean")
TaskOrTasks = Mapping[str, Any] | Sequence[Mapping[str, Any]]


def endogenous_token_rewards(logits: Any, ids: Sequence[int], start: int, alpha: float = 1.0,
                             terminal: bool = True) -> list[float]:
    """Per-token rewards ``r_h = α z(s_h, a_h) − α·lse z(s_{h+1})`` of the tokens ``ids[start:]``
    of one sequence, from its raw logits ``z`` ``(len(ids), V)`` (row ``t`` predicts token
    ``t + 1``); ``V(s_{H+1}) = 0`` after the last token when ``terminal``."""
    import torch

    if not 0 < start <= len(ids):
        raise ValueError("the response must follow at least one prompt token")
    z = logits.double()
    lse = torch.logsumexp(z, dim=-1)  # V/α of the state after each token
    last = len(ids) - 1
    out = []
    for t in range(start, len(ids)):
        q = alpha * float(z[t - 1, ids[t]])  # Q(s_h, a_h): the row that predicts token t
        v_next = 0.0 if (terminal and t == last) else alpha * float(lse[t])
        out.append(q - v_next)
    return out


class EndogenousRewardJudge:
    """The endogenous reward of a response (see the module docstring) as a judge.

    Args:
        model: a ``TransformersChat`` (its ``.model`` and ``.tokenizer``) or a ``transformers``
            causal LM (then pass ``tokenizer``).
        tokenizer: the tokenizer when ``model`` is a bare causal LM.
        alpha: the entropy coefficient α (scales every reward).
        aggregate: ``"sum"`` (the paper's cumulative reward) or ``"mean"`` (per token).
        terminal: append the end-of-turn token and take ``V = 0`` after it.
        temperature: the score is ``σ(reward / temperature)``.
        pass_threshold: score at which ``passed`` is true.
        name: the component name in ``details["components"]``.
        batch_size: responses per forward pass.
    """

    def __init__(self, model: Any, tokenizer: Any = None, alpha: float = 1.0,
                 aggregate: str = "sum", terminal: bool = True, temperature: float = 1.0,
                 pass_threshold: float = 0.5, name: str = "endogenous",
                 batch_size: int = 8) -> None:
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {aggregate!r}")
        if alpha <= 0 or temperature <= 0:
            raise ValueError("alpha and temperature must be > 0")
        self.model = getattr(model, "model", model)
        self.tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
        if self.tokenizer is None or not callable(self.model):
            raise TypeError("EndogenousRewardJudge needs a local causal LM and its tokenizer "
                            "(full-vocabulary logits; a top-k log-prob server cannot give V)")
        self.alpha, self.aggregate, self.terminal = alpha, aggregate, terminal
        self.temperature, self.pass_threshold, self.name = temperature, pass_threshold, name
        self.batch_size = max(1, int(batch_size))

    def _ids(self, response: str, task: Mapping[str, Any]) -> tuple[list[int], int]:
        from judges.llm.scoring import prompt_ids

        prompt = task.get("prompt", "")
        messages = task.get("messages") or [{"role": "user", "content": str(prompt)}]
        head = prompt_ids(self.tokenizer, messages)
        body = list(self.tokenizer(response, add_special_tokens=False)["input_ids"])
        if self.terminal and self.tokenizer.eos_token_id is not None:
            body.append(int(self.tokenizer.eos_token_id))
        return head + body, len(head)

    def token_rewards(self, responses: Sequence[str], tasks: TaskOrTasks) -> list[list[float]]:
        """Each response's per-token rewards ``r(s_h, a_h)`` (``tasks``: one shared task or one
        per response), ``batch_size`` responses per forward pass (right-padded: a causal model's
        logits at real positions do not see the padding)."""
        import torch

        rows = [self._ids(r, t) for r, t in zip(responses, _per_response(tasks, responses),
                                                strict=True)]
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        out = []
        for first in range(0, len(rows), self.batch_size):
            chunk = rows[first:first + self.batch_size]
            width = max(len(ids) for ids, _ in chunk)
            tensor = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, (ids, _) in enumerate(chunk):
                tensor[i, :len(ids)] = torch.tensor(ids, dtype=torch.long)
                mask[i, :len(ids)] = 1
            with torch.inference_mode():
                logits = self.model(input_ids=tensor, attention_mask=mask).logits
            for i, (ids, start) in enumerate(chunk):
                out.append(endogenous_token_rewards(logits[i, :len(ids)], ids, start,
                                                    self.alpha, self.terminal))
        return out

    def rewards(self, responses: Sequence[str], tasks: TaskOrTasks) -> list[float]:
        """Each response's reward: the sum (or mean) of its token rewards."""
        return [_aggregate(r, self.aggregate) for r in self.token_rewards(responses, tasks)]

    def score_batch(self, responses: Sequence[str], tasks: TaskOrTasks) -> list[Verdict]:
        """Verdicts for ``responses`` (``tasks``: one shared task or one per response)."""
        verdicts = []
        for rewards in self.token_rewards(responses, tasks):
            value = _aggregate(rewards, self.aggregate)
            score = 1.0 / (1.0 + math.exp(-max(min(value / self.temperature, 700.0), -700.0)))
            details = {"endogenous_reward": value, "reward_sum": sum(rewards),
                       "reward_mean": _aggregate(rewards, "mean"), "tokens": len(rewards),
                       "components": {self.name: score}}
            verdicts.append(Verdict(score, score >= self.pass_threshold,
                                    f"endogenous reward {value:.3f} ({self.aggregate} over "
                                    f"{len(rewards)} tokens)", details))
        return verdicts

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        return self.score_batch([response], task)[0]


def _per_response(tasks: TaskOrTasks, responses: Sequence[str]) -> list[Mapping[str, Any]]:
    if isinstance(tasks, Mapping):
        return [tasks] * len(responses)
    if len(tasks) != len(responses):
        raise ValueError("need one task per response (or one shared task)")
    return list(tasks)


def _aggregate(rewards: Sequence[float], how: str) -> float:
    if not rewards:
        return 0.0
    return float(sum(rewards)) if how == "sum" else float(sum(rewards)) / len(rewards)
