"""Gradient-free scoring passes: old and reference log-probabilities (and values) of samples.

The reference policy is the starting point of training: for a LoRA policy the same model with
its adapters switched off (no copy), otherwise a frozen copy made before the first update.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Sequence
from typing import Any

import torch

from agents.policy import CausalLMPolicy, PolicyOutput
from agents.prefix import encode_prefixes, shares_prompts
from agents.rollout.batch import Sample, collate, length_sorted_chunks

__all__ = ["frozen_reference", "score_samples"]


def frozen_reference(policy: CausalLMPolicy) -> CausalLMPolicy | None:
    """A frozen copy of ``policy`` (``None`` for LoRA: disabling the adapters is the reference)."""
    if policy.is_peft:
        return None
    frozen = copy.deepcopy(policy.model).eval().requires_grad_(False)
    ref = CausalLMPolicy(frozen, policy.tokenizer, name="reference")
    ref.eval()
    return ref


@torch.no_grad()
def score_samples(
    policy: CausalLMPolicy,
    samples: Sequence[Sample],
    *,
    pad_token_id: int,
    batch_size: int,
    max_tokens: int | None = None,
    temperature: float = 1.0,
    reference: CausalLMPolicy | None = None,
    use_reference: bool = False,
    with_values: bool = False,
    autocast: Any = None,
    share_prefix: bool = False,
) -> list[PolicyOutput]:
    """Per-sample log-probabilities (and values) of the completion tokens, on CPU.

    ``use_reference``: score with ``reference`` (or, when it is ``None`` and the policy is a
    peft model, with the adapters disabled). ``share_prefix``: run each distinct prompt once
    (:mod:`agents.prefix`; not with values).
    """
    device = next(policy.parameters()).device
    results: list[PolicyOutput | None] = [None] * len(samples)
    model = reference if use_reference and reference is not None else policy
    adapters_off = use_reference and reference is None and policy.is_peft
    was_training = policy.training
    policy.eval()
    try:
        chunks = length_sorted_chunks(list(samples), batch_size, max_tokens)
        everything = [i for chunk in chunks for i in chunk]
        prefix = None
        # no gradients: only keys/values are held (~46 KB a token for SmolLM2 in fp32)
        cap = None if max_tokens is None else 8 * max_tokens
        if share_prefix and not with_values and shares_prompts(samples, everything, cap):
            context = policy.model.disable_adapter() if adapters_off else contextlib.nullcontext()
            with autocast or contextlib.nullcontext(), context:
                prefix = encode_prefixes(model.model, samples, everything, pad_token_id, device,
                                         grad=False)
        for chunk in chunks:
            mb = collate([samples[i] for i in chunk], pad_token_id, chunk).to(device)
            context = policy.model.disable_adapter() if adapters_off else contextlib.nullcontext()
            with autocast or contextlib.nullcontext(), context:
                out = model(mb.input_ids, mb.attention_mask, mb.position_ids, mb.completion_width,
                            temperature=temperature,
                            with_values=with_values and model is policy,
                            prefix=None if prefix is None else prefix.rows(chunk, device))
            for row, i in enumerate(chunk):
                n = len(samples[i].completion_ids)
                results[i] = PolicyOutput(
                    logprobs=out.logprobs[row, :n].float().cpu(),
                    values=None if out.values is None else out.values[row, :n].float().cpu(),
                )
    finally:
        policy.train(was_training)
    return [r for r in results if r is not None]
