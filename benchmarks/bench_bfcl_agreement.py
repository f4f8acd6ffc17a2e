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
Multi-turn: rlenvs/BFCLMultiTurn-v0 plays each entry's ground truth and perturbations of it
(a user turn without calls, its last call dropped, a wrong argument, a call repeated) and its
verdict is compared with ``multi_turn_checker``'s on the same calls.

Writes ``bfcl_agreement.json`` (counts and every disagreement) and ``bfcl_agreement.md``;
SmolLM2's replies are kept in ``bfcl_smollm2_replies.jsonl`` and reused by a rerun.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
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
    "held_out_call": (
        "miss_func: the calls include a function at a user turn before it is offered (the "
        "entry's own ground truth does this in multi_turn_miss_func_49: tail() at turn 1, "
        "offered at turn 3); BFCL's executor runs any method of the class, ours runs only "
        "the functions offered so far, so the call fails and the state differs"),
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
    row["with_calls"] += bool(calls) or bool(problems)
    stats.setdefault(f"kind/{kind}", collections.Counter())["replies"] += 1
    stats[f"kind/{kind}"]["agree"] += ours == ref
    if ours != ref:
        why = _classify(task, ours, ref, problems)
        disagreements.append({"id": task["id"], "category": task["category"], "source": source,
                              "kind": kind, "ours": ours, "bfcl": ref, "reply": reply[:600],
                              "our_reason": verdict.reason[:300], "justification": why,
                              "why": JUSTIFIED.get(why or "", "UNEXPLAINED")})


def smollm2_replies(tasks: list[dict[str, Any]], max_new_tokens: int,
                    cache: Path) -> list[str]:
    """SmolLM2's greedy replies to ``tasks`` (the env's prompt), kept in ``cache`` (JSONL by
    task id) so a rerun of the comparison does not regenerate them."""
    known = {}
    if cache.exists():
        known = {r["id"]: r["reply"] for r in map(json.loads, cache.read_text().splitlines())}
    todo = [t for t in tasks if t["id"] not in known]
    if todo:
        import torch

        import rlenvs
        from rlenvs.policies import SamplingParams, load_policy

        torch.set_num_threads(1)  # faster on contended cores
        policy = load_policy("smollm2")
        env = rlenvs.make("rlenvs/BFCL-v0").unwrapped
        for t in todo:
            conversation = env.reset(options={"task": t})[0]
            reply = policy.generate([conversation],
                                    SamplingParams(max_new_tokens=max_new_tokens))[0]
            known[t["id"]] = reply
            with cache.open("a") as f:
                f.write(json.dumps({"id": t["id"], "reply": reply}) + "\n")
    return [known[t["id"]] for t in tasks]


def _hermes_turn(task: dict[str, Any], calls: list[str]) -> str:
    from rlenvs.envs.bfcl_multi_turn import _offered, parse_ground_truth_call

    blocks = []
    for text in calls:
        name, args, kwargs = parse_ground_truth_call(text)
        if args:  # positional arguments, named in the function doc's order
            doc = next(f for f in _offered(task) if f["name"] == name)
            kwargs = {**dict(zip(doc["parameters"]["properties"], args, strict=False)),
                      **kwargs}
        blocks.append(render([{name: kwargs}]))
    return "\n".join(blocks)


