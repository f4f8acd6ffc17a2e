"""Multi-task CGPO on CPU: SmolLM2-135M-Instruct + LoRA on math, instruction following and code.

    OMP_NUM_THREADS=1 python examples/cgpo_demo.py --minutes 12 --out-dir runs/cgpo_demo

Three tasks, each with its own Mixture of Judges (constraints), optimizer and ``K``
(reference section 6.6, Algorithm 2; one optimizer update sums the three task gradients):

====  ==============================  =========  ===============================================
task  environment                     optimizer  constraint judge
====  ==============================  =========  ===============================================
math  ``Arithmetic-v0`` (level 1)     CRPG       the final answer is right (lenient extraction)
if    ``Instruct-v0`` (1 constraint)  CODPO      the instruction is followed (IFEval checks)
code  ``Code-v0`` (4 shipped tasks)   CRRAFT     the unit tests pass (sandboxed)
====  ==============================  =========  ===============================================

The optimizers are matched to where each gets a learning signal from a 135M model: CRPG needs
some passing samples (level-1 arithmetic has a few), CODPO a passing and a failing one (common
for single instructions), and CRRAFT's fallback to the baseline response trains on the reference
solution when no sample passes -- SmolLM2 almost never passes the code tests on its own, so
CODPO/CRPG would get no gradient there. ``--optimizers math=crraft,if=crraft,code=codpo`` (any
mapping) changes them.

There is no reward model on this machine, so ``r(s, a)`` is a small rule-based stand-in: a
concise-reply reward ``1 − min(words / 120, 1)``. Math and code prompts have a baseline response
``ā`` (the boxed gold answer; the reference solution in a code block): the Mixture of Judges
calibrates against it, ``R_calib = σ(4·(r(a) − r(ā)))``.

The trainer is :class:`agents.CGPOTrainer` on the base trainer's round, so the run writes what
every ``rlenvs train`` run writes: ``<out-dir>/metrics.jsonl`` (one line per step: each task's
reward, constraint-violation rate, KL, calibrated reward, loss, ... prefixed by its name; plus
``"kind": "eval"`` lines), checkpoints (``--save-steps``; ``--resume`` continues a killed run
exactly), ``curves.png`` (``rlenvs plot``) and ``<out-dir>/violation_rates.png``. Training
batches are small and their prompts change every step, so the violation rate is also measured
before and after training on the same held-out prompts (``--eval-prompts`` greedy replies per
task, scored by the task's judges). The same run from a config file:
``rlenvs train --algo cgpo --config cgpo.json`` (docs/cgpo.md).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agents import CausalLMPolicy, CGPOConfig, CGPOTask, CGPOTrainer, LoraSettings
from agents.run.metrics import read_metrics
from judges.moj import MixtureOfJudges, ifeval_constraint
from judges.verdict import Verdict

TASK_NAMES = ("math", "if", "code")


# ------------------------------------------------------------------ judges
def concise_reward(response: str, task: Mapping[str, Any]) -> Verdict:
    """Stand-in reward model: shorter replies score higher (``1 − min(words / 120, 1)``)."""
    words = len(response.split())
    return Verdict(1.0 - min(words / 120.0, 1.0), True, f"{words} words")


def math_answer_constraint(response: str, task: Mapping[str, Any]) -> Verdict:
    """The reply's final answer equals ``task["answer"]`` (boxed, "the answer is", last number)."""
    from rlenvs.envs.math_judge import make_math_judge

    return make_math_judge(lenient=True)(response, task)


def unit_test_constraint(response: str, task: Mapping[str, Any]) -> Verdict:
    """The last ```python block of the reply passes every test of ``task["tests"]``."""
    from judges.code import extract_code, run_tests

    program = extract_code(response)
    if not program.strip():
        return Verdict.fail("no code found in the reply")
    return run_tests(program, list(task["tests"]), timeout_s=5.0)


DEFAULT_OPTIMIZERS = {"math": "crpg", "if": "codpo", "code": "crraft"}


def parse_optimizers(spec: str) -> dict[str, str]:
    """``"math=crpg,if=codpo"`` -> the default mapping with those entries replaced."""
    chosen = dict(DEFAULT_OPTIMIZERS)
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, optimizer = part.partition("=")
        if name not in chosen or not optimizer:
            raise SystemExit(f"--optimizers: expected TASK=OPTIMIZER with TASK in {TASK_NAMES}, "
                             f"got {part!r}")
        chosen[name] = optimizer
    return chosen


def build_tasks(k: int, prompts: int,
                optimizers: Mapping[str, str] = DEFAULT_OPTIMIZERS) -> list[CGPOTask]:
    """The three CGPO tasks of the demo, each with its Mixture of Judges."""
    def moj(constraints: dict[str, Any]) -> MixtureOfJudges:
        return MixtureOfJudges(concise_reward, constraints, scale=4.0)

    return [
        CGPOTask("rlenvs/Arithmetic-v0", optimizers["math"], judge=moj({"answer": math_answer_constraint}),
                 num_generations=k, prompts_per_step=prompts, kl_threshold=20.0,
                 env_kwargs={"level": 1, "lenient": True},
                 baseline=lambda t: f"The answer is \\boxed{{{t['answer']}}}.", name="math"),
        CGPOTask("rlenvs/Instruct-v0", optimizers["if"], judge=moj({"ifeval": ifeval_constraint()}),
                 num_generations=k, prompts_per_step=prompts, kl_threshold=20.0,
                 env_kwargs={"n_constraints": 1}, name="if"),
        CGPOTask("rlenvs/Code-v0", optimizers["code"], judge=moj({"tests": unit_test_constraint}),
                 num_generations=k, prompts_per_step=prompts, kl_threshold=40.0,
                 baseline=lambda t: f"```python\n{t['solution']}\n```", name="code"),
    ]


