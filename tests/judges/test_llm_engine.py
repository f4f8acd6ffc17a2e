"""The one inference layer: local chat replies come from the trainers' engine (TorchSampler).

Reference: ``transformers``' own ``model.generate`` on the same model and prompt ids.
"""

from __future__ import annotations

import pytest
import torch

from judges.llm.base import SamplingParams
from judges.llm.sampler import SamplingConfig, TorchSampler
from judges.llm.scoring import prompt_ids
from judges.llm.transformers_backend import TransformersChat

PROMPTS = [
    [{"role": "user", "content": "What is 7 + 5? Answer with a number."}],
    [{"role": "user", "content": "Name a colour of the sky."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}],
]


@pytest.fixture(scope="module")
def chat32() -> TransformersChat:
    return TransformersChat.from_embedded(dtype="float32", batch_size=4)


def test_embedded_chat_generates_through_the_fast_llama_engine(chat32: TransformersChat) -> None:
    chat32.generate(PROMPTS[:1], SamplingParams(max_new_tokens=2))
    assert isinstance(chat32.engine, TorchSampler)
    assert chat32.engine.fast, "SmolLM2 must run on the fused Llama decoder, not model.generate"
    assert chat32.engine.dtype == torch.float32


def test_greedy_replies_equal_transformers_generate(chat32: TransformersChat) -> None:
    sampling = SamplingParams(temperature=0.0, max_new_tokens=24)
    done = chat32.generate_completions(PROMPTS, sampling)
    tok = chat32.tokenizer
    for conv, completion in zip(PROMPTS, done, strict=True):
        ids = torch.tensor([prompt_ids(tok, conv)])
        with torch.inference_mode():
            out = chat32.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                                        max_new_tokens=24, do_sample=False, temperature=None,
                                        top_p=None, top_k=None, pad_token_id=tok.pad_token_id)
        new = out[0, ids.shape[1]:].tolist()
        assert completion.text == tok.decode(new, skip_special_tokens=True)
        assert completion.prompt_tokens == ids.shape[1]
        ended = tok.eos_token_id in new
        assert completion.finish_reason == ("stop" if ended else "length")
        assert completion.completion_tokens == (new.index(tok.eos_token_id) + 1 if ended else 24)


def test_stop_string_counts_tokens_through_the_stop(chat32: TransformersChat) -> None:
    tok = chat32.tokenizer
    ids = prompt_ids(tok, PROMPTS[1])
    [gen] = chat32.engine.generate([ids], SamplingParams(max_new_tokens=16), seeds=[0])
    free = tok.decode(gen.token_ids, skip_special_tokens=True)
    words = free.split()
    assert len(words) >= 2, free
    stop = words[1]
    [cut] = chat32.generate_completions(PROMPTS[1:2], SamplingParams(max_new_tokens=16,
                                                                     stop=(stop,)))
    assert cut.text == free[: free.find(stop)]
    assert cut.finish_reason == "stop"
    # tokens counted = the fewest leading tokens whose text reaches the stop (linear scan)
    expected = next(k for k in range(1, len(gen.token_ids) + 1)
                    if stop in tok.decode(gen.token_ids[:k], skip_special_tokens=True))
    assert cut.completion_tokens == expected < len(gen.token_ids)


def test_row_seeds_make_a_row_independent_of_its_batch(chat32: TransformersChat) -> None:
    engine = chat32.engine
    ids = [prompt_ids(chat32.tokenizer, c) for c in PROMPTS]
    config = SamplingConfig(12, temperature=1.0)
    together = engine.generate(ids, config, seeds=[11, 22, 33])
    alone = engine.generate(ids[1:2], config, seeds=[22])
    reordered = engine.generate([ids[2], ids[1]], config, seeds=[33, 22])
    assert together[1].token_ids == alone[0].token_ids == reordered[1].token_ids
    assert together[2].token_ids == reordered[0].token_ids
    other = engine.generate(ids[1:2], config, seeds=[23])
    assert other[0].token_ids != alone[0].token_ids
    with pytest.raises(ValueError, match="not both"):
        engine.generate(ids, config, seed=1, seeds=[1, 2, 3])
    with pytest.raises(ValueError, match="2 seeds for 3 prompts"):
        engine.generate(ids, config, seeds=[1, 2])


def test_one_sampling_type() -> None:
    trainer = SamplingConfig(6)
    assert type(trainer) is SamplingParams
    assert (trainer.max_new_tokens, trainer.temperature, trainer.top_p, trainer.top_k) == \
        (6, 1.0, 1.0, 0)
    with pytest.raises(ValueError, match="top_k"):
        SamplingParams(top_k=-1)


def test_update_weights_reaches_the_engine(chat32: TransformersChat) -> None:
    sampling = SamplingParams(temperature=0.0, max_new_tokens=6)
    before = chat32.generate(PROMPTS[:1], sampling)
    model = TransformersChat.from_embedded(dtype="float32").model
    with torch.no_grad():
        model.lm_head.weight.mul_(-1.0)  # tied to the embeddings: a different greedy reply
    chat32.update_weights(model)
    try:
        assert chat32.generate(PROMPTS[:1], sampling) != before
    finally:
        chat32.update_weights()
    assert chat32.generate(PROMPTS[:1], sampling) == before
