"""``rlenvs train`` and ``rlenvs plot``: argparse sub-commands for ``rlenvs/cli.py``.

``add_train_parser(subparsers)`` / ``add_plot_parser(subparsers)`` add the sub-commands; each
sets ``func`` to a handler taking the parsed namespace and returning an exit code.

    rlenvs train --env rlenvs/Arithmetic-v0 --algo grpo --policy smollm2 --steps 20 \\
        --out-dir runs/x --env-kwarg level=1 --env-kwarg lenient=true
    rlenvs train --env rlenvs/ToolMath-v0 --rollout tree --set ts_m=2 --set ts_k=3 \
        --batch-size 6          # Tree-GRPO: rows per prompt = ts_m * ts_k
    rlenvs train --env rlenvs/ToolMath-v0 --rollout arpo --set rollout_budget=8 \
        --set initial_rollouts=4 --set entropy_weight=0.2
    rlenvs train --algo cgpo --config cgpo.json   # multi-task CGPO: tasks, judges, optimizers
    rlenvs train --nproc 2 ...    # data parallel on 2 processes (torch.distributed, gloo/NCCL)
    rlenvs train --async-rollouts --max-staleness 1 ...   # rollouts in a producer process
    rlenvs plot runs/x
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rlenvs.cli import UsageError, parse_key_values

__all__ = ["add_train_parser", "add_plot_parser", "cmd_train", "cmd_plot", "main"]


def add_train_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``train`` (train a policy with an RL algorithm on an environment)."""
    from agents.run.presets import PRESETS

    p = subparsers.add_parser("train", help="train a policy on an environment (GRPO, PPO, ...)",
                              description="Train a policy with RL on an rlenvs environment.")
    p.add_argument("env", nargs="?", default=None, help="environment id (or --env)")
    p.add_argument("--env", dest="env_opt", default="rlenvs/Arithmetic-v0",
                   help="environment id")
    p.add_argument("--algo", default="grpo", choices=sorted(PRESETS))
    p.add_argument("--policy", default="smollm2", help="smollm2 or a local model folder")
    p.add_argument("--lora", action="store_true", help="train LoRA adapters (needs peft)")
    p.add_argument("--lora-r", type=_positive, default=16)
    p.add_argument("--max-steps", "--steps", dest="max_steps", type=_positive, default=20,
                   help="optimizer steps")
    p.add_argument("--output-dir", "--out-dir", dest="output_dir", default="runs/train")
    p.add_argument("--learning-rate", "--lr", dest="learning_rate", type=float, default=None,
                   help="default: the algorithm's")
    p.add_argument("--num-generations", type=_positive, default=None,
                   help="completions per prompt (default: the algorithm's)")
    p.add_argument("--rollout", default=None, choices=["chain", "tree", "arpo"],
                   help="chain (independent episodes), tree (Tree-GRPO: --set ts_m/ts_n/ts_l/"
                        "ts_k) or arpo (entropy branching: --set rollout_budget/"
                        "initial_rollouts/beam_size/branch_probability/entropy_weight)")
    p.add_argument("--per-device-train-batch-size", "--batch-size",
                   dest="per_device_train_batch_size", type=_positive, default=None,
                   help="completions per micro-batch (default: the algorithm's)")
    p.add_argument("--gradient-accumulation-steps", "--grad-accum",
                   dest="gradient_accumulation_steps", type=_positive, default=None)
    p.add_argument("--max-completion-length", "--max-new-tokens", dest="max_completion_length",
                   type=_positive, default=None, help="most tokens per reply")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--nproc", type=_positive, default=1,
                   help="data-parallel processes: relaunch under torch.distributed.run (each "
                        "rank rolls out its share of the prompt groups, gradients summed; the "
                        "batch settings stay the global batch; --threads is per process)")
    p.add_argument("--async-rollouts", action="store_true",
                   help="GRPO family: sample and judge the next rounds in a producer process "
                        "while this one trains (docs/async.md)")
    p.add_argument("--max-staleness", type=int, default=None,
                   help="with --async-rollouts: the most rounds an episode's weights may lag "
                        "the trained ones (older: dropped, regenerated; 0 = exactly sync; "
                        "default 1)")
    p.add_argument("--weight-sync-steps", type=_positive, default=None,
                   help="with --async-rollouts: push the weights to the producer every N rounds "
                        "(default 1)")
    p.add_argument("--bf16", nargs="?", const="true", choices=["true", "false", "auto"],
                   help="bf16 autocast for the training passes (--bf16 alone: true; auto: where "
                        "this CPU/GPU runs bf16 fast -- fp32 on an AVX2-only CPU)")
    p.add_argument("--eval-episodes", type=int, default=0, help="held-out greedy episodes")
    p.add_argument("--eval-steps", type=int, default=0)
    p.add_argument("--save-steps", type=int, default=None,
                   help="checkpoint every N steps (default: every max(1, steps // 5) steps and "
                        "at the end; 0: only at the end)")
    p.add_argument("--resume", action="store_true",
                   help="resume from the latest checkpoint (refused if it is another run's)")
    p.add_argument("--overwrite", action="store_true",
                   help="start over in an output folder that holds a previous run")
    p.add_argument("--config", default=None,
                   help="JSON or YAML file of settings (TRL names, or verl names/nested "
                        "sections as in a verl YAML config; --algo cgpo: shared settings and "
                        "a 'tasks' list, see docs/cgpo.md)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="any config setting, e.g. --set beta=0.04 --set loss_type=grpo")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="environment option, e.g. --env-kwarg level=1 --env-kwarg lenient=true")
    p.add_argument("--demo", action="store_true",
                   help="the main job's GRPO demo: SmolLM2 on level-1 arithmetic for "
                        "--demo-minutes, greedy held-out accuracy before/after")
    p.add_argument("--demo-minutes", type=float, default=4.0)
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
        settings.update(read_config_file(args.config))
    flags = {k: getattr(args, k) for k in (
        "learning_rate", "num_generations", "rollout", "per_device_train_batch_size",
        "gradient_accumulation_steps", "max_completion_length", "temperature")}
    settings.update({k: v for k, v in flags.items() if v is not None})
    settings.update(max_steps=args.max_steps, output_dir=args.output_dir, seed=args.seed,
                    eval_episodes=args.eval_episodes, eval_steps=args.eval_steps,
                    progress=not args.quiet)
    if args.save_steps is not None:
        settings["save_steps"] = args.save_steps
    if args.resume:
        settings["resume_from_checkpoint"] = True
    if args.overwrite:
        settings["overwrite_output_dir"] = True
    if args.threads:
        settings["torch_num_threads"] = args.threads
    if getattr(args, "async_rollouts", False):
        settings["async_rollouts"] = True
    for name in ("max_staleness", "weight_sync_steps"):
        if getattr(args, name, None) is not None:
            if not getattr(args, "async_rollouts", False):
                raise ValueError(f"--{name.replace('_', '-')} applies with --async-rollouts")
            settings[name] = getattr(args, name)
    if args.bf16 is not None:
        settings["bf16"] = {"true": True, "false": False}.get(args.bf16, args.bf16)
    settings.update(parse_key_values(args.set, "--set"))
    return settings


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a JSON file or a YAML one (``.yaml``/``.yml``, e.g. a verl config with
    nested sections); ``ValueError`` with a one-line reason when it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--config: no such file {path}")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as e:  # noqa: BLE001 - yaml.YAMLError, JSONDecodeError: the file is bad
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"--config {path}: not valid {path.suffix or 'JSON'} ({first})") \
            from None
    if not isinstance(values, dict):
        raise ValueError(f"--config {path}: expected a mapping of settings at the top, got "
                         f"{type(values).__name__}")
    return values


