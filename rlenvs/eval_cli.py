"""``rlenvs eval``: evaluate a policy (``--resume`` finishes an earlier run at ``--out``),
or re-score stored transcripts with the current judges (``--reverify RUN``).

Checks come first (the env and its kwargs, ``--out``, the policy), so a user error is one line
before any model loads. An interrupted run (SIGINT) says what it kept and the command that
finishes it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlenvs.cli_args import UsageError, parse_key_values
from rlenvs.cli_checks import _env_checked, _policy, _policy_checked, _sampling

__all__ = ["run_eval"]


def run_eval(args: argparse.Namespace) -> int:
    """``rlenvs eval``: evaluate, resume, or re-verify (``--reverify``)."""
    from rlenvs.eval_files import existing_results
    from rlenvs.evaluation import check_out_path, evaluate, print_table

    if args.reverify:
        return _reverify(args)
    if getattr(args, "suite", None):
        return _run_suite(args)
    if getattr(args, "out_dir", None):
        raise UsageError("--out-dir goes with --suite; one environment's transcripts: --out FILE")
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
        result = evaluate(env_id, policy, episodes=args.episodes or 20, samples=args.samples,
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


def _run_suite(args: argparse.Namespace) -> int:
    """``--suite NAME|FILE --out-dir DIR``: each env of the suite with its settings, one
    transcript file per env in DIR, DIR/summary.json; the table of every env at the end."""
    from rlenvs.eval_files import existing_results
    from rlenvs.suite import print_suite_table
    from rlenvs.suites import DEFAULT_EPISODES, SuiteError, load_suite, run_suite

    if args.env or args.env_opt:
        raise UsageError("--suite names its environments: give no environment with it")
    if args.out:
        raise UsageError("--suite writes one file per env: give --out-dir DIR, not --out")
    if not args.out_dir:
        raise UsageError("--suite needs --out-dir DIR (one transcript file per env goes there)")
    try:
        suite = load_suite(args.suite)
    except SuiteError as e:
        raise UsageError(str(e)) from None
    out_dir = Path(args.out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir} is a file")
    for entry in suite.entries:  # every env and its kwargs checked before the model loads
        try:
            _env_checked(entry.env_id, dict(entry.kwargs))
        except Exception as e:  # noqa: BLE001 - an unknown id or bad kwargs: say which entry
            raise UsageError(f"suite {suite.name}: {entry.label()} ({entry.env_id}): "
                             f"{e}") from None
    held = [e.label() for e in suite.entries if existing_results(out_dir / f"{e.label()}.jsonl")]
    if args.resume and not held:
        raise UsageError(f"--resume: {out_dir} holds no run of this suite")
    if held and not (args.resume or args.overwrite):
        raise UsageError(f"--out-dir {out_dir} already holds results ({held[0]}.jsonl); "
                         "--resume finishes them, --overwrite replaces them")
    _policy_checked(args)
    policy = _policy(args)
    if args.system_prompt_file:
        from rlenvs.policies import SystemPromptPolicy, read_system_prompt

        try:
            policy = SystemPromptPolicy(policy, read_system_prompt(args.system_prompt_file))
        except ValueError as e:
            raise UsageError(f"--system-prompt-file: {e}") from None
    try:
        summaries = run_suite(suite, policy, out_dir, episodes=args.episodes, seed=args.seed,
                              samples=args.samples, sampling=_sampling(args, args.samples),
                              progress=not args.quiet, episode_timeout=args.episode_timeout,
                              resume=args.resume)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the finished envs' transcripts are in {out_dir}; resume with: "
              f"{_command_line(args, '--resume')}", file=sys.stderr)
        return 130
    from rlenvs.eval_summary import unscored_note

    rows = []
    for name, s in summaries.items():
        p1 = s["pass_at_k"].get("pass@1")
        mean = s.get("mean_reward")
        rows.append((name, "unscored" if p1 is None else f"{p1:.3f}",
                     "—" if mean is None else f"{mean:.3f}",
                     str(s.get("episodes", DEFAULT_EPISODES)),
                     f"[{s.get('scored_by', '')}]" + (f" {n}" if (n := unscored_note(s)) else "")))
    policy_name = next(iter(summaries.values()))["policy"] if summaries else ""
    print_suite_table(f"suite {suite.name} — {policy_name}", rows)
    print(f"transcripts: {out_dir}/ (one file per env, summary.json)\n"
          f"compare with another run: rlenvs compare {out_dir} OTHER_DIR")
    return 0

