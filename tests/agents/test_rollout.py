"""Generation backends and rollouts: exact decoding, log-probabilities, multi-turn masks."""

from __future__ import annotations

import pytest
import torch

import rlenvs
from agents.rollout.batch import collate
from agents.rollout.chain import RolloutCollector, step_token_ends
from agents.rollout.chat_tokens import ChatTokenizer
from agents.trainers.grpo import trajectory_sample
from judges.llm.sampler import HFGenerateSampler, SamplingConfig, TorchSampler


def _prompts(tok):
    chat = ChatTokenizer(tok)
    texts = ["Hi", "What is 2+2? Answer briefly please.", "Hello there, how are you today?"]
    return [chat.prompt_ids([{"role": "user", "content": t}]) for t in texts]


def _sampler(policy, **kw):
    return TorchSampler(policy.model, policy.stop_token_ids, policy.tokenizer.pad_token_id,
                        dtype=torch.float32, **kw)


def test_greedy_matches_hf_generate_with_left_padding(tiny):
    prompts = _prompts(tiny.tokenizer)
    cfg = SamplingConfig(max_new_tokens=12, temperature=0.0)
    ours = _sampler(tiny, shrink_fraction=2.0).generate(prompts, cfg)
    ref = HFGenerateSampler(tiny.model, tiny.stop_token_ids, tiny.tokenizer.pad_token_id,
                            dtype=torch.float32).generate(prompts, cfg)
    assert [o.token_ids for o in ours] == [r.token_ids for r in ref]
    for o, r in zip(ours, ref, strict=True):
        assert o.logprobs == pytest.approx(r.logprobs, abs=1e-4)


def test_batch_shrinking_and_prefix_sharing_do_not_change_samples(tiny):
    prompts = _prompts(tiny.tokenizer)
    prompts = [p for p in prompts for _ in range(3)]  # groups share a prompt
    cfg = SamplingConfig(max_new_tokens=10, temperature=1.0)
    # stop on a token the model samples often, so rows finish at different times
    probe = _sampler(tiny).generate(prompts, cfg, seed=3)
    counts = torch.bincount(torch.tensor([i for g in probe for i in g.token_ids]))
    stop = int(counts.argmax())

    def sampler(fraction):
        return TorchSampler(tiny.model, [stop], tiny.tokenizer.pad_token_id,
                            dtype=torch.float32, shrink_fraction=fraction)

    a = sampler(0.0).generate(prompts, cfg, seed=3)
    b = sampler(2.0).generate(prompts, cfg, seed=3)
    assert [x.token_ids for x in a] == [y.token_ids for y in b]
    for x, y in zip(a, b, strict=True):
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-5)
    assert any(x.finished for x in a) and len({len(x.token_ids) for x in a}) > 1
    for x in a:
        assert x.finished == (x.token_ids[-1] == stop)


def test_lean_llama_decoder_matches_the_transformers_forward(tiny):
    prompts = _prompts(tiny.tokenizer)
    prompts = prompts + prompts[:1]
    cfg = SamplingConfig(max_new_tokens=10, temperature=1.0, top_k=40)
    fast = _sampler(tiny, shrink_fraction=0.0)
    slow = _sampler(tiny, shrink_fraction=0.0, fast=False)
    assert fast.fast and not slow.fast
    a, b = fast.generate(prompts, cfg, seed=11), slow.generate(prompts, cfg, seed=11)
    assert [x.token_ids for x in a] == [y.token_ids for y in b]
    for x, y in zip(a, b, strict=True):
        assert x.logprobs == pytest.approx(y.logprobs, abs=1e-4)


def test_sampler_logprobs_match_trainer_recomputation(tiny):
    prompts = _prompts(tiny.tokenizer)
    cfg = SamplingConfig(max_new_tokens=8, temperature=0.7)
    gens = _sampler(tiny).generate(prompts, cfg, seed=0)
    from agents.rollout.batch import Sample

    samples = [Sample(p, g.token_ids, torch.ones(len(g.token_ids)))
               for p, g in zip(prompts, gens, strict=True)]
    mb = collate(samples, tiny.tokenizer.pad_token_id)
    with torch.no_grad():
        out = tiny(mb.input_ids, mb.attention_mask, mb.position_ids, mb.completion_width,
                   temperature=0.7)
    for i, g in enumerate(gens):
        assert out.logprobs[i, : len(g.token_ids)].tolist() == pytest.approx(g.logprobs, abs=1e-4)


def test_same_seed_same_samples(tiny):
    prompts = _prompts(tiny.tokenizer)
    cfg = SamplingConfig(max_new_tokens=6, temperature=1.0, top_p=0.9, top_k=50)
    s = _sampler(tiny)
    assert [g.token_ids for g in s.generate(prompts, cfg, seed=5)] == \
        [g.token_ids for g in s.generate(prompts, cfg, seed=5)]


def test_bad_input_errors(tiny):
    s = _sampler(tiny)
    with pytest.raises(ValueError, match="at least one prompt"):
        s.generate([], SamplingConfig())
    with pytest.raises(ValueError, match="empty"):
        s.generate([[]], SamplingConfig())
    with pytest.raises(ValueError, match="max_new_tokens"):
        SamplingConfig(max_new_tokens=0)


