"""``LLMEnv``: the Gymnasium environment every rlenvs task is built on.

Observation: the conversation so far, a list of chat messages ``{"role", "content"}``.
Action: the policy's reply for this turn, a ``str``.

Subclasses implement three hooks:

* ``sample_task(rng) -> dict`` — draw a task (JSON-serialisable) from the seeded generator;
* ``initial_messages(task) -> list[dict]`` — the prompt the policy sees at ``reset``;
* ``respond(reply) -> Turn`` — score the reply and say what the environment answers.

Each environment declares ``public_fields``: the task fields the policy may see (what the prompt
is built from). Every other field (answers, solutions, tests, references, hidden state) is
private: :meth:`LLMEnv.public_task` is the only view of a task that may leave the judging
process (``rlenvs serve-env``, adapters' policy-facing outputs). In-process, ``info["task"]``
keeps the whole task: the trainer and the judges live there.

``LLMEnv`` does the rest: seeding, ``options={"task": ...}``, type checks, turn limits, the reward
schedule, the ``info`` contract (``verdict``, ``reward_status``, ``reward_components``,
``step_rewards``, ``tool_calls``, ``state_key``) and ``clone()``.

**A fault is not a reward.** ``info["reward_status"]`` after every ``step`` is ``"scored"`` (the
reward is a judgement) or ``"unscored"`` (the judge could not judge: ``info["reward_cause"]``
names why, one of :data:`judges.verdict.CAUSES`); the float reward of an unscored step is a
placeholder that trainers, evaluation and adapters leave out. An exception raised by the
environment's own code still propagates (a bug to see at once, named by the vector envs).

``rlenvs.make`` / ``gymnasium.make`` wrap the environment (Gymnasium's checker and order
enforcing, ``TimeLimit`` when asked for); the outermost wrapper, ``Cloneable``, gives the
wrapped environment ``clone()`` too, and :func:`clone_env` branches any wrapper stack.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from judges import Verdict
from rlenvs.rewards import RewardSchedule, make_schedule
from rlenvs.spaces import ChatMessages, UnicodeText

__all__ = ["LLMEnv", "Turn", "Episode", "EpisodeEndedError", "Cloneable", "clone_env"]


class EpisodeEndedError(RuntimeError):
    """``step`` was called after the episode ended (or before ``reset``)."""


@dataclass
class Turn:
    """What the environment makes of one reply.

    Attributes:
        verdict: the judge's decision on the reply (for a non-final turn, a neutral verdict).
        terminated: the episode reached a terminal state (answer given, task solved or failed).
        feedback: messages the environment appends for the next turn (``user`` or ``tool``).
        reward_components: each judge's score by name (defaults to ``{"score": verdict.score}``).
        reward: an explicit reward overriding the schedule (e.g. tool-call shaping), or ``None``.
        info: extra ``info`` entries (``tool_calls``, ...).
    """

    verdict: Verdict
    terminated: bool
    feedback: list[dict[str, Any]] = field(default_factory=list)
    reward_components: dict[str, float] | None = None
    reward: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Episode:
    """All per-episode state of an ``LLMEnv`` (what ``clone`` copies)."""

    task: dict[str, Any]
    messages: list[dict[str, Any]]
    turn: int = 0
    done: bool = False
    rewards: list[float] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


def _action_hint(action: Any) -> str:
    """What to pass to ``step`` instead of ``action`` (a chat message list, token ids, ...)."""
    items = action if isinstance(action, (list, tuple)) else None
    if isinstance(action, dict) or (items and isinstance(items[-1], dict)):
        return ("pass the reply text (str), not chat messages; "
                "take messages[-1]['content'] of the policy's reply")
    if isinstance(action, bytes):
        return "decode the bytes to text (action.decode()) before calling step()"
    return "decode token ids to text (tokenizer.decode) before calling step()"


class LLMEnv(gym.Env[list, str]):
    """Base class of text environments with chat observations and text actions.

    Args:
        max_turns: replies allowed before the episode is truncated.
        reward: reward schedule name (``"binary"``, ``"dense"``, ...) or a ``RewardSchedule``.
        system_prompt: optional system message prepended to every episode.
        max_reply_chars: longer replies are rejected as invalid (low reward, reason in info).
        render_mode: ``None`` or ``"ansi"`` (the transcript as text).
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 1}
    #: task fields the policy may see (an allow-list); every other field is private
    public_fields: tuple[str, ...] = ()
    #: ``info`` keys of this env that may cross a wire, beyond the ones every env shares
    public_info_keys: tuple[str, ...] = ()

    def __new__(cls, *args: Any, **kwargs: Any) -> LLMEnv:
        # an unknown keyword (gymnasium.make(id, levl=2)) gets rlenvs.make's "did you mean"
        # instead of Python's bare "unexpected keyword argument"
        if kwargs:
            from rlenvs.registration import check_class_kwargs

            check_class_kwargs(cls, kwargs)
        return super().__new__(cls)

    def __init__(
        self,
        *,
        max_turns: int = 1,
        reward: str | dict[str, Any] | RewardSchedule = "binary",
        system_prompt: str | None = None,
        max_reply_chars: int | None = 100_000,
        render_mode: str | None = None,
    ) -> None:
        if max_turns < 1:
            raise ValueError("max_turns must be at least 1")
        if render_mode not in (None, "ansi"):
            raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")
        self.max_turns = max_turns
        self.reward_schedule = make_schedule(reward)
        self.system_prompt = system_prompt
        self.max_reply_chars = max_reply_chars
        self.render_mode = render_mode
        self.observation_space = ChatMessages()
        self.action_space = UnicodeText()
        self._episode: Episode | None = None

    # ----------------------------------------------------------------- hooks for subclasses
    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a task from the seeded generator (deterministic given ``rng``'s state)."""
        raise NotImplementedError

    def validate_task(self, task: Any) -> dict[str, Any]:
        """Check a task given through ``options={"task": ...}``; return it normalised."""
        if not isinstance(task, dict):
            raise TypeError(f"options['task'] must be a dict, got {type(task).__name__}")
        return dict(task)

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        """The prompt for ``task`` (without the system prompt, which the base adds); built from
        the task's public fields only (:meth:`public_task`)."""
        raise NotImplementedError

    def public_task(self, task: dict[str, Any]) -> dict[str, Any]:
        """The part of ``task`` the policy may see: its ``public_fields`` (an allow-list).

        An environment that wraps another (``self.inner``, e.g. a tool or multi-attempt
        wrapper) and declares no fields of its own shares the wrapped environment's view.
        """
        inner = getattr(self, "inner", None)
        if not self.public_fields and isinstance(inner, LLMEnv):
            return inner.public_task(task)
        return {k: copy.deepcopy(task[k]) for k in self.public_fields if k in task}

    def respond(self, reply: str) -> Turn:
        """Score ``reply`` in the current episode and say what happens next."""
        raise NotImplementedError

    # ----------------------------------------------------------------- the gym API
    @property
    def task(self) -> dict[str, Any]:
        """The current episode's task (raises before the first ``reset``)."""
        return self._require_episode().task

    @property
    def episode(self) -> Episode:
        return self._require_episode()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[list, dict[str, Any]]:
        super().reset(seed=seed)
        options = options or {}
        unknown = set(options) - {"task"}
        if unknown:
            raise ValueError(f"unknown reset options {sorted(unknown)}; supported: 'task'")
        if "task" in options:
            task = self.validate_task(options["task"])
        else:
            task = self.sample_task(self.np_random)
        messages: list[dict[str, Any]] = []
        if self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.extend(self.initial_messages(task))
        self._episode = Episode(task=task, messages=messages)
        self.on_reset()
        info = {"task": task, "turn": 0, "state_key": self.state_key()}
        return copy.deepcopy(messages), copy.deepcopy(info)

    def on_reset(self) -> None:
        """Called at the end of ``reset`` (subclasses set up tool state etc.)."""

    def step(self, action: str) -> tuple[list, float, bool, bool, dict[str, Any]]:
        if not isinstance(action, str):
            raise TypeError(
                f"action must be the reply text (str), got {type(action).__name__}; "
                + _action_hint(action)
            )
        episode = self._episode
        if episode is None:
            raise EpisodeEndedError("call reset() before step()")
        if episode.done:
            raise EpisodeEndedError("the episode has ended; call reset() to start a new one")
        episode.turn += 1
        episode.messages.append({"role": "assistant", "content": action})
        if self.max_reply_chars is not None and len(action) > self.max_reply_chars:
            turn = Turn(
                verdict=Verdict.fail(
                    f"reply is {len(action)} characters, over the limit of {self.max_reply_chars}"
                ),
                terminated=True,
            )
        else:
            turn = self.respond(action)
        verdict = turn.verdict
        components = dict(turn.reward_components or {"score": verdict.score})
        reward = (
            float(turn.reward) if turn.reward is not None
            else self.reward_schedule(verdict, action)
        )
        terminated = bool(turn.terminated)
        truncated = (not terminated) and episode.turn >= self.max_turns
        episode.done = terminated or truncated
        if not episode.done:
            episode.messages.extend(turn.feedback)
        episode.rewards.append(reward)
        info: dict[str, Any] = {
            "verdict": verdict,
            "reward_status": verdict.status,
            "reward_components": components,
            "raw_score": verdict.score,
            "turn": episode.turn,
        }
        if verdict.steps is not None:
            info["step_rewards"] = list(verdict.steps)
        info.update(turn.info)
        if verdict.status != "scored":
            info["reward_cause"] = verdict.cause
        info["state_key"] = self.state_key()
        return (
            copy.deepcopy(episode.messages),
            reward,
            terminated,
            truncated,
            copy.deepcopy(info),
        )

    def render(self) -> str | None:
        if self.render_mode != "ansi" or self._episode is None:
            return None
        return "\n".join(f"[{m['role']}] {m['content']}" for m in self._episode.messages)

    # ----------------------------------------------------------------- branching
    def clone(self) -> LLMEnv:
        """An independent copy of this environment and its episode so far.

        Shared, read-only parts (task sources, judges, spaces' definitions) are shared; episode
        state and the RNG are copied, so stepping the twin leaves this env unchanged. Subclasses
        with more state override ``_clone_into``.
        """
        twin = copy.copy(self)
        twin._episode = copy.deepcopy(self._episode)
        if self._np_random is not None:
            twin._np_random = copy.deepcopy(self._np_random)
        twin.observation_space = copy.deepcopy(self.observation_space)
        twin.action_space = copy.deepcopy(self.action_space)
        self._clone_into(twin)
        return twin

    # ----------------------------------------------------------------- state identity
    def state_key(self) -> str:
        """A short hash naming the environment's current state (``info["state_key"]`` after
        ``reset`` and every ``step``): equal keys mean the environment stands in the same state,
        whatever the policy wrote to get there.

        It covers the task, the turn, whether the episode ended, every message the environment
        wrote (system, user and tool messages: prompt, feedback, tool results; not the policy's
        replies) and the subclass's hidden state (:meth:`state_extra`). GiGPO groups the steps
        taken from one state (anchor states, :mod:`agents.algorithms.gigpo`).
        """
        episode = self._require_episode()
        said = [m for m in episode.messages if m.get("role") != "assistant"]
        payload = {"task": episode.task, "turn": episode.turn, "done": episode.done,
                   "messages": said, "extra": self.state_extra()}
        blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=repr)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]

    def state_extra(self) -> Any:
        """Hidden episode state that shapes what comes next, for :meth:`state_key` (JSON-able;
        none here: a subclass with tool sessions, budgets or memory of past replies adds it)."""
        return None

    def _clone_into(self, twin: LLMEnv) -> None:
        """Copy subclass state into ``twin`` (called by ``clone``)."""

    def _require_episode(self) -> Episode:
        if self._episode is None:
            raise EpisodeEndedError("call reset() first")
        return self._episode