# peft asks transformers 5 for `is_gradient_checkpointing`, deprecated in favour of
# `is_activation_checkpointing`: a warning for the libraries, not for someone running `train`.
_LIBRARY_NOISE = r"`is_gradient_checkpointing` is deprecated"


def cmd_train(args: argparse.Namespace) -> int:
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_LIBRARY_NOISE, category=FutureWarning)
        if getattr(args, "nproc", 1) > 1:
            from agents.run.launch import relaunch, under_launcher

            if args.demo:
                print("error: --nproc trains data-parallel; the --demo runs in one process",
                      file=sys.stderr)
                return 2
            if getattr(args, "async_rollouts", False):
                print("error: --async-rollouts does not combine with --nproc (data parallel) "
                      "yet: use one of the two", file=sys.stderr)
                return 2

            if not under_launcher():
                try:  # the checks that need no model, once, before N processes start
                    _checked_cgpo(args) if args.algo == "cgpo" else _checked(args)
                except (TypeError, ValueError, KeyError) as e:
                    print(f"error: {e.args[0] if isinstance(e, KeyError) else e}",
                          file=sys.stderr)
                    return 2
                return relaunch(args, args.nproc)
        return _cmd_demo(args) if args.demo else _cmd_train(args)


def _cmd_train(args: argparse.Namespace) -> int:
    try:  # every check that needs no model comes first: mistakes cost seconds, not a load
        if args.algo == "cgpo":
            config, tasks = _checked_cgpo(args)
        else:
            env_id, env_kwargs, settings = _checked(args)
    except (TypeError, ValueError, KeyError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) else e}", file=sys.stderr)
        return 2
    from agents.policy import CausalLMPolicy, LoraSettings
    from agents.run.presets import make_trainer

    lora = LoraSettings(r=args.lora_r, lora_alpha=2 * args.lora_r) if args.lora else None
    value_head = args.algo == "ppo"
    if args.policy in ("smollm2", "embedded", "default"):
        policy = CausalLMPolicy.from_embedded(lora=lora, value_head=value_head)
    else:
        policy = CausalLMPolicy.from_pretrained(_model_name(args.policy), lora=lora,
                                                value_head=value_head)
    if args.algo == "cgpo":
        from agents.trainers.cgpo import CGPOTrainer

        trainer = CGPOTrainer(policy, tasks, config)
    else:
        trainer = make_trainer(args.algo, policy, env_id, settings, env_kwargs=env_kwargs)
    summary = trainer.train()
    dp = getattr(trainer, "dp", None)  # training-free GRPO is not an RLTrainer: no ranks
    if dp is not None and not dp.is_main:
        return 0  # data parallel: rank 0 reports
    last = summary["last"]
    shown = {k: last[k] for k in ("reward", "pass_rate", "stage") if last.get(k) is not None}
    for task in getattr(trainer, "tasks", []):  # CGPO: each task's constraint violations
        key = f"{task.name}/violation_rate"
        if last.get(key) is not None:
            shown[key] = last[key]
    print(json.dumps({"steps": summary["steps"], **shown, "evals": summary["evals"],
                      "metrics": summary["metrics"]}, indent=2, default=str))
    if not args.no_plot:
        try:
            from agents.run.plot import plot_run

            print(f"plot: {plot_run(summary['output_dir'])}")
        except ImportError as e:
            print(f"(no plot: {e})", file=sys.stderr)
    return 0


