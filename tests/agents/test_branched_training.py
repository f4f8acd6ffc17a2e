"""Tree-GRPO and ARPO rollouts in the trainer: message rows -> token trajectories, given
advantages through the GRPO loss, short training runs, CLI and config validation."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import pytest
import torch

import rlenvs
from agents.policy import PolicyOutput
from agents.rollout.arpo import ARPOConfig, ARPORollout, ChatEntropy
from agents.rollout.batch import collate
from agents.rollout.branched import (
    BranchedCollector,
    SamplerChat,
    TokenContexts,
    branched_trajectory,
    merge_rollout_metrics,
)
from agents.rollout.chain import RolloutCollector, Trajectory
from agents.rollout.chat_tokens import ChatTokenizer
from agents.rollout.tree import BranchedTrajectory, TreeRolloutConfig
from agents.trainers.config import GRPOConfig, PPOConfig, RolloutConfig
from agents.trainers.grpo import GRPOTrainer, given_advantages, trajectory_sample
from judges import Verdict
from judges.llm.sampler import Generation, SamplingConfig, TorchSampler
from rlenvs.core import LLMEnv, Turn
from tests.agents.toy_envs import tiny_policy, upper_fraction

ENV = "agents-test/EchoTool-v0"


class EchoToolEnv(LLMEnv):
    """``turns`` replies; every reply but the last "calls" an echo tool (a ``tool`` message and
    ``info["tool_calls"]``, reward 0); the last is scored by its uppercase fraction."""

    def __init__(self, turns: int = 3, **kwargs: Any) -> None:
        kwargs.setdefault("reward", "dense")
        super().__init__(max_turns=turns, **kwargs)
        self.turns = turns

    def sample_task(self, rng: Any) -> dict[str, Any]:
        return {"word": ["moon", "tree", "lake"][int(rng.integers(3))]}

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"role": "user", "content": f"Say {task['word']} loudly."}]

    def respond(self, reply: str) -> Turn:
        if self.episode.turn >= self.turns:
            score = upper_fraction(reply)
            return Turn(verdict=Verdict(score=score, passed=score > 0.5, reason="upper"),
                        terminated=True)
        return Turn(verdict=Verdict(score=0.0, passed=False, reason="tool call"),
                    terminated=False, reward=0.0,
                    feedback=[{"role": "tool", "name": "echo",
                               "content": f"echo: {len(reply)} characters"}],
                    info={"tool_calls": [{"name": "echo", "arguments": {}}]})


rlenvs.register(ENV, entry_point=EchoToolEnv)


def sampler(policy: Any) -> TorchSampler:
    return TorchSampler(policy.model, stop_token_ids=policy.stop_token_ids,
                        pad_token_id=policy.tokenizer.pad_token_id, dtype=torch.float32)


def turn_spans(traj: Trajectory) -> list[tuple[int, int]]:
    """(start, end) completion index of each policy turn (consecutive mask-1 runs)."""
    spans, start = [], None
    for i, m in enumerate(traj.policy_mask + [0]):
        if m and start is None:
            start = i
        elif not m and start is not None:
            spans.append((start, i - 1))
            start = None
    return spans


def assistant_indices(messages: list[dict[str, Any]]) -> list[int]:
    return [i for i, m in enumerate(messages) if m["role"] == "assistant"]


# ---------------------------------------------------------------------------- converter
def test_converter_reproduces_chain_trajectories_exactly():
    """Rows rebuilt from a chain rollout's messages + its generations equal the chain's ids."""
    policy = tiny_policy()
    chat = ChatTokenizer(policy.tokenizer)
    backend = sampler(policy)
    env = rlenvs.make(ENV)
    chain = RolloutCollector(backend, chat, SamplingConfig(6)).collect(env, [0, 1], 2, seed=3)
    contexts = TokenContexts(chat, policy.stop_token_ids[0])
    stop = set(policy.stop_token_ids)
    for traj in chain:
        for (start, end), a in zip(turn_spans(traj), assistant_indices(traj.messages),
                                   strict=True):
            ids = traj.completion_ids[start : end + 1]
            contexts.record(traj.messages[:a], traj.messages[a]["content"],
                            Generation(ids, traj.sampler_logprobs[start : end + 1],
                                       ids[-1] in stop))
    for k, traj in enumerate(chain):
        row = BranchedTrajectory(prompt=0, tree=0, messages=traj.messages, rewards=traj.rewards,
                                 node_path=list(range(len(traj.rewards))), advantage=0.25,
                                 terminated=traj.terminated, truncated=traj.truncated)
        got = branched_trajectory(row, contexts, group=k)
        assert got.prompt_ids == traj.prompt_ids
        assert got.completion_ids == traj.completion_ids
        assert got.policy_mask == traj.policy_mask
        assert got.sampler_logprobs == traj.sampler_logprobs
        assert got.turn_ends == traj.turn_ends and got.stopped == traj.stopped
        assert got.advantages == [0.25 * m for m in traj.policy_mask] and got.loss_mask is None
    assert contexts.fallbacks == 0 and len(chain[0].rewards) == 3


def test_tree_rows_on_real_tokenizer_masks_and_shared_prefixes():
    policy = tiny_policy()
    chat = ChatTokenizer(policy.tokenizer)
    collector = BranchedCollector("tree", sampler(policy), chat, SamplingConfig(6),
                                  policy.stop_token_ids[0],
                                  tree=TreeRolloutConfig(ts_m=2, ts_n=2, ts_l=1, ts_k=3))
    env = rlenvs.make(ENV)
    trajs = collector.collect(env, [0, 1], seed=5, first_group=10)
    assert len(trajs) == 2 * 2 * 3 and [t.group for t in trajs] == [10] * 6 + [11] * 6
    assert collector.contexts.fallbacks == 0
    # mask-1 ids of each turn decode to exactly the reply the env saw
    for traj in trajs:
        replies = [traj.messages[a]["content"] for a in assistant_indices(traj.messages)]
        spans = turn_spans(traj)
        assert len(spans) == len(replies) == len(traj.rewards) == 3
        for (start, end), reply in zip(spans, replies, strict=True):
            assert chat.decode(traj.completion_ids[start : end + 1]) == reply
        assert [end for _, end in spans] == traj.turn_ends
        assert traj.completion_ids[-1] == traj.completion_ids[traj.turn_ends[-1]]
        # env ids render exactly the template between replies (tool message + next header)
        full = policy.tokenizer.decode(traj.prompt_ids + traj.completion_ids)
        assert full.startswith(chat.render(traj.messages[:1], add_generation_prompt=True))
        assert "echo: " in full and traj.advantages is not None
    # rows of one tree that share their first turns have identical ids up to the divergence
    shared_pairs = 0
    rows = collector.last_rows
    for i, (ra, a) in enumerate(zip(rows, trajs, strict=True)):
        for rb, b in zip(rows[i + 1 :], trajs[i + 1 :], strict=True):
            common = 0
            while common < 3 and ra.node_path[common] == rb.node_path[common]:
                common += 1
            if ra.tree != rb.tree or common == 0:
                continue
            shared_pairs += 1
            cut = turn_spans(a)[common][0] if common < 3 else len(a.completion_ids)
            assert a.prompt_ids == b.prompt_ids
            assert a.completion_ids[:cut] == b.completion_ids[:cut]
            assert a.sampler_logprobs[:cut] == b.sampler_logprobs[:cut]
            assert a.policy_mask[:cut] == b.policy_mask[:cut]
    assert shared_pairs > 0


def test_scripted_replies_fall_back_to_text_plus_stop_and_hard_attribution():
    """Replies not sampled here are encoded from text and closed with the stop id; ARPO hard
    attribution keeps a shared turn in the loss of its owner row only."""
    from tests.agents.test_tree_arpo import Scripted, answer_of, scripted_entropy

    env = rlenvs.make("rlenvs/ToolMath-v0", max_turns=5)
    from judges.llm.embedded import load_embedded_tokenizer

    tok = load_embedded_tokenizer()
    chat = ChatTokenizer(tok)
    stop = tok.eos_token_id
    policy = Scripted(answer_of(env), correct=lambda c: c % 2 == 1)
    cfg = ARPOConfig(n=4, initial_rollouts=2, beam_size=2, entropy_weight=1.0,
                     attribution="hard")
    rows = ARPORollout(policy, scripted_entropy({"0": 1.5, "1": 1.5}, []), cfg).collect(
        env, [0], seed=0)
    contexts = TokenContexts(chat, stop)
    trajs = [branched_trajectory(r, contexts, 0) for r in rows]
    assert contexts.fallbacks > 0
    for row, traj in zip(rows, trajs, strict=True):
        replies = [row.messages[a]["content"] for a in assistant_indices(row.messages)]
        for t, ((start, end), reply) in enumerate(zip(turn_spans(traj), replies, strict=True)):
            assert traj.completion_ids[end] == stop
            assert chat.decode(traj.completion_ids[start:end]) == reply
            want_mask = 1 if row.turn_owner[t] else 0
            assert set(traj.advantages[start : end + 1]) == {row.turn_advantages[t]}
            assert set((traj.loss_mask or traj.policy_mask)[start : end + 1]) == {want_mask}
    # rows 2, 3 branch from rows 0, 1: their first turn is shared, trained once (by 0 / 1)
    assert trajs[2].loss_mask is not None and trajs[0].loss_mask is None
    assert trajs[2].completion_ids[: trajs[2].turn_ends[0] + 1] == \
        trajs[0].completion_ids[: trajs[0].turn_ends[0] + 1]
    sample = trajectory_sample(trajs[2])
    assert float(sample.mask.sum()) == sum(trajs[2].loss_mask)
    assert sum(trajs[2].loss_mask) < trajs[2].num_policy_tokens


def test_sampler_top_logprobs_and_chat_entropy():
    policy = tiny_policy()
    chat = ChatTokenizer(policy.tokenizer)
    backend = sampler(policy)
    contexts = TokenContexts(chat, policy.stop_token_ids[0])
    probe = SamplerChat(backend, contexts)
    messages = [{"role": "user", "content": "Say moon loudly."}]
    [(text, entries)] = probe.generate_with_logprobs([messages], SamplingConfig(3), 5)
    assert len(entries) == 3 and all(len(e["top_logprobs"]) == 5 for e in entries)
    ids = torch.tensor([chat.prompt_ids(messages)])
    with torch.no_grad():
        logits = policy.model(input_ids=ids).logits[0, -1].float()
    want = torch.log_softmax(logits, -1).topk(5).values
    got = torch.tensor([t["logprob"] for t in entries[0]["top_logprobs"]])
    assert torch.allclose(got, want, atol=1e-4)
    entropy = ChatEntropy(probe, k=3, top_logprobs=5, vocab_size=len(policy.tokenizer))
    h = entropy(messages)
    hand = sum(-math.exp(v) * v for e in entries for v in
               [t["logprob"] for t in e["top_logprobs"]]) / 3 / math.log(len(policy.tokenizer))
    assert 0.0 < h < 1.0
    probe.reset(0)  # same seed as the first call → the same probe tokens → the same entropy
    assert entropy(messages) == pytest.approx(hand, rel=1e-6)
    assert probe.tokens_generated == 3


def test_prefix_kv_cache_matches_plain_prefill():
    """Prompts extending earlier prompts reuse their KV; samples and log-probs are unchanged."""
    policy = tiny_policy()
    plain = sampler(policy)
    cached = TorchSampler(policy.model, stop_token_ids=policy.stop_token_ids,
                          pad_token_id=policy.tokenizer.pad_token_id, dtype=torch.float32,
                          prefix_cache_tokens=10_000)
    assert cached.prefix_cache is not None and plain.prefix_cache is None
    gen = torch.Generator().manual_seed(0)
    contexts = [torch.randint(5, 1000, (n,), generator=gen).tolist() for n in (7, 12, 3)]
    config = SamplingConfig(5, temperature=1.0)
    for call in range(3):
        prompts = contexts + [contexts[0] + [11, 12], contexts[1][:5], contexts[2] + [9] * 10]
        a = plain.generate(prompts, config, seed=call)
        b = cached.generate(prompts, config, seed=call)
        assert [x.token_ids for x in a] == [y.token_ids for y in b]
        for x, y in zip(a, b, strict=True):
            assert x.logprobs == pytest.approx(y.logprobs, abs=1e-5)
        contexts = [c + o.token_ids for c, o in zip(contexts, a[:3], strict=True)]
    cache = cached.prefix_cache
    assert cache.reused_tokens > cache.prefilled_tokens / 2 and cache.tokens <= 10_000
    cached.sync_weights(policy.model)
    assert not cache.entries  # new weights: old keys/values are stale


# ---------------------------------------------------------------------------- loss
def test_given_advantages_pass_through_to_the_loss():
    policy = tiny_policy()
    trainer = GRPOTrainer(policy, ENV, GRPOConfig(per_device_train_batch_size=2,
                                                  num_generations=2, progress=False,
                                                  output_dir="/tmp/unused"))
    adv_a, adv_b = [0.0, 1.5, 1.5, 0.0], [-0.5, 0.0, 2.0]
    trajs = [
        Trajectory(group=0, seed=0, prompt_ids=[5, 6], completion_ids=[7, 8, 9, 10],
                   policy_mask=[0, 1, 1, 0], advantages=adv_a, rewards=[1.0]),
        Trajectory(group=0, seed=0, prompt_ids=[5], completion_ids=[11, 12, 13],
                   policy_mask=[1, 0, 1], advantages=adv_b, rewards=[0.0]),
    ]
    samples = [trajectory_sample(t) for t in trajs]
    given = trainer._advantages(trajs, samples, torch.tensor([1.0, 0.0]), torch.tensor([0, 0]))[0]
    assert [g.tolist() for g in given] == [adv_a, adv_b]  # not group-normalised rewards
    for s, a in zip(samples, given, strict=True):
        s.tokens["advantages"] = a
    old = [torch.tensor([0.0, -1.0, -2.0, 0.0]), torch.tensor([-1.0, 0.0, -0.5])]
    for s, o in zip(samples, old, strict=True):
        s.tokens["old_logprobs"] = o
    trainer.prepare_step(samples, [0, 1])
    mb = collate(samples, trainer.pad_token_id)
    logp = torch.tensor([[0.0, -0.8, -2.5, 0.0], [-0.7, 0.0, -0.5, 0.0]], requires_grad=True)
    loss, _ = trainer.compute_loss(PolicyOutput(logprobs=logp), mb)
    # hand: dapo token-mean over the 4 policy tokens, PPO clip 0.2
    terms = []
    for lp, o, a in [(-0.8, -1.0, 1.5), (-2.5, -2.0, 1.5), (-0.7, -1.0, -0.5), (-0.5, -0.5, 2.0)]:
        rho = math.exp(lp - o)
        terms.append(max(-a * rho, -a * min(max(rho, 0.8), 1.2)))
    assert float(loss.detach()) == pytest.approx(sum(terms) / 4, abs=1e-6)
    # chain trajectories (no given advantages) keep the group computation
    for t in trajs:
        t.advantages = None
    assert given_advantages(trajs) is None
    chain = trainer._advantages(trajs, samples, torch.tensor([1.0, 0.0]), torch.tensor([0, 0]))[0]
    assert [float(a) for a in chain] == pytest.approx([0.7070, -0.7070], abs=1e-3)


# ---------------------------------------------------------------------------- training
def run(tmp_path: Any, **settings: Any) -> tuple[GRPOTrainer, list[dict[str, Any]]]:
    # generation_dtype pinned: "auto" times the CPU, and a busy machine could pick the other
    # dtype, other samples and (once, test_tree_training_run) groups without reward variance
    settings.setdefault("generation_dtype", "float32")
    settings.setdefault("learning_rate", 1e-3)
    cfg = GRPOConfig.from_dict(dict(max_steps=2, max_completion_length=6,
                                    progress=False, output_dir=str(tmp_path),
                                    save_final_checkpoint=False, **settings))
    trainer = GRPOTrainer(tiny_policy(letters_only=True), ENV, cfg)
    summary = trainer.train()
    records = [json.loads(line) for line in open(summary["metrics"])]
    return trainer, [r for r in records if r["kind"] == "train"]


def test_tree_training_run(tmp_path):
    # float32 sampling (run()) and a learning rate that keeps round 2's groups varied: at 1e-3
    # the first update makes every reply of round 2 score alike (grad_norm 0, deterministically
    # in float32; bf16 sampling, which "auto" picked on an idle machine, happened to vary)
    trainer, records = run(tmp_path, rollout="tree", ts_m=2, ts_n=1, ts_l=1, ts_k=2,
                           per_device_train_batch_size=8, learning_rate=1e-4)
    assert len(records) == 2 and trainer.config.prompts_per_generation == 2
    for r in records:
        assert r["num_completions"] == 2 * 2 * 2 == r["rollout/trajectories"]
        assert r["rollout/trajectories_generated"] == 2 * 2 * 2  # k = 1 + L·N: all kept
        assert r["rollout/branches"] == 2 * 2 * 1  # prompts · trees · expansions
        assert r["rollout/tree_depth_mean"] == 3 and r["rollout/tree_depth_max"] == 3
        assert 0 < r["rollout/tokens_generated"] < 8 * 3 * 6  # shared prefixes generated once
        assert r["rollout/tool_calls"] < 8 * 2 and r["rollout/path_tool_calls_per_traj"] == 2
        assert math.isfinite(r["loss"]) and r["grad_norm"] > 0
    assert trainer.state.next_prompt == 4


def test_tree_samples_carry_tree_advantages(tmp_path):
    cfg = GRPOConfig(rollout=RolloutConfig("tree", ts_m=2, ts_n=2, ts_l=1, ts_k=2),
                     max_completion_length=6, per_device_train_batch_size=4, progress=False,
                     output_dir=str(tmp_path))
    trainer = GRPOTrainer(tiny_policy(letters_only=True), ENV, cfg)
    samples, stats = trainer.make_samples()
    assert len(samples) == 4 and stats["num_completions"] == 4
    rewards = [s.scalars.get("reward") for s in samples]
    assert rewards  # one prompt, 2 trees × 2 leaves
    trajs = trainer.branched.last_trajectories
    final = [t.rewards[-1] for t in trajs]

    def normalised(rs: list[float]) -> list[float]:  # Tree-GRPO's (r - mean) / (std + 1e-6)
        mean = sum(rs) / len(rs)
        std = math.sqrt(sum((r - mean) ** 2 for r in rs) / (len(rs) - 1))
        return [(r - mean) / (std + 1e-6) for r in rs]

    intra = normalised(final[:2]) + normalised(final[2:])  # trees [0, 0, 1, 1]
    want = [a + b for a, b in zip(intra, normalised(final), strict=True)]
    for s, a in zip(samples, want, strict=True):
        on = s.tokens["advantages"][s.mask > 0]
        assert torch.allclose(on, torch.full_like(on, a), atol=1e-5)


def test_arpo_training_run(tmp_path):
    trainer, records = run(tmp_path, rollout="arpo", rollout_budget=4, initial_rollouts=2,
                           entropy_tokens=4, branch_probability=1.0,
                           per_device_train_batch_size=8)
    for r in records:
        assert r["num_completions"] == 2 * 4 == r["rollout/trajectories"]
        assert r["rollout/branches"] >= 2  # tau = 1: every source with a free slot branches
        assert r["rollout/entropy_tokens"] > 0 and r["rollout/tool_calls_per_traj"] < 2
        assert math.isfinite(r["loss"])
    assert trainer.branched.kind == "arpo"
    # entropy probes are batched: one call for the starts, then one per round with sources
    assert 1 <= trainer.branched.probe.calls <= 3


def test_chain_reports_rollout_metrics(tmp_path):
    _, records = run(tmp_path, num_generations=4, per_device_train_batch_size=8)
    r = records[-1]
    assert r["rollout/trajectories"] == 8 and r["rollout/branches"] == 0
    assert r["rollout/tool_calls_per_traj"] == 2 and r["rollout/tree_depth_mean"] == 3
    assert r["rollout/tokens_per_traj"] == r["completions/policy_tokens"] / 8


def test_tree_resume_reproduces_the_run(tmp_path):
    settings = dict(rollout=RolloutConfig("tree", ts_m=1, ts_n=1, ts_l=1, ts_k=2),
                    max_completion_length=4, per_device_train_batch_size=2, learning_rate=1e-3,
                    progress=False, save_steps=1)
    straight = GRPOTrainer(tiny_policy(letters_only=True), ENV, GRPOConfig(
        max_steps=2, output_dir=str(tmp_path / "a"), **settings)).train()
    GRPOTrainer(tiny_policy(letters_only=True), ENV, GRPOConfig(
        max_steps=1, output_dir=str(tmp_path / "b"), **settings)).train()
    resumed = GRPOTrainer(tiny_policy(letters_only=True), ENV, GRPOConfig(
        max_steps=2, output_dir=str(tmp_path / "b"), resume_from_checkpoint=True,
        **settings)).train()
    keys = ("reward", "loss", "rollout/tokens_generated", "rollout/branches")
    assert {k: straight["last"][k] for k in keys} == {k: resumed["last"][k] for k in keys}


def test_merge_rollout_metrics_of_several_calls():
    a = {"rollout/trajectories": 2.0, "rollout/tokens_generated": 10.0, "rollout/tool_calls": 2.0,
         "rollout/tree_depth_mean": 1.0, "rollout/tree_depth_max": 1.0,
         "rollout/path_tokens_per_traj": 5.0, "rollout/path_tool_calls_per_traj": 1.0,
         "rollout/tokens_per_traj": 5.0, "rollout/tool_calls_per_traj": 1.0}
    b = dict(a, **{"rollout/trajectories": 6.0, "rollout/tokens_generated": 6.0,
                   "rollout/tree_depth_mean": 3.0, "rollout/tree_depth_max": 4.0})
    m = merge_rollout_metrics([a, b])
    assert m["rollout/trajectories"] == 8 and m["rollout/tokens_per_traj"] == 2.0
    assert m["rollout/tree_depth_mean"] == 2.5 and m["rollout/tree_depth_max"] == 4.0


# ---------------------------------------------------------------------------- config / CLI
def test_config_validation_and_aliases():
    cfg = GRPOConfig.from_dict({"rollout": "tree", "trees_per_prompt": 3, "expansions_per_round": 1,
                                "expansion_rounds": 2, "leaves_kept": 2,
                                "per_device_train_batch_size": 6})
    assert (cfg.rollout.ts_m, cfg.rollout.ts_n, cfg.rollout.ts_l, cfg.rollout.ts_k,
            cfg.rows_per_prompt) == (3, 1, 2, 2, 6)
    assert cfg.prompts_per_generation == 1
    with pytest.raises(ValueError, match="ts_k=4 exceeds"):
        GRPOConfig(rollout=RolloutConfig("tree", ts_k=4), per_device_train_batch_size=8)
    with pytest.raises(ValueError, match="divisible by ts_m \\* ts_k \\(6\\)"):
        GRPOConfig(rollout="tree", per_device_train_batch_size=8)
    with pytest.raises(ValueError, match="dynamic_sampling"):
        GRPOConfig(rollout="arpo", dynamic_sampling=True)
    with pytest.raises(ValueError, match="rollout must be one of"):
        GRPOConfig(rollout="beam")
    arpo = GRPOConfig(rollout="arpo", num_generations=4, per_device_train_batch_size=4)
    assert arpo.arpo_config().n == 4 and arpo.arpo_config().initial_rollouts == 2
    with pytest.raises(ValueError, match="initial_rollouts"):
        GRPOConfig(rollout=RolloutConfig("arpo", rollout_budget=4, initial_rollouts=5),
                   per_device_train_batch_size=4)
    from judges.llm.sampler import HFGenerateSampler

    tiny = tiny_policy()
    with pytest.raises(ValueError, match="top_logprobs"):
        GRPOTrainer(tiny, ENV, GRPOConfig(rollout="arpo", num_generations=4,
                                          per_device_train_batch_size=4),
                    backend=HFGenerateSampler(tiny.model, tiny.stop_token_ids))

    with pytest.raises(ValueError, match="PPOConfig takes no rollout settings \\(rollout\\)"):
        PPOConfig.from_dict({"rollout": "tree", "per_device_train_batch_size": 6})

    class ChainOnly(GRPOTrainer):  # a trainer whose loss does not take the rows' advantages
        supports_branched_rollouts = False

    with pytest.raises(ValueError, match="only supports rollout='chain'"):
        ChainOnly(tiny, ENV, GRPOConfig(rollout="tree", per_device_train_batch_size=6))


def test_cli_rollout_flag_and_set_overrides():
    from agents.cli import _settings, add_train_parser

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--rollout", "tree", "--set", "ts_m=3", "--set",
                              "ts_k=2", "--batch-size", "6", "--env", ENV])
    cfg = GRPOConfig.from_dict(_settings(args))
    assert (cfg.rollout.kind, cfg.rollout.ts_m, cfg.rollout.ts_k, cfg.rows_per_prompt) == \
        ("tree", 3, 2, 6)
    args = parser.parse_args(["train", "--rollout", "arpo", "--set", "rollout_budget=4",
                              "--set", "arpo_attribution=hard", "--set", "arpo_branch_on=any",
                              "--batch-size", "8"])
    cfg = GRPOConfig.from_dict(_settings(args))
    arpo = cfg.arpo_config()
    assert (cfg.rollout.kind, arpo.n, arpo.attribution, arpo.branch_on) == \
        ("arpo", 4, "hard", "any")
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--rollout", "beam"])


# ---------------------------------------------------------------------------- SmolLM2
@pytest.mark.slow
def test_smollm2_tree_and_arpo_training_step(tmp_path):
    from agents.policy import CausalLMPolicy

    policy = CausalLMPolicy.from_embedded()
    for kind, extra in [("tree", dict(ts_m=2, ts_n=1, ts_l=1, ts_k=2)),
                        ("arpo", dict(rollout_budget=4, initial_rollouts=2, entropy_tokens=8))]:
        cfg = GRPOConfig(rollout=RolloutConfig(kind, **extra), max_steps=1,
                         max_completion_length=64, per_device_train_batch_size=4, progress=False,
                         output_dir=str(tmp_path / kind), save_final_checkpoint=False)
        trainer = GRPOTrainer(policy, "rlenvs/ToolMath-v0", cfg,
                              env_kwargs={"max_turns": 2})
        summary = trainer.train()
        last = summary["last"]
        assert last["num_completions"] == 4 and last["rollout/trajectories"] == 4
        assert last["rollout/tokens_generated"] > 0 and math.isfinite(last["loss"])
        assert trainer.branched.contexts.fallbacks == 0
        for traj in trainer.branched.last_trajectories:
            for (start, end), a in zip(turn_spans(traj), assistant_indices(traj.messages),
                                       strict=True):
                ids = traj.completion_ids[start : end + 1]
                assert trainer.chat.decode(ids) == traj.messages[a]["content"]
