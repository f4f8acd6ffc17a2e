"""The verifier suite the main job runs: one representative environment per env family."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from judges.llm.base import ChatModel, SamplingParams

__all__ = ["SUITE", "run_main_job"]

# (env id, env kwargs) — one per family; families whose env is not registered are skipped.
SUITE: list[tuple[str, dict[str, Any]]] = [
    ("rlenvs/Arithmetic-v0", {"lenient": True}),
    ("rlenvs/Math-v0", {"level": 1, "lenient": True}),
    ("rlenvs/GSM8K-v0", {}),
    ("rlenvs/IFEval-v0", {}),
    ("rlenvs/Instruct-v0", {}),
    ("rlenvs/HumanEval-v0", {}),
    ("rlenvs/MBPP-v0", {}),
    ("rlenvs/ToolMath-v0", {}),
    ("rlenvs/SearchQA-v0", {}),
    ("rlenvs/ArithmeticFeedback-v0", {}),
    ("rlenvs/Chat-v0", {}),
]


def run_main_job(
    out_dir: Path, episodes: int, seed: int, policy: ChatModel, max_new_tokens: int = 256
) -> int:
    """Evaluate ``policy`` on the suite, print a summary table, write results to ``out_dir``."""
    import rlenvs
    from rlenvs.cli import _print_table
    from rlenvs.evaluation import evaluate

    known = set(rlenvs.list_envs())
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    summaries = {}
    for env_id, kwargs in SUITE:
        if env_id not in known:
            continue
        name = env_id.split("/")[-1]
        result = evaluate(
            env_id,
            policy,
            episodes=episodes,
            seed=seed,
            env_kwargs=kwargs,
            out=out_dir / f"{name}.jsonl",
            sampling=SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, seed=seed),
        )
        s = result.summary
        summaries[env_id] = s
        rows.append((env_id, f"pass@1 {s['pass_at_k']['pass@1']:.3f}  reward {s['mean_reward']:.3f}"))
        for group, stats in s["groups"].items():
            rows.append((f"  {group}", f"pass@1 {stats['pass@1']:.3f} (n={stats['episodes']})"))
    _print_table(f"verifier suite — {getattr(policy, 'name', 'policy')}", rows)
    (out_dir / "summary.json").write_text(json.dumps(summaries, indent=2))
    print(f"results written to {out_dir}/")
    return 0