# ------------------------------------------------------------------ outputs
def plot_violation_rates(records: list[dict[str, Any]], out: Path, window: int = 5,
                         evals: Mapping[str, Any] | None = None) -> Path:
    """Per-task constraint-violation rate over steps (raw and a moving average) to PNG, with
    the held-out before/after rates as markers when given."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, color in zip(TASK_NAMES, ("tab:blue", "tab:orange", "tab:green"), strict=True):
        rows = [r for r in records if f"{name}/violation_rate" in r]
        steps = [r["step"] for r in rows]
        rates = [r[f"{name}/violation_rate"] for r in rows]
        ax.plot(steps, rates, color=color, alpha=0.3)
        ax.plot(steps, moving_average(rates, window), color=color,
                label=f"{name} ({window}-step mean)")
        if evals and steps:
            ax.plot([0, steps[-1]], [evals["before"][name]["violation_rate"],
                                     evals["after"][name]["violation_rate"]],
                    "s--", color=color, markersize=7, label=f"{name} held-out")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("constraint-violation rate of sampled replies")
    ax.set_title("Multi-task CGPO, SmolLM2-135M + LoRA")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def moving_average(values: list[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` values."""
    return [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
            for i in range(len(values))]


def held_out(record: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Per task: violation rate and mean reward of one ``"kind": "eval"`` record."""
    return {name: {"violation_rate": record[f"eval/{name}/violation_rate"],
                   "reward": record[f"eval/{name}/reward"]} for name in TASK_NAMES}


def summarize(records: list[dict[str, Any]], window: int) -> dict[str, tuple[float, float]]:
    """Per task: mean violation rate over the first and the last ``window`` steps."""
    out = {}
    for name in TASK_NAMES:
        rates = [r[f"{name}/violation_rate"] for r in records if f"{name}/violation_rate" in r]
        if rates:
            w = min(window, len(rates))
            out[name] = (sum(rates[:w]) / w, sum(rates[-w:]) / w)
    return out


# ------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=12.0,
                        help="wall-clock budget (the evaluation before training counts, the "
                             "one after comes on top)")
    parser.add_argument("--steps", type=int, default=200, help="at most this many updates")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out-dir", default="runs/cgpo_demo")
    parser.add_argument("--k", type=int, default=4, help="generations per prompt (K)")
    parser.add_argument("--prompts", type=int, default=2, help="prompts per task per step")
    parser.add_argument("--max-completion-length", type=int, default=80)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--optimizers", default="",
                        help="e.g. math=crraft,if=crpg (default: math=crpg,if=codpo,code=crraft)")
    parser.add_argument("--window", type=int, default=5, help="steps averaged in the summary")
    parser.add_argument("--eval-prompts", type=int, default=8,
                        help="held-out prompts per task for the before/after evaluation (0: off)")
    parser.add_argument("--save-steps", type=int, default=0,
                        help="checkpoint every N steps (0: only at the end)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out-dir from its latest checkpoint")
    args = parser.parse_args(argv)

    out_dir = Path(args.out_dir)
    policy = CausalLMPolicy.from_embedded(lora=LoraSettings(r=16, lora_alpha=32))
    config = CGPOConfig(
        output_dir=str(out_dir), max_steps=args.steps, max_time_s=60 * args.minutes,
        learning_rate=args.learning_rate, seed=args.seed,
        train_seed=1000 * args.seed,  # different prompts per seed
        max_completion_length=args.max_completion_length, temperature=0.9,
        eval_episodes=args.eval_prompts, save_steps=args.save_steps,
        resume_from_checkpoint=True if args.resume else None,
        overwrite_output_dir=not args.resume)
    optimizers = parse_optimizers(args.optimizers)
    trainer = CGPOTrainer(policy, build_tasks(args.k, args.prompts, optimizers), config)
    start = time.monotonic()
    summary = trainer.train()
    minutes = (time.monotonic() - start) / 60
    records = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"]
    evals = ({"before": held_out(summary["evals"][0]), "after": held_out(summary["evals"][-1])}
             if len(summary["evals"]) > 1 else {})
    png = plot_violation_rates(records, out_dir / "violation_rates.png", args.window, evals)
    from agents.run.plot import plot_run

    curves = plot_run(out_dir, title="Multi-task CGPO: SmolLM2-135M + LoRA")
    result = summarize(records, args.window)
    print(f"{summary['steps']} steps, {minutes:.1f} min with evaluations (seed {args.seed}, "
          f"optimizers {optimizers}); metrics: {summary['metrics']}; plots: {png}, {curves}")
    for name, (first, last) in result.items():
        line = (f"  {name:5s} violation rate, training batches (mean of first/last {args.window}"
                f" steps): {first:.2f} -> {last:.2f}")
        if evals:
            line += (f"; held-out ({args.eval_prompts} greedy replies): "
                     f"{evals['before'][name]['violation_rate']:.2f} -> "
                     f"{evals['after'][name]['violation_rate']:.2f}")
        print(line)
    return {"train": result, **evals}


if __name__ == "__main__":
    main()
