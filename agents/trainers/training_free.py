"""Training-Free GRPO (Cai et al. 2025, "Training-Free Group Relative Policy Optimization",
arXiv 2510.08191): GRPO's loop with the gradient step replaced by an edit of an *experience
library* that the frozen policy reads in context.

Per step, for a batch of ``B`` tasks (``prompts_per_generation``):

1. **Rollouts.** The policy, with the library ``E`` at the top of its system message
   (:class:`rlenvs.policies.SystemPromptPolicy`), answers each task ``G`` times
   (``num_generations``); the environment's judges score every episode (reward ``r_i``).
2. **Group advantage, numeric** (which episodes won): ``A_i = (r_i - mean(r)) / std(r)`` within
   the task's group, as in GRPO; a group whose rewards are all equal has no signal and is
   skipped, as GRPO's zero advantages would be.
3. **Group advantage, semantic.** An LLM (the *reasoner*: the frozen policy itself by default,
   or any ``rlenvs.load_policy`` spec / ``judges.llm`` chat backend) first summarises each
   episode of a group with signal, then, shown the summaries marked BETTER (``A_i > 0``) or
   WORSE (``A_i < 0``) and the current library, states why the better ones won as one
   general lesson: the natural-language advantage ``A_text`` of the group.
4. **Optimisation = library update.** Shown ``E`` and the batch's lessons, the reasoner answers
   with operations -- ``ADD: text``, ``MODIFY n: text``, ``DELETE n``, ``KEEP`` -- which are
   applied to ``E`` (``n`` numbers the library as shown). A reply with no operation at all
   (small models) adds the batch's lessons as they are; the metrics count these fallbacks.
   The library is capped at ``max_experiences`` (oldest dropped first).

No parameter changes. ``train_tasks`` fixes a training set of that many task seeds that the
steps cycle through (the paper's epochs over ~100 problems); ``None`` draws fresh tasks.
The library is written after every step to ``<output_dir>/experiences.json``, whose
``system_prompt`` is exactly what the policy saw, so it can be evaluated with

    rlenvs eval rlenvs/Arithmetic-v0 --system-prompt-file runs/tf/experiences.json

A resumed run (``resume_from_checkpoint``) continues from that file.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agents.trainers.config import TrainConfig

__all__ = ["TrainingFreeConfig", "TrainingFreeGRPO", "ExperienceLibrary", "parse_operations",
           "semantic_groups", "LIBRARY_FORMAT"]

LIBRARY_FORMAT = "rlenvs-experience-library/1"

LIBRARY_HEADER = ("When solving a task, first read these lessons learned from earlier attempts "
                  "and use the ones that apply:")

SUMMARY_PROMPT = """Here is a task and one attempt at it.

Task:
{task}

Attempt:
{reply}

The attempt was judged {outcome} (reward {reward:.2f}).
In at most three sentences, summarise what the attempt did, step by step, and where it went right or wrong."""

LESSON_PROMPT = """Several attempts at the same task were scored. Attempts better than the group's average are marked BETTER, worse ones WORSE.

Task:
{task}

{attempts}

Lessons learned so far:
{library}

