"""``audit(env_or_id, ...)``: play every attack family and the false-negative probes against an
environment's judge, in process, and count what passed that should not have.

For each episode ``i`` the env is reset with seed ``seed + i``; the task is read through the
env's schema (:func:`rlenvs.audit.context.task_view`); each reply is stepped in an independent
clone of the episode (:func:`rlenvs.core.clone_env`, wrappers included, so a reward wrapper is
audited too). A reply *passes* when its verdict says ``passed`` or its reward reaches
``pass_reward``; a verdict marked ``details["unscored"]`` is a fault, and a judge that raises is
an error: neither is a pass. Nothing is trained; the whole run stops at ``max_seconds``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from rlenvs.audit import answers, generic, instructions, programs
from rlenvs.audit.context import task_view
from rlenvs.audit.family import Family, sample
from rlenvs.audit.probes import probe_replies
from rlenvs.audit.report import AuditReport, FamilyResult, Outcome

__all__ = ["audit", "FAMILIES", "play"]

FAMILIES: list[Family] = [*generic.FAMILIES, *answers.FAMILIES, *programs.FAMILIES,
                          *instructions.FAMILIES]
PROBES = "false_negatives"


def play(env: gym.Env, reply: str, pass_reward: float) -> Outcome:
    """Step ``reply`` in a clone of ``env``'s current episode; what came of it."""
    from rlenvs.core import clone_env

    twin = clone_env(env)
    try:
        _, reward, _, _, info = twin.step(reply)
    except Exception as e:  # noqa: BLE001 - a judge that raises is an error, never a pass
        return Outcome(reply, passed=False, fault=True, reward=None,
                       reason=f"the env raised {type(e).__name__}: {e}"[:300])
    finally:
        twin.close()
    verdict = info.get("verdict")
    details = getattr(verdict, "details", {}) or {}
    reason = str(getattr(verdict, "reason", ""))[:300]
    if details.get("unscored"):
        return Outcome(reply, passed=False, fault=True, reward=float(reward),
                       reason=f"unscored: {details.get('cause') or reason}"[:300])
    passed = bool(getattr(verdict, "passed", False)) or float(reward) >= pass_reward
    return Outcome(reply, passed=passed, fault=False, reward=float(reward), reason=reason)


def _make(env_or_id: Any, env_kwargs: dict[str, Any]) -> tuple[gym.Env, str]:
    if isinstance(env_or_id, gym.Env):
        if env_kwargs:
            raise ValueError("env_kwargs apply to an env given by id, not to an env instance")
        spec = getattr(env_or_id, "spec", None)
        return env_or_id, getattr(spec, "id", None) or type(env_or_id.unwrapped).__name__
    import rlenvs

    if isinstance(env_or_id, str) and env_or_id.startswith(("http://", "https://", "ws://",
                                                            "wss://")):
        raise ValueError("an audit reads each task's private fields in the judging process: "
                         "run it where the environment is served, with its id, not its URL")
    env_id = rlenvs.registration.resolve_id(env_or_id)
    return rlenvs.make(env_id, **env_kwargs), env_id


