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

__all__ = ["main", "build_parser", "UsageError", "COMMANDS_GROUP", "positive_int",
           "parse_key_values"]

COMMANDS_GROUP = "rlenvs.commands"
_EMBEDDED = ("smollm2", "embedded", "default")


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


# ----------------------------------------------------------------- checks before the model loads

def _env_checked(env: str | None, kwargs: dict[str, Any]) -> str:
    import rlenvs

    if not env:
        raise UsageError("name an environment: `rlenvs eval ENV` or --env ENV (`rlenvs list`)")
    env_id = rlenvs.registration.resolve_id(env)
    rlenvs.make(env_id, **kwargs).close()  # bad kwargs fail here, not after the model load
    return env_id


def _policy_checked(args: argparse.Namespace) -> None:
    """Fail fast on a policy that cannot load: a missing folder, a server that is down."""
    spec = args.policy
    if spec.startswith(("http://", "https://")):
        from judges.llm.openai_backend import OpenAIChat

        try:
            listed = OpenAIChat(spec, timeout_s=10, max_retries=0).request("/models")
        except Exception as e:  # noqa: BLE001 - any failure here means: not reachable
            raise UsageError(f"--policy {spec}: server not reachable ({e})") from None
        models = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict)]
        if args.model is None and models:
            args.model = models[0]
    elif spec not in _EMBEDDED and not spec.startswith("vllm:") and \
            not Path(spec.removeprefix("hf:")).is_dir():
        raise UsageError(f"--policy {spec!r}: use 'smollm2', an http(s):// OpenAI-compatible "
                         "URL, 'vllm:PATH' or a local model folder")


def _policy(args: argparse.Namespace) -> Any:
    from rlenvs.policies import load_policy

    kwargs: dict[str, Any] = {}
    if args.policy.startswith(("http://", "https://")):
        kwargs = {"model": args.model or "default"}
    elif not args.policy.startswith("vllm:"):  # the embedded model or a local folder
        kwargs = {"dtype": args.dtype, "batch_size": args.generation_batch_size}
    policy = load_policy(args.policy, **kwargs)
    if args.policy.startswith(("http://", "https://")):
        policy.name = f"{args.model or 'default'} @ {args.policy}"
    return policy


def _sampling(args: argparse.Namespace, samples: int = 1) -> Any:
    from judges.llm.base import SamplingParams

    temperature = args.temperature
    if temperature is None:
        temperature = 0.0 if samples == 1 else 0.8
    return SamplingParams(temperature=temperature, max_new_tokens=args.max_completion_length,
                          seed=args.seed)


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
    from rlenvs.eval_files import existing_results
    from rlenvs.evaluation import check_out_path, evaluate, print_table

    if args.reverify:
        return _reverify(args)
    if args.env and args.env_opt and args.env != args.env_opt:
        raise UsageError(f"two environments given: {args.env!r} and --env {args.env_opt!r}")
    if args.resume and args.overwrite:
        raise UsageError("--resume keeps the finished transcripts, --overwrite replaces them: "
                         "give one")
    if args.resume and not args.out:
        raise UsageError("--resume needs --out (the transcripts of the run to finish)")
    env_kwargs = parse_key_values(args.env_kwarg)
    env_id = _env_checked(args.env or args.env_opt, env_kwargs)
    if args.out:
        check_out_path(args.out)
        if args.resume and not existing_results(args.out):
            raise UsageError(f"--resume: {args.out} holds no evaluation to resume (run without "
                             "--resume to start one)")
        if existing_results(args.out) and not (args.resume or args.overwrite):
            raise UsageError(f"--out {args.out} already holds an evaluation; --resume finishes "
                             "it (re-runs its unscored and unfinished episodes, keeps the rest), "
                             "--overwrite replaces it")
    system_prompt = None
    if args.system_prompt_file:
        from rlenvs.policies import read_system_prompt

        try:
            system_prompt = read_system_prompt(args.system_prompt_file)
        except ValueError as e:
            raise UsageError(f"--system-prompt-file: {e}") from None
    _policy_checked(args)
    policy = _policy(args)
    if system_prompt is not None:
        from rlenvs.policies import SystemPromptPolicy

        policy = SystemPromptPolicy(policy, system_prompt)
    spec = args.env or args.env_opt
    if ":" in spec and not spec.startswith(("http://", "https://", "ws://", "wss://")):
        env_id = spec  # "module:EnvId" kept whole: --resume and --reverify import it again
    try:
        result = evaluate(env_id, policy, episodes=args.episodes, samples=args.samples,
                          seed=args.seed, out=args.out, env_kwargs=env_kwargs,
                          sampling=_sampling(args, args.samples), progress=not args.quiet,
                          episode_timeout=args.episode_timeout, run_timeout=args.run_timeout,
                          resume=args.resume)
    except KeyboardInterrupt:
        _interrupted(args)
        return 130
    print_table(f"{env_id} — {result.policy}", result.table_rows())
    if args.out:
        print(f"transcripts: {args.out}\nsummary: {args.out}.summary.json")
        if result.summary.get("unscored"):
            print(f"{result.summary['unscored']} unscored transcripts (faults, not failures): "
                  f"`{_command_line(args, '--resume')}` runs them again")
    return 0


