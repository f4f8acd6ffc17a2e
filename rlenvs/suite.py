"""The verifier suite the main job runs: one representative environment per env family.

Every row says which judge scored it. A family whose only offline judge would be a smoke test
(``Chat-v0``'s rule-based checks) is scored by a real judge -- reference-guided over the embedded
model by default, or an OpenAI-compatible judge server -- or marked unscored (``--chat-judge
none``); a smoke test never stands in for a score.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from judges.llm.base import ChatModel, SamplingParams

__all__ = ["SUITE", "run_main_job", "chat_judge_kwargs", "threads_for_load", "print_suite_table"]

# (env id, env kwargs, the judge that scores the row) -- one per family; families whose env is
# not registered are skipped. Chat-v0's judge is chosen at run time (chat_judge_kwargs).
SUITE: list[tuple[str, dict[str, Any], str]] = [
    ("rlenvs/Arithmetic-v0", {"lenient": True}, "exact answer (lenient: last number)"),
    ("rlenvs/Math-v0", {"level": 1, "lenient": True}, "math answer equivalence (lenient)"),
    ("rlenvs/GSM8K-v0", {"lenient": True}, "math answer equivalence (lenient)"),
    ("rlenvs/IFEval-v0", {}, "IFEval instruction checkers"),
    ("rlenvs/Instruct-v0", {}, "IFEval instruction checkers"),
    ("rlenvs/HumanEval-v0", {}, "unit tests in a sandbox"),
    ("rlenvs/MBPP-v0", {}, "unit tests in a sandbox"),
    ("rlenvs/ToolMath-v0", {}, "math answer equivalence after tool calls"),
    ("rlenvs/SearchQA-v0", {}, "answer match after search calls"),
    ("rlenvs/ArithmeticFeedback-v0", {}, "exact answer, multi-attempt"),
    ("rlenvs/Chat-v0", {}, "chosen by --chat-judge"),
]


def chat_judge_kwargs(chat_judge: str) -> tuple[dict[str, Any] | None, str]:
    """Env kwargs and a label for the Chat-v0 row; ``None`` kwargs: the row is not scored."""
    if chat_judge in ("none", "unscored", ""):
        return None, "unscored (no real judge configured)"
    if chat_judge == "reference":
        return {"judge": "reference"}, "reference-guided LLM judge (embedded SmolLM2-135M)"
    if chat_judge == "smollm2":
        return {"judge": "smollm2"}, "pointwise LLM judge (embedded SmolLM2-135M)"
    if chat_judge.startswith(("http://", "https://")):
        return {"judge": chat_judge}, f"pointwise LLM judge at {chat_judge}"
    raise ValueError(f"--chat-judge {chat_judge!r}: use reference, smollm2, an http(s):// judge "
                     "server or none")


def threads_for_load() -> int | None:
    """``1`` when the machine is already busy (1-minute load average within half a core of the
    core count), else ``None`` (torch's default). With OpenMP's spin-waiting, two threads on
    contended cores can be many times slower than one (10 Arithmetic episodes on this 2-core
    machine beside two busy processes: 55 s with two threads, 21 s with one; idle: 9 s / 12 s)."""
    from rlenvs.policies import busy_load

    return 1 if busy_load() is not None else None


def run_main_job(out_dir: Path, episodes: int, seed: int, policy: ChatModel,
                 max_new_tokens: int = 256, chat_judge: str = "reference") -> int:
    """Evaluate ``policy`` on the suite, print a summary table, write results to ``out_dir``.
    A local torch model on a busy machine generates with one thread (:func:`threads_for_load`)."""
    import rlenvs
    from rlenvs.eval_summary import unscored_note
    from rlenvs.evaluation import evaluate, policy_label

    threads = threads_for_load()
    torch = sys.modules.get("torch")  # loaded with a local model; HTTP policies need none
    if threads is not None and torch is not None and \
            isinstance(getattr(policy, "model", None), torch.nn.Module):
        torch.set_num_threads(threads)
        print(f"machine busy (load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores): "
              f"generating with {threads} torch thread", flush=True)

    chat_kwargs, chat_label = chat_judge_kwargs(chat_judge)
    known = set(rlenvs.list_envs())
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    summaries: dict[str, Any] = {}
    for env_id, kwargs, judge in SUITE:
        if env_id not in known:
            continue
        if env_id == "rlenvs/Chat-v0":
            judge = chat_label
            if chat_kwargs is None:
                summaries[env_id] = {"scored_by": judge, "scored": False}
                rows.append((env_id, "unscored", "", "", f"[{judge}]"))
                continue
            kwargs = {**kwargs, **chat_kwargs}
        name = env_id.split("/")[-1]
        result = evaluate(
            env_id, policy, episodes=episodes, seed=seed, env_kwargs=kwargs,
            out=out_dir / f"{name}.jsonl",
            sampling=SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed),
        )
        s = result.summary
        # the suite's label wins; a row whose every transcript is a fault is not scored
        note = unscored_note(s)
        summaries[env_id] = {**s, "scored_by": judge,
                             "scored": s["unscored"] < s["transcripts"],
                             **({"unscored_note": note} if note else {})}
        rows.append((env_id, _cell(s["pass_at_k"]["pass@1"], s), _cell(s["mean_reward"], s),
                     str(s.get("episodes", episodes)), f"[{judge}]" + (f" {note}" if note
                                                                      else "")))
        for group, stats in s["groups"].items():
            rows.append((f"  {group}", f"{stats['pass@1']:.3f}", "", str(stats["episodes"]), ""))
    print_suite_table(f"verifier suite — {policy_label(policy)}", rows)
    (out_dir / "summary.json").write_text(json.dumps(summaries, indent=2, default=str))
    print(f"results written to {out_dir}/ — every transcript on one page: rlenvs view {out_dir}")
    return 0


def _cell(value: float | None, summary: dict[str, Any]) -> str:
    """A number of the table; ``unscored`` where no transcript was scored (faults are not
    failures: never 0.000)."""
    if value is None:
        return "unscored" if summary.get("unscored") else "—"
    return f"{value:.3f}"


def print_suite_table(title: str, rows: list[tuple[str, str, str, str, str]]) -> None:
    """The main job's table: environment | pass@1 | reward | n | scored by. Numbers never wrap
    and the judge has its own column (in one ``value`` column a narrow terminal wrapped judge
    names into the numbers: issue 30); printed to a file or pipe, the table is laid out 160
    columns wide (``COLUMNS`` wins) instead of rich's 80."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=160)
    table = Table(title=Text(title))
    table.add_column("environment", no_wrap=True)
    for name in ("pass@1", "reward", "n"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("scored by", overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)
