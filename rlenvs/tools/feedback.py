"""``UnaryFeedbackEnv`` (UFO): turn a single-turn task env into a multi-attempt one.

After a wrong answer the environment only says that it is wrong ("unary" feedback: no hint) and
asks for another attempt, up to ``max_attempts``. A correct answer at attempt ``k`` earns
``schedule(verdict) * gamma ** (k - 1)`` and ends the episode; a wrong answer earns 0, or
``-repeat_penalty`` when it repeats an earlier answer (compared after normalisation: the judge's
extracted answer if any, else the last ``\\boxed{}`` of the reply as a reader sees it
(:func:`rlenvs.tools.answers.reply_view`), else that whole view; NFKC, whitespace collapsed,
so a disguised repeat -- full-width digits, a zero-width space -- is still a repeat). The last wrong attempt
ends the episode (terminated, failing verdict).

Each attempt is judged on a fresh clone of the wrapped env at its reset state, so the wrapped
env never advances and cloning this env stays cheap.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import gymnasium as gym
import numpy as np

from judges import Verdict
from rlenvs.core import LLMEnv, Turn
from rlenvs.tools.answers import reply_view
from rlenvs.tools.parsing import last_boxed

__all__ = ["UnaryFeedbackEnv", "TRY_AGAIN"]

TRY_AGAIN = "Your answer is incorrect. Please try again."


class UnaryFeedbackEnv(LLMEnv):
    """Multi-attempt wrapper with unary feedback.

    Args:
        env: a single-turn ``LLMEnv`` (or a gym wrapper around one); any id for ``make``.
        max_attempts: replies allowed (``K``).
        gamma: reward discount per extra attempt.
        repeat_penalty: subtracted when a wrong answer repeats an earlier one.
        feedback: the message after a wrong answer.
        **kwargs: ``LLMEnv`` options (``reward``...).
    """

    def __init__(
        self,
        env: LLMEnv | gym.Env | str = "rlenvs/Arithmetic-v0",
        max_attempts: int = 3,
        gamma: float = 0.8,
        repeat_penalty: float = 0.0,
        feedback: str = TRY_AGAIN,
        env_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not 0.0 <= gamma <= 1.0:
            raise ValueError("gamma must be in [0, 1]")
        super().__init__(max_turns=max_attempts, **kwargs)
        if isinstance(env, str):
            from rlenvs.registration import make

            env = make(env, **(env_kwargs or {}))
        elif env_kwargs:
            raise ValueError("env_kwargs apply to an env given by id, not to an env instance")
        inner = env.unwrapped if isinstance(env, gym.Env) else env
        if not isinstance(inner, LLMEnv):
            raise TypeError(f"UnaryFeedbackEnv wraps an rlenvs LLMEnv, got {type(inner).__name__}")
        self.inner = inner
        self.max_attempts = max_attempts
        self.gamma = gamma
        self.repeat_penalty = repeat_penalty
        self.feedback_text = feedback

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return self.inner.sample_task(rng)

    def validate_task(self, task: Any) -> dict[str, Any]:
        return self.inner.validate_task(task)

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        messages, _ = self.inner.reset(options={"task": task})
        return messages

    def on_reset(self) -> None:
        self.episode.extra["answers"] = []

    def respond(self, reply: str) -> Turn:
        attempt = self.episode.turn
        probe = self.inner.clone()
        _, _, _, _, info = probe.step(reply)
        verdict: Verdict = info["verdict"]
        components = dict(info.get("reward_components") or {"score": verdict.score})
        view = reply_view(reply) or reply
        extracted = verdict.details.get("extracted")
        boxed = extracted if isinstance(extracted, str) and extracted.strip() else last_boxed(view)
        key = " ".join(unicodedata.normalize("NFKC", boxed if boxed is not None else view).split())
        answers: list[str] = self.episode.extra["answers"]
        repeated = key in answers
        answers.append(key)
        out_info = {"attempt": attempt, "repeated_answer": repeated}
        if verdict.passed:
            reward = self.reward_schedule(verdict, reply) * self.gamma ** (attempt - 1)
            return Turn(verdict=verdict, terminated=True, reward=reward,
                        reward_components=components, info=out_info)
        reward = -self.repeat_penalty if repeated else 0.0
        last = attempt >= self.max_attempts
        return Turn(
            verdict=verdict,
            terminated=last,
            feedback=[] if last else [{"role": "user", "content": self.feedback_text}],
            reward=reward,
            reward_components=components,
            info=out_info,
        )

    def state_extra(self) -> Any:
        """The earlier answers when a repeat is penalised (they change future rewards); without
        a penalty every wrong attempt leads to the same state (for :meth:`state_key`)."""
        return {"answers": self.episode.extra["answers"]} if self.repeat_penalty else None

    def _clone_into(self, twin: LLMEnv) -> None:
        assert isinstance(twin, UnaryFeedbackEnv)
        twin.inner = self.inner.clone()
