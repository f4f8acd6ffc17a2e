"""Environment registry: Gymnasium's own registry, plus plugin discovery by entry points.

* ``rlenvs.register(id, entry_point, **kwargs)`` registers in ``gymnasium.registry`` (so
  ``gymnasium.make(id)`` works) and remembers the id for ``list_envs``.
* Third-party packages declare an entry point in the group ``rlenvs.envs``; its value is a
  function (called with no arguments) or a module (imported) that registers their environments.
  Plugins are loaded when ``rlenvs`` is imported, so no import of the plugin is needed.
"""

from __future__ import annotations

import difflib
import warnings
from importlib.metadata import entry_points
from typing import Any

import gymnasium as gym

__all__ = ["register", "make", "list_envs", "UnknownEnvError", "load_plugins", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "rlenvs.envs"
_REGISTERED: set[str] = set()
_PLUGINS_LOADED = False


class UnknownEnvError(KeyError):
    """No environment is registered under this id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def register(id: str, entry_point: Any, **kwargs: Any) -> None:
    """Register an environment (same arguments as ``gymnasium.register``).

    Re-registering an id with the same entry point is a no-op, so plugins may be loaded twice.
    """
    existing = gym.registry.get(id)
    if existing is not None and existing.entry_point == entry_point:
        _REGISTERED.add(id)
        return
    gym.register(id=id, entry_point=entry_point, **kwargs)
    _REGISTERED.add(id)


def load_plugins() -> list[str]:
    """Load every ``rlenvs.envs`` entry point; returns the names loaded.

    A plugin that fails to load is reported as a warning naming it; it never breaks
    ``import rlenvs``.
    """
    global _PLUGINS_LOADED
    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            if callable(obj):
                obj()
            loaded.append(ep.name)
        except Exception as e:  # noqa: BLE001 - a broken plugin must not break the library
            warnings.warn(
                f"rlenvs plugin {ep.name!r} ({ep.value}) failed to load: {e!r}",
                RuntimeWarning,
                stacklevel=2,
            )
    _PLUGINS_LOADED = True
    return loaded


def list_envs() -> list[str]:
    """Ids of all rlenvs environments, built-in and from plugins, sorted."""
    if not _PLUGINS_LOADED:
        load_plugins()
    ids = {i for i in _REGISTERED if i in gym.registry}
    ids |= {i for i, spec in gym.registry.items() if spec.namespace == "rlenvs"}
    return sorted(ids)


def resolve_id(id: str) -> str:
    """The registered id for ``id``; ``"Arithmetic-v0"`` resolves to ``"rlenvs/Arithmetic-v0"``."""
    if not isinstance(id, str):
        raise TypeError(f"env id must be a str, got {type(id).__name__}")
    if id in gym.registry:
        return id
    if f"rlenvs/{id}" in gym.registry:
        return f"rlenvs/{id}"
    known = list_envs() or sorted(gym.registry)
    close = difflib.get_close_matches(id, known, n=5, cutoff=0.4)
    if not close:
        close = difflib.get_close_matches(id.split("/")[-1], [k.split("/")[-1] for k in known])
        close = [k for k in known if k.split("/")[-1] in close]
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise UnknownEnvError(
        f"no environment registered as {id!r}.{hint} Run `rlenvs list` to see all ids."
    )


def make(id: str, **kwargs: Any) -> gym.Env:
    """Create an environment by id (``gymnasium.make`` underneath); kwargs go to the env.

    An ``http(s)://HOST:PORT/ENV-ID`` (or ``ws(s)://``) id connects to an environment server
    (``rlenvs serve-env`` or any OpenEnv server) and returns a ``RemoteEnv``.
    """
    if isinstance(id, str) and id.startswith(("http://", "https://", "ws://", "wss://")):
        from rlenvs.serving.client import RemoteEnv

        return RemoteEnv(id, **kwargs)
    if not _PLUGINS_LOADED:
        load_plugins()
    return gym.make(resolve_id(id), **kwargs)
