"""The ``rlenvs`` command line: list, eval, serve, main, and train/plot from the agents package.

The only place allowed to reach across judges, rlenvs and agents, lazily.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _print_table(title: str, rows: Sequence[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in rows:
        table.add_row(k, v)
    Console().print(table)


def _sampling(args: argparse.Namespace) -> Any:
    from judges.llm.base import SamplingParams

    temperature = args.temperature
    if temperature is None:
        temperature = 0.0 if args.samples == 1 else 0.8
    return SamplingParams(
        temperature=temperature, max_new_tokens=args.max_new_tokens, seed=args.seed
    )


def _policy(args: argparse.Namespace) -> Any:
    from rlenvs.policies import load_policy

    kwargs: dict[str, Any] = {}
    if args.policy in ("smollm2", "embedded", "default"):
        kwargs = {"dtype": args.dtype, "batch_size": args.batch_size}
    elif args.policy.startswith(("http://", "https://")):
        kwargs = {"model": args.model or "default"}
    return load_policy(args.policy, **kwargs)


def _parse_kwargs(pairs: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"--env-kwarg expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def cmd_list(args: argparse.Namespace) -> int:
    import rlenvs

    for env_id in rlenvs.list_envs():
        print(env_id)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import rlenvs
    from rlenvs.evaluation import evaluate

    try:
        env_id = rlenvs.registration.resolve_id(args.env_id)
    except rlenvs.UnknownEnvError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result = evaluate(
        env_id,
        _policy(args),
        episodes=args.episodes,
        samples=args.samples,
        seed=args.seed,
        out=args.out,
        env_kwargs=_parse_kwargs(args.env_kwarg),
        sampling=_sampling(args),
    )
    _print_table(f"{env_id} — {result.policy}", result.table_rows())
    if args.out:
        print(f"transcripts: {args.out}\nsummary: {args.out}.summary.json")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from judges.llm.server import ChatServer

    server = ChatServer(_policy(args), host=args.host, port=args.port)
    print(f"serving {server.model.name} at {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def cmd_main(args: argparse.Namespace) -> int:
    from rlenvs.suite import run_main_job

    code = run_main_job(
        out_dir=Path(args.out_dir),
        episodes=args.episodes,
        seed=args.seed,
        policy=_policy(args),
        max_new_tokens=args.max_new_tokens,
    )
    if code or args.train_minutes <= 0:
        return code
    try:
        from agents.demo import run_training_demo
    except ImportError as e:  # the agents package is part of this distribution
        print(f"error: cannot import the agents package: {e}", file=sys.stderr)
        return 1
    print(f"\nshort GRPO run of SmolLM2 on Arithmetic-v0 ({args.train_minutes:g} min)...", flush=True)
    demo = run_training_demo(Path(args.out_dir) / "grpo", minutes=args.train_minutes,
                             seed=args.seed, eval_episodes=args.train_eval_episodes)
    rows = [
        ("held-out accuracy before", f"{demo['accuracy_before']:.3f}"),
        ("held-out accuracy after", f"{demo['accuracy_after']:.3f}"),
        ("optimizer steps", str(demo["steps"])),
        ("dense -> binary switch at step", str(demo["switched_at"])),
        ("minutes", f"{demo['minutes']:.1f}"),
        ("plot", str(demo.get("plot"))),
    ]
    _print_table("GRPO on rlenvs/Arithmetic-v0 (level 1, greedy, held-out seeds)", rows)
    return 0


def _add_policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="smollm2",
                   help="smollm2 | http(s)://HOST:PORT/v1 | vllm:PATH | local model folder")
    p.add_argument("--model", default=None, help="model name sent to an HTTP server")
    p.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-new-tokens", type=int, default=256)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlenvs", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list registered environments").set_defaults(func=cmd_list)

    p = sub.add_parser("eval", help="evaluate a policy on an environment")
    p.add_argument("env_id")
    _add_policy_args(p)
    p.add_argument("--episodes", type=int, default=20)
    p.add_argument("--samples", type=int, default=1, help="samples per episode (pass@k)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--out", default=None, help="JSONL transcripts (summary beside it)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="serve a policy over an OpenAI-compatible HTTP API")
    _add_policy_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("main", help="the main job: evaluate the policy on every env family, "
                       "then a short GRPO run with accuracy before/after")
    _add_policy_args(p)
    p.add_argument("--episodes", type=int, default=10, help="seeded episodes per env family")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out-dir", default="results")
    p.add_argument("--train-minutes", type=float, default=4.0,
                   help="length of the GRPO demo run (0 skips training)")
    p.add_argument("--train-eval-episodes", type=int, default=60)
    p.set_defaults(func=cmd_main)

    try:  # training commands live in the agents package (imported lazily by its own commands)
        from agents.cli import add_plot_parser, add_train_parser
    except ImportError:
        pass
    else:
        add_train_parser(sub)
        add_plot_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
