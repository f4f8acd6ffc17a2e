"""Environment registry: Gymnasium's own registry, plus plugin discovery by entry points.

* ``rlenvs.register(id, entry_point, **kwargs)`` registers in ``gymnasium.registry`` (so
  ``gymnasium.make(id)`` works) and remembers the id for ``list_envs``.
* Third-party packages declare an entry point in the group ``rlenvs.envs``; its value is a
  function (called with no arguments) or a module (imported) that registers their environments.
  Plugins are loaded when ``rlenvs`` is imported, so no import of the plugin is needed.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import itertools
import warnings
from importlib.metadata import entry_points
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import WrapperSpec

__all__ = ["register", "make", "list_envs", "UnknownEnvError", "load_plugins", "ENTRY_POINT_GROUP",
           "env_kwargs", "describe_env", "check_env_kwargs"]

ENTRY_POINT_GROUP = "rlenvs.envs"
# the outermost wrapper of every registered env: `make(id).clone()` (rlenvs.core.Cloneable)
_CLONEABLE = WrapperSpec(name="Cloneable", entry_point="rlenvs.core:Cloneable", kwargs={})
_REGISTERED: set[str] = set()
_PLUGINS_LOADED = False


class UnknownEnvError(KeyError):
    """No environment is registered under this id."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


def register(id: str, entry_point: Any, **kwargs: Any) -> None:
    """Register an environment (same arguments as ``gymnasium.register``).

    Re-registering an id with the same entry point is a no-op, so plugins may be loaded twice.
    The environment's outermost wrapper is ``rlenvs.core.Cloneable`` (after any
    ``additional_wrappers`` given), so ``make(id).clone()`` branches it, wrappers included.
    """
    existing = gym.registry.get(id)
    if existing is not None and existing.entry_point == entry_point:
        _REGISTERED.add(id)
        return
    wrappers = tuple(kwargs.pop("additional_wrappers", None) or ())
    if not any(w.entry_point == _CLONEABLE.entry_point for w in wrappers):
        wrappers += (_CLONEABLE,)
    gym.register(id=id, entry_point=entry_point, additional_wrappers=wrappers, **kwargs)
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


_URL_SCHEMES = ("http://", "https://", "ws://", "wss://")


def resolve_id(id: str) -> str:
    """The registered id for ``id``; ``"Arithmetic-v0"`` resolves to ``"rlenvs/Arithmetic-v0"``.
    A served environment's URL (``http://HOST:PORT/ENV-ID``) is an id as it stands; gymnasium's
    ``"module:EnvId"`` imports ``module`` first (which registers the env) and resolves
    ``EnvId``."""
    if not isinstance(id, str):
        raise TypeError(f"env id must be a str, got {type(id).__name__}")
    if id.startswith(_URL_SCHEMES) or id in gym.registry:
        return id
    if ":" in id:  # gymnasium's "module:EnvId": import the module, which registers the env
        id = _import_env_module(id)
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


def _import_env_module(id: str) -> str:
    """Import the module of a ``module:EnvId`` id (as ``gymnasium.make`` does); the env id."""
    import importlib

    module, _, env_name = id.partition(":")
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        if e.name and module.startswith(e.name):
            raise UnknownEnvError(f"{id!r}: no module named {module!r} to import (the "
                                  "module:EnvId form imports the module first)") from None
        raise
    return env_name


def make(id: str, **kwargs: Any) -> gym.Env:
    """Create an environment by id (``gymnasium.make`` underneath); kwargs go to the env.

    An ``http(s)://HOST:PORT/ENV-ID`` (or ``ws(s)://``) id connects to an environment server
    (``rlenvs serve-env`` or any OpenEnv server) and returns a ``RemoteEnv``.
    """
    if isinstance(id, str) and id.startswith(_URL_SCHEMES):
        from rlenvs.serving.client import RemoteEnv

        return RemoteEnv(id, **kwargs)
    if not _PLUGINS_LOADED:
        load_plugins()
    env_id = resolve_id(id)
    check_env_kwargs(env_id, kwargs)
    return gym.make(env_id, **kwargs)