def _command_line(args: argparse.Namespace, flag: str) -> str:
    """The command this run was started with, ``flag`` added (and --overwrite dropped)."""
    import shlex

    argv = [a for a in getattr(args, "argv", None) or sys.argv[1:]
            if a not in ("--overwrite", "--resume")]
    return " ".join(["rlenvs", *(shlex.quote(a) for a in argv), flag])


def _interrupted(args: argparse.Namespace) -> None:
    """Say what an interrupted evaluation kept and how to finish it."""
    if not args.out:
        print("\ninterrupted: nothing kept (no --out); give --out FILE to keep transcripts as "
              "episodes end", file=sys.stderr)
        return
    from rlenvs.eval_files import read_summary

    summary = read_summary(args.out) or {}
    kept, planned = summary.get("transcripts", "?"), summary.get("planned", "?")
    print(f"\ninterrupted: kept {kept} of {planned} transcripts in {args.out} (summary, marked "
          f"partial: {args.out}.summary.json)\nresume with: {_command_line(args, '--resume')}",
          file=sys.stderr)


def _reverify(args: argparse.Namespace) -> int:
    """``--reverify RUN``: one transcript file (written beside it, or to --out), or a folder of
    them (the main job's --output-dir; written to RUN/reverified/, or to the folder --out)."""
    from rlenvs.eval_files import NotTranscripts, existing_results
    from rlenvs.eval_summary import summary_rows
    from rlenvs.evaluation import print_table
    from rlenvs.reverify import default_reverify_out, reverify

    if args.env or args.env_opt or args.resume:
        raise UsageError("--reverify RUN reads the environment and settings from RUN's summary; "
                         "give no environment and no --resume")
    run = Path(args.reverify)
    if run.is_dir():
        out_dir = Path(args.out) if args.out else run / "reverified"
        pairs = [(f, out_dir / f.name) for f in sorted(run.glob("*.jsonl"))
                 if not f.name.endswith(".reverified.jsonl")]
    else:
        pairs = [(run, Path(args.out) if args.out else default_reverify_out(run))]
    for _, out in pairs:
        if existing_results(out) and not args.overwrite:
            raise UsageError(f"--out {out} already holds results; --overwrite replaces them")
    done = []
    for source, out in pairs:
        try:
            done.append(reverify(source, out, episode_timeout=args.episode_timeout,
                                 progress=not args.quiet))
        except NotTranscripts:
            continue  # another JSONL file in a run folder
    if not done:
        raise UsageError(f"--reverify {run}: no `rlenvs eval` transcripts there")
    rows = [(f"{s['env_id']}: {kind}" if len(done) > 1 else kind, str(n))
            for s in done for kind, n in s["reverified"]["changes"].items()]
    print_table(f"re-verified {run} with the current judges — what changed", rows)
    if len(done) == 1:
        print_table(f"{done[0]['env_id']} — re-scored", summary_rows(done[0]))
    for s in done:
        print(f"re-scored transcripts: {s['out']} (summary beside it)")
    print(f"the original transcripts in {run} are unchanged")
    return 0


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


def _add_policy_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--policy", default="smollm2",
                   help="smollm2 | http(s)://HOST:PORT/v1 | vllm:PATH | local model folder")
    p.add_argument("--model", default=None,
                   help="model name sent to an HTTP server (default: the server's first)")
    p.add_argument("--dtype", default="auto", choices=["auto", "bfloat16", "float32"],
                   help="generation dtype of a local model; auto: bf16 where it measures faster "
                        "than fp32 on this CPU")
    p.add_argument("--generation-batch-size", "--batch-size", dest="generation_batch_size",
                   type=positive_int, default=16, help="conversations per generate call")
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
    p.add_argument("--episodes", type=positive_int, default=20, help="seeded episodes")
    p.add_argument("--num-generations", "--samples", dest="samples", type=positive_int,
                   default=1, help="samples per episode (pass@k for powers of two up to it)")
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

    p = sub.add_parser("main", help="the main job: evaluate the policy on every env family, "
                       "then a short GRPO run with accuracy before/after")
    _add_policy_args(p)
    p.add_argument("--episodes", type=positive_int, default=10,
                   help="seeded episodes per env family")
    p.add_argument("--seed", type=int, default=0, help="episode i uses task seed SEED+i")
    p.add_argument("--output-dir", "--out-dir", dest="out_dir", default="results",
                   help="transcripts, summaries, the GRPO run (grpo/)")
    p.add_argument("--chat-judge", default="reference",
                   help="judge of the Chat-v0 row: reference (reference-guided over the "
                        "embedded model), smollm2, an http(s):// judge server, or none "
                        "(row marked unscored)")
    p.add_argument("--train-minutes", type=float, default=4.0,
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
