"""Preference data for the DPO family: rollouts + judges -> ``datasets`` datasets that TRL reads.

A policy answers each task ``num_generations`` times (:func:`rlenvs.evaluation.evaluate`, the
same seeded episodes as ``rlenvs eval``); the environment's judges score every reply. Replies to
the same prompt are then compared:

* **pairs** (TRL ``DPOTrainer``, ``CPOTrainer`` incl. SimPO, ``ORPOTrainer``; the conversational
  *preference* format): ``{"prompt": [messages], "chosen": [messages], "rejected": [messages]}``
  where ``prompt`` is the conversation up to the first reply and ``chosen`` / ``rejected`` the
  rest of two episodes of that prompt whose scores differ by more than ``min_margin``. Extra
  columns: ``margin`` (``score_chosen - score_rejected``; TRL's ``RewardTrainer`` reads a
  ``margin`` column, DPO ignores it), ``score_chosen``, ``score_rejected``, ``task_seed``.
  ``pairs="best_worst"``: one pair per prompt, its best and worst episode; ``"all"``: every
  ordered pair above the margin.
* **unpaired** (TRL ``KTOTrainer``; the conversational *unpaired preference* format):
  ``{"prompt": [messages], "completion": [messages], "label": bool}`` for every episode;
  ``label`` is whether the judge passed it (``kto_label="passed"``) or whether its score beats
  its prompt's mean (``"above_mean"``; prompts whose episodes all score the same are skipped).

Scores are the episode return (the judges through the environment's reward schedule,
``score="return"``), the final verdict's score (``"verdict"``) or pass/fail (``"passed"``).

Multi-turn episodes: ``chosen`` / ``completion`` hold every turn after the prompt, environment
turns included; TRL's DPO/KTO train on all of those tokens (they have no environment mask).

    rlenvs preferences rlenvs/Arithmetic-v0 --env-kwarg level=2 --episodes 50 \\
        --num-generations 4 --out data/arith-prefs
    # then: DPOTrainer(..., train_dataset=datasets.load_from_disk("data/arith-prefs/dpo"))
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PreferenceData", "collect_preferences", "preference_pairs", "kto_examples",
           "split_conversation", "add_preferences_parser", "cmd_preferences"]

SCORES = ("return", "verdict", "passed")
PAIRINGS = ("best_worst", "all")
KTO_LABELS = ("passed", "above_mean")


@dataclass
class PreferenceData:
    """The two datasets and what went into them."""

    pairs: Any  # datasets.Dataset (prompt / chosen / rejected / margin ...)
    unpaired: Any  # datasets.Dataset (prompt / completion / label ...)
    summary: dict[str, Any] = field(default_factory=dict)

    def save(self, out_dir: str | Path) -> Path:
        """``out_dir/dpo`` and ``out_dir/kto`` (``datasets.load_from_disk``) and
        ``out_dir/summary.json``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        self.pairs.save_to_disk(str(out / "dpo"))
        self.unpaired.save_to_disk(str(out / "kto"))
        (out / "summary.json").write_text(json.dumps(self.summary, indent=2, default=str))
        return out


def split_conversation(messages: Sequence[dict[str, Any]]
                       ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """``(prompt, completion)``: the messages before the first assistant message, and the
    rest; each message reduced to ``{"role", "content"}`` with text content (what TRL's
    conversational formats hold)."""
    clean = [_message(m) for m in messages]
    first = next((i for i, m in enumerate(clean) if m["role"] == "assistant"), None)
    if first is None or first == 0:
        raise ValueError("an episode needs a prompt and at least one assistant reply")
    return clean[:first], clean[first:]


def preference_pairs(records: Sequence[dict[str, Any]], pairs: str = "best_worst",
                     min_margin: float = 0.0, score: str = "return") -> list[dict[str, Any]]:
    """Chosen/rejected rows from evaluation records (``rlenvs.evaluation`` records: one per
    episode sample, with ``episode``, ``seed``, ``messages``, ``return``, ``passed``,
    ``verdict``). Only episodes of the same prompt are compared; a pair needs
    ``score_chosen - score_rejected > min_margin`` and different replies."""
    _choice("pairs", pairs, PAIRINGS)
    _choice("score", score, SCORES)
    if min_margin < 0:
        raise ValueError(f"min_margin must be >= 0, got {min_margin}")
    rows: list[dict[str, Any]] = []
    for group in _groups(records):
        scored = [(_score(r, score), *split_conversation(r["messages"]), r) for r in group]
        if pairs == "best_worst":
            best = max(scored, key=lambda x: x[0])  # first of equals: the lowest sample index
            worst = min(reversed(scored), key=lambda x: x[0])
            candidates = [(best, worst)]
        else:
            candidates = [(a, b) for a in scored for b in scored if a is not b]
        for (s_a, prompt, chosen, rec), (s_b, _, rejected, _) in candidates:
            if s_a - s_b > min_margin and chosen != rejected:
                rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected,
                             "margin": float(s_a - s_b), "score_chosen": float(s_a),
                             "score_rejected": float(s_b), "task_seed": int(rec["seed"])})
    return rows