# gymnasium.make's own keywords (not passed to the environment)
_MAKE_KEYWORDS = frozenset({"max_episode_steps", "autoreset", "apply_api_compatibility",
                            "disable_env_checker"})


def env_kwargs(id: str, include_internal: bool = False) -> dict[str, Any]:
    """The keyword arguments environment ``id`` takes, with their defaults (``inspect.Parameter
    .empty`` where required): its class's ``__init__`` and every base it forwards ``**kwargs``
    to, registered kwargs applied. Raises ``UnknownEnvError`` for an unknown id.

    A base's keyword that a subclass passes itself (``TaskEnv``'s ``source``, ``prompt``,
    ``judge``, ``required_keys``; ``ToolEnv``'s ``env``, ``tools``) is the subclass's
    internals, not a user setting, and is left out unless ``include_internal``."""
    spec = gym.registry[resolve_id(id)]
    found, _ = _signature_chain(spec.entry_point)
    found.update(spec.kwargs or {})
    if not include_internal:
        for name in _supplied_by_subclass(spec.entry_point):
            if name not in (spec.kwargs or {}):
                found.pop(name, None)
    return found


def describe_env(id: str) -> str:
    """The first paragraph of the environment's documentation (its class or module docstring)."""
    spec = gym.registry[resolve_id(id)]
    target = _load(spec.entry_point)
    doc = inspect.getdoc(target) or inspect.getdoc(inspect.getmodule(target)) or ""
    return " ".join(doc.split("\n\n")[0].split())


