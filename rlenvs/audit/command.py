"""``rlenvs audit ENV_ID``: the command line of :func:`rlenvs.audit.audit`.

    rlenvs audit rlenvs/Arithmetic-v0 --episodes 20 --out audit.json --html audit.html
    rlenvs audit rlenvs/Chat-v0 --judge scripted
    rlenvs audit mypackage.envs:MyEnv-v0 --env-kwarg level=2

Exit status: 0 when no attack passed, 1 when one did (so the audit can gate a CI job),
2 for a usage error.
"""

from __future__ import annotations

import argparse
import inspect
from typing import Any

__all__ = ["add_audit_parser", "cmd_audit"]


def add_audit_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``audit`` to the ``rlenvs`` sub-parsers."""
    from rlenvs.cli_args import positive_int

    p = sub.add_parser("audit", help="red-team an environment's reward: attack families "
                       "that must fail, correct answers that must pass")
    p.add_argument("env", help="environment id (registered, plugin, or module:EnvId)")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE",
                   help="environment option (JSON value), repeatable")
    p.add_argument("--episodes", type=positive_int, default=20, help="seeded episodes")
    p.add_argument("--seed", type=int, default=0, help="episode i uses task seed SEED+i")
    p.add_argument("--out", default=None, help="write the report as JSON here")
    p.add_argument("--html", default=None, help="write the report as an HTML page here")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="bound on the whole run (the report says partial when cut)")
    p.add_argument("--max-replies", type=positive_int, default=12,
                   help="replies per family and episode (a seeded sample)")
    p.add_argument("--families", default=None, help="comma-separated families to run only")
    p.add_argument("--pass-reward", type=float, default=1.0,
                   help="a reward at or above this counts as a pass whatever the verdict says")
    p.add_argument("--judge", default=None,
                   help="judge backend of an LLM-judged env (one that takes judge=): "
                        "scripted (offline), smollm2, reference, or an http(s):// URL")
    p.add_argument("--gold-field", default=None,
                   help="the private task field holding the gold answer (default: answer, "
                        "gold, target, expected, ground_truth or label, whichever it has)")
    p.add_argument("--workers", type=positive_int, default=1,
                   help="replies judged at once (for judges safe in threads: the code sandbox "
                        "and math workers are); the report does not change")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=cmd_audit)
    return p


def _judge_parameter(env_id: str) -> inspect.Parameter | None:
    """The ``judge`` parameter of the env class's own ``__init__`` (an env that passes its
    judge to a base class itself, as every rule-judged env does, takes none)."""
    import gymnasium as gym

    from rlenvs.registration import _load

    target = _load(gym.registry[env_id].entry_point)
    try:
        return inspect.signature(target).parameters.get("judge")
    except (TypeError, ValueError):
        return None


def _judge_choice(env_id: str, judge: str | None, env_kwargs: dict[str, Any]
                  ) -> tuple[str | None, bool]:
    """Put ``--judge`` into ``env_kwargs``; ``(description of the judge, scripted?)``."""
    from rlenvs.cli_args import UsageError

    param = _judge_parameter(env_id)
    if judge is None:
        if param is not None and "judge" not in env_kwargs:
            shown = "required" if param.default is inspect.Parameter.empty else repr(param.default)
            return f"the env's default judge ({shown})", False
        return None, False
    if param is None:
        raise UsageError(f"--judge: {env_id} takes no judge= option (its judge is fixed)")
    if "judge" in env_kwargs:
        raise UsageError("give the judge once: --judge or --env-kwarg judge=...")
    if judge == "scripted":
        from rlenvs.audit.scripted import DESCRIPTION, ScriptedJudge

        scripted = ScriptedJudge()
        env_kwargs["judge"] = scripted
        return DESCRIPTION.format(score=scripted.score), True
    env_kwargs["judge"] = judge
    return f"judge={judge}", False


def cmd_audit(args: argparse.Namespace) -> int:
    import sys

    from rlenvs.audit.report import print_report
    from rlenvs.audit.runner import FAMILIES, audit
    from rlenvs.cli_args import UsageError, parse_key_values
    from rlenvs.registration import resolve_id

    env_kwargs = parse_key_values(args.env_kwarg)
    if args.env.startswith(("http://", "https://", "ws://", "wss://")):
        raise UsageError("audit an environment where it is served, by its id: the audit reads "
                         "each task's private fields, which never leave the server")
    env_id = resolve_id(args.env)
    families = None
    if args.families:
        families = [f.strip() for f in args.families.split(",") if f.strip()]
        unknown = sorted(set(families) - {f.name for f in FAMILIES})
        if unknown:
            raise UsageError(f"--families: unknown {unknown}; known: "
                             f"{', '.join(sorted({f.name for f in FAMILIES}))}")
    if args.max_seconds is not None and args.max_seconds <= 0:
        raise UsageError("--max-seconds must be > 0")
    judge, scripted = _judge_choice(env_id, args.judge, env_kwargs)

    tty = sys.stderr.isatty()

    def progress(text: str) -> None:  # one line redrawn on a terminal, one line each in a log
        print(f"\r{text}" if tty else text, end="" if tty else "\n", file=sys.stderr, flush=True)

    report = audit(env_id, episodes=args.episodes, seed=args.seed, env_kwargs=env_kwargs,
                   max_seconds=args.max_seconds, max_replies=args.max_replies,
                   pass_reward=args.pass_reward, families=families, judge_backend=judge,
                   scripted_judge=scripted, workers=args.workers, gold_field=args.gold_field,
                   progress=None if args.quiet else progress)
    if not args.quiet and tty:
        print(file=sys.stderr)
    if scripted:  # the instance is not JSON; say what it was
        report.env_kwargs["judge"] = "scripted"
    print_report(report)
    if args.out:
        print(f"JSON: {report.write_json(args.out)}")
    if args.html:
        print(f"HTML: {report.write_html(args.html)}")
    return report.exit_code
