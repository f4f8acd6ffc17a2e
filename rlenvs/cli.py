"""``rlenvs``: list, evaluate and serve LLM environments and policies; run the main job.

Sub-commands contributed by packages (``train`` and ``plot`` from ``agents``, third-party
ones) come from the ``rlenvs.commands`` entry-point group. A user error is one ``error:`` line
and exit code 2, found before any model loads; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rlenvs.cli_args import UsageError, parse_key_values, positive_int

# the checks before a model loads, shared with the eval command and `rlenvs preferences`
from rlenvs.cli_checks import _env_checked, _policy, _policy_checked, _sampling  # noqa: F401

__all__ = ["main", "build_parser", "UsageError", "COMMANDS_GROUP", "positive_int",
           "parse_key_values"]

COMMANDS_GROUP = "rlenvs.commands"


def _says_nothing(default: Any) -> bool:
    """A default not worth printing: none, an off flag, an empty repeatable option."""
    return default is None or default is False or default == [] or default is argparse.SUPPRESS


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``(default: X)`` after each option's help, unless X says nothing or the help already
    states its default in words."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if _says_nothing(action.default) or "default" in text:
            return text
        return super()._get_help_string(action) or ""


class _Parser(argparse.ArgumentParser):
    """Every (sub-)command shows its defaults in ``--help``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _HelpFormatter)
        super().__init__(*args, **kwargs)

    def add_argument(self, *args: Any, **kwargs: Any) -> argparse.Action:
        if "help" not in kwargs and not _says_nothing(kwargs.get("default")):
            kwargs["help"] = "(default: %(default)s)"  # argparse skips a default without help
        return super().add_argument(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """One line (argparse prints the whole usage block first)."""
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


# ----------------------------------------------------------------- commands

def _variants(env_id: str) -> str | None:
    """What an env's class says it takes under one id (``list_variants()``: ReasoningGym-v0's
    datasets, TextArena-v0's games), or None."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    entry = gym.registry[env_id].entry_point
    try:
        target = load_env_creator(entry) if isinstance(entry, str) else entry
        note = getattr(target, "list_variants", None)
        return note() if callable(note) else None
    except Exception:  # noqa: BLE001 - a plugin that does not load is listed without a note
        return None


def cmd_list(args: argparse.Namespace) -> int:
    import inspect

    import rlenvs
    from rlenvs.registration import describe_env, env_kwargs

    for env_id in rlenvs.list_envs():
        print(env_id)
        variants = _variants(env_id)
        if variants:
            print(f"    {variants}")
        if args.details:
            print(f"    {describe_env(env_id)}")
            shown = [k if v is inspect.Parameter.empty else f"{k}={v!r}"
                     for k, v in env_kwargs(env_id).items()]
            print(f"    kwargs: {', '.join(shown) or '(none)'}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from rlenvs.eval_cli import run_eval

    return run_eval(args)


def cmd_serve(args: argparse.Namespace) -> int:
    from judges.llm.server import ChatServer

    _policy_checked(args)
    server = ChatServer(_policy(args), host=args.host, port=args.port,
                        max_new_tokens=args.max_completion_length)
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

    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--output-dir {out_dir} is a file")
    _policy_checked(args)
    train = _command("train") if args.train_minutes > 0 else None
    if args.train_minutes > 0 and train is None:
        raise UsageError("the GRPO demo needs the `train` command (the agents package): "
                         "reinstall rlenvs, or pass --train-minutes 0")
    code = run_main_job(out_dir=out_dir, episodes=args.episodes, seed=args.seed,
                        policy=_policy(args), max_new_tokens=args.max_completion_length,
                        chat_judge=args.chat_judge)
    if code or train is None:
        return code
    print(f"\nshort GRPO run of SmolLM2 on Arithmetic-v0 ({args.train_minutes:g} min)...",
          flush=True)
    return _run_command(train, ["--demo", "--demo-minutes", str(args.train_minutes),
                                "--output-dir", str(out_dir / "grpo"), "--seed", str(args.seed),
                                "--eval-episodes", str(args.train_eval_episodes),
                                "--overwrite"])


def cmd_view(args: argparse.Namespace) -> int:
    from rlenvs.view import write_view

    if not Path(args.results).exists():
        raise UsageError(f"{args.results}: no such file or folder (an `rlenvs eval --out` "
                         "transcript file or the main job's --output-dir)")
    print(write_view(args.results, args.out,
                     warn=lambda text: print(f"warning: {text}", file=sys.stderr)))
    return 0


# ----------------------------------------------------------------- parser

def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def _add_policy_args(p: argparse.ArgumentParser, batch_size: int = 16) -> None:
    p.add_argument("--policy", default="smollm2",
                   help="smollm2 | http(s)://HOST:PORT/v1 | vllm:PATH | local model folder")
    p.add_argument("--model", default=None,
                   help="model name sent to an HTTP server (default: the server's first)")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
                   help="generation dtype of a local model; auto: bf16 where it measures faster "
                        "than fp32 on this CPU")
    p.add_argument("--generation-batch-size", "--batch-size", dest="generation_batch_size",
                   type=positive_int, default=batch_size, help="conversations per generate call")
    p.add_argument("--max-completion-length", "--max-new-tokens", dest="max_completion_length",
                   type=positive_int, default=256, help="most tokens per reply")


def _commands() -> dict[str, Any]:
    found = {}
    for ep in entry_points(group=COMMANDS_GROUP):
        try:
            found[ep.name] = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break the CLI
            warnings.warn(f"rlenvs command {ep.name!r} ({ep.value}) failed to load: {e!r}",
                          RuntimeWarning, stacklevel=2)
    return found


def _command(name: str) -> Any:
    return _commands().get(name)


def _run_command(add_parser: Any, argv: list[str]) -> int:
    parser = _Parser(prog="rlenvs")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    made = add_parser(sub)
    args = parser.parse_args([made.prog.split()[-1], *argv])
    return int(args.func(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rlenvs", description="LLM tasks as Gymnasium environments: list, "
                     "evaluate, view and serve them, serve a policy, run the main job; packages "
                     "add more commands (train, plot, serve-env ...). `rlenvs COMMAND --help` "
                     "for each.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("list", help="list registered environments")
    p.add_argument("--details", action="store_true",
                   help="with each environment's description and kwargs")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("eval", help="evaluate a policy on an environment")
    p.add_argument("env", nargs="?", default=None, help="environment id (or --env)")
    p.add_argument("--env", dest="env_opt", default=None, help="environment id")
    _add_policy_args(p)
    p.add_argument("--episodes", type=positive_int, default=None,
                   help="seeded episodes (default: 20); with --suite, each env's own unless given")
    p.add_argument("--num-generations", "--samples", dest="samples", type=positive_int,
                   default=1, help="samples per episode (pass@k for powers of two up to it)")
    p.add_argument("--suite", default=None, metavar="NAME|FILE",
                   help="evaluate a suite of envs, each with its own settings: math, code, "
                        "tools, instruction, reasoning-gym-sample, or a TOML/YAML suite file; "
                        "transcripts go to --out-dir")
    p.add_argument("--out-dir", default=None, metavar="DIR",
                   help="with --suite: one transcript file per env and summary.json")
    p.add_argument("--seed", type=int, default=0, help="episode i uses task seed SEED+i")
    p.add_argument("--temperature", type=float, default=None,
                   help="default: 0 (greedy) for one sample, 0.8 for several")
    p.add_argument("--out", default=None, help="JSONL transcripts (summary beside it)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="environment option (JSON value), repeatable: --env-kwarg level=2; "
                        "`rlenvs list --details` names each env's")
    p.add_argument("--system-prompt-file", default=None, metavar="FILE",
                   help="text the policy sees at the top of its system message (a text file, "
                        "or a JSON file's 'system_prompt': the experience library of "
                        "`rlenvs train --algo training_free_grpo`)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--resume", action="store_true",
                   help="finish the evaluation at --out: keep its scored transcripts, run its "
                        "unscored and unfinished episodes (same settings)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the evaluation already at --out")
    p.add_argument("--reverify", default=None, metavar="RUN",
                   help="re-score the transcripts of RUN (an --out file, or the main job's "
                        "folder) with the current judges and report what changed; writes "
                        "RUN.reverified.jsonl, RUN/reverified/ for a folder (or --out)")
    p.add_argument("--episode-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="wall-clock budget of each episode's sample (its generation, resets "
                        "and steps); past it the sample is unscored, cause 'deadline' "
                        "(default: none)")
    p.add_argument("--run-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="wall-clock budget of the whole evaluation; what is unfinished then is "
                        "unscored, cause 'deadline' (default: none)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("serve", help="serve a policy over an OpenAI-compatible HTTP API")
    _add_policy_args(p)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("view", help="write evaluation results as one self-contained HTML page")
    p.add_argument("results", help="an `eval --out` transcript file or the main job's folder")
    p.add_argument("--out", default=None,
                   help="HTML path (default: RESULTS/view.html, or FILE.html beside a file)")
    p.set_defaults(func=cmd_view)

    from rlenvs.audit.command import add_audit_parser

    add_audit_parser(sub)

    from rlenvs.compare import add_compare_parser

    add_compare_parser(sub)

    p = sub.add_parser("main", help="the main job: evaluate the policy on every env family, "
                       "then a short GRPO run with accuracy before/after")
    # the suite's envs share model batches (rlenvs.coalesce): a turn of all of them is ~100
    # conversations; 48 a call decoded ~1.3-1.5x faster than 16 here
    _add_policy_args(p, batch_size=48)
    p.add_argument("--episodes", type=positive_int, default=10,
                   help="seeded episodes per env family")
    p.add_argument("--seed", type=int, default=0, help="episode i uses task seed SEED+i")
    p.add_argument("--output-dir", "--out-dir", dest="out_dir", default="results",
                   help="transcripts, summaries, the GRPO run (grpo/)")
    p.add_argument("--chat-judge", default="reference",
                   help="judge of the Chat-v0 row: reference (reference-guided over the "
                        "embedded model), smollm2, an http(s):// judge server, or none "
                        "(row marked unscored)")
    p.add_argument("--train-minutes", type=float, default=2.5,
                   help="length of the GRPO demo run (0 skips training)")
    p.add_argument("--train-eval-episodes", type=positive_int, default=60,
                   help="held-out greedy episodes before and after the GRPO run")
    p.set_defaults(func=cmd_main)

    for name, add_parser in sorted(_commands().items()):
        try:
            add_parser(sub)
        except Exception as e:  # noqa: BLE001
            warnings.warn(f"rlenvs command {name!r} failed to add itself: {e!r}",
                          RuntimeWarning, stacklevel=2)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if debug:
        argv.remove("--debug")
    args = build_parser().parse_args(argv)
    args.argv = argv  # what the user typed (an interrupted eval prints how to resume it)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that left early (`rlenvs list | head`) shows up here
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # not an error of ours: stop quietly, as `head`'s writers do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141
    except Exception as e:
        if debug:
            raise
        from judges.llm.base import BackendError

        user = isinstance(e, UsageError | ValueError | TypeError | KeyError | OSError |
                          BackendError)
        text = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {text or type(e).__name__} (--debug for the traceback)",
              file=sys.stderr)
        return 2 if user else 1


if __name__ == "__main__":
    sys.exit(main())
