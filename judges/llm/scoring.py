"""Log-probabilities from a local ``transformers`` causal LM.

Three questions a judge asks of a model, answered from its logits in one forward pass:

* :func:`choice_logprobs` -- how likely is each short answer ("Yes" / "No", "A" / "B") as the
  first token of the reply?  A choice's log-probability is the log of the summed probability of
  every vocabulary token that reads as that choice once surrounding whitespace is stripped
  (``"Yes"`` and ``" Yes"``), so local scores agree with an HTTP server's ``top_logprobs``.
* :func:`token_logprobs` -- log-probability of each generated token plus the ``k`` most likely
  alternatives at each position (what ``logprobs: true, top_logprobs: k`` serves).
* :func:`tagged_position_logits` -- logits of chosen tokens at marked positions of one token
  sequence (process reward models score each step at its separator).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from judges.llm.base import Messages

__all__ = [
    "prompt_ids",
    "choice_token_ids",
    "choice_logprobs",
    "token_logprobs",
    "tagged_position_logits",
    "logsumexp",
]

_CHOICE_IDS: dict[tuple[int, str], list[int]] = {}
_VOCAB: dict[int, list[str]] = {}


def logsumexp(values: Sequence[float]) -> float:
    """``log(sum(exp(v)))``, ``-inf`` for an empty or all ``-inf`` input."""
    finite = [v for v in values if v != -math.inf]
    if not finite:
        return -math.inf
    top = max(finite)
    return top + math.log(sum(math.exp(v - top) for v in finite))


def prompt_ids(tokenizer: Any, conversation: Messages) -> list[int]:
    """Token ids of ``conversation`` rendered with the chat template and a generation prompt."""
    text = tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in conversation],
        add_generation_prompt=True,
        tokenize=False,
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def choice_token_ids(tokenizer: Any, choice: str) -> list[int]:
    """Vocabulary ids whose decoded text, stripped of whitespace, equals ``choice``."""
    key = (id(tokenizer), choice)
    if key not in _CHOICE_IDS:
        target = choice.strip()
        if not target:
            raise ValueError("a choice must contain a non-space character")
        decoded = _decoded_vocab(tokenizer)
        ids = [i for i, text in enumerate(decoded) if text.strip() == target]
        if not ids:  # a multi-token choice: its first token stands for it
            ids = [tokenizer(target, add_special_tokens=False)["input_ids"][0]]
        _CHOICE_IDS[key] = ids
    return _CHOICE_IDS[key]


def _decoded_vocab(tokenizer: Any) -> list[str]:
    key = id(tokenizer)
    if key not in _VOCAB:
        _VOCAB[key] = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return _VOCAB[key]


def _left_padded(id_lists: Sequence[list[int]], pad_id: int) -> tuple[Any, Any]:
    import torch

    width = max(len(ids) for ids in id_lists)
    input_ids = torch.full((len(id_lists), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(id_lists), width), dtype=torch.long)
    for row, ids in enumerate(id_lists):
        input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
        mask[row, width - len(ids) :] = 1
    return input_ids, mask


def _forward_logprobs(model: Any, input_ids: Any, mask: Any, last_only: bool = False) -> Any:
    """Float32 log-softmax over the vocabulary at every position (or only the last one)."""
    import torch

    with torch.inference_mode():
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        kwargs = {"logits_to_keep": 1} if last_only else {}
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=position_ids,
                       **kwargs).logits
        return torch.log_softmax(logits.float(), dim=-1)


def choice_logprobs(
    model: Any,
    tokenizer: Any,
    conversations: Sequence[Messages],
    choices: Sequence[str],
    batch_size: int = 16,
) -> list[dict[str, float]]:
    """Per conversation, ``{choice: log P(first reply token reads as choice)}``."""
    if not choices:
        raise ValueError("choice_logprobs needs at least one choice")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids_per_choice = {c: choice_token_ids(tokenizer, c) for c in choices}
    out: list[dict[str, float]] = []
    for start in range(0, len(conversations), batch_size):
        batch = [prompt_ids(tokenizer, conv) for conv in conversations[start : start + batch_size]]
        input_ids, mask = _left_padded(batch, pad)
        last = _forward_logprobs(model, input_ids, mask, last_only=True)[:, -1, :]
        for row in range(len(batch)):
            out.append({
                c: logsumexp([float(last[row, i]) for i in ids]) for c, ids in ids_per_choice.items()
            })
    return out


def token_logprobs(
    model: Any, tokenizer: Any, prompt: list[int], generated: list[int], top_k: int = 0
) -> list[dict[str, Any]]:
    """OpenAI-style ``logprobs.content`` entries for ``generated`` following ``prompt``."""
    import torch

    if not generated:
        return []
    ids = torch.tensor([prompt + generated], dtype=torch.long)
    logprobs = _forward_logprobs(model, ids, torch.ones_like(ids))[0]
    entries = []
    for offset, token in enumerate(generated):
        row = logprobs[len(prompt) + offset - 1]
        entry: dict[str, Any] = {"token": tokenizer.decode([token]), "logprob": float(row[token])}
        entry["bytes"] = list(entry["token"].encode())
        if top_k > 0:
            values, indices = torch.topk(row, min(top_k, row.shape[-1]))
            entry["top_logprobs"] = [
                {"token": (t := tokenizer.decode([int(i)])), "logprob": float(v),
                 "bytes": list(t.encode())}
                for v, i in zip(values.tolist(), indices.tolist(), strict=True)
            ]
        entries.append(entry)
    return entries


def tagged_position_logits(
    model: Any, ids: list[int], positions: Sequence[int], token_ids: Sequence[int]
) -> list[list[float]]:
    """Raw logits of ``token_ids`` predicted at each of ``positions`` (indices into ``ids``)."""
    import torch

    tensor = torch.tensor([ids], dtype=torch.long)
    with torch.inference_mode():
        logits = model(input_ids=tensor, attention_mask=torch.ones_like(tensor)).logits[0].float()
    cols = torch.tensor(list(token_ids), dtype=torch.long)
    return [logits[p, cols].tolist() for p in positions]