def kto_examples(records: Sequence[dict[str, Any]], label: str = "passed",
                 score: str = "return") -> list[dict[str, Any]]:
    """Unpaired rows ``{"prompt", "completion", "label", "score", "task_seed"}`` (see the
    module docstring for ``label``)."""
    _choice("kto_label", label, KTO_LABELS)
    _choice("score", score, SCORES)
    rows: list[dict[str, Any]] = []
    for group in _groups(records):
        values = [_score(r, score) for r in group]
        mean = sum(values) / len(values)
        if label == "above_mean" and max(values) == min(values):
            continue
        for r, value in zip(group, values, strict=True):
            prompt, completion = split_conversation(r["messages"])
            good = bool(r["passed"]) if label == "passed" else value > mean
            rows.append({"prompt": prompt, "completion": completion, "label": good,
                         "score": float(value), "task_seed": int(r["seed"])})
    return rows


def collect_preferences(env: Any, policy: Any, episodes: int = 20, num_generations: int = 4,
                        *, seed: int = 0, temperature: float = 0.8, max_new_tokens: int = 256,
                        env_kwargs: dict[str, Any] | None = None, pairs: str = "best_worst",
                        min_margin: float = 0.0, score: str = "return",
                        kto_label: str = "passed", rollouts_out: str | Path | None = None,
                        progress: bool = True) -> PreferenceData:
    """Roll ``policy`` out on ``episodes`` tasks (task seeds ``seed..``), ``num_generations``
    samples each, and turn the judged episodes into :class:`PreferenceData`.

    ``policy``: anything ``rlenvs.evaluation.evaluate`` takes (``rlenvs.load_policy(...)``, a
    chat backend from ``judges.llm``, a function). ``rollouts_out``: also keep the judged
    transcripts there (JSONL, as ``rlenvs eval --out``)."""
    import datasets

    from judges.llm.base import SamplingParams
    from rlenvs.evaluation import evaluate

    for name, value in (("pairs", pairs), ("score", score), ("kto_label", kto_label)):
        _choice(name, value, {"pairs": PAIRINGS, "score": SCORES, "kto_label": KTO_LABELS}[name])
    if num_generations < 2:
        raise ValueError("num_generations must be >= 2: pairs compare replies to one prompt")
    if temperature <= 0:
        raise ValueError("temperature must be > 0: greedy replies to one prompt are identical")
    result = evaluate(env, policy, episodes=episodes, samples=num_generations, seed=seed,
                      out=rollouts_out, env_kwargs=env_kwargs, progress=progress,
                      sampling=SamplingParams(temperature=temperature,
                                              max_new_tokens=max_new_tokens, seed=seed))
    pair_rows = preference_pairs(result.records, pairs, min_margin, score)
    kto_rows = kto_examples(result.records, kto_label, score)
    summary = {
        "env_id": result.env_id, "policy": result.policy, "episodes": episodes,
        "num_generations": num_generations, "seed": seed, "temperature": temperature,
        "max_new_tokens": max_new_tokens, "pairs": pairs, "min_margin": min_margin,
        "score": score, "kto_label": kto_label,
        "rollouts": len(result.records), "pairs_written": len(pair_rows),
        "prompts_with_a_pair": len({r["task_seed"] for r in pair_rows}),
        "kto_examples": len(kto_rows), "kto_desirable": sum(r["label"] for r in kto_rows),
        "mean_margin": (sum(r["margin"] for r in pair_rows) / len(pair_rows)) if pair_rows
        else None,
        "eval_summary": {k: v for k, v in result.summary.items() if k != "config"},
        "config": result.summary.get("config"),
    }
    return PreferenceData(_dataset(datasets, pair_rows, "pairs"),
                          _dataset(datasets, kto_rows, "unpaired"), summary)


# ----------------------------------------------------------------- the `rlenvs preferences` command