Compare the BETTER attempts with the WORSE ones. In one or two sentences, state one general lesson (not about this task's particular numbers or names) that would help on similar tasks. Reply with the lesson only."""

UPDATE_PROMPT = """You keep a numbered list of lessons for solving tasks.

Current lessons:
{library}

New lessons from the latest attempts:
{lessons}

Update the list. Answer with one operation per line, each in one of these forms:
ADD: <a new lesson>
MODIFY <number>: <the new text of that lesson>
DELETE <number>
KEEP
Prefer MODIFY when a new lesson refines an existing one, and never keep two lessons that say the same thing."""


@dataclass
class TrainingFreeConfig(TrainConfig):
    """Training-Free GRPO settings; the rollout settings are :class:`TrainConfig`'s
    (``num_generations`` = G, ``per_device_train_batch_size * steps_per_generation / G`` tasks
    per step, ``temperature``, ``max_completion_length``, ``train_seed``, evaluation). The
    optimizer settings (learning rate, ...) are unused: nothing is trained.

    ``reasoner``: ``"policy"`` (the frozen policy writes the advantages, as in the paper where
    one LLM does both) or an ``rlenvs.load_policy`` spec (``"smollm2"``, ``http://.../v1``, a
    model folder); ``summarize_rollouts``: summarise each episode before comparing (the
    paper's first stage; off: the replies themselves are compared); ``max_experiences``: the
    library's size cap; ``train_tasks``: size of a fixed training set cycled through
    (``None``: new tasks every step).
    """

    num_generations: int = 4
    per_device_train_batch_size: int = 8
    temperature: float = 0.7
    reasoner: str = "policy"
    reasoner_max_new_tokens: int = 192
    summarize_rollouts: bool = True
    max_experiences: int = 32
    train_tasks: int | None = None
    max_reply_chars_shown: int = 1500  # an episode's text in the reasoner's prompts

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_generations < 2:
            raise ValueError("num_generations must be >= 2: a group needs episodes to compare")
        if self.temperature <= 0:
            raise ValueError("temperature must be > 0: greedy episodes of one task are equal")
        if not isinstance(self.reasoner, str) or not self.reasoner:
            raise ValueError("reasoner must be 'policy' or a policy spec such as 'smollm2'")
        for name in ("reasoner_max_new_tokens", "max_experiences", "max_reply_chars_shown"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.train_tasks is not None and (not isinstance(self.train_tasks, int)
                                             or self.train_tasks < 1):
            raise ValueError(f"train_tasks must be a positive integer or None, got "
                             f"{self.train_tasks!r}")


class ExperienceLibrary:
    """The numbered lessons ``E`` and the system prompt they make."""

    def __init__(self, experiences: list[str] | None = None, max_size: int = 32) -> None:
        self.max_size = max_size
        self.items: list[str] = []
        for text in experiences or []:
            self._add(text)

    def __len__(self) -> int:
        return len(self.items)

    def numbered(self) -> str:
        return "\n".join(f"[{i}] {text}" for i, text in enumerate(self.items, 1)) or "(none)"

    def system_prompt(self) -> str:
        """What the policy sees (empty for an empty library)."""
        return f"{LIBRARY_HEADER}\n{self.numbered()}" if self.items else ""

    def apply(self, operations: list[tuple[str, int | None, str]]) -> dict[str, int]:
        """Apply ``(op, number, text)`` operations; numbers refer to the library as it was
        before this call (1-based). Returns counts per kind, plus ``invalid`` (a number out of
        range, an empty text) and ``evicted`` (over the size cap)."""
        counts = {"add": 0, "modify": 0, "delete": 0, "keep": 0, "invalid": 0, "evicted": 0,
                  "duplicate": 0}
        current: list[str | None] = list(self.items)
        added: list[str] = []
        for op, number, text in operations:
            if op == "keep":
                counts["keep"] += 1
                continue
            if op in ("modify", "delete"):
                if number is None or not 1 <= number <= len(current) or current[number - 1] is None:
                    counts["invalid"] += 1
                    continue
                if op == "delete":
                    current[number - 1] = None
                else:
                    clean = clean_lesson(text)
                    if not clean:
                        counts["invalid"] += 1
                        continue
                    current[number - 1] = clean
                counts[op] += 1
                continue
            clean = clean_lesson(text)
            if not clean:
                counts["invalid"] += 1
                continue
            added.append(clean)
            counts["add"] += 1
        self.items = []
        for text in [t for t in current if t is not None] + added:
            if not self._add(text):
                counts["duplicate"] += 1
        while len(self.items) > self.max_size:
            self.items.pop(0)
            counts["evicted"] += 1
        return counts

    def _add(self, text: str) -> bool:
        key = _normalise(text)
        if not key or any(_normalise(t) == key for t in self.items):
            return False
        self.items.append(text)
        return True


def clean_lesson(text: str, limit: int = 400) -> str:
    """A lesson as stored: the first paragraph, without list markers, quotes or a leading
    ``Lesson:``, at most ``limit`` characters (cut at a word); ``""`` when under 8 letters."""
    text = (text or "").strip().split("\n\n")[0].strip()
    text = re.sub(r"^\s*(?:[-*•]|\d+[.)]|\[\d+\])\s*", "", text)
    text = re.sub(r"^(?:new\s+)?(?:lesson|experience)\s*\d*\s*[:.-]\s*", "", text, flags=re.I)
    text = " ".join(text.split()).strip("\"'` ")
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return text if sum(c.isalpha() for c in text) >= 8 else ""


_MARK = r"^\W*(?:\d+[.)]\s*|\[\d+\]\s*)?\W*"  # "- ", "1. ", "[2] ", "**" before an operation
_OPS = [
    ("add", re.compile(_MARK + r"ADD\s*[:\-]\s*(?P<text>.+)$", re.I)),
    ("modify", re.compile(_MARK + r"(?:MODIFY|UPDATE|EDIT)\s*\[?\s*(?P<n>\d+)\s*\]?\s*[:\-]\s*"
                          r"(?P<text>.+)$", re.I)),
    ("delete", re.compile(_MARK + r"(?:DELETE|REMOVE)\s*\[?\s*(?P<n>\d+)\s*\]?\W*$", re.I)),
    ("keep", re.compile(_MARK + r"(?:KEEP|NONE|NO CHANGE)\W*$", re.I)),
]


def parse_operations(reply: str) -> list[tuple[str, int | None, str]]:
    """Library operations in a reasoner's reply: one per line (``ADD: ...``,
    ``MODIFY 2: ...``, ``DELETE 3``, ``KEEP``), or a JSON list of
    ``{"operation": ..., "id": ..., "content": ...}`` objects. Lines that are neither are
    ignored."""
    found = _json_operations(reply)
    if found is not None:
        return found
    ops: list[tuple[str, int | None, str]] = []
    for line in (reply or "").splitlines():
        line = line.strip()
        for kind, pattern in _OPS:
            m = pattern.match(line)
            if m:
                groups = m.groupdict()
                ops.append((kind, int(groups["n"]) if groups.get("n") else None,
                            (groups.get("text") or "").strip()))
                break
    return ops


def _json_operations(reply: str) -> list[tuple[str, int | None, str]] | None:
    start, end = (reply or "").find("["), (reply or "").rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        items = json.loads(reply[start : end + 1])
    except (json.JSONDecodeError, ValueError):
        return None
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items) or not items:
        return None
    ops: list[tuple[str, int | None, str]] = []
    for item in items:
        kind = str(item.get("operation", item.get("op", ""))).strip().lower()
        kind = {"update": "modify", "remove": "delete", "none": "keep"}.get(kind, kind)
        if kind not in ("add", "modify", "delete", "keep"):
            continue
        number = item.get("id", item.get("number"))
        try:
            number = int(number) if number is not None else None
        except (TypeError, ValueError):
            number = None
        ops.append((kind, number, str(item.get("content", item.get("text", "")) or "")))
    return ops


def semantic_groups(records: list[dict[str, Any]], epsilon: float = 1e-6
                    ) -> list[list[tuple[dict[str, Any], float]]]:
    """Per task (``episode``), its episodes with their GRPO advantage
    ``(r_i - mean) / std`` (population std of the group), for the groups whose rewards are not
    all equal (the others carry no signal)."""
    by: dict[int, list[dict[str, Any]]] = {}
    for r in records:
        by.setdefault(int(r["episode"]), []).append(r)
    out = []
    for _, group in sorted(by.items()):
        group.sort(key=lambda r: int(r.get("sample", 0)))
        rewards = np.array([float(r["return"]) for r in group])
        std = float(rewards.std())
        if std <= epsilon:
            continue
        out.append([(r, float((x - rewards.mean()) / std)) for r, x in zip(group, rewards,
                                                                            strict=True)])
    return out


@dataclass
class _State:
    step: int = 0
    next_task: int = 0
    elapsed_s: float = 0.0  # seconds of train() so far, every session of a resumed run
    evals: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)


