"""``rlenvs train`` and ``rlenvs plot``: argparse sub-commands for ``rlenvs/cli.py``.

``add_train_parser(subparsers)`` / ``add_plot_parser(subparsers)`` add the sub-commands; each
sets ``func`` to a handler taking the parsed namespace and returning an exit code.

    rlenvs train --env rlenvs/Arithmetic-v0 --algo grpo --policy smollm2 --steps 20 \\
        --out-dir runs/x --env-kwarg level=1 --env-kwarg lenient=true
    rlenvs train --env rlenvs/ToolMath-v0 --rollout tree --set ts_m=2 --set ts_k=3 \
        --batch-size 6          # Tree-GRPO: rows per prompt = ts_m * ts_k
    rlenvs train --env rlenvs/ToolMath-v0 --rollout arpo --set rollout_budget=8 \
        --set initial_rollouts=4 --set entropy_weight=0.2
    rlenvs plot runs/x
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["add_train_parser", "add_plot_parser", "cmd_train", "cmd_plot", "main"]


def _key_values(pairs: Sequence[str], flag: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` (train a policy with an RL algorithm on an environment)."""
    from agents.presets import PRESETS

    p = subparsers.add_parser("train", help="train a policy on an environment (GRPO, PPO, ...)",
                              description="Train a policy with RL on an rlenvs environment.")
    p.add_argument("--env", default="rlenvs/Arithmetic-v0", help="environment id")
    p.add_argument("--algo", default="grpo", choices=sorted(PRESETS))
    p.add_argument("--policy", default="smollm2", help="smollm2 or a local model folder")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (needs peft)")
    p.add_argument("--lora-r", type=int, default=16)
    p.add_argument("--steps", type=int, default=20, help="optimizer steps (max_steps)")
    p.add_argument("--out-dir", default="runs/train")
    p.add_argument("--lr", type=float, default=None, help="learning rate")
    p.add_argument("--num-generations", type=int, default=None)
    p.add_argument("--rollout", default=None, choices=["chain", "tree", "arpo"],
                   help="chain (independent episodes), tree (Tree-GRPO: --set ts_m/ts_n/ts_l/"
                        "ts_k) or arpo (entropy branching: --set rollout_budget/"
                        "initial_rollouts/beam_size/branch_probability/entropy_weight)")
    p.add_argument("--batch-size", type=int, default=None, help="per_device_train_batch_size")
    p.add_argument("--grad-accum", type=int, default=None, help="gradient_accumulation_steps")
    p.add_argument("--max-completion-length", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--bf16", action="store_true", help="bf16 autocast for training passes")
    p.add_argument("--eval-episodes", type=int, default=0, help="held-out greedy episodes")
    p.add_argument("--eval-steps", type=int, default=0)
    p.add_argument("--save-steps", type=int, default=0)
    p.add_argument("--resume", action="store_true",
                   help="resume from the latest checkpoint (refused if it is another run's)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an output folder that holds a previous run")
    p.add_argument("--config", default=None, help="JSON file of settings (TRL or verl names)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config setting, e.g. --set beta=0.04 --set loss_type=grpo")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="environment option, e.g. --env-kwarg level=1 --env-kwarg lenient=true")
    p.add_argument("--no-plot", action="store_true", help="do not write curves.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    return p


def add_plot_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``plot`` (draw a run's reward/accuracy curves to PNG)."""
    p = subparsers.add_parser("plot", help="plot a training run's curves to PNG")
    p.add_argument("run_dir", help="a training output dir (holds metrics.jsonl)")
    p.add_argument("--out", default=None, help="PNG path (default RUN_DIR/curves.png)")
    p.set_defaults(func=cmd_plot)
    return p


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings: dict[str, Any] = {}
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise SystemExit(f"--config: no such file {path}")
        settings.update(json.loads(path.read_text()))
    flags = {
        "learning_rate": args.lr, "num_generations": args.num_generations,
        "rollout": args.rollout,
        "per_device_train_batch_size": args.batch_size,
        "gradient_accumulation_steps": args.grad_accum,
        "max_completion_length": args.max_completion_length, "temperature": args.temperature,
    }
    settings.update({k: v for k, v in flags.items() if v is not None})
    settings.update(max_steps=args.steps, output_dir=args.out_dir, seed=args.seed,
                    eval_episodes=args.eval_episodes, eval_steps=args.eval_steps,
                    save_steps=args.save_steps, progress=not args.quiet)
    if args.resume:
        settings["resume_from_checkpoint"] = True
    if args.threads:
        settings["torch_num_threads"] = args.threads
    if args.bf16:
        settings["bf16"] = True
    settings.update(_key_values(args.set, "--set"))
    return settings


def cmd_train(args: argparse.Namespace) -> int:
    import rlenvs
    from agents.checkpoint import RunMismatch, prepare_output_dir, run_identity
    from agents.policy import CausalLMPolicy, LoraSettings
    from agents.presets import make_trainer

    try:
        env_id = rlenvs.registration.resolve_id(args.env)
    except rlenvs.UnknownEnvError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    env_kwargs = _key_values(args.env_kwarg, "--env-kwarg")
    settings = _settings(args)
    identity = run_identity(args.algo, env_id, env_kwargs, _model_name(args.policy),
                            {**settings, "lora_r": args.lora_r if args.lora else None})
    try:  # before the model loads: a wrong folder costs nothing
        prepare_output_dir(args.out_dir, identity, resume=args.resume, overwrite=args.overwrite)
    except RunMismatch as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    lora = LoraSettings(r=args.lora_r, lora_alpha=2 * args.lora_r) if args.lora else None
    value_head = args.algo == "ppo"
    if args.policy in ("smollm2", "embedded", "default"):
        policy = CausalLMPolicy.from_embedded(lora=lora, value_head=value_head)
    elif Path(args.policy).is_dir():
        policy = CausalLMPolicy.from_pretrained(args.policy, lora=lora, value_head=value_head)
    else:
        print(f"error: --policy must be 'smollm2' or a local model folder, got {args.policy!r}",
              file=sys.stderr)
        return 2
    try:
        trainer = make_trainer(args.algo, policy, env_id, settings, env_kwargs=env_kwargs)
    except (TypeError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = trainer.train()
    last = summary["last"]
    shown = {k: last[k] for k in ("reward", "pass_rate", "stage") if k in last}
    print(json.dumps({"steps": summary["steps"], **shown, "evals": summary["evals"],
                      "metrics": summary["metrics"]}, indent=2, default=str))
    if not args.no_plot:
        try:
            from agents.plot import plot_run

            print(f"plot: {plot_run(summary['output_dir'])}")
        except ImportError as e:
            print(f"(no plot: {e})", file=sys.stderr)
    return 0


def _model_name(policy: str) -> str:
    if policy in ("smollm2", "embedded", "default"):
        return "smollm2"
    return str(Path(policy).resolve())


def cmd_plot(args: argparse.Namespace) -> int:
    from agents.plot import plot_run

    try:
        path = plot_run(args.run_dir, args.out)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (``python -m agents.cli train ...``) until rlenvs wires it in."""
    parser = argparse.ArgumentParser(prog="agents")
    sub = parser.add_subparsers(dest="command", required=True)
    add_train_parser(sub)
    add_plot_parser(sub)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
