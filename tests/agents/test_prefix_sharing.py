"""Shared prompt prefixes (agents.prefix): the same log-probs and the same gradient as running
every row's whole sequence, for generated batches, and the same trainer update (issue 29)."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from agents import GRPOConfig, GRPOTrainer, LoraSettings, RLOOConfig, RLOOTrainer
from agents.policy import apply_lora
from agents.prefix import encode_prefixes, shares_prompts
from agents.rollout.batch import Sample, collate, length_sorted_chunks
from tests.agents.toy_envs import tiny_policy

PAD = 2


@st.composite
def batches(draw):
    """Groups of rows: each group one prompt (1-12 tokens) and 1-4 completions (1-9 tokens);
    some groups repeat an earlier group's prompt; a micro-batch size of 1-5 rows."""
    samples = []
    prompts: list[list[int]] = []
    for _ in range(draw(st.integers(1, 4))):
        if prompts and draw(st.booleans()):
            prompt = draw(st.sampled_from(prompts))
        else:
            prompt = draw(st.lists(st.integers(3, 500), min_size=1, max_size=12))
            prompts.append(prompt)
        for _ in range(draw(st.integers(1, 4))):
            completion = draw(st.lists(st.integers(3, 500), min_size=1, max_size=9))
            mask = torch.tensor(draw(st.lists(st.sampled_from([0.0, 1.0]), min_size=len(completion),
                                              max_size=len(completion))))
            samples.append(Sample(list(prompt), completion, mask))
    return samples, draw(st.integers(1, 5))


def _pass(policy, samples, size, share, temperature=0.7):
    """Per-row log-probs/entropy and the parameters' gradient of a token-weighted loss."""
    policy.zero_grad(set_to_none=True)
    chunks = length_sorted_chunks(samples, size)
    state = (encode_prefixes(policy.model, samples, [i for c in chunks for i in c], PAD,
                             torch.device("cpu"), grad=True) if share else None)
    rows: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for chunk in chunks:
        mb = collate([samples[i] for i in chunk], PAD, chunk)
        out = policy(mb.input_ids, mb.attention_mask, mb.position_ids, mb.completion_width,
                     temperature=temperature, with_entropy=True, entropy_grad=True,
                     prefix=None if state is None else state.rows(chunk, torch.device("cpu")))
        loss = ((out.logprobs - 0.1 * out.entropy) * mb.mask * torch.linspace(0.5, 2.0, mb.mask.shape[1])).sum()
        loss.backward()
        for r, i in enumerate(chunk):
            n = len(samples[i].completion_ids)
            rows[i] = (out.logprobs[r, :n].detach(), out.entropy[r, :n].detach())
    if state is not None:
        state.backward()
    grads = {k: p.grad.clone() for k, p in policy.named_parameters() if p.grad is not None}
    return rows, grads


def _same(a, b):
    rows_a, grads_a = a
    rows_b, grads_b = b
    assert rows_a.keys() == rows_b.keys()
    for i in rows_a:
        for x, y in zip(rows_a[i], rows_b[i], strict=True):
            assert torch.allclose(x, y, atol=1e-5, rtol=1e-5), i
    assert grads_a.keys() == grads_b.keys() and grads_a
    for k in grads_a:  # fp32 reassociation noise, relative to the tensor's scale
        scale = float(grads_a[k].abs().max())
        assert float((grads_a[k] - grads_b[k]).abs().max()) <= 1e-6 + 2e-5 * scale, k


@pytest.fixture(scope="module")
def full_policy():
    return tiny_policy(seed=11)


@pytest.fixture(scope="module")
def lora_policy():
    policy = tiny_policy(seed=12)
    policy.model = apply_lora(policy.model, LoraSettings(r=4, lora_alpha=8))
    for name, p in policy.model.named_parameters():  # non-zero adapters: B starts at 0
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.05)
    return policy


@settings(max_examples=25, deadline=None)
@given(batches())
def test_shared_prefix_equals_whole_sequences_full_model(full_policy, batch):
    samples, size = batch
    _same(_pass(full_policy, samples, size, False), _pass(full_policy, samples, size, True))


@settings(max_examples=15, deadline=None)
@given(batches())
def test_shared_prefix_equals_whole_sequences_lora(lora_policy, batch):
    samples, size = batch
    _same(_pass(lora_policy, samples, size, False), _pass(lora_policy, samples, size, True))


def test_no_grad_prefix_keeps_no_graph(full_policy):
    samples = [Sample([5, 6, 7], [8, 9], torch.ones(2)), Sample([5, 6, 7], [10], torch.ones(1))]
    with torch.no_grad():
        state = encode_prefixes(full_policy.model, samples, [0, 1], PAD, torch.device("cpu"),
                                grad=False)
    assert not state.last_logits.requires_grad and not state._outputs
    state.backward()  # nothing to send: a no-op
    assert shares_prompts(samples, [0, 1]) and not shares_prompts(samples, [0])


