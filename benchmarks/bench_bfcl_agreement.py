"""rlenvs/BFCL-v0's verdicts against ``bfcl_eval``'s own checker, on the same replies.

    python benchmarks/bench_bfcl_agreement.py [--smollm2 N] [--out-dir benchmarks/results]

Replies, for every single-turn Python category the installed ``bfcl-eval`` ships:

* **ground truth** (each call with the first, and with the last, allowed value of every
  parameter) and **systematic perturbations** of it (``tests/rlenvs/bfcl_reference.py``:
  wrong value, missing required / answer-required parameter, extra unknown / extra schema
  parameter, wrong function, reordered / rotated / dropped / duplicated parallel calls, type
  changes int<->str, int->float, float->int, float->str, bool->str/int, str case and spacing,
  reordered list values, no call);
* for the relevance categories: a reply with no call and a reply with a call;
* with ``--smollm2 N``: SmolLM2-135M-Instruct's greedy replies to the first ``N`` tasks of each
  category (the env's own prompt).

Ours is the env's judge on the reply text (``<tool_call>`` JSON, parsed by rlenvs); BFCL's is
``ast_checker`` (or ``is_empty_output`` for relevance) on the same decoded calls. A reply our
parser cannot read counts, for BFCL, as its decoder failing (a fail, or for irrelevance a pass).
Writes ``bfcl_agreement.json`` (counts and every disagreement) and ``bfcl_agreement.md``.
"""

from __future__ import annotations

import argparse
import collections
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from judges.bfcl import AST_CATEGORIES, RELEVANCE_CATEGORIES  # noqa: E402
from rlenvs.envs.bfcl_env import decode_calls, judge_bfcl, load_bfcl_tasks  # noqa: E402
from tests.rlenvs.bfcl_reference import perturbations, reference_passes  # noqa: E402

#: why each known disagreement is ours to keep (matched by task id and reply kind)
JUSTIFIED = {
    "greedy_parallel": (
        "bfcl_eval matches parallel calls greedily (each expected call takes the first reply "
        "call that fits), so a reply call that fits two expected calls can be taken by the "
        "wrong one and the reply fails although a one-to-one matching exists; ours finds "
        "the matching (order-free parallel calls, as the category is defined)"),
    "malformed_irrelevance": (
        "an attempted call that cannot be decoded: BFCL's decoder fails, which its "
        "irrelevance check reads as 'no call' (a pass); ours reads an attempted call as a "
        "call (a fail)"),
}


def render(calls: list[dict[str, Any]]) -> str:
    """A reply making ``calls`` in the Hermes format."""
    blocks = [f"<tool_call>{json.dumps({'name': n, 'arguments': a})}</tool_call>"
              for call in calls for n, a in call.items()]
    return "\n".join(blocks)