def check_env_kwargs(id: str, kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming each keyword ``id`` does not take, with the closest it does."""
    spec = gym.registry[resolve_id(id)]
    known, open_ended = _signature_chain(spec.entry_point)
    if not open_ended:
        _refuse_unknown(spec.id, known, kwargs, _supplied_by_subclass(spec.entry_point))


def check_class_kwargs(cls: type, kwargs: dict[str, Any]) -> None:
    """Raise ``TypeError`` naming each keyword environment class ``cls`` does not take, with the
    closest it does: the same message as :func:`check_env_kwargs`, for ``gymnasium.make`` and
    direct construction (called by ``LLMEnv.__new__``), instead of Python's bare "unexpected
    keyword argument"."""
    known, open_ended = _class_signature(cls)
    if not open_ended:
        _refuse_unknown(cls.__name__, known, kwargs, _supplied_by_subclass(cls))


@functools.cache
def _class_signature(cls: type) -> tuple[dict[str, Any], bool]:
    return _signature_chain(cls)


def _refuse_unknown(name: str, known: dict[str, Any], kwargs: dict[str, Any],
                    internal: frozenset[str] = frozenset()) -> None:
    settable = [k for k in known if k not in internal]
    unknown = [k for k in kwargs if (k not in known or k in internal) and k not in _MAKE_KEYWORDS]
    if not unknown:
        return
    hints = []
    for key in unknown:
        if key in internal:
            hints.append(f"{key!r} (set by the environment itself)")
            continue
        close = difflib.get_close_matches(key, settable, n=1, cutoff=0.6)
        hints.append(f"{key!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise TypeError(f"{name} does not take {', '.join(hints)}; it takes: "
                    f"{', '.join(sorted(settable))} (`rlenvs list --details` lists each env's)")


@functools.cache
def _supplied_by_subclass(entry_point: Any) -> frozenset[str]:
    """Keywords of a base's ``__init__`` that a class along the forwarding chain passes itself
    in its ``super().__init__(...)`` call (by name or position), and does not take itself: a
    user passing one gets "multiple values", so they are internals, not settings. Read from
    the source; a class whose source cannot be read hides nothing."""
    import ast
    import textwrap

    target = _load(entry_point)
    if not inspect.isclass(target):
        return frozenset()
    inits = [c.__init__ for c in inspect.getmro(target) if "__init__" in vars(c)]
    supplied: set[str] = set()
    own: set[str] = set()  # keywords the classes so far (most derived first) take themselves
    for fn, base_fn in itertools.pairwise(inits):
        try:
            params = inspect.signature(fn).parameters
            base_params = [p for p in inspect.signature(base_fn).parameters.values()
                           if p.name != "self"]
            tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        except (TypeError, ValueError, OSError, SyntaxError):
            break
        own.update(n for n, p in params.items() if p.kind is not p.VAR_KEYWORD)
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            break
        here: set[str] = set()
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "__init__" and isinstance(node.func.value, ast.Call)
                    and isinstance(node.func.value.func, ast.Name)
                    and node.func.value.func.id == "super"):
                here.update(k.arg for k in node.keywords if k.arg)
                positional = [p.name for p in base_params
                              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
                n_pos = sum(1 for a in node.args if not isinstance(a, ast.Starred))
                here.update(positional[:n_pos])
        supplied |= here - own  # a name this class or a subclass takes itself stays a setting
    return frozenset(supplied)


def _load(entry_point: Any) -> Any:
    if isinstance(entry_point, str):
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(entry_point)
    return entry_point


def _signature_chain(entry_point: Any) -> tuple[dict[str, Any], bool]:
    """Keyword names -> defaults along the ``**kwargs`` forwarding chain; and whether the chain
    ends open (some callable swallows unknown keywords, so nothing can be checked)."""
    target = _load(entry_point)
    callables = [c.__init__ for c in inspect.getmro(target) if "__init__" in vars(c)] \
        if inspect.isclass(target) else [target]
    found: dict[str, Any] = {}
    for fn in callables:
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            return found, True
        forwards = False
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                forwards = True
            elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
                found.setdefault(p.name, p.default)
        if not forwards:
            return found, False
    return found, True


def _text_has_no_shared_memory() -> None:
    """``gymnasium.make_vec(id, vectorization_mode="async")`` defaults to shared memory, which
    holds fixed-size arrays, not conversations; say what works instead of Gymnasium's generic
    "no registered create_shared_memory function"."""
    from gymnasium.error import CustomSpaceError
    from gymnasium.vector.utils import create_shared_memory

    from rlenvs.spaces import ChatMessages, UnicodeText

    def refuse(space: Any, n: int = 1, ctx: Any = None) -> Any:
        raise CustomSpaceError(
            f"{type(space).__name__} observations are text, which does not fit shared memory: "
            "use gymnasium.make_vec(id, num_envs, vectorization_mode='async', "
            "vector_kwargs={'shared_memory': False}), or rlenvs.vector.TextVectorEnv(id, num_envs)")

    for space in (ChatMessages, UnicodeText):
        create_shared_memory.register(space)(refuse)


_text_has_no_shared_memory()


def _gymnasium_make_takes_urls() -> None:
    """``gymnasium.make("http://HOST:PORT/ENV-ID")`` works as ``rlenvs.make`` does. Gymnasium
    splits a string id at ``:`` (its ``module:EnvId`` form), so a URL failed inside it with
    "too many values to unpack"; its id lookup now registers a URL (``register_remote``) and
    returns that spec, and hands every other id to Gymnasium's own lookup unchanged."""
    import functools

    from gymnasium.envs import registration as gym_registration

    find_spec = getattr(gym_registration, "_find_spec", None)
    if find_spec is None or getattr(find_spec, "rlenvs_takes_urls", False):
        return

    @functools.wraps(find_spec)
    def find_spec_or_url(env_id: str) -> Any:
        if isinstance(env_id, str) and env_id.startswith(_URL_SCHEMES):
            from rlenvs.serving.client import register_remote

            return gym.registry[register_remote(env_id)]
        return find_spec(env_id)

    find_spec_or_url.rlenvs_takes_urls = True  # type: ignore[attr-defined]
    gym_registration._find_spec = find_spec_or_url


_gymnasium_make_takes_urls()
