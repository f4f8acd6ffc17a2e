"""Tree-GRPO and ARPO rollouts vs chain sampling on ``rlenvs/ToolMath-v0`` with SmolLM2.

Three comparisons (all on the trainer's own sampler, :class:`agents.generation.TorchSampler`):

(a) **trajectories per generated token** — Tree-GRPO (``ts_m, ts_n, ts_l``) vs independent
    chains, same prompts, same number of finished trajectories per prompt
    (``ts_m·(1 + ts_l·ts_n)``); reported as trajectories at equal token budget, i.e. the ratio
    of trajectories per generated policy token (the paper reports ~1.5x).
(b) **tool calls at equal trajectories** — ARPO (``M`` rows per prompt, ``N`` initial) vs ``M``
    chains per prompt: tool calls executed (a shared prefix runs its calls once) and tokens.
(c) **reward after a fixed time budget** — a GRPO training run per rollout kind with
    ``max_time_s``; the mean training reward of the last rounds (and the number of rounds).

    OMP_NUM_THREADS=1 python benchmarks/bench_tree_arpo.py --parts a,b --seeds 0 1 \\
        --prompts 2 --max-completion-length 64 --max-turns 3 --out runs/bench_tree_arpo.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

ENV = "rlenvs/ToolMath-v0"


def _sampler(policy: Any, prefix_cache_tokens: int = 0) -> Any:
    import torch

    from agents.generation import TorchSampler

    return TorchSampler(policy.model, stop_token_ids=policy.stop_token_ids,
                        pad_token_id=policy.tokenizer.pad_token_id, dtype=torch.bfloat16,
                        prefix_cache_tokens=prefix_cache_tokens)


def _fresh_cache(backend: Any) -> None:
    """Each run starts with an empty prefix cache (no reuse of another run's prompts)."""
    cache = getattr(backend, "prefix_cache", None)
    if cache is not None:
        cache.clear()
        cache.reused_tokens = cache.prefilled_tokens = 0


def _prefill_stats(backend: Any) -> dict[str, float]:
    cache = getattr(backend, "prefix_cache", None)
    if cache is None:
        return {}
    return {"prefill/reused_tokens": float(cache.reused_tokens),
            "prefill/prefilled_tokens": float(cache.prefilled_tokens)}


def _chain(policy: Any, backend: Any, env: Any, seeds: list[int], per_prompt: int,
           max_new: int, seed: int) -> dict[str, float]:
    from agents.branched import rollout_metrics
    from agents.chat_tokens import ChatTokenizer
    from agents.generation import SamplingConfig
    from agents.rollout import RolloutCollector

    _fresh_cache(backend)
    started = time.perf_counter()
    collector = RolloutCollector(backend, ChatTokenizer(policy.tokenizer), SamplingConfig(max_new))
    trajs = collector.collect(env, seeds, per_prompt, seed=seed)
    out = rollout_metrics(trajs)
    out["seconds"] = time.perf_counter() - started
    out.update(_prefill_stats(backend))
    out["reward"] = statistics.fmean(t.total_reward for t in trajs)
    return out


def _branched(kind: str, policy: Any, backend: Any, env: Any, seeds: list[int], max_new: int,
              seed: int, **knobs: Any) -> dict[str, float]:
    from agents.branched import BranchedCollector
    from agents.chat_tokens import ChatTokenizer
    from agents.generation import SamplingConfig

    _fresh_cache(backend)
    started = time.perf_counter()
    collector = BranchedCollector(kind, backend, ChatTokenizer(policy.tokenizer),
                                  SamplingConfig(max_new), policy.stop_token_ids[0], **knobs)
    trajs = collector.collect(env, seeds, seed=seed)
    out = dict(collector.last_metrics)
    out["seconds"] = time.perf_counter() - started
    out.update(_prefill_stats(backend))
    out["reward"] = statistics.fmean(t.total_reward for t in trajs)
    return out


def part_a(policy: Any, backend: Any, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import rlenvs
    from agents.tree_rollout import TreeRolloutConfig

    env = rlenvs.make(ENV, max_turns=args.max_turns, **args.env_kwargs)
    seeds = [seed * 1000 + k for k in range(args.prompts)]
    leaves = 1 + args.ts_l * args.ts_n
    cfg = TreeRolloutConfig(ts_m=args.ts_m, ts_n=args.ts_n, ts_l=args.ts_l, ts_k=leaves)
    tree = _branched("tree", policy, backend, env, seeds, args.max_completion_length, seed,
                     tree=cfg)
    chain = _chain(policy, backend, env, seeds, args.ts_m * leaves, args.max_completion_length,
                   seed)
    per_token_tree = tree["rollout/trajectories_generated"] / max(
        tree["rollout/tokens_generated"], 1)
    per_token_chain = chain["rollout/trajectories"] / max(chain["rollout/tokens_generated"], 1)
    budget = tree["rollout/tokens_generated"]
    return {"tree": tree, "chain": chain, "token_budget": budget,
            "tree_trajectories_at_budget": tree["rollout/trajectories_generated"],
            "chain_trajectories_at_budget": per_token_chain * budget,
            "ratio": per_token_tree / max(per_token_chain, 1e-12)}


def part_b(policy: Any, backend: Any, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import rlenvs
    from agents.arpo import ARPOConfig

    env = rlenvs.make(ENV, max_turns=args.max_turns, **args.env_kwargs)
    seeds = [seed * 1000 + k for k in range(args.prompts)]
    cfg = ARPOConfig(n=args.arpo_m, initial_rollouts=args.arpo_n, beam_size=args.beam_size,
                     branch_probability=args.branch_probability,
                     entropy_weight=args.entropy_weight, branch_on=args.branch_on)
    arpo = _branched("arpo", policy, backend, env, seeds, args.max_completion_length, seed,
                     arpo=cfg, entropy_tokens=args.entropy_tokens)
    chain = _chain(policy, backend, env, seeds, args.arpo_m, args.max_completion_length, seed)
    return {"arpo": arpo, "chain": chain,
            "tool_call_ratio": arpo["rollout/tool_calls"] / max(chain["rollout/tool_calls"], 1e-12),
            "env_turn_ratio": arpo["rollout/policy_turns"] / max(chain["rollout/policy_turns"],
                                                                 1e-12),
            "token_ratio": arpo["rollout/tokens_generated"] / max(
                chain["rollout/tokens_generated"], 1e-12)}


def part_c(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from agents.config import GRPOConfig
    from agents.grpo_trainer import GRPOTrainer
    from agents.policy import CausalLMPolicy

    out: dict[str, Any] = {}
    leaves = 1 + args.ts_l * args.ts_n
    rows = {"chain": args.arpo_m, "tree": args.ts_m * leaves, "arpo": args.arpo_m}
    for kind in ("chain", "tree", "arpo"):
        knobs: dict[str, Any] = {"rollout": kind}
        if kind == "chain":
            knobs["num_generations"] = rows["chain"]
        elif kind == "tree":
            knobs.update(ts_m=args.ts_m, ts_n=args.ts_n, ts_l=args.ts_l, ts_k=leaves)
        else:
            knobs.update(rollout_budget=args.arpo_m, initial_rollouts=args.arpo_n,
                         beam_size=args.beam_size, branch_probability=args.branch_probability,
                         entropy_weight=args.entropy_weight, entropy_tokens=args.entropy_tokens,
                         arpo_branch_on=args.branch_on)
        cfg = GRPOConfig(max_steps=10_000, max_time_s=args.time_budget, seed=seed,
                         learning_rate=args.lr, max_completion_length=args.max_completion_length,
                         per_device_train_batch_size=rows[kind] * args.prompts, progress=False,
                         output_dir=f"{args.run_dir}/{kind}-{seed}", save_final_checkpoint=False,
                         **knobs)
        started = time.perf_counter()
        trainer = GRPOTrainer(CausalLMPolicy.from_embedded(), ENV, cfg,
                              env_kwargs={"max_turns": args.max_turns, **args.env_kwargs})
        summary = trainer.train()
        records = [json.loads(line) for line in open(summary["metrics"])]
        train = [r for r in records if r["kind"] == "train"]
        tail = train[-2:]
        out[kind] = {"rounds": len(train), "seconds": time.perf_counter() - started,
                     "reward_first": train[0]["reward"] if train else None,
                     "reward_last": statistics.fmean(r["reward"] for r in tail) if tail else None,
                     "tokens_generated": sum(r.get("rollout/tokens_generated", 0) for r in train),
                     "trajectories": sum(r.get("rollout/trajectories", 0) for r in train)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="a,b", help="comma list of a, b, c")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--max-completion-length", type=int, default=64)
    p.add_argument("--max-turns", type=int, default=3)
    p.add_argument("--ts-m", type=int, default=2)
    p.add_argument("--ts-n", type=int, default=2)
    p.add_argument("--ts-l", type=int, default=1)
    p.add_argument("--arpo-m", type=int, default=6, help="ARPO rows per prompt (M)")
    p.add_argument("--arpo-n", type=int, default=3, help="ARPO initial rollouts (N)")
    p.add_argument("--beam-size", type=int, default=2)
    p.add_argument("--branch-probability", type=float, default=0.5)
    p.add_argument("--entropy-weight", type=float, default=0.2)
    p.add_argument("--entropy-tokens", type=int, default=20)
    p.add_argument("--branch-on", default="tool", choices=["tool", "any"],
                   help="ARPO branch points: after tool calls, or after any env reply")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="ToolMath option, e.g. --env-kwarg no_tool_call=nudge (multi-turn "
                        "episodes for a model that does not call tools)")
    p.add_argument("--prefix-cache-tokens", type=int, default=16384,
                   help="TorchSampler prompt-prefix KV cache for (a)/(b), chain and branched "
                        "alike (0 = off)")
    p.add_argument("--time-budget", type=float, default=180.0, help="(c) seconds per run")
    p.add_argument("--lr", type=float, default=1e-6)
    p.add_argument("--run-dir", default="runs/bench_tree_arpo")
    p.add_argument("--out", default="runs/bench_tree_arpo.json")
    args = p.parse_args(argv)
    from agents.cli import _key_values

    args.env_kwargs = _key_values(args.env_kwarg, "--env-kwarg")
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    if parts - {"a", "b", "c"}:
        p.error("--parts takes a, b, c")

    import torch

    from agents.policy import CausalLMPolicy

    torch.manual_seed(0)
    results: dict[str, Any] = {"args": vars(args), "seeds": {}}
    policy = backend = None
    if parts & {"a", "b"}:
        policy = CausalLMPolicy.from_embedded()
        backend = _sampler(policy, args.prefix_cache_tokens)
    for seed in args.seeds:
        res: dict[str, Any] = {}
        if "a" in parts:
            res["a"] = part_a(policy, backend, args, seed)
        if "b" in parts:
            res["b"] = part_b(policy, backend, args, seed)
        if "c" in parts:
            res["c"] = part_c(args, seed)
        results["seeds"][str(seed)] = res
    _print_table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


def _print_table(results: dict[str, Any]) -> None:
    for seed, res in results["seeds"].items():
        if "a" in res:
            a = res["a"]
            print(f"[a] seed {seed}: depth {a['tree']['rollout/tree_depth_mean']:.2f}, "
                  f"token budget {a['token_budget']:.0f} -> tree "
                  f"{a['tree_trajectories_at_budget']:.1f} trajectories, chain "
                  f"{a['chain_trajectories_at_budget']:.1f}  (ratio {a['ratio']:.2f}x; tree "
                  f"{a['tree']['seconds']:.1f}s, chain {a['chain']['seconds']:.1f}s)")
        if "b" in res:
            b = res["b"]
            print(f"[b] seed {seed}: {b['arpo']['rollout/trajectories']:.0f} trajectories -> "
                  f"ARPO {b['arpo']['rollout/tool_calls']:.0f} tool calls / "
                  f"{b['arpo']['rollout/tokens_generated']:.0f} tokens "
                  f"(+{b['arpo']['rollout/entropy_tokens']:.0f} entropy-probe tokens, "
                  f"{b['arpo']['rollout/branches']:.0f} branches, "
                  f"{b['arpo']['rollout/policy_turns']:.0f} turns), chain "
                  f"{b['chain']['rollout/tool_calls']:.0f} tool calls / "
                  f"{b['chain']['rollout/tokens_generated']:.0f} tokens / "
                  f"{b['chain']['rollout/policy_turns']:.0f} turns  (tool-call ratio "
                  f"{b['tool_call_ratio']:.2f}, token ratio {b['token_ratio']:.2f}, turn ratio "
                  f"{b['env_turn_ratio']:.2f})")
        if "c" in res:
            for kind, c in res["c"].items():
                print(f"[c] seed {seed}: {kind:5s} {c['rounds']} rounds in {c['seconds']:.0f}s, "
                      f"reward {c['reward_first']} -> {c['reward_last']}")


if __name__ == "__main__":
    main()