def _checked(args: argparse.Namespace) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Env id, env kwargs and settings, each checked; the output folder prepared."""
    import rlenvs
    from agents.run.checkpoint import prepare_output_dir, run_identity

    if args.env and args.env_opt not in (args.env, "rlenvs/Arithmetic-v0"):
        raise ValueError(f"two environments given: {args.env!r} and --env {args.env_opt!r}")
    env_id = rlenvs.registration.resolve_id(args.env or args.env_opt)
    env_kwargs = parse_key_values(args.env_kwarg, "--env-kwarg")
    rlenvs.make(env_id, **env_kwargs).close()
    if args.policy not in ("smollm2", "embedded", "default") and not Path(args.policy).is_dir():
        raise ValueError(f"--policy must be 'smollm2' or a local model folder, "
                         f"got {args.policy!r}")
    settings = _settings(args)
    config = config_for(args.algo, settings)
    # the identity Trainer.train() records (agents.trainers.base.Trainer.run_identity), checked here
    # before the model loads; the trainer deletes an overwritten run's files and writes run.json
    identity = run_identity(_trainer_class(args.algo).algorithm, env_id, env_kwargs,
                            _model_name(args.policy),
                            {**config.to_dict(), "lora_r": args.lora_r if args.lora else None})
    prepare_output_dir(args.output_dir, identity, resume=args.resume, overwrite=args.overwrite,
                       check_only=True)
    _check_resumable(args)
    return env_id, env_kwargs, settings


def _checked_cgpo(args: argparse.Namespace) -> tuple[Any, list[Any]]:
    """CGPO's config and tasks (judges imported, environments made once), and the output
    folder checked against the run it would record -- all before any model loads."""
    import rlenvs
    from agents.run.cgpo_config import cgpo_from_dict
    from agents.run.checkpoint import prepare_output_dir, run_identity
    from agents.trainers.cgpo import resolve_tasks, task_identity, tasks_env_id

    settings = _settings(args)
    env_kwargs = parse_key_values(args.env_kwarg, "--env-kwarg")
    named = args.env or (args.env_opt if args.env_opt != "rlenvs/Arithmetic-v0" else None)
    if "tasks" in settings and named:
        raise ValueError(f"--env {named!r}: with --algo cgpo the environments come from the "
                         f"config's tasks")
    env_id = rlenvs.registration.resolve_id(args.env or args.env_opt)
    config, tasks = cgpo_from_dict(settings, env_id=env_id, env_kwargs=env_kwargs)
    for task in tasks:
        task.env = rlenvs.registration.resolve_id(task.env)
        try:
            rlenvs.make(task.env, **task.env_kwargs).close()
        except TypeError as e:
            raise ValueError(f"task {task.name!r}: {task.env} does not take these env_kwargs "
                             f"({e})") from None
    if args.policy not in ("smollm2", "embedded", "default") and not Path(args.policy).is_dir():
        raise ValueError(f"--policy must be 'smollm2' or a local model folder, "
                         f"got {args.policy!r}")
    resolved = resolve_tasks(tasks, config)
    identity = run_identity("cgpo", tasks_env_id(resolved),
                            {"tasks": [task_identity(t) for t in resolved]},
                            _model_name(args.policy),
                            {**config.to_dict(), "lora_r": args.lora_r if args.lora else None})
    prepare_output_dir(args.output_dir, identity, resume=args.resume, overwrite=args.overwrite,
                       check_only=True)
    _check_resumable(args)
    return config, tasks


def _check_resumable(args: argparse.Namespace) -> None:
    """``--resume`` where no checkpoint was saved fails (TRL: "No valid checkpoint found"),
    before the model loads, instead of starting over and replacing the folder's metrics."""
    from agents.run.checkpoint import latest_checkpoint

    if args.resume and latest_checkpoint(args.output_dir) is None:
        raise ValueError(f"--resume: No valid checkpoint found in {args.output_dir} (nothing "
                         "to resume; drop --resume to start a new run there, --overwrite to "
                         "replace what it holds)")


