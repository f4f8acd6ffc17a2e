"""The head every prompt of a call shares (the chat template's system prompt) is prefilled once.

Reference: ``transformers``' own forward and ``model.generate`` on the real SmolLM2, one prompt
at a time (no padding, no sharing)."""

from __future__ import annotations

import pytest
import torch

from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer
from judges.llm.prefix_cache import SHARED_PREFIX_MIN_SAVED, shared_prefix
from judges.llm.sampler import SamplingConfig, TorchSampler
from judges.llm.scoring import prompt_ids

QUESTIONS = ["What is 7 + 5?", "Name a colour of the sky, in one word please.",
             "Say hello.", "Compute 12 - 30 and answer with the number only.",
             "Spell the word cat backwards."]


@pytest.fixture(scope="module")
def model():
    return load_embedded_model(dtype=torch.float32).eval()


@pytest.fixture(scope="module")
def prompts():
    tok = load_embedded_tokenizer()
    return [prompt_ids(tok, [{"role": "user", "content": q}]) for q in QUESTIONS]


class _Spy:
    """Records the (batch, tokens) shape of every forward pass the decoder runs."""

    def __init__(self, decoder) -> None:
        self.shapes: list[tuple[int, int]] = []
        self._forward = decoder._forward
        decoder._forward = self

    def __call__(self, ids, *args):
        self.shapes.append(tuple(ids.shape))
        return self._forward(ids, *args)


def test_shared_prefix_length_and_threshold():
    assert shared_prefix([[1, 2, 3]]) == 0  # one prompt: nothing to share
    assert shared_prefix([[1, 2, 3, 4], [1, 2, 9]]) == 0  # 2 tokens saved: not worth a pass
    head = list(range(100, 140))
    assert shared_prefix([head + [1], head + [2, 3], head + [4]]) == 40
    # identical prompts still keep one token of their own (it gives the next-token logits)
    assert shared_prefix([head, head + [5]]) == 39
    short = list(range(SHARED_PREFIX_MIN_SAVED // 2))
    assert shared_prefix([short + [1], short + [2]]) == 0
    assert shared_prefix([short + [1], short + [2], short + [3]]) == len(short)
    assert shared_prefix([[7] + head, [8] + head]) == 0  # shared tails do not count


def test_common_head_runs_once_and_changes_nothing(model, prompts):
    head = shared_prefix(prompts)
    assert head >= 20  # SmolLM2's default system prompt and the chat markers
    sampler = TorchSampler(model, dtype=torch.float32)
    spy = _Spy(sampler._decoder)
    steps = 12
    gens = sampler.generate(prompts, SamplingConfig(steps, temperature=0.0))
    suffix = max(len(p) for p in prompts) - head
    assert spy.shapes[:2] == [(1, head), (len(prompts), suffix)]  # the head once, then the rest
    assert all(shape[1] == 1 for shape in spy.shapes[2:])  # decode steps
    for prompt, gen in zip(prompts, gens, strict=True):
        ids = torch.tensor([prompt])
        with torch.inference_mode():
            ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                 max_new_tokens=steps, do_sample=False, temperature=None,
                                 top_p=None, top_k=None, pad_token_id=0)[0, len(prompt):].tolist()
            full = torch.tensor([prompt + gen.token_ids])
            logp = model(full).logits[0, len(prompt) - 1 : -1].log_softmax(-1)
        ref = ref[: ref.index(sampler.stop_token_ids[0]) + 1] if sampler.stop_token_ids[0] \
            in ref else ref
        assert gen.token_ids == ref
        want = logp.gather(-1, torch.tensor(gen.token_ids)[:, None]).squeeze(-1)
        assert torch.tensor(gen.logprobs) == pytest.approx(want, abs=2e-4)


def test_a_kept_prefix_cache_stores_the_head_for_later_calls(model, prompts):
    sampler = TorchSampler(model, dtype=torch.float32, prefix_cache_tokens=10_000)
    head = shared_prefix(prompts[:3])
    assert head == shared_prefix(prompts) and shared_prefix(prompts[3:]) == 0  # 2 x 24 tokens
    config = SamplingConfig(4, temperature=1.0)
    first = sampler.generate(prompts[:3], config, seed=0)
    assert tuple(prompts[0][:head]) in sampler.prefix_cache.entries
    spy = _Spy(sampler._decoder)
    again = sampler.generate(prompts[3:], config, seed=0)  # new prompts, the same head
    assert spy.shapes[0] == (2, max(len(p) for p in prompts[3:]) - head)  # no batch-one pass
    plain = TorchSampler(model, dtype=torch.float32)
    for got, want in ((first, plain.generate(prompts[:3], config, seed=0)),
                      (again, plain.generate(prompts[3:], config, seed=0))):
        for x, y in zip(got, want, strict=True):
            assert x.token_ids == y.token_ids
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)


def test_a_head_larger_than_the_kept_cache_is_not_run_apart(model, prompts):
    """A head the cache could not keep would be run at batch one for nothing: plain prefill."""
    head = shared_prefix(prompts)
    sampler = TorchSampler(model, dtype=torch.float32, prefix_cache_tokens=head - 1)
    spy = _Spy(sampler._decoder)
    gens = sampler.generate(prompts, SamplingConfig(3, temperature=0.0))
    assert spy.shapes[0] == (len(prompts), max(len(p) for p in prompts))
    plain = TorchSampler(model, dtype=torch.float32).generate(prompts, SamplingConfig(3, 0.0))
    assert [g.token_ids for g in gens] == [g.token_ids for g in plain]
