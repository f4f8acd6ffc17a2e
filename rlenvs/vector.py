"""Step a batch of text environments in parallel worker processes.

``TextVectorEnv`` follows Gymnasium's ``VectorEnv`` API (``reset``/``step``/``close``,
``num_envs``, ``single_observation_space``...) with two differences that text needs:
observations are a tuple of conversations (no numpy batching of text) and ``infos`` is a list of
per-env dicts (a ``Verdict`` does not stack into an array).

Autoreset (``autoreset_mode``), as in Gymnasium:

* ``NEXT_STEP`` (default): the step after an episode ends resets that env; the action given for
  it is ignored and its reward is 0.
* ``SAME_STEP``: an env that ends is reset within the same ``step``; the returned observation is
  the new episode's first one and ``infos[i]["final_obs"]`` / ``["final_info"]`` hold the last.
* ``DISABLED``: nothing is reset; stepping an ended env raises (call ``reset``).

A worker that raises or dies surfaces as ``VectorEnvWorkerError`` naming the env index, id and
seed; all workers are then shut down.

Faults are not rewards: each step's ``infos[i]`` carries the env's ``reward_status`` (and
``reward_cause`` when unscored) as the env wrote it; after a ``SAME_STEP`` autoreset they stay at
the top of ``infos[i]`` too (they describe the reward returned with that step), besides
``final_info``.
"""

from __future__ import annotations

import multiprocessing as mp
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.spaces import Tuple as TupleSpace
from gymnasium.vector import AutoresetMode, VectorEnv

__all__ = ["TextVectorEnv", "VectorEnvWorkerError", "AutoresetMode", "same_step_info",
           "fault_info"]

REWARD_STATUS_KEYS = ("reward_status", "reward_cause")


class VectorEnvWorkerError(RuntimeError):
    """A sub-environment failed; the message names its index, env id and seed."""


def _worker(conn: Any, make_env: Callable[[], gym.Env]) -> None:
    env = None
    try:
        env = make_env()
        conn.send(("ok", None))
        while True:
            cmd, payload = conn.recv()
            if cmd == "reset":
                result = env.reset(**payload)
            elif cmd == "step":
                result = env.step(payload)
            elif cmd == "close":
                conn.send(("ok", None))
                break
            else:
                raise ValueError(f"unknown command {cmd!r}")
            conn.send(("ok", result))
    except (EOFError, KeyboardInterrupt):
        pass
    except BaseException as e:  # noqa: BLE001 - everything is reported to the parent
        try:
            conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
        except Exception:  # noqa: BLE001
            pass
    finally:
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001
                pass
        conn.close()


def same_step_info(new_info: dict[str, Any], final_obs: Any,
                   final_info: dict[str, Any]) -> dict[str, Any]:
    """``infos[i]`` of a same-step autoreset: the new episode's reset info, the ended episode's
    last observation and info under ``final_obs``/``final_info``, and that last step's
    ``reward_status``/``reward_cause`` at the top (they describe the reward returned now)."""
    out = {**new_info, "final_obs": final_obs, "final_info": final_info}
    out.update({k: final_info[k] for k in REWARD_STATUS_KEYS if k in final_info})
    return out


def fault_info(cause: str, reason: str, **extra: Any) -> dict[str, Any]:
    """The ``info`` of a step that a fault ended (an actor or server died): an unscored verdict
    with ``cause`` (one of ``judges.verdict.CAUSES``), and ``extra`` keys (what failed)."""
    from judges.verdict import UNSCORED, Verdict

    return {"verdict": Verdict.unscored(f"unscored: {reason}", cause), "reward_status": UNSCORED,
            "reward_cause": cause, "reward_components": {}, **extra}


def seeds_for(seed: int | Sequence[int | None] | None, num_envs: int) -> list[int | None]:
    """Per-env seeds: ``seed + i`` for an int, the list itself (checked), or all ``None``."""
    if seed is None or isinstance(seed, int):
        return [None if seed is None else seed + i for i in range(num_envs)]
    seeds = list(seed)
    if len(seeds) != num_envs:
        raise ValueError(f"need {num_envs} seeds, got {len(seeds)}")
    return seeds


def check_actions(actions: Sequence[str], num_envs: int) -> None:
    """Reject a batch of actions that is not ``num_envs`` strings, naming the bad one."""
    if isinstance(actions, str) or len(actions) != num_envs:
        raise ValueError(f"step() needs a sequence of {num_envs} reply strings")
    for i, action in enumerate(actions):
        if not isinstance(action, str):
            raise TypeError(f"action {i} must be a str, got {type(action).__name__}")


