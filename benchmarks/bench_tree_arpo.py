"""Tree-GRPO and ARPO rollouts vs chain sampling on ``rlenvs/ToolMath-v0`` with SmolLM2.

Three comparisons (all on the trainer's own sampler, :class:`judges.llm.sampler.TorchSampler`):

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

``--policy scripted`` (parts a and b): SmolLM2-135M never calls a tool on ToolMath, so (b)
would compare 0 with 0. The scripted option replaces the model by :class:`ScriptedToolAgent`, a
seeded stochastic agent that really calls the env's ``calculator`` (probability ``--p-tool``
per reply, sometimes on a wrong or intermediate expression) and otherwise answers in
``\\boxed{}``, with a random-length preamble so token counts vary; ARPO's entropy is
:class:`ScriptedEntropy` (a seeded U(0, 1) draw per call). Tokens are counted with the SmolLM2
tokenizer (``--token-count``). The rollouts run at the message level
(:class:`~agents.rollout.tree.TreeRollout`, :class:`~agents.rollout.arpo.ARPORollout`; the chain
baseline is ``TreeRollout`` with ``ts_l = 0``). These are structural numbers of the algorithms,
not model behaviour:

    OMP_NUM_THREADS=1 python benchmarks/bench_tree_arpo.py --policy scripted --parts a,b \\
        --seeds 0 1 2 --prompts 8 --branch-on tool \\
        --out benchmarks/results/tree_arpo_scripted.json
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import time
from pathlib import Path
from typing import Any

ENV = "rlenvs/ToolMath-v0"


def _sampler(policy: Any, prefix_cache_tokens: int = 0) -> Any:
    import torch

    from judges.llm.sampler import TorchSampler

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
    from agents.rollout.branched import rollout_metrics
    from agents.rollout.chain import RolloutCollector
    from agents.rollout.chat_tokens import ChatTokenizer
    from judges.llm.sampler import SamplingConfig

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
    from agents.rollout.branched import BranchedCollector
    from agents.rollout.chat_tokens import ChatTokenizer
    from judges.llm.sampler import SamplingConfig

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


# ------------------------------------------------------------------ scripted policy (--policy)
SCRIPTED_NOTE = ("SCRIPTED POLICY (seeded stochastic tool-calling agent, no model): these are "
                 "structural numbers of the rollout algorithms on ToolMath-v0, not SmolLM2 "
                 "behaviour")
_FILLER = ("let me think about this step by step the question asks for an exact value so I "
           "should be careful with the arithmetic and check the result before answering it is "
           "easier to compute this with the calculator than by hand first I rewrite the "
           "expression then evaluate it").split()


def _task_numbers(question: str) -> tuple[str, list[int]]:
    """Kind and integer parameters of a ToolMath question (``make_toolmath_task`` formats)."""
    if m := re.search(r"Compute (\d+) \* (\d+)\.", question):
        return "multiply", [int(m.group(1)), int(m.group(2))]
    if m := re.search(r"sum of k\^(\d+) for k = (\d+) to (\d+)", question):
        return "power_sum", [int(g) for g in m.groups()]
    if m := re.search(r"sum of (\d+)\^k for k = (\d+) to (\d+)", question):
        return "geometric", [int(g) for g in m.groups()]
    if m := re.search(r"Solve for x: (-?\d+)\*x \+ \((-?\d+)\) = (-?\d+)\*x \+ \((-?\d+)\)",
                      question):
        return "linear", [int(g) for g in m.groups()]
    if m := re.search(r"Compute (\d+)\^(\d+) mod (\d+)\.", question):
        return "modpow", [int(g) for g in m.groups()]
    raise ValueError(f"not a ToolMath question: {question!r}")


def _calc_expression(kind: str, v: list[int]) -> str:
    """The calculator expression that solves the task (as in tests/rlenvs/test_tools_envs.py)."""
    if kind == "multiply":
        return f"{v[0]} * {v[1]}"
    if kind == "power_sum":
        return f"summation(k^{v[0]}, (k, {v[1]}, {v[2]}))"
    if kind == "geometric":
        return f"summation({v[0]}^k, (k, {v[1]}, {v[2]}))"
    if kind == "linear":
        return f"{v[0]}*x + ({v[1]}) = {v[2]}*x + ({v[3]})"
    return f"Mod({v[0]}**{v[1]}, {v[2]})"


def _sub_expression(kind: str, v: list[int]) -> str:
    """A legitimate intermediate step whose value is *not* the answer (a partial product, a
    partial sum, one side of the equation, half the exponent)."""
    if kind == "multiply":
        return f"{v[0]} * {str(v[1])[: max(1, len(str(v[1])) // 2)]}"
    if kind in ("power_sum", "geometric"):
        base = f"k^{v[0]}" if kind == "power_sum" else f"{v[0]}^k"
        return f"summation({base}, (k, {v[1]}, {max(v[1], v[2] // 2)}))"
    if kind == "linear":
        return f"({v[3]}) - ({v[1]})"
    return f"Mod({v[0]}**{max(1, v[1] // 2)}, {v[2]})"


def _solve(kind: str, v: list[int]) -> int:
    if kind == "multiply":
        return v[0] * v[1]
    if kind == "power_sum":
        return sum(k ** v[0] for k in range(v[1], v[2] + 1))
    if kind == "geometric":
        return sum(v[0] ** k for k in range(v[1], v[2] + 1))
    if kind == "linear":
        return (v[3] - v[1]) // (v[0] - v[2])
    return pow(v[0], v[1], v[2])


class ScriptedToolAgent:
    """A seeded stochastic ToolMath agent: a :data:`agents.rollout.tree.GenerateFn` that uses
    the env's real ``calculator`` tool (hermes ``<tool_call>{...}</tool_call>`` format).

    Per reply (one draw sequence from its own ``random.Random(seed)``, in call order; the reply
    depends only on that stream and the conversation so far):

    * a random-length preamble of ``U{filler_min..filler_max}`` filler words (so token counts
      vary from reply to reply);
    * with probability ``p_tool``: a calculator call on the task's full expression, or with
      probability ``p_wrong_call`` a wrong one (half: an intermediate sub-expression, e.g. a
      partial product/sum; half: the full expression with one integer literal perturbed);
    * otherwise a final ``\\boxed{}`` answer: the value of the last successful calculator
      result, copied correctly with probability ``p_copy`` (else perturbed); with no tool
      result yet, the right value with probability ``p_guess`` (else a perturbed one).
    """

    def __init__(self, seed: int, p_tool: float = 0.7, p_wrong_call: float = 0.25,
                 p_copy: float = 0.9, p_guess: float = 0.2, filler_min: int = 5,
                 filler_max: int = 60) -> None:
        self.rng = random.Random(f"scripted-agent-{seed}")
        self.p_tool, self.p_wrong_call = p_tool, p_wrong_call
        self.p_copy, self.p_guess = p_copy, p_guess
        self.filler = (filler_min, filler_max)
        self.calls = 0

    def __call__(self, conversations: list[list[dict[str, Any]]]) -> list[str]:
        self.calls += 1
        return [self.reply(list(c)) for c in conversations]

    def _perturb(self, value: int) -> int:
        return value + self.rng.choice((-1, 1)) * self.rng.randint(1, 99)

    def reply(self, messages: list[dict[str, Any]]) -> str:
        rng = self.rng
        question = next(str(m["content"]) for m in messages if m.get("role") == "user")
        kind, v = _task_numbers(question)
        words = " ".join(rng.choice(_FILLER) for _ in range(rng.randint(*self.filler)))
        if rng.random() < self.p_tool:
            expression = _calc_expression(kind, v)
            if rng.random() < self.p_wrong_call:
                if rng.random() < 0.5:
                    expression = _sub_expression(kind, v)
                else:
                    literals = list(re.finditer(r"\d+", expression))
                    lit = literals[rng.randrange(len(literals))]
                    new = str(max(2, self._perturb(int(lit.group()))))
                    expression = expression[: lit.start()] + new + expression[lit.end():]
            call = json.dumps({"name": "calculator", "arguments": {"expression": expression}})
            return f"{words}. Let me use the calculator. <tool_call>{call}</tool_call>"
        results = [str(m.get("content") or "") for m in messages
                   if m.get("role") == "tool" and m.get("name") == "calculator"
                   and not str(m.get("content") or "").startswith("Error")]
        if results:
            text = results[-1].split("=")[-1].strip().split(" ")[0]
            if rng.random() >= self.p_copy:
                try:
                    text = str(self._perturb(int(text)))
                except ValueError:
                    text += "1"
        else:
            value = _solve(kind, v)
            text = str(value if rng.random() < self.p_guess else self._perturb(value))
        return f"{words}. The answer is \\boxed{{{text}}}."


class ScriptedEntropy:
    """ARPO ``entropy_fn`` for the scripted agent: every call returns a fresh draw
    ``H ~ U(0, 1)`` from ``random.Random(seed)`` (call order), independent of the context.

    ARPO uses it exactly as it uses :class:`agents.rollout.arpo.ChatEntropy` with a model: H_init at a
    rollout's start, H_t after each tool result, ΔH = H_t − H_init, and the branch probability
    P = clip(τ + β_H·ΔH, 0, 1). With i.i.d. uniform H, ΔH is triangular on (−1, 1), so with
    τ = 0.5, β_H = 0.2 the probability P lies in (0.3, 0.7), mean 0.5. It has no ``batch``
    method, so ARPO queries it lazily per context (no entropy-probe tokens are generated).
    """

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(f"scripted-entropy-{seed}")
        self.calls = 0

    def __call__(self, messages: list[dict[str, Any]]) -> float:
        self.calls += 1
        return self.rng.random()


def _token_counter(kind: str) -> Any:
    """Reply -> tokens: SmolLM2 tokenizer ids of the reply + 1 for the end-of-turn token (what
    the sampler counts for a stopped reply), or whitespace words."""
    from agents.rollout.tree import whitespace_tokens

    if kind == "whitespace":
        return whitespace_tokens
    from judges.llm.embedded import load_embedded_tokenizer

    tokenizer = load_embedded_tokenizer()
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False)) + 1


def _scripted_metrics(rollout: Any, rows: list[Any], branches: int, seconds: float,
                      **extra: float) -> dict[str, float]:
    """The ``rollout/*`` keys of :func:`agents.rollout.branched.rollout_metrics` from a message-level
    rollout's :class:`~agents.rollout.tree.Budget` and rows."""
    budget, n = rollout.budget, max(len(rows), 1)
    depths = [len(r.rewards) for r in rows] or [0]
    out = {"rollout/trajectories": float(len(rows)),
           "rollout/trajectories_generated": float(budget.trajectories_generated),
           "rollout/branches": float(branches),
           "rollout/tokens_generated": float(budget.tokens_generated),
           "rollout/entropy_tokens": 0.0,
           "rollout/tool_calls": float(budget.tool_calls),
           "rollout/policy_turns": float(budget.policy_turns),
           "rollout/tokens_per_traj": budget.tokens_generated / n,
           "rollout/tool_calls_per_traj": budget.tool_calls / n,
           "rollout/path_tool_calls_per_traj": sum(r.tool_calls for r in rows) / n,
           "rollout/tree_depth_mean": sum(depths) / len(depths),
           "rollout/tree_depth_max": float(max(depths)),
           "seconds": seconds,
           "reward": statistics.fmean(r.total_reward for r in rows),
           "accuracy": statistics.fmean(r.final_reward > 0 for r in rows)}
    out.update({k: float(v) for k, v in extra.items()})
    return out


def _scripted_run(kind: str, args: argparse.Namespace, env: Any, seeds: list[int], seed: int,
                  count: Any, **knobs: Any) -> dict[str, float]:
    """One rollout with a fresh :class:`ScriptedToolAgent` (same seed for every kind). A chain
    rollout is Tree-GRPO with ``ts_l = 0`` (``ts_m`` independent chains per prompt, no
    expansion, no pruning) on the same code path."""
    from agents.rollout.arpo import ARPORollout
    from agents.rollout.tree import TreeRollout, TreeRolloutConfig

    agent = ScriptedToolAgent(seed, p_tool=args.p_tool, p_wrong_call=args.p_wrong_call,
                              p_copy=args.p_copy, p_guess=args.p_guess,
                              filler_min=args.filler_words[0], filler_max=args.filler_words[1])
    started = time.perf_counter()
    if kind == "arpo":
        entropy = ScriptedEntropy(seed)
        rollout: Any = ARPORollout(agent, entropy, knobs["arpo"], count_tokens=count)
        rows = rollout.collect(env, seeds, seed=seed)
        branches = sum(e.branched for e in rollout.events)
        return _scripted_metrics(rollout, rows, branches, time.perf_counter() - started,
                                 **{"rollout/entropy_calls": entropy.calls,
                                    "rollout/branch_attempts": len(rollout.events)})
    cfg = knobs["tree"] if kind == "tree" else TreeRolloutConfig(
        ts_m=knobs["per_prompt"], ts_n=0, ts_l=0, ts_k=1)
    rollout = TreeRollout(agent, cfg, count_tokens=count)
    rows = rollout.collect(env, seeds, seed=seed)
    branches = sum(max(len(n.children) - 1, 0) for t in rollout.trees for n in t.nodes)
    return _scripted_metrics(rollout, rows, branches, time.perf_counter() - started)


def part_a(policy: Any, backend: Any, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    import rlenvs
    from agents.rollout.tree import TreeRolloutConfig

    env = rlenvs.make(args.env, **{args.turns_kwarg: args.max_turns}, **args.env_kwargs)
    seeds = [seed * 1000 + k for k in range(args.prompts)]
    leaves = 1 + args.ts_l * args.ts_n
    cfg = TreeRolloutConfig(ts_m=args.ts_m, ts_n=args.ts_n, ts_l=args.ts_l, ts_k=leaves)
    if args.policy == "scripted":
        tree = _scripted_run("tree", args, env, seeds, seed, args.count_tokens, tree=cfg)
        chain = _scripted_run("chain", args, env, seeds, seed, args.count_tokens,
                              per_prompt=args.ts_m * leaves)
    else:
        tree = _branched("tree", policy, backend, env, seeds, args.max_completion_length, seed,
                         tree=cfg)
        chain = _chain(policy, backend, env, seeds, args.ts_m * leaves,
                       args.max_completion_length, seed)
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
    from agents.rollout.arpo import ARPOConfig

    env = rlenvs.make(args.env, **{args.turns_kwarg: args.max_turns}, **args.env_kwargs)
    seeds = [seed * 1000 + k for k in range(args.prompts)]
    cfg = ARPOConfig(n=args.arpo_m, initial_rollouts=args.arpo_n, beam_size=args.beam_size,
                     branch_probability=args.branch_probability,
                     entropy_weight=args.entropy_weight, branch_on=args.branch_on)
    if args.policy == "scripted":
        arpo = _scripted_run("arpo", args, env, seeds, seed, args.count_tokens, arpo=cfg)
        chain = _scripted_run("chain", args, env, seeds, seed, args.count_tokens,
                              per_prompt=args.arpo_m)
    else:
        arpo = _branched("arpo", policy, backend, env, seeds, args.max_completion_length,
                         seed, arpo=cfg, entropy_tokens=args.entropy_tokens)
        chain = _chain(policy, backend, env, seeds, args.arpo_m, args.max_completion_length,
                       seed)
    return {"arpo": arpo, "chain": chain,
            "tool_call_ratio": arpo["rollout/tool_calls"] / max(chain["rollout/tool_calls"], 1e-12),
            "env_turn_ratio": arpo["rollout/policy_turns"] / max(chain["rollout/policy_turns"],
                                                                 1e-12),
            "token_ratio": arpo["rollout/tokens_generated"] / max(
                chain["rollout/tokens_generated"], 1e-12)}


def part_c(args: argparse.Namespace, seed: int) -> dict[str, Any]:
    from agents.policy import CausalLMPolicy
    from agents.trainers.config import GRPOConfig
    from agents.trainers.grpo import GRPOTrainer

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
        cfg = GRPOConfig.from_dict(dict(
            max_steps=10_000, max_time_s=args.time_budget, seed=seed, learning_rate=args.lr,
            max_completion_length=args.max_completion_length,
            per_device_train_batch_size=rows[kind] * args.prompts, progress=False,
            output_dir=f"{args.run_dir}/{kind}-{seed}", save_final_checkpoint=False, **knobs))
        started = time.perf_counter()
        trainer = GRPOTrainer(CausalLMPolicy.from_embedded(), args.env, cfg,
                              env_kwargs={args.turns_kwarg: args.max_turns, **args.env_kwargs})
        summary = trainer.train()
        records = [json.loads(line) for line in open(summary["metrics"])]
        train = [r for r in records if r["kind"] == "train"]
        tail = train[-2:]
        out[kind] = {"rounds": len(train), "seconds": time.perf_counter() - started,
                     "rewards": [r["reward"] for r in train],
                     "reward_first": train[0]["reward"] if train else None,
                     "reward_last": statistics.fmean(r["reward"] for r in tail) if tail else None,
                     "tokens_generated": sum(r.get("rollout/tokens_generated", 0) for r in train),
                     "trajectories": sum(r.get("rollout/trajectories", 0) for r in train)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--parts", default="a,b", help="comma list of a, b, c")
    p.add_argument("--policy", default="smollm2", choices=["smollm2", "scripted"],
                   help="(a)/(b) policy: SmolLM2 on the trainer's sampler, or a seeded "
                        "stochastic scripted agent that really calls the calculator "
                        "(ScriptedToolAgent; structural numbers, no model)")
    p.add_argument("--p-tool", type=float, default=0.7,
                   help="scripted: probability that a reply is a calculator call")
    p.add_argument("--p-wrong-call", type=float, default=0.25,
                   help="scripted: probability that a call is a wrong/intermediate expression")
    p.add_argument("--p-copy", type=float, default=0.9,
                   help="scripted: probability of copying the last tool result correctly")
    p.add_argument("--p-guess", type=float, default=0.2,
                   help="scripted: probability of a right answer without a tool result")
    p.add_argument("--filler-words", type=int, nargs=2, default=[5, 60], metavar=("MIN", "MAX"),
                   help="scripted: filler words per reply (uniform), for varied reply lengths")
    p.add_argument("--token-count", default="smollm2", choices=["smollm2", "whitespace"],
                   help="scripted: count reply tokens with the SmolLM2 tokenizer (+1 end of "
                        "turn) or as whitespace words")
    p.add_argument("--env", default=ENV, help="a branchable (clone-able) multi-turn env id")
    p.add_argument("--turns-kwarg", default="max_turns",
                   help="the env option --max-turns sets (max_attempts for "
                        "rlenvs/ArithmeticFeedback-v0)")
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
    scripted = args.policy == "scripted"
    if scripted and "c" in parts:
        p.error("--policy scripted covers parts a and b only (c trains the model)")
    if args.filler_words[0] < 0 or args.filler_words[1] < args.filler_words[0]:
        p.error("--filler-words needs 0 <= MIN <= MAX")

    results: dict[str, Any] = {"args": dict(vars(args)), "seeds": {}}
    policy = backend = None
    if scripted:
        results["note"] = SCRIPTED_NOTE
        results["token_count"] = ("SmolLM2 tokenizer ids per reply + 1 end-of-turn token"
                                  if args.token_count == "smollm2" else "whitespace words")
        args.count_tokens = _token_counter(args.token_count)
        print(SCRIPTED_NOTE)
    else:
        import torch

        from agents.policy import CausalLMPolicy

        torch.manual_seed(0)
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
    results["mean"] = _means(results)
    _print_table(results)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


def _means(results: dict[str, Any]) -> dict[str, Any]:
    """Mean over seeds of the headline numbers of (a) and (b)."""
    runs = list(results["seeds"].values())
    keys = {"a": [("ratio", ()), ("token_budget", ()), ("tree_trajectories_at_budget", ()),
                  ("chain_trajectories_at_budget", ()),
                  ("tree_tokens", ("tree", "rollout/tokens_generated")),
                  ("chain_tokens", ("chain", "rollout/tokens_generated")),
                  ("tree_trajectories", ("tree", "rollout/trajectories_generated")),
                  ("chain_trajectories", ("chain", "rollout/trajectories"))],
            "b": [("tool_call_ratio", ()), ("token_ratio", ()), ("env_turn_ratio", ()),
                  ("arpo_tool_calls", ("arpo", "rollout/tool_calls")),
                  ("chain_tool_calls", ("chain", "rollout/tool_calls")),
                  ("arpo_tokens", ("arpo", "rollout/tokens_generated")),
                  ("chain_tokens", ("chain", "rollout/tokens_generated")),
                  ("arpo_turns", ("arpo", "rollout/policy_turns")),
                  ("chain_turns", ("chain", "rollout/policy_turns")),
                  ("arpo_branches", ("arpo", "rollout/branches")),
                  ("trajectories", ("arpo", "rollout/trajectories"))]}
    out: dict[str, Any] = {}
    for part, fields in keys.items():
        have = [r[part] for r in runs if part in r]
        if not have:
            continue
        out[part] = {name: statistics.fmean(float(r[path[0]][path[1]] if path else r[name])
                                            for r in have) for name, path in fields}
    return out


def _print_table(results: dict[str, Any]) -> None:
    if "note" in results:
        print(f"== {results['note']}; tokens = {results['token_count']} ==")
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
    mean = results.get("mean", {})
    n = len(results["seeds"])
    if "a" in mean:
        a = mean["a"]
        print(f"[a] mean of {n} seeds: tree {a['tree_trajectories']:.1f} trajectories / "
              f"{a['tree_tokens']:.0f} tokens, chain {a['chain_trajectories']:.1f} / "
              f"{a['chain_tokens']:.0f} -> at the tree's budget tree "
              f"{a['tree_trajectories_at_budget']:.1f} vs chain "
              f"{a['chain_trajectories_at_budget']:.1f} trajectories (ratio {a['ratio']:.2f}x)")
    if "b" in mean:
        b = mean["b"]
        print(f"[b] mean of {n} seeds: {b['trajectories']:.0f} trajectories -> ARPO "
              f"{b['arpo_tool_calls']:.1f} tool calls / {b['arpo_tokens']:.0f} tokens / "
              f"{b['arpo_turns']:.1f} turns, chain {b['chain_tool_calls']:.1f} / "
              f"{b['chain_tokens']:.0f} / {b['chain_turns']:.1f}  (tool-call ratio "
              f"{b['tool_call_ratio']:.2f}, token ratio {b['token_ratio']:.2f}, turn ratio "
              f"{b['env_turn_ratio']:.2f})")
    if "note" in results:
        print(f"== {results['note']} ==")


if __name__ == "__main__":
    main()