def _trainer_class(algo: str) -> Any:
    import agents
    from agents.run.presets import PRESETS

    return getattr(agents, PRESETS[algo][0])


def config_for(algo: str, settings: dict[str, Any]) -> Any:
    """The trainer config ``algo`` with ``settings`` would get; a value of the wrong type is a
    ``ValueError`` naming the setting (before any comparison inside the config trips on it)."""
    import dataclasses

    import agents
    from agents.run.presets import PRESETS

    if algo not in PRESETS:
        raise ValueError(f"unknown algorithm {algo!r}; choose one of {sorted(PRESETS)}")
    cls_name, preset = PRESETS[algo]
    config_class = getattr(agents, cls_name).config_class
    types = {f.name: str(f.type) for f in dataclasses.fields(config_class)}
    if "rollout" in types:  # the nested rollout settings' flat spellings (--set ts_m=2)
        from agents.trainers.config import RolloutConfig

        types.update({f.name: str(f.type) for f in dataclasses.fields(RolloutConfig)
                      if f.name != "kind"})
    for key, value in settings.items():
        kind = types.get(key, "")
        numeric = kind.split(" | ")[0] in ("int", "float")
        if numeric and (isinstance(value, str) or isinstance(value, bool)) and \
                not (value == "quarter" and key == "overlong_buffer_len"):
            raise ValueError(f"{key} must be a number ({kind}), got {value!r}")
    values = {**preset, **settings}
    if values.get("overlong_buffer_len") == "quarter":
        values["overlong_buffer_len"] = max(1, int(values.get("max_completion_length", 256)) // 4)
    return config_class.from_dict(values)


def _cmd_demo(args: argparse.Namespace) -> int:
    """``train --demo``: the main job's GRPO demo, with its before/after table."""
    from agents.run.demo import run_training_demo
    from rlenvs.evaluation import print_table

    demo = run_training_demo(Path(args.output_dir), minutes=args.demo_minutes, seed=args.seed,
                             eval_episodes=args.eval_episodes or 60, progress=not args.quiet,
                             overwrite=args.overwrite)
    rows = [
        ("held-out accuracy before", f"{demo['accuracy_before']:.3f}"),
        ("held-out accuracy after", f"{demo['accuracy_after']:.3f}"),
        ("optimizer steps", str(demo["steps"])),
        ("dense -> binary switch at step", str(demo["switched_at"])),
        ("minutes", f"{demo['minutes']:.1f}"),
        ("plot", str(demo.get("plot"))),
    ]
    print_table("GRPO on rlenvs/Arithmetic-v0 (level 1, greedy, held-out seeds)", rows)
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _model_name(policy: str) -> str:
    """The name the loaded policy will carry (``CausalLMPolicy.name``)."""
    if policy in ("smollm2", "embedded", "default"):
        from judges.llm.embedded import EMBEDDED_MODEL_NAME

        return EMBEDDED_MODEL_NAME
    return str(Path(policy).resolve())


def cmd_plot(args: argparse.Namespace) -> int:
    from agents.run.plot import plot_run

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
    try:
        return int(args.func(args) or 0)
    except UsageError as e:
        print(f"agents: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