def multi_turn_agreement(disagreements: list[dict[str, Any]], every: int) -> dict[str, Any]:
    """BFCLMultiTurn-v0 playing the ground truth and its perturbations (each user turn's calls
    in one reply, then a reply without calls) vs ``multi_turn_checker`` on the same calls."""
    from rlenvs.envs.bfcl_multi_turn import (
        MULTI_TURN_CATEGORIES,
        BFCLMultiTurnEnv,
        load_multi_turn_tasks,
    )
    from tests.rlenvs.bfcl_reference import (
        calls_held_out_function,
        multi_turn_perturbations,
        reference_multi_turn_passes,
    )

    out: dict[str, Any] = {}
    for category in MULTI_TURN_CATEGORIES:
        env = BFCLMultiTurnEnv(category=category)
        row = collections.Counter()
        for task in load_multi_turn_tasks(category)[::every]:
            for kind, turn_calls in multi_turn_perturbations(task):
                env.reset(options={"task": task})
                ours = None
                for calls in turn_calls:
                    for reply in ([_hermes_turn(task, calls)] if calls else []) + ["Done."]:
                        _, _, terminated, truncated, info = env.step(reply)
                        if terminated or truncated:
                            ours = info["verdict"].passed
                            break
                    if ours is not None:
                        break
                ref = reference_multi_turn_passes(turn_calls, task)
                row["replies"] += 1
                row["agree"] += ours == ref
                row["ours_pass"] += bool(ours)
                row["bfcl_pass"] += ref
                row[f"kind/{kind}"] += 1
                if ours != ref:
                    why = ("held_out_call" if not ours and calls_held_out_function(
                        task, turn_calls) else None)
                    disagreements.append({"id": task["id"], "category": f"multi_turn_{category}",
                                          "source": "multi_turn", "kind": kind, "ours": ours,
                                          "bfcl": ref, "reply": json.dumps(turn_calls)[:600],
                                          "our_reason": info["verdict"].reason[:300],
                                          "justification": why,
                                          "why": JUSTIFIED.get(why or "", "UNEXPLAINED")})
        out[f"multi_turn_{category}"] = dict(row)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--smollm2", type=int, default=0, help="tasks per category for SmolLM2")
    ap.add_argument("--max-new-tokens", type=int, default=160)
    ap.add_argument("--smollm2-cached", action="store_true",
                    help="compare only the SmolLM2 replies already in the cache file")
    ap.add_argument("--multi-turn-every", type=int, default=1,
                    help="every k-th multi-turn entry (1: all 800)")
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
    t1 = time.perf_counter()
    multi_turn = multi_turn_agreement(disagreements, args.multi_turn_every)
    t_multi = time.perf_counter() - t1
    t_model = 0.0
    cache = Path(args.out_dir) / "bfcl_smollm2_replies.jsonl"
    cached = ({json.loads(x)["id"] for x in cache.read_text().splitlines()}
              if args.smollm2_cached and cache.exists() else set())
    if args.smollm2 or cached:
        t1 = time.perf_counter()
        for category in AST_CATEGORIES + RELEVANCE_CATEGORIES:
            tasks = load_bfcl_tasks(category)[: args.smollm2 or None]
            if args.smollm2_cached:
                tasks = [t for t in tasks if t["id"] in cached]
            replies = smollm2_replies(tasks, args.max_new_tokens, cache)
            for task, reply in zip(tasks, replies, strict=True):
                compare(task, "smollm2", reply, "smollm2", stats, disagreements)
        t_model = time.perf_counter() - t1

    def total(prefix: str) -> tuple[int, int]:
        rows = [v for k, v in stats.items() if k.startswith(prefix)]
        return sum(r["agree"] for r in rows), sum(r["replies"] for r in rows)

    summary = {src: dict(zip(("agree", "replies"), total(src + "/"), strict=True))
               for src in ("perturbations", "smollm2")}
    result = {
        "bfcl_eval": md.version("bfcl-eval"), "python": platform.python_version(),
        "machine": f"{platform.machine()}, load average {os.getloadavg()[0]:.1f} at the end",
        "summary": summary,
        "per_category": {k: dict(v) for k, v in stats.items() if not k.startswith("kind/")},
        "per_kind": {k[5:]: dict(v) for k, v in stats.items() if k.startswith("kind/")},
        "multi_turn": multi_turn,
        "ground_truth_failing_both": unsatisfiable,
        "disagreements": disagreements,
        "seconds": {"perturbations": round(t_pert, 1), "multi_turn": round(t_multi, 1),
                    "smollm2": round(t_model, 1)},
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
            called = sum(v.get("with_calls", 0) for k, v in r["per_category"].items()
                         if k.startswith(src + "/"))
            lines.append(f"* **{src}**: agreement {100 * s['agree'] / s['replies']:.3f}% "
                         f"({s['agree']}/{s['replies']} replies; {called} of them attempt a "
                         "call)")
    lines.append(f"* time: {r['seconds']} s on a shared 2-core machine ({r['machine']})")
    lines += ["", "| source/category | replies | agree | ours pass | bfcl pass |",
              "|---|---|---|---|---|"]
    for k, v in r["per_category"].items():
        lines.append(f"| {k} | {v['replies']} | {v['agree']} | {v['ours_pass']} | "
                     f"{v['bfcl_pass']} |")
    mt = r.get("multi_turn", {})
    if mt:
        agree, n = sum(v["agree"] for v in mt.values()), sum(v["replies"] for v in mt.values())
        lines += ["", f"**Multi-turn** (rlenvs/BFCLMultiTurn-v0 vs `multi_turn_checker`, ground "
                  f"truth and perturbations: a turn without calls, its last call dropped, a "
                  f"wrong argument, a call repeated): agreement {100 * agree / max(n, 1):.3f}% "
                  f"({agree}/{n} episodes)", "",
                  "| category | episodes | agree | ours pass | bfcl pass |", "|---|---|---|---|---|"]
        for k, v in mt.items():
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
