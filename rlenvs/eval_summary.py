"""The numbers of an evaluation: pass@k, mean reward, per-judge and per-group means -- over the
*scored* transcripts only.

A transcript whose reward is a fault (``status: "unscored"``: the judge's backend failed, the
sandbox could not start, the episode ran past its deadline, ...) is never a failure: it is
counted apart (``unscored``, by cause, with the most common reason) and left out of every mean.
An episode whose samples are all unscored has no pass@k; pass@k for a ``k`` larger than an
episode's scored samples leaves that episode out of that ``k``.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["pass_at_k", "pass_at_k_ks", "GROUP_KEYS", "summarize", "record_scored",
           "unscored_note", "summary_rows"]

# Task keys that, when present, split the summary into groups (difficulty etc.).
GROUP_KEYS = ("level", "difficulty", "source")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k estimator (Chen et al. 2021): ``1 - C(n-c, k) / C(n, k)``."""
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"need 0 <= c <= n and k >= 1, got n={n}, c={c}, k={k}")
    if k > n:
        raise ValueError(f"k={k} is larger than the number of samples n={n}")
    if n - c < k:
        return 1.0
    return 1.0 - float(np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def pass_at_k_ks(samples: int) -> list[int]:
    """The k reported for ``samples`` per episode: every power of two up to it, and itself."""
    return sorted({2**i for i in range(samples.bit_length()) if 2**i <= samples} | {samples})


def record_scored(record: dict[str, Any]) -> bool:
    """Whether a transcript's reward is a judgement (older transcripts without a status: read
    their verdict's)."""
    status = record.get("status")
    if status is None:
        verdict = record.get("verdict") or {}
        details = verdict.get("details") if isinstance(verdict, dict) else None
        unscored = verdict.get("status") == "unscored" or (
            isinstance(details, dict) and bool(details.get("unscored")))
        return not unscored
    return status == "scored"


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(records: Sequence[dict[str, Any]], samples: int) -> dict[str, Any]:
    """Mean reward, unbiased pass@k, per-judge means and per-group pass@1 over the scored
    transcripts; ``unscored`` counts the rest, ``unscored_causes`` by cause and
    ``unscored_reasons`` each cause's most common reason."""
    by_episode: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        by_episode[r["episode"]].append(r)
    scored = [r for r in records if record_scored(r)]
    faults = [r for r in records if not record_scored(r)]
    scored_by_episode = {e: [x for x in rs if record_scored(x)] for e, rs in by_episode.items()}
    pass_k: dict[str, float | None] = {}
    for k in pass_at_k_ks(samples):
        values = [pass_at_k(len(rs), sum(bool(x["passed"]) for x in rs), k)
                  for rs in scored_by_episode.values() if len(rs) >= k]
        pass_k[f"pass@{k}"] = _mean(values)
    components: dict[str, list[float]] = defaultdict(list)
    for r in scored:
        for name, value in (r.get("reward_components") or {}).items():
            if isinstance(value, (int, float)) and not math.isnan(value):
                components[name].append(float(value))
    groups: dict[str, list[float]] = defaultdict(list)
    for e, rs in scored_by_episode.items():
        task = by_episode[e][0].get("task") or {}
        for key in GROUP_KEYS:
            if rs and key in task and isinstance(task[key], (str, int)):
                groups[f"{key}={task[key]}"].append(float(np.mean([x["passed"] for x in rs])))
    finishes: dict[str, int] = defaultdict(int)
    for r in records:
        for reason in r.get("finish_reasons") or []:
            if reason is not None:
                finishes[reason] += 1
    causes = Counter(str(r.get("cause") or (r.get("verdict") or {}).get("cause") or "unknown")
                     for r in faults)
    reasons: dict[str, str] = {}
    for cause in causes:
        said = Counter(_short(_fault_reason(r)) for r in faults
                       if str(r.get("cause") or (r.get("verdict") or {}).get("cause")
                              or "unknown") == cause)
        reasons[cause] = said.most_common(1)[0][0]
    return {
        "episodes": len(by_episode),
        "samples": samples,
        "transcripts": len(records),
        "unscored": len(faults),
        "unscored_causes": dict(causes.most_common()),
        "unscored_reasons": reasons,
        "mean_reward": _mean([float(r["return"]) for r in scored]),
        "pass_at_k": pass_k,
        "components": {k: float(np.mean(v)) for k, v in sorted(components.items())},
        "groups": {
            g: {"pass@1": float(np.mean(v)), "episodes": len(v)} for g, v in sorted(groups.items())
        },
        "finish_reasons": dict(sorted(finishes.items())),
    }


def _fault_reason(record: dict[str, Any]) -> str:
    return str(record.get("unscored_reason") or (record.get("verdict") or {}).get("reason") or "")


def _short(text: str, limit: int = 80) -> str:
    """A reason's head: ``"unscored: unparseable judge output: no rating line"`` reads
    ``"unparseable judge output"`` (the details differ from one transcript to the next)."""
    text = " ".join(text.split()).removeprefix("unscored: ")
    text = text.split(": ", 1)[0].split(" (", 1)[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unscored_note(summary: dict[str, Any]) -> str:
    """``"unscored 10/10 (judge_backend: unparseable judge output)"``, or ``""`` when every
    transcript was scored."""
    count = int(summary.get("unscored") or 0)
    if not count:
        return ""
    total = summary.get("transcripts") or count
    causes = summary.get("unscored_causes") or {}
    reasons = summary.get("unscored_reasons") or {}
    parts = []
    for cause, n in causes.items():
        head = cause if len(causes) == 1 else f"{cause} {n}"
        parts.append(f"{head}: {reasons[cause]}" if reasons.get(cause) else head)
    return f"unscored {count}/{total}" + (f" ({'; '.join(parts)})" if parts else "")


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "— (nothing scored)"


def summary_rows(s: dict[str, Any]) -> list[tuple[str, str]]:
    """The metric rows of a summary (terminal table and HTML page alike)."""
    rows = [("episodes x samples", f"{s.get('episodes')} x {s.get('samples')}")]
    if s.get("partial"):
        rows.append(("PARTIAL", f"{s.get('transcripts', 0)} of {s.get('planned', '?')} "
                                "transcripts (interrupted; --resume finishes it)"))
    if note := unscored_note(s):
        rows.append(("unscored (not failures)", note.removeprefix("unscored ")))
    rows.append(("mean reward" + (" (scored)" if s.get("unscored") else ""),
                 _number(s.get("mean_reward"))))
    for key, value in (s.get("pass_at_k") or {}).items():
        rows.append((key, _number(value)))
    for name, value in (s.get("components") or {}).items():
        rows.append((f"judge: {name}", _number(value)))
    for group, stats in (s.get("groups") or {}).items():
        if isinstance(stats, dict):
            rows.append((group, f"pass@1 {_number(stats.get('pass@1'))}  "
                                f"(n={stats.get('episodes')})"))
    if s.get("finish_reasons"):
        rows.append(("finish reasons", ", ".join(f"{k} {v}" for k, v in
                                                 s["finish_reasons"].items())))
    if isinstance(s.get("seconds"), (int, float)):
        rows.append(("seconds", f"{s['seconds']:.1f}"))
    return rows