GUARD_HELP = ("its worker processes start with 'spawn', which runs the script again in each "
              "worker; create the vector env under `if __name__ == \"__main__\":` (README: "
              "vector environments)")


def check_main_guard() -> None:
    """Refuse, before any worker starts, a ``TextVectorEnv`` made at the top level of a script
    (outside ``if __name__ == "__main__":``): every spawned worker would run the script again,
    and die with multiprocessing's bootstrapping error. In a worker doing exactly that, say so."""
    import ast
    import inspect
    import sys

    if getattr(mp.current_process(), "_inheriting", False):
        raise RuntimeError(f"a TextVectorEnv was created while a worker started: {GUARD_HELP}")
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    frame = inspect.currentframe()
    while frame is not None and not (frame.f_globals is getattr(main, "__dict__", None)
                                     and frame.f_code.co_name == "<module>"):
        frame = frame.f_back
    if frame is None or not path or not str(path).endswith(".py"):
        return  # not called from a script's top-level code (a function, a REPL, a notebook)
    line = frame.f_lineno
    try:
        tree = ast.parse(open(path, encoding="utf-8").read())  # noqa: SIM115
    except (OSError, SyntaxError, ValueError):
        return
    for node in tree.body:
        if isinstance(node, ast.If) and _is_main_test(node.test) and \
                node.lineno <= line <= (node.end_lineno or node.lineno):
            return
    raise RuntimeError(f"{path}:{line} creates a TextVectorEnv at the top level of the script; "
                       f"{GUARD_HELP}")


def _is_main_test(test: Any) -> bool:
    import ast

    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and
            isinstance(test.ops[0], ast.Eq)):
        return False
    sides = [test.left, test.comparators[0]]
    names = [s.id for s in sides if isinstance(s, ast.Name)]
    values = [s.value for s in sides if isinstance(s, ast.Constant)]
    return names == ["__name__"] and values == ["__main__"]


def _vector_id(env_id: str) -> str:
    """A registered id for ``env_id``; an ``http(s)://`` URL of a served env is registered."""
    import rlenvs

    if env_id.startswith(("http://", "https://")):
        from rlenvs.serving import register_remote

        return register_remote(env_id)
    return rlenvs.registration.resolve_id(env_id)


class _MakeEnv:
    """Picklable env factory carrying the registry entry, so workers need no registration."""

    def __init__(self, env_id: str, kwargs: dict[str, Any]):
        self.spec, self.kwargs = gym.spec(env_id), kwargs

    def __call__(self) -> gym.Env:
        import rlenvs  # noqa: F401 - registers built-in and plugin envs

        return gym.make(self.spec, **self.kwargs)