def add_preferences_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``preferences`` (rollouts + judges -> DPO pairs and KTO examples)."""
    from rlenvs.cli import _add_policy_args  # the same --policy options as `rlenvs eval`

    p = subparsers.add_parser(
        "preferences", help="write DPO/KTO preference datasets from judged rollouts",
        description="Roll a policy out on an environment, let its judges score every reply, "
                    "and write TRL-ready preference pairs (DPO, CPO/SimPO) and unpaired "
                    "examples (KTO) as `datasets` datasets.")
    p.add_argument("env", nargs="?", default=None, help="environment id (or --env)")
    p.add_argument("--env", dest="env_opt", default=None, help="environment id")
    _add_policy_args(p)
    p.add_argument("--out", required=True, help="output folder (dpo/, kto/, summary.json, "
                                                "rollouts.jsonl)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    p.add_argument("--episodes", type=_positive, default=20, help="prompts (task seeds)")
    p.add_argument("--num-generations", "--samples", dest="num_generations", type=_positive,
                   default=4, help="replies per prompt (>= 2)")
    p.add_argument("--seed", type=int, default=0, help="prompt i uses task seed SEED+i")
    p.add_argument("--temperature", type=float, default=0.8)
    p.add_argument("--pairs", default="best_worst", choices=PAIRINGS,
                   help="best_worst: one pair per prompt; all: every pair above --min-margin")
    p.add_argument("--min-margin", type=float, default=0.0,
                   help="keep pairs whose score difference is above this")
    p.add_argument("--score", default="return", choices=SCORES,
                   help="return (episode reward), verdict (judge score) or passed (0/1)")
    p.add_argument("--kto-label", default="passed", choices=KTO_LABELS,
                   help="desirable = the judge passed it, or its score beats its prompt's mean")
    p.add_argument("--env-kwarg", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_preferences)
    return p


def cmd_preferences(args: argparse.Namespace) -> int:
    from rlenvs.cli import UsageError, _env_checked, _policy, _policy_checked, parse_key_values

    if args.env and args.env_opt and args.env != args.env_opt:
        raise UsageError(f"two environments given: {args.env!r} and --env {args.env_opt!r}")
    if args.num_generations < 2:
        raise UsageError("--num-generations must be at least 2 (pairs compare replies to one "
                         "prompt)")
    if args.temperature <= 0:
        raise UsageError("--temperature must be > 0 (greedy replies to one prompt are equal)")
    if args.min_margin < 0:
        raise UsageError("--min-margin must be >= 0")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()) and not args.overwrite:
        raise UsageError(f"--out {out} is not empty; pass --overwrite to replace it")
    env_kwargs = parse_key_values(args.env_kwarg)
    env_id = _env_checked(args.env or args.env_opt, env_kwargs)
    _policy_checked(args)
    if out.is_dir() and args.overwrite:
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    data = collect_preferences(
        env_id, _policy(args), episodes=args.episodes, num_generations=args.num_generations,
        seed=args.seed, temperature=args.temperature, max_new_tokens=args.max_completion_length,
        env_kwargs=env_kwargs, pairs=args.pairs, min_margin=args.min_margin, score=args.score,
        kto_label=args.kto_label, rollouts_out=out / "rollouts.jsonl", progress=not args.quiet)
    data.save(out)
    s = data.summary
    print(f"{s['rollouts']} rollouts of {env_id}: {s['pairs_written']} preference pairs "
          f"({s['prompts_with_a_pair']} of {args.episodes} prompts), {s['kto_examples']} KTO "
          f"examples ({s['kto_desirable']} desirable)")
    print(f"DPO/CPO pairs: {out / 'dpo'}\nKTO examples:  {out / 'kto'}\n"
          f"summary: {out / 'summary.json'}\n(load with datasets.load_from_disk)")
    if not s["pairs_written"]:
        print("no pairs: every prompt's replies scored the same (raise --num-generations or "
              "--temperature, or use a dense reward)", file=sys.stderr)
    return 0


# ----------------------------------------------------------------- helpers

def _groups(records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Scored records by prompt (``episode`` index), samples in order. An unscored record (its
    judge could not judge: a fault) is neither chosen nor rejected, desirable nor not: left out."""
    from rlenvs.eval_summary import record_scored

    by: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        if record_scored(r):
            by.setdefault(int(r["episode"]), []).append(r)
    return [sorted(v, key=lambda r: int(r.get("sample", 0))) for _, v in sorted(by.items())]


def _score(record: dict[str, Any], score: str) -> float:
    if score == "return":
        return float(record["return"])
    if score == "passed":
        return float(bool(record["passed"]))
    verdict = record["verdict"]
    value = verdict.get("score") if isinstance(verdict, dict) else getattr(verdict, "score", None)
    if value is None:
        raise ValueError("score='verdict' needs records whose verdict has a score")
    return float(value)


def _message(m: dict[str, Any]) -> dict[str, str]:
    role = m.get("role")
    if not isinstance(role, str):
        raise ValueError(f"a message needs a string role, got {m!r}")
    content = m.get("content")
    if not isinstance(content, str):
        content = "" if content is None else json.dumps(content, ensure_ascii=False)
    return {"role": role, "content": content}


def _dataset(datasets: Any, rows: list[dict[str, Any]], kind: str) -> Any:
    if rows:
        return datasets.Dataset.from_list(rows)
    message = datasets.List({"role": datasets.Value("string"),
                             "content": datasets.Value("string")}) \
        if hasattr(datasets, "List") else [{"role": datasets.Value("string"),
                                            "content": datasets.Value("string")}]
    if kind == "pairs":
        features = {"prompt": message, "chosen": message, "rejected": message,
                    "margin": datasets.Value("float64"),
                    "score_chosen": datasets.Value("float64"),
                    "score_rejected": datasets.Value("float64"),
                    "task_seed": datasets.Value("int64")}
    else:
        features = {"prompt": message, "completion": message, "label": datasets.Value("bool"),
                    "score": datasets.Value("float64"), "task_seed": datasets.Value("int64")}
    return datasets.Dataset.from_dict({k: [] for k in features},
                                      features=datasets.Features(features))


def _choice(name: str, value: Any, options: Sequence[str]) -> None:
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