def test_groups_share_task_and_single_turn_masks(tiny):
    env = rlenvs.make("rlenvs/Arithmetic-v0", level=1, lenient=True)
    collector = RolloutCollector(_sampler(tiny), ChatTokenizer(tiny.tokenizer),
                                 SamplingConfig(max_new_tokens=6))
    trajs = collector.collect(env, seeds=[3, 4], num_generations=3, seed=0)
    assert [t.group for t in trajs] == [0, 0, 0, 1, 1, 1]
    assert len({str(t.task) for t in trajs[:3]}) == 1 and trajs[0].task != trajs[3].task
    for t in trajs:
        assert t.policy_mask == [1] * len(t.completion_ids)
        assert len(t.sampler_logprobs) == len(t.completion_ids) and len(t.rewards) == 1
        assert t.turn_ends == [len(t.completion_ids) - 1] and t.done


@pytest.mark.parametrize("env_id", ["agents-test/Retry-v0", "rlenvs/ArithmeticFeedback-v0"])
def test_multi_turn_tokens_reproduce_the_conversation(tiny, env_id):
    env = rlenvs.make(env_id)
    chat = ChatTokenizer(tiny.tokenizer)
    collector = RolloutCollector(_sampler(tiny), chat, SamplingConfig(max_new_tokens=5))
    trajs = collector.collect(env, seeds=[0], num_generations=2, seed=1)
    multi = [t for t in trajs if len(t.rewards) > 1]
    assert multi, "the random policy should need several turns"
    for t in trajs:
        # policy tokens decode to exactly the replies the env received
        replies = [m["content"] for m in t.messages if m["role"] == "assistant"]
        starts = [0] + [e + 1 for e in t.turn_ends[:-1]]
        pieces = []
        for s, e in zip(starts, t.turn_ends, strict=True):
            ids = [i for i, m in zip(t.completion_ids[s : e + 1], t.policy_mask[s : e + 1],
                                     strict=True) if m]
            pieces.append(chat.decode(ids))
        assert pieces == replies
        # the whole token sequence is the chat template's rendering of the final conversation
        full = tiny.tokenizer.decode(t.prompt_ids + t.completion_ids)
        rendered = chat.render(t.messages, add_generation_prompt=False)
        last_closing_missing = not t.stopped
        assert rendered.startswith(full) or last_closing_missing
        # environment tokens (feedback messages) are masked out of the loss
        env_text = tiny.tokenizer.decode([i for i, m in zip(t.completion_ids, t.policy_mask,
                                                             strict=True) if not m])
        for m in t.messages[1:]:
            if m["role"] == "user":
                assert m["content"] in env_text
        sample = trajectory_sample(t)
        assert sample.mask.tolist() == [float(m) for m in t.policy_mask]


def test_step_rewards_are_mapped_to_tokens(tiny):
    chat = ChatTokenizer(tiny.tokenizer)
    text = "FIRST line\nsecond line"
    ids = chat.encode(text)
    from judges import Verdict

    ends = step_token_ends(chat, ids, text, [1.0, 0.0], {"verdict": Verdict(0.5, False)})
    assert chat.decode(ids[: ends[0] + 1]).rstrip() == "FIRST line"
    assert ends[1] == len(ids) - 1
    spans = {"verdict": Verdict(0.5, False, details={"spans": [(0, 5), (6, 22)]})}
    ends2 = step_token_ends(chat, ids, text, [1.0, 0.0], spans)
    assert chat.decode(ids[: ends2[0] + 1]) == "FIRST"
    # no usable boundaries: equal chunks
    assert step_token_ends(chat, ids, text, [1.0, 0.0, 1.0], {}) == \
        [round((k + 1) * len(ids) / 3) - 1 for k in range(3)]


def test_process_rollout_records_step_rewards(tiny):
    env = rlenvs.make("agents-test/Retry-v0")
    collector = RolloutCollector(_sampler(tiny), ChatTokenizer(tiny.tokenizer),
                                 SamplingConfig(max_new_tokens=6))
    (t,) = collector.collect(env, seeds=[0], num_generations=1, seed=0)
    assert all(s is not None for s in t.step_rewards)
    for ends, turn_end in zip(t.step_ends, t.turn_ends, strict=True):
        assert all(e <= turn_end for e in ends)


def test_collect_rejects_non_rlenvs_env(tiny):
    collector = RolloutCollector(_sampler(tiny), ChatTokenizer(tiny.tokenizer), SamplingConfig())
    with pytest.raises(TypeError, match="clone"):
        collector.collect(object(), seeds=[0], num_generations=2)


@pytest.mark.parametrize(("cfg", "expected"), [
    (SamplingConfig(temperature=1.0), [0.1, 0.2, 0.3, 0.4, 0.0]),
    (SamplingConfig(temperature=1.0, top_k=2), [0, 0, 3 / 7, 4 / 7, 0]),
    (SamplingConfig(temperature=1.0, top_p=0.5), [0, 0, 3 / 7, 4 / 7, 0]),
    (SamplingConfig(temperature=0.5), [1 / 30, 4 / 30, 9 / 30, 16 / 30, 0]),
])
def test_inverse_cdf_sampling_matches_the_distribution(cfg, expected):
    from judges.llm.sampler import sample_next_token

    n = 40_000
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4, 0.0])
    logits = torch.log(probs).expand(n, 5).clone()
    uniform = torch.rand(n, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    ids, logp = sample_next_token(logits, cfg, uniform)
    freq = torch.bincount(ids, minlength=5).double() / n
    assert freq.tolist() == pytest.approx(expected, abs=0.01)
    expected_logp = torch.log(torch.tensor(expected, dtype=torch.float64))[ids]
    assert torch.allclose(logp.double(), expected_logp, atol=1e-5)