def test_value_head_rows_refuse_a_prefix():
    policy = tiny_policy(value_head=True)
    samples = [Sample([5, 6, 7], [8, 9], torch.ones(2)), Sample([5, 6, 7], [10], torch.ones(1))]
    state = encode_prefixes(policy.model, samples, [0, 1], PAD, torch.device("cpu"), grad=True)
    mb = collate(samples, PAD, [0, 1])
    with pytest.raises(ValueError, match="value"):
        policy(mb.input_ids, mb.attention_mask, mb.position_ids, mb.completion_width,
               with_values=True, prefix=state.rows([0, 1], torch.device("cpu")))


BASE = dict(max_steps=2, per_device_train_batch_size=4, gradient_accumulation_steps=2,
            num_generations=4, max_completion_length=8, learning_rate=1e-3, progress=False,
            seed=3)


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
@pytest.mark.parametrize("trainer_cls,config_cls,overrides", [
    (GRPOTrainer, GRPOConfig, {"loss_type": "dapo"}),
    (GRPOTrainer, GRPOConfig, {"loss_type": "grpo", "beta": 0.04, "max_micro_batch_tokens": 20}),
    (RLOOTrainer, RLOOConfig, {}),
], ids=["grpo-dapo", "grpo-kl-small-chunks", "rloo"])
def test_trainer_gradient_is_the_same_with_and_without_sharing(tmp_path, trainer_cls, config_cls,
                                                              overrides):
    """An optimizer step's gradient, on the same samples, with the prompt prefix shared and not
    (the trainer's own micro-batching, loss and normalisation)."""
    torch.manual_seed(0)
    policy = tiny_policy(seed=5)
    config = config_cls(output_dir=str(tmp_path), **BASE, **overrides)
    trainer = trainer_cls(policy, "agents-test/Uppercase-v0", config)
    trainer.optimizer.step = lambda: None
    samples, _ = trainer.make_samples()
    (indices,) = trainer.plan(samples)[:1]
    trainer.prepare_step(samples, indices)
    assert shares_prompts(samples, indices)

    def gradient(share):
        trainer.config.share_prompt_prefix = share
        stats = trainer._optimizer_step([samples[i] for i in indices])
        return stats, {k: p.grad.clone() for k, p in policy.named_parameters()
                       if p.grad is not None}

    trainer.optimizer.zero_grad = lambda set_to_none=True: None
    policy.zero_grad(set_to_none=True)
    plain_stats, plain = gradient(False)
    policy.zero_grad(set_to_none=True)
    shared_stats, shared = gradient(True)
    assert plain.keys() == shared.keys() and plain
    for k in plain:
        scale = float(plain[k].abs().max())
        assert float((plain[k] - shared[k]).abs().max()) <= 1e-6 + 2e-5 * scale, k
    assert abs(plain_stats["loss"] - shared_stats["loss"]) <= 1e-5 * max(1.0, abs(plain_stats["loss"]))


@settings(max_examples=10, deadline=None)
@given(batches(), st.booleans())
def test_scoring_pass_with_a_shared_prefix(lora_policy, batch, reference):
    """Old log-probs (adapters on) and reference log-probs (adapters off) are the same with the
    prompt prefix shared."""
    from agents.logprobs import score_samples

    samples, size = batch
    kwargs = dict(pad_token_id=PAD, batch_size=size, temperature=0.9, use_reference=reference)
    plain = score_samples(lora_policy, samples, **kwargs)
    shared = score_samples(lora_policy, samples, share_prefix=True, **kwargs)
    for a, b in zip(plain, shared, strict=True):
        assert torch.allclose(a.logprobs, b.logprobs, atol=1e-5, rtol=1e-5)


def test_long_prompts_keep_the_plain_passes():
    """Sharing holds the distinct prompts' activations through the step: over the physical
    micro-batch cap it is not used."""
    short = [Sample([5] * 10, [8], torch.ones(1)) for _ in range(4)]
    assert shares_prompts(short, range(4), max_tokens=10) and shares_prompts(short, range(4))
    assert not shares_prompts(short, range(4), max_tokens=9)
    two = [Sample([5] * 10, [8], torch.ones(1)), Sample([5] * 10, [9], torch.ones(1)),
           Sample([6] * 12, [8], torch.ones(1))]
    assert shares_prompts(two, range(3), max_tokens=24)  # 2 prompts padded to 12
    assert not shares_prompts(two, range(3), max_tokens=23)