def audit(
    env_or_id: Any,
    *,
    episodes: int = 5,
    seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
    max_seconds: float | None = None,
    max_replies: int = 12,
    pass_reward: float = 1.0,
    families: Sequence[str] | None = None,
    judge_backend: str | None = None,
    scripted_judge: bool = False,
    workers: int = 1,
    gold_field: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> AuditReport:
    """Red-team ``env_or_id``'s reward: see the module docstring.

    Args:
        env_or_id: a registered id (plugins and ``module:EnvId`` included) or an env instance.
        episodes: seeded episodes (task ``i`` from ``reset(seed=seed + i)``).
        env_kwargs: options for ``rlenvs.make``.
        max_seconds: bound on the whole run; a cut run's report says ``partial``.
        max_replies: replies per family and episode (a seeded sample) unless the family says.
        pass_reward: a reward at or above it counts as a pass even if the verdict says not.
        families: only these families (default: all).
        judge_backend / scripted_judge: what judged (shown in the report), and whether it is
            the scripted judge (which has no opinion on correctness: no open-task probes).
        gold_field: the private task field holding the gold answer (default: ``answer``,
            ``gold``, ``target``, ... whichever the task has).
        workers: replies judged at once, each in its own clone (for judges that are safe in
            threads, as the code sandbox and the math workers are); the report is the same.
    """
    if episodes < 1:
        raise ValueError("episodes must be at least 1")
    if workers < 1:
        raise ValueError("workers must be at least 1")
    chosen = FAMILIES
    if families is not None:
        names = {f.name for f in FAMILIES}
        unknown = sorted(set(families) - names)
        if unknown:
            raise ValueError(f"unknown families {unknown}; known: {sorted(names)}")
        chosen = [f for f in FAMILIES if f.name in families]
    start = time.monotonic()
    env, env_id = _make(env_or_id, dict(env_kwargs or {}))
    report = AuditReport(env_id=env_id, env_kwargs=dict(env_kwargs or {}), seed=seed,
                         episodes_requested=episodes, judge=judge_backend or _judge_name(env))
    run = _Run(env, chosen, max_replies, pass_reward,
               start + max_seconds if max_seconds else None, scripted_judge, workers,
               gold_field)
    try:
        for i in range(episodes):
            if not run.episode(seed + i):
                report.partial = True
                break
            report.episodes_run += 1
            if progress:
                progress(f"episode {i + 1}/{episodes}")
    finally:
        if env is not env_or_id:  # an env we made; one given to us stays the caller's
            env.close()
    report.kinds = sorted(run.kinds)
    report.families = list(run.results.values())
    report.probes = run.probes
    report.elapsed_s = time.monotonic() - start
    return report


@dataclass
class _Run:
    """One audit's settings and tallies."""

    env: gym.Env
    chosen: list[Family]
    max_replies: int
    pass_reward: float
    deadline: float | None
    scripted_judge: bool
    workers: int
    gold_field: str | None
    kinds: set[str] = field(default_factory=set)
    results: dict[str, FamilyResult] = field(default_factory=dict)
    probes: FamilyResult = field(default_factory=lambda: FamilyResult(
        PROBES, "the correct answer in other correct forms (must pass)"))

    def __post_init__(self) -> None:
        self.results = {f.name: FamilyResult(f.name, f.description) for f in self.chosen}

    def late(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def episode(self, episode_seed: int) -> bool:
        """Every family, then the probes; ``False`` when the deadline cut the episode."""
        if self.late():
            return False
        obs, info = self.env.reset(seed=episode_seed)
        view = task_view(self.env, info["task"], obs, self.gold_field)
        self.kinds.add(view.kind)
        for k, family in enumerate(self.chosen):
            result = self.results[family.name]
            why = family.skip_reason(view)
            if why:
                result.skipped.add(why)
                continue
            rng = random.Random(f"{episode_seed}:{k}:{family.name}")
            replies = sample(family.build(view, rng), family.cap or self.max_replies, rng)
            if not replies:
                result.skipped.add(family.none)
            elif not self.play_all(replies, result, episode_seed):
                return False
        rng = random.Random(f"{episode_seed}:probes")
        replies, why = probe_replies(view, rng, self.scripted_judge)
        if why:
            self.probes.skipped.add(why)
        return self.play_all(replies, self.probes, episode_seed, expect_pass=True)

    def play_all(self, replies: list[str], result: FamilyResult, episode_seed: int,
                 expect_pass: bool = False) -> bool:
        """Play ``replies`` into ``result`` (``workers`` at a time, each in its own clone);
        ``False`` when the deadline cut them."""
        def one(reply: str) -> Outcome | None:
            return None if self.late() else play(self.env, reply, self.pass_reward)

        if self.workers > 1 and len(replies) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(self.workers, len(replies))) as pool:
                outcomes = list(pool.map(one, replies))
        else:
            outcomes = []
            for reply in replies:
                outcomes.append(one(reply))
                if outcomes[-1] is None:
                    break
        for outcome in outcomes:
            if outcome is None:
                return False
            result.add(outcome, episode_seed, expect_pass)
        return True


def _judge_name(env: gym.Env) -> str:
    judge = getattr(env.unwrapped, "judge", None)
    inner = getattr(env.unwrapped, "inner", None)
    if judge is None and inner is not None:
        judge = getattr(inner, "judge", None)
    if judge is None:
        return type(env.unwrapped).__name__
    name = getattr(judge, "__qualname__", None) or type(judge).__qualname__
    module = getattr(judge, "__module__", "") or ""
    return f"{module}.{name}".strip(".")