# ----------------------------------------------------------------- branching a wrapped environment

def clone_env(env: gym.Env) -> gym.Env:
    """An independent copy of ``env`` -- wrappers included -- and its episode so far.

    The innermost environment is branched with its own ``clone()`` (``LLMEnv``, ``RemoteEnv``);
    every wrapper around it is copied with its state (``TimeLimit``'s elapsed steps,
    ``OrderEnforcing``'s reset flag, a user wrapper's counters) and put around the twin in the
    same order, so stepping the twin leaves ``env`` unchanged and vice versa.
    """
    layers: list[gym.Wrapper] = []
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        layers.append(inner)
        inner = inner.env
    branch = getattr(inner, "clone", None)
    if not callable(branch):
        raise TypeError(f"{type(inner).__name__} has no clone(): only environments that can "
                        "branch an episode (rlenvs' LLMEnv, RemoteEnv) can be cloned")
    twin: Any = branch()
    memo: dict[int, Any] = {id(inner): twin}  # a wrapper's reference to the env -> the twin
    for layer in reversed(layers):
        copied = copy.copy(layer)
        try:
            state = {k: v for k, v in vars(layer).items() if k != "env"}
            copied.__dict__.update(copy.deepcopy(state, memo))
        except Exception as e:  # noqa: BLE001 - any copy failure: say which wrapper
            raise TypeError(f"cannot clone the {type(layer).__name__} wrapper: its state does "
                            f"not copy ({type(e).__name__}: {e})") from e
        copied.env = twin
        memo[id(layer)] = copied
        twin = copied
    return twin


class Cloneable(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The outermost wrapper of every environment registered with ``rlenvs.register``: gives
    what ``rlenvs.make`` and ``gymnasium.make`` return a ``clone()`` (Gymnasium's wrappers do
    not forward methods), which keeps every wrapper and its state (:func:`clone_env`)."""

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def clone(self) -> gym.Env:
        """An independent copy of this environment, its wrappers and its episode so far."""
        return clone_env(self)
