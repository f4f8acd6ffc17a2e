"""``RayTextVectorEnv``: the ``TextVectorEnv`` API with sub-environments as Ray actors.

The same code runs on a laptop (local Ray) and on a cluster (``ray.init(address=...)`` before
creating it). Semantics match ``rlenvs.vector.TextVectorEnv`` (observations as a tuple of
conversations, ``infos`` as a list, Gymnasium's autoreset modes; an exception raised by an
environment surfaces as ``VectorEnvWorkerError`` naming env id and seed), with one addition:

**Actor failure recovery.** When an actor *dies* (node lost, process killed, out of memory), it
is replaced by a fresh actor and its episode is reported, never silently lost: that env's
step returns ``truncated=True``, reward 0 as a placeholder, the new episode's first
observation, and an unscored ``info`` (a fault is not a reward): ``infos[i]["reward_status"] ==
"unscored"``, ``["reward_cause"] == "env"``, an unscored ``verdict`` and
``infos[i]["actor_failure"] = {"env_id", "seed", "error", "lost_episode_turns"}`` (under
``SAME_STEP`` autoreset also as ``final_info``). After ``max_restarts`` replacements of one
slot, the failure is raised instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Tuple as TupleSpace
from gymnasium.vector import AutoresetMode, VectorEnv

from rlenvs.vector import (
    VectorEnvWorkerError,
    _vector_id,
    check_actions,
    fault_info,
    same_step_info,
    seeds_for,
)

__all__ = ["RayTextVectorEnv"]


class _EnvActor:
    """One environment inside a Ray actor."""

    def __init__(self, spec: Any, kwargs: dict[str, Any]):
        import rlenvs  # noqa: F401 - registers built-in and plugin envs

        self.env = gym.make(spec, **kwargs)
        self.turns = 0

    def reset(self, seed: int | None, options: dict[str, Any] | None) -> Any:
        self.turns = 0
        return self.env.reset(seed=seed, options=options)

    def step(self, action: str) -> Any:
        self.turns += 1
        return self.env.step(action)

    def pid(self) -> int:
        import os

        return os.getpid()


class RayTextVectorEnv(VectorEnv):
    """Sub-environments as Ray actors (see the module docstring).

    Args:
        env_ids: one id (repeated ``num_envs`` times) or a list of ids.
        num_envs: number of sub-environments when ``env_ids`` is one id.
        env_kwargs: keyword arguments for every sub-environment.
        autoreset_mode: as in ``TextVectorEnv``.
        max_restarts: replacements allowed per slot before a death is raised.
        actor_options: passed to ``ray.remote`` (``num_cpus``, ``resources``...).
        ray_init: ``ray.init`` arguments used when Ray is not running yet.
    """

    def __init__(
        self,
        env_ids: str | Sequence[str],
        num_envs: int | None = None,
        env_kwargs: dict[str, Any] | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        max_restarts: int = 3,
        actor_options: dict[str, Any] | None = None,
        ray_init: dict[str, Any] | None = None,
    ) -> None:
        import rlenvs
        from judges.remote import ensure_ray

        if isinstance(env_ids, str):
            env_ids = [env_ids] * (num_envs or 1)
        self._ray = ray = ensure_ray(ray_init, "RayTextVectorEnv")
        self.env_ids = [_vector_id(i) for i in env_ids]  # a served env's URL is an id too
        self.num_envs = len(self.env_ids)
        self.env_kwargs = dict(env_kwargs or {})
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode}
        self.max_restarts = max_restarts
        self._actor_cls = ray.remote(**{"num_cpus": 0, "max_restarts": 0,
                                        **(actor_options or {})})(_EnvActor)
        self._actors = [self._new_actor(i) for i in range(self.num_envs)]
        self._seeds: list[int | None] = [None] * self.num_envs
        self._restarts = [0] * self.num_envs
        self._turns = [0] * self.num_envs  # steps of each slot's current episode
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._closed = False
        probe = rlenvs.make(self.env_ids[0], **self.env_kwargs)
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        probe.close()
        self.observation_space = TupleSpace([self.single_observation_space] * self.num_envs)
        self.action_space = TupleSpace([self.single_action_space] * self.num_envs)

    def _new_actor(self, i: int) -> Any:
        return self._actor_cls.remote(gym.spec(self.env_ids[i]), self.env_kwargs)

    def _get(self, i: int, ref: Any, what: str) -> tuple[str, Any]:
        """``("ok", value)`` or ``("died", message)``; env exceptions raise."""
        ray = self._ray
        try:
            return "ok", ray.get(ref)
        except ray.exceptions.RayActorError as e:
            return "died", f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        except ray.exceptions.RayTaskError as e:
            self.close()
            raise VectorEnvWorkerError(
                f"sub-environment {i} ({self.env_ids[i]}, seed {self._seeds[i]}) failed during "
                f"{what}: {e.cause!r}" if getattr(e, "cause", None) else str(e)
            ) from None

    def _replace(self, i: int, error: str) -> None:
        self._restarts[i] += 1
        if self._restarts[i] > self.max_restarts:
            self.close()
            raise VectorEnvWorkerError(
                f"sub-environment {i} ({self.env_ids[i]}, seed {self._seeds[i]}): actor died "
                f"{self._restarts[i]} times, over max_restarts={self.max_restarts}: {error}"
            )
        self._actors[i] = self._new_actor(i)

    def reset(self, *, seed: int | Sequence[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[tuple[list, ...], list[dict]]:
        self._check_open()
        seeds = seeds_for(seed, self.num_envs)
        self._seeds = seeds
        self._turns = [0] * self.num_envs
        refs = [a.reset.remote(s, options) for a, s in zip(self._actors, seeds, strict=True)]
        results = []
        for i, ref in enumerate(refs):
            status, value = self._get(i, ref, "reset")
            while status == "died":
                self._replace(i, value)
                status, value = self._get(i, self._actors[i].reset.remote(seeds[i], options),
                                          "reset")
            results.append(value)
        self._needs_reset[:] = False
        return tuple(r[0] for r in results), [r[1] for r in results]

    def step(self, actions: Sequence[str]) -> tuple[tuple[list, ...], np.ndarray, np.ndarray,
                                                     np.ndarray, list[dict[str, Any]]]:
        self._check_open()
        check_actions(actions, self.num_envs)
        next_step = self.autoreset_mode == AutoresetMode.NEXT_STEP
        resetting = self._needs_reset.copy() if next_step else np.zeros(self.num_envs, bool)
        refs = []
        for i, (actor, action) in enumerate(zip(self._actors, actions, strict=True)):
            if resetting[i]:
                self._seeds[i] = None
                refs.append(actor.reset.remote(None, None))
            else:
                refs.append(actor.step.remote(action))
        obs: list[Any] = [None] * self.num_envs
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, ref in enumerate(refs):
            status, value = self._get(i, ref, "step")
            if status == "died":
                failure = {"env_id": self.env_ids[i], "seed": self._seeds[i], "error": value,
                           "lost_episode_turns": self._turns[i]}
                lost = fault_info("env", f"the env actor died mid-episode ({value})",
                                  actor_failure=failure, truncated_reason="env actor died")
                self._replace(i, value)
                self._seeds[i], self._turns[i] = None, 0
                o, info = self._get(i, self._actors[i].reset.remote(None, None), "reset")[1]
                infos[i] = {**info, **lost}
                if not next_step:
                    infos[i]["final_info"] = lost
                obs[i], truncated[i] = o, True
                self._needs_reset[i] = False
                continue
            if resetting[i]:
                obs[i], infos[i] = value
                self._needs_reset[i], self._turns[i] = False, 0
                continue
            self._turns[i] += 1
            o, r, term, trunc, info = value
            obs[i], rewards[i], terminated[i], truncated[i], infos[i] = o, r, term, trunc, info
            if term or trunc:
                if next_step:
                    self._needs_reset[i] = True
                elif self.autoreset_mode == AutoresetMode.SAME_STEP:
                    self._seeds[i] = None
                    new_obs, new_info = self._get(
                        i, self._actors[i].reset.remote(None, None), "autoreset")[1]
                    obs[i], infos[i] = new_obs, same_step_info(new_info, o, info)
                    self._turns[i] = 0
        return tuple(obs), rewards, terminated, truncated, infos

    def actor_pids(self) -> list[int]:
        """Process ids of the actors (for tests and debugging)."""
        return self._ray.get([a.pid.remote() for a in self._actors])

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this RayTextVectorEnv is closed; create a new one")

    def close(self, **kwargs: Any) -> None:
        if self._closed:
            return
        self._closed = True
        for actor in self._actors:
            try:
                self._ray.kill(actor)
            except Exception:  # noqa: BLE001 - already dead
                pass