class TrainingFreeGRPO:
    """Training-Free GRPO on an rlenvs environment (see the module docstring).

    >>> run = TrainingFreeGRPO("smollm2", "rlenvs/Arithmetic-v0",
    ...                        TrainingFreeConfig(max_steps=3, output_dir="runs/tf"))
    >>> summary = run.train()   # runs/tf/experiences.json

    Args:
        policy: ``"smollm2"`` (or any ``rlenvs.load_policy`` spec), a
            :class:`~agents.policy.CausalLMPolicy` (used frozen), or a chat model.
        env: an environment id or one made with ``rlenvs.make``.
        config: a :class:`TrainingFreeConfig` or a dict of its settings.
        reasoner: a chat model that writes the semantic advantages (overrides
            ``config.reasoner``).
    """

    config_class = TrainingFreeConfig
    algorithm = "training_free_grpo"

    def __init__(self, policy: Any, env: Any, config: TrainingFreeConfig | dict[str, Any] |
                 None = None, *, env_kwargs: dict[str, Any] | None = None,
                 eval_env_kwargs: dict[str, Any] | None = None, reasoner: Any = None) -> None:
        if config is None:
            config = TrainingFreeConfig()
        elif isinstance(config, dict):
            config = TrainingFreeConfig.from_dict(config)
        if not isinstance(config, TrainingFreeConfig):
            raise TypeError(f"TrainingFreeGRPO needs a TrainingFreeConfig, got "
                            f"{type(config).__name__}")
        self.config = config
        self.env_id, self.env_kwargs = _env_spec(env, env_kwargs)
        self.eval_env_kwargs = dict(eval_env_kwargs if eval_env_kwargs is not None
                                    else self.env_kwargs)
        peft = getattr(getattr(policy, "model", None), "peft_config", None) or {}
        self._lora_r = getattr(peft.get("default"), "r", None) if isinstance(peft, dict) else None
        self.policy = _chat_policy(policy, config)
        if reasoner is not None:
            from rlenvs.policies import as_policy

            self.reasoner = as_policy(reasoner)
        elif config.reasoner == "policy":
            self.reasoner = self.policy
        else:
            self.reasoner = _chat_policy(config.reasoner, config)
        self.library = ExperienceLibrary(max_size=config.max_experiences)
        self.state = _State()
        self.output_dir = Path(config.output_dir)

    # ----------------------------------------------------------------- public API
    @property
    def library_path(self) -> Path:
        return self.output_dir / "experiences.json"

    def conditioned_policy(self) -> Any:
        """The policy as it acts now: with the library in its system message (or bare while
        the library is empty)."""
        from rlenvs.policies import SystemPromptPolicy

        text = self.library.system_prompt()
        return SystemPromptPolicy(self.policy, text) if text else self.policy

    def run_identity(self) -> dict[str, Any]:
        from agents.run.checkpoint import run_identity

        # the same identity `rlenvs train` checks before the model loads (agents.cli)
        return run_identity(self.algorithm, self.env_id, self.env_kwargs,
                            str(getattr(self.policy, "name", "") or "unnamed"),
                            {**self.config.to_dict(), "lora_r": self._lora_r})

    def step(self) -> dict[str, Any]:
        """One step: rollouts, semantic advantages, library update. Returns its metrics."""
        from judges.llm.base import SamplingParams
        from rlenvs.evaluation import evaluate

        cfg = self.config
        started = time.perf_counter()
        tasks = cfg.prompts_per_generation
        seeds = [self._task_seed(self.state.next_task + k) for k in range(tasks)]
        sampling_seed = int(np.random.SeedSequence([cfg.seed, self.state.step, 0x7F6]).generate_state(1)[0])
        policy = self.conditioned_policy()
        records: list[dict[str, Any]] = []
        for first, count in _runs(seeds):
            result = evaluate(self.env_id, policy, episodes=count, samples=cfg.num_generations,
                              seed=first, env_kwargs=self.env_kwargs, progress=False,
                              sampling=SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p,
                                                      top_k=cfg.top_k,
                                                      max_new_tokens=cfg.max_completion_length,
                                                      seed=sampling_seed + len(records)))
            offset = len({int(r["episode"]) for r in records})
            for r in result.records:
                records.append({**r, "episode": int(r["episode"]) + offset})
        rolled = time.perf_counter()
        groups = semantic_groups(records)
        lessons = self._lessons(groups)
        before = len(self.library)
        operations: list[tuple[str, int | None, str]] = []
        update_reply = ""
        if lessons:
            update_reply = self._ask([UPDATE_PROMPT.format(library=self.library.numbered(),
                                                           lessons=_bullets(lessons))])[0]
            operations = parse_operations(update_reply)
        fallback = bool(lessons) and not operations
        if fallback:
            operations = [("add", None, text) for text in lessons]
        counts = self.library.apply(operations)
        self.state.step += 1
        self.state.next_task += tasks
        self.state.history.append({"step": self.state.step, "lessons": lessons,
                                   "reply": update_reply, "operations": operations,
                                   "fallback": fallback})
        rewards = np.array([float(r["return"]) for r in records])
        ended = time.perf_counter()
        return {
            "kind": "train",
            "step": self.state.step,
            "reward": float(rewards.mean()),
            "reward_std": float(rewards.std(ddof=1)) if len(rewards) > 1 else 0.0,
            "pass_rate": float(np.mean([bool(r["passed"]) for r in records])),
            "frac_reward_zero_std": 1.0 - len(groups) / max(tasks, 1),
            "num_completions": len(records),
            "groups_with_signal": len(groups),
            "semantic_advantages": len(lessons),
            "library/size_before": before,
            "library/size": len(self.library),
            **{f"library/{k}": v for k, v in counts.items()},
            "library/fallback_adds": float(fallback) * len(lessons),
            "time/generation": rolled - started,
            "time/reasoner": ended - rolled,
            "time/step": ended - started,
        }

    def evaluate(self, episodes: int | None = None, seed: int | None = None) -> dict[str, Any]:
        """Greedy held-out evaluation of the conditioned policy
        (:func:`agents.run.evaluation.evaluate_policy`); ``library_size`` says what it read."""
        from agents.run.evaluation import evaluate_policy

        cfg = self.config
        record = evaluate_policy(
            self.conditioned_policy(), self.env_id, self.eval_env_kwargs,
            episodes=episodes or cfg.eval_episodes or 50,
            seed=cfg.eval_seed if seed is None else seed,
            max_new_tokens=cfg.eval_max_new_tokens or cfg.max_completion_length)
        record["library_size"] = len(self.library)
        return record

    def train(self) -> dict[str, Any]:
        """Run ``max_steps`` steps (evaluating before and after when ``eval_episodes``);
        returns a summary like the RL trainers' (``experiences``: the library file)."""
        from agents.run.checkpoint import prepare_output_dir
        from agents.run.metrics import MetricsLogger, truncate_metrics

        cfg = self.config
        prepare_output_dir(self.output_dir, self.run_identity(),
                           resume=bool(cfg.resume_from_checkpoint),
                           overwrite=cfg.overwrite_output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        metrics = self.output_dir / "metrics.jsonl"
        resumed = bool(cfg.resume_from_checkpoint) and self.library_path.exists()
        if resumed:
            self.load(self.library_path)
            truncate_metrics(metrics, self.state.step)
        elif metrics.exists():
            metrics.unlink()
        before = self.state.elapsed_s  # max_time_s is the run's total, as in the RL trainers
        logger = MetricsLogger(metrics, cfg.max_steps, self.state.step, cfg.progress,
                               desc=f"{self.algorithm} {self.env_id}",
                               max_time_s=None if cfg.max_time_s is None
                               else max(cfg.max_time_s - before, 0.0))
        last: dict[str, Any] = {}
        started = time.perf_counter()

        def elapsed() -> float:
            return before + time.perf_counter() - started

        try:
            if cfg.eval_episodes and not self.state.evals:
                self._evaluate(logger)
            while self.state.step < cfg.max_steps:
                last = self.step()
                logger.log(last, advance=1)
                self.state.elapsed_s = elapsed()
                self.save()
                if cfg.eval_steps and self.state.step % cfg.eval_steps == 0 and \
                        self.state.step < cfg.max_steps and cfg.eval_episodes:
                    self._evaluate(logger)
                if cfg.max_time_s is not None and elapsed() > cfg.max_time_s:
                    break
            if cfg.eval_episodes and self.state.evals[-1]["step"] != self.state.step:
                self._evaluate(logger)
            self.state.elapsed_s = elapsed()
            self.save()
        finally:
            logger.close()
        return {"algorithm": self.algorithm, "env_id": self.env_id, "steps": self.state.step,
                "last": last, "evals": list(self.state.evals), "output_dir": str(self.output_dir),
                "metrics": str(metrics), "experiences": str(self.library_path),
                "library": list(self.library.items)}

    def save(self, path: str | Path | None = None) -> Path:
        """Write the library (and the run's progress) as JSON; ``system_prompt`` is what
        ``rlenvs eval --system-prompt-file`` gives the policy."""
        path = Path(path) if path is not None else self.library_path
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": LIBRARY_FORMAT,
            "algorithm": self.algorithm,
            "env_id": self.env_id,
            "env_kwargs": self.env_kwargs,
            "policy": str(getattr(self.policy, "name", "")),
            "reasoner": str(getattr(self.reasoner, "name", "")),
            "experiences": list(self.library.items),
            "system_prompt": self.library.system_prompt(),
            "state": {"step": self.state.step, "next_task": self.state.next_task,
                      "elapsed_s": self.state.elapsed_s, "evals": self.state.evals},
            "history": self.state.history,
        }
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
        tmp.replace(path)
        return path

    def load(self, path: str | Path) -> None:
        """Continue from a library file written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != LIBRARY_FORMAT:
            raise ValueError(f"{path} is not an experience library ({LIBRARY_FORMAT})")
        self.library = ExperienceLibrary(list(data.get("experiences", [])),
                                         max_size=self.config.max_experiences)
        state = data.get("state", {})
        self.state = _State(step=int(state.get("step", 0)),
                            next_task=int(state.get("next_task", 0)),
                            elapsed_s=float(state.get("elapsed_s", 0.0)),
                            evals=list(state.get("evals", [])),
                            history=list(data.get("history", [])))

    # ----------------------------------------------------------------- internals
    def _task_seed(self, k: int) -> int:
        cfg = self.config
        return cfg.train_seed + (k % cfg.train_tasks if cfg.train_tasks else k)

    def _ask(self, prompts: list[str]) -> list[str]:
        from judges.llm.base import SamplingParams

        sampling = SamplingParams(temperature=0.0, max_new_tokens=self.config.reasoner_max_new_tokens,
                                  seed=self.config.seed)
        replies = self.reasoner.generate([[{"role": "user", "content": p}] for p in prompts],
                                         sampling)
        if len(replies) != len(prompts):
            raise RuntimeError(f"the reasoner returned {len(replies)} replies for "
                               f"{len(prompts)} prompts")
        return [r if isinstance(r, str) else "" for r in replies]

    def _lessons(self, groups: list[list[tuple[dict[str, Any], float]]]) -> list[str]:
        """``A_text`` of every group with signal (summaries first when configured)."""
        if not groups:
            return []
        cfg = self.config
        shown = cfg.max_reply_chars_shown
        episodes = [(r, a) for group in groups for r, a in group]
        if cfg.summarize_rollouts:
            summaries = self._ask([SUMMARY_PROMPT.format(
                task=_clip(_task_text(r), shown), reply=_clip(_episode_text(r), shown),
                outcome="correct" if r["passed"] else "incorrect", reward=float(r["return"]))
                for r, _ in episodes])
        else:
            summaries = [_clip(_episode_text(r), shown) for r, _ in episodes]
        prompts, k = [], 0
        for group in groups:
            attempts = []
            for j, (r, a) in enumerate(group, 1):
                mark = "BETTER" if a > 0 else "WORSE" if a < 0 else "AVERAGE"
                attempts.append(f"Attempt {j} ({mark}, reward {float(r['return']):.2f}):\n"
                                f"{summaries[k].strip()}")
                k += 1
            prompts.append(LESSON_PROMPT.format(task=_clip(_task_text(group[0][0]), shown),
                                                attempts="\n\n".join(attempts),
                                                library=self.library.numbered()))
        return [lesson for lesson in (clean_lesson(t) for t in self._ask(prompts)) if lesson]

    def _evaluate(self, logger: Any) -> None:
        logger.note(f"evaluating ({self.config.eval_episodes} episodes)")
        record = self.evaluate()
        record.update({"kind": "eval", "step": self.state.step})
        self.state.evals.append(record)
        logger.log(record)


def _runs(seeds: list[int]) -> list[tuple[int, int]]:
    """Consecutive stretches of ``seeds`` as ``(first, count)``."""
    out: list[tuple[int, int]] = []
    for s in seeds:
        if out and out[-1][0] + out[-1][1] == s:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((s, 1))
    return out


def _task_text(record: dict[str, Any]) -> str:
    """The prompt of an episode: its messages before the first reply."""
    lines = []
    for m in record["messages"]:
        if m.get("role") == "assistant":
            break
        if m.get("role") != "system":
            lines.append(str(m.get("content", "")))
    return "\n".join(lines)


def _episode_text(record: dict[str, Any]) -> str:
    """Everything after the prompt: replies, and environment turns in between."""
    out, started = [], False
    for m in record["messages"]:
        started = started or m.get("role") == "assistant"
        if started:
            who = "Reply" if m.get("role") == "assistant" else "Environment"
            out.append(f"{who}: {m.get('content', '')}")
    return "\n".join(out)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _bullets(lessons: list[str]) -> str:
    return "\n".join(f"- {text}" for text in lessons)


def _normalise(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9 ]", " ", text.lower()).split())


def _env_spec(env: Any, env_kwargs: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
    import rlenvs

    if isinstance(env, str):
        kwargs = dict(env_kwargs or {})
        env_id = rlenvs.registration.resolve_id(env)
        rlenvs.make(env_id, **kwargs).close()  # bad kwargs fail here
        return env_id, kwargs
    spec = getattr(env, "spec", None)
    if spec is None or not getattr(spec, "id", None):
        raise TypeError(f"env must be an rlenvs id or an environment made with rlenvs.make, got "
                        f"{type(env).__name__}")
    if env_kwargs:
        raise ValueError("env_kwargs only applies when env is given as an id")
    return spec.id, dict(spec.kwargs or {})


def _chat_policy(policy: Any, config: TrainingFreeConfig) -> Any:
    """A chat model from a spec string, a :class:`~agents.policy.CausalLMPolicy` or a chat
    model."""
    from rlenvs.policies import as_policy, load_policy

    if isinstance(policy, str):
        if policy.startswith(("http://", "https://")) or policy.startswith("vllm:"):
            return load_policy(policy)
        return load_policy(policy, dtype=config.generation_dtype,
                           batch_size=config.per_device_train_batch_size)
    from agents.policy import CausalLMPolicy

    if isinstance(policy, CausalLMPolicy):
        from judges.llm.transformers_backend import TransformersChat

        model = policy.model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        return TransformersChat(model, policy.tokenizer,
                                batch_size=config.per_device_train_batch_size,
                                name=str(policy.name))
    return as_policy(policy)