def _relevance_replies(task: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    f = (task["function"] or [{"name": "lookup", "parameters": {"required": ["query"]}}])[0]
    props = f["parameters"].get("properties", {})
    sample = {"string": "x", "integer": 1, "float": 1.5, "boolean": True, "array": [],
              "tuple": [], "dict": {}, "any": "x"}
    args = {p: sample.get(props.get(p, {}).get("type", "any"), "x")
            for p in f["parameters"].get("required", [])}
    return [("no_call", []), ("one_call", [{f["name"]: args}])]


def _classify(task: dict[str, Any], ours: bool, ref: bool, problems: list[str]) -> str | None:
    if problems and "irrelevance" in task["category"] and ref and not ours:
        return "malformed_irrelevance"
    if "parallel" in task["category"] and ours and not ref:
        return "greedy_parallel"
    return None


def compare(task: dict[str, Any], kind: str, reply: str, source: str,
            stats: dict[str, Any], disagreements: list[dict[str, Any]]) -> None:
    verdict = judge_bfcl(reply, task)
    calls, problems = decode_calls(reply, task["function"])
    ref = ("irrelevance" in task["category"]) if problems else reference_passes(calls, task)
    ours = verdict.passed
    key = f"{source}/{task['category']}"
    row = stats.setdefault(key, collections.Counter())
    row["replies"] += 1
    row["agree"] += ours == ref
    row["ours_pass"] += ours
    row["bfcl_pass"] += ref
    stats.setdefault(f"kind/{kind}", collections.Counter())["replies"] += 1
    stats[f"kind/{kind}"]["agree"] += ours == ref
    if ours != ref:
        why = _classify(task, ours, ref, problems)
        disagreements.append({"id": task["id"], "category": task["category"], "source": source,
                              "kind": kind, "ours": ours, "bfcl": ref, "reply": reply[:600],
                              "our_reason": verdict.reason[:300], "justification": why,
                              "why": JUSTIFIED.get(why or "", "UNEXPLAINED")})


def smollm2_replies(tasks: list[dict[str, Any]], max_new_tokens: int) -> list[str]:
    import rlenvs
    from rlenvs.policies import SamplingParams, load_policy

    policy = load_policy("smollm2")
    env = rlenvs.make("rlenvs/BFCL-v0").unwrapped
    conversations = [env.reset(options={"task": t})[0] for t in tasks]
    return policy.generate(conversations, SamplingParams(max_new_tokens=max_new_tokens))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smollm2", type=int, default=0, help="tasks per category for SmolLM2")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--out-dir", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    import importlib.metadata as md

    stats: dict[str, Any] = {}
    disagreements: list[dict[str, Any]] = []
    unsatisfiable: list[str] = []
    t0 = time.perf_counter()
    for category in AST_CATEGORIES + RELEVANCE_CATEGORIES:
        tasks = load_bfcl_tasks(category)
        for task in tasks:
            replies = (list(perturbations(task)) if category in AST_CATEGORIES
                       else _relevance_replies(task))
            for kind, calls in replies:
                compare(task, kind, render(calls), "perturbations", stats, disagreements)
            if category in AST_CATEGORIES and not reference_passes(replies[0][1], task):
                unsatisfiable.append(task["id"])
    t_pert = time.perf_counter() - t0
    t_model = 0.0
    if args.smollm2:
        t1 = time.perf_counter()
        for category in AST_CATEGORIES + RELEVANCE_CATEGORIES:
            tasks = load_bfcl_tasks(category)[: args.smollm2]
            for task, reply in zip(tasks, smollm2_replies(tasks, args.max_new_tokens),
                                   strict=True):
                compare(task, "smollm2", reply, "smollm2", stats, disagreements)
        t_model = time.perf_counter() - t1

    def total(prefix: str) -> tuple[int, int]:
        rows = [v for k, v in stats.items() if k.startswith(prefix)]
        return sum(r["agree"] for r in rows), sum(r["replies"] for r in rows)

    summary = {src: dict(zip(("agree", "replies"), total(src + "/"), strict=True))
               for src in ("perturbations", "smollm2")}
    result = {
        "bfcl_eval": md.version("bfcl-eval"), "python": platform.python_version(),
        "summary": summary,
        "per_category": {k: dict(v) for k, v in stats.items() if not k.startswith("kind/")},
        "per_kind": {k[5:]: dict(v) for k, v in stats.items() if k.startswith("kind/")},
        "ground_truth_failing_both": unsatisfiable,
        "disagreements": disagreements,
        "seconds": {"perturbations": round(t_pert, 1), "smollm2": round(t_model, 1)},
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bfcl_agreement.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "bfcl_agreement.md").write_text(report(result))
    print(report(result))
    unexplained = [d for d in disagreements if d["justification"] is None]
    return 1 if unexplained else 0


def report(r: dict[str, Any]) -> str:
    lines = [f"# rlenvs/BFCL-v0 vs bfcl_eval's checker (bfcl-eval {r['bfcl_eval']}, issue 31)", ""]
    for src, s in r["summary"].items():
        if s["replies"]:
            lines.append(f"* **{src}**: agreement {100 * s['agree'] / s['replies']:.3f}% "
                         f"({s['agree']}/{s['replies']} replies)")
    lines += ["", "| source/category | replies | agree | ours pass | bfcl pass |",
              "|---|---|---|---|---|"]
    for k, v in r["per_category"].items():
        lines.append(f"| {k} | {v['replies']} | {v['agree']} | {v['ours_pass']} | "
                     f"{v['bfcl_pass']} |")
    lines += ["", "| reply kind | replies | agree |", "|---|---|---|"]
    for k, v in sorted(r["per_kind"].items()):
        lines.append(f"| {k} | {v['replies']} | {v['agree']} |")
    lines += ["", f"Ground truth that fails under both checkers (a possible answer that "
              f"contradicts its schema: a required parameter marked optional, a parameter the "
              f"schema lacks): {', '.join(r['ground_truth_failing_both']) or 'none'}.", "",
              "## Every disagreement", ""]
    if not r["disagreements"]:
        lines.append("None.")
    for d in r["disagreements"]:
        lines.append(f"* `{d['id']}` ({d['source']}, {d['kind']}): ours "
                     f"{'pass' if d['ours'] else 'fail'}, bfcl "
                     f"{'pass' if d['bfcl'] else 'fail'} -- {d['why']}. Reply: "
                     f"`{d['reply'][:300]}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