class TextVectorEnv(VectorEnv):
    """``num_envs`` copies of an environment (or one per id), each in its own process.

    Args:
        env_ids: one id (repeated ``num_envs`` times) or a list of ids (heterogeneous batch);
            an ``http(s)://`` URL of a served env (``rlenvs serve-env``) is an id too.
        num_envs: number of sub-environments when ``env_ids`` is a single id.
        env_kwargs: keyword arguments for every sub-environment.
        autoreset_mode: see the module docstring.
        context: multiprocessing start method (``"spawn"`` is safe with torch loaded; a script
            must then create the vector env under ``if __name__ == "__main__":``, which is
            checked before any worker starts).
        timeout_s: seconds to wait for a worker's answer before declaring it hung.
    """

    def __init__(
        self,
        env_ids: str | Sequence[str],
        num_envs: int | None = None,
        env_kwargs: dict[str, Any] | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        context: str = "spawn",
        timeout_s: float = 600.0,
    ) -> None:
        if isinstance(env_ids, str):
            env_ids = [env_ids] * (num_envs or 1)
        elif num_envs is not None and num_envs != len(env_ids):
            raise ValueError("num_envs disagrees with the number of env ids given")
        import rlenvs

        if context in ("spawn", "forkserver"):
            check_main_guard()
        self.env_ids = [_vector_id(i) for i in env_ids]
        self.num_envs = len(self.env_ids)
        self.autoreset_mode = AutoresetMode(autoreset_mode)
        self.metadata = {"autoreset_mode": self.autoreset_mode}
        self.timeout_s = timeout_s
        self._seeds: list[int | None] = [None] * self.num_envs
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)
        self._closed = False
        ctx = mp.get_context(context)
        self._conns = []
        self._procs = []
        for env_id in self.env_ids:
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_worker, args=(child, _MakeEnv(env_id, dict(env_kwargs or {}))), daemon=True
            )
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._collect("start")
        probe = rlenvs.make(self.env_ids[0], **(env_kwargs or {}))
        self.single_observation_space = probe.observation_space
        self.single_action_space = probe.action_space
        probe.close()
        self.observation_space = TupleSpace([self.single_observation_space] * self.num_envs)
        self.action_space = TupleSpace([self.single_action_space] * self.num_envs)

    # ----------------------------------------------------------------- plumbing
    def _collect(self, what: str, indices: Sequence[int] | None = None) -> list[Any]:
        indices = range(self.num_envs) if indices is None else indices
        results = []
        for i in indices:
            conn, proc = self._conns[i], self._procs[i]
            status, payload = "error", None
            try:
                if conn.poll(self.timeout_s):
                    status, payload = conn.recv()
                else:
                    payload = f"no answer within {self.timeout_s} s"
            except (EOFError, OSError):
                proc.join(1)
                payload = f"worker process died (exit code {proc.exitcode})"
            if status != "ok":
                self._fail(i, what, str(payload))
            results.append(payload)
        return results

    def _fail(self, i: int, what: str, detail: str) -> None:
        self.close(terminate=True)
        raise VectorEnvWorkerError(
            f"sub-environment {i} ({self.env_ids[i]}, seed {self._seeds[i]}) failed during "
            f"{what}: {detail}"
        )

    def _send(self, i: int, cmd: str, payload: Any) -> None:
        try:
            self._conns[i].send((cmd, payload))
        except (BrokenPipeError, OSError):
            self._procs[i].join(1)
            self._fail(i, cmd, f"worker process died (exit code {self._procs[i].exitcode})")

    # ----------------------------------------------------------------- API
    def reset(
        self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[tuple[list, ...], list[dict[str, Any]]]:
        self._check_open()
        seeds = seeds_for(seed, self.num_envs)
        for i, s in enumerate(seeds):
            self._seeds[i] = s
            self._send(i, "reset", {"seed": s, "options": options})
        results = self._collect("reset")
        self._needs_reset[:] = False
        return tuple(r[0] for r in results), [r[1] for r in results]

    def step(
        self, actions: Sequence[str]
    ) -> tuple[tuple[list, ...], np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        self._check_open()
        check_actions(actions, self.num_envs)
        resetting = self._needs_reset.copy()
        for i, action in enumerate(actions):
            if resetting[i] and self.autoreset_mode == AutoresetMode.NEXT_STEP:
                self._seeds[i] = None
                self._send(i, "reset", {"seed": None, "options": None})
            else:
                self._send(i, "step", action)
        results = self._collect("step")
        obs, infos = [], []
        rewards = np.zeros(self.num_envs, dtype=np.float64)
        terminated = np.zeros(self.num_envs, dtype=bool)
        truncated = np.zeros(self.num_envs, dtype=bool)
        for i, result in enumerate(results):
            if resetting[i] and self.autoreset_mode == AutoresetMode.NEXT_STEP:
                o, info = result
                obs.append(o)
                infos.append(info)
                self._needs_reset[i] = False
                continue
            o, r, term, trunc, info = result
            rewards[i], terminated[i], truncated[i] = r, term, trunc
            obs.append(o)
            infos.append(info)
            if term or trunc:
                if self.autoreset_mode == AutoresetMode.NEXT_STEP:
                    self._needs_reset[i] = True
                elif self.autoreset_mode == AutoresetMode.SAME_STEP:
                    self._seeds[i] = None
                    self._send(i, "reset", {"seed": None, "options": None})
                    new_obs, new_info = self._collect("autoreset", [i])[0]
                    infos[i] = same_step_info(new_info, o, info)
                    obs[i] = new_obs
        return tuple(obs), rewards, terminated, truncated, infos

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this TextVectorEnv is closed; create a new one")

    def close(self, terminate: bool = False, **kwargs: Any) -> None:
        if self._closed:
            return
        self._closed = True
        for conn, proc in zip(self._conns, self._procs, strict=True):
            if not terminate and proc.is_alive():
                try:
                    conn.send(("close", None))
                except (BrokenPipeError, OSError):
                    pass
        for conn, proc in zip(self._conns, self._procs, strict=True):
            proc.join(0 if terminate else 5)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
            if proc.is_alive():
                proc.kill()
                proc.join()
            conn.close()

    def __del__(self) -> None:
        try:
            self.close(terminate=True)
        except Exception:  # noqa: BLE001
            pass
