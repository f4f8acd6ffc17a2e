"""Named evaluation suites (``rlenvs eval --suite NAME|FILE``): a set of environments, each with
its own kwargs and number of episodes.

Built in: ``math``, ``code``, ``tools``, ``instruction``, ``reasoning-gym-sample``. A user suite
is a TOML file (or YAML when PyYAML is installed) of the same shape::

    name = "my-suite"              # optional (default: the file's stem)
    description = "..."            # optional

    [[env]]
    id = "rlenvs/Arithmetic-v0"    # any id `rlenvs eval` takes (or "module:Id")
    episodes = 10                  # optional (default 20, or --episodes)
    name = "arith-l2"              # optional: the transcript file's stem (default: from id)
    kwargs = { level = 2 }         # optional env kwargs

``run_suite`` writes one transcript file per env into a folder (``NAME.jsonl`` and its
``.summary.json``, as ``rlenvs eval --out`` does) and ``summary.json`` with every env's numbers
(keyed by the entry's name), which ``rlenvs view`` and ``rlenvs compare`` read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["SuiteEntry", "Suite", "BUILTIN_SUITES", "SuiteError", "load_suite", "parse_suite",
           "run_suite", "DEFAULT_EPISODES"]

DEFAULT_EPISODES = 20


class SuiteError(ValueError):
    """An unknown suite name or a malformed suite file (one line saying what and where)."""


@dataclass(frozen=True)
class SuiteEntry:
    """One environment of a suite: its id, kwargs, episodes and the name its files get."""

    env_id: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    episodes: int | None = None  # None: the run's default (--episodes, else 20)
    name: str = ""

    def label(self) -> str:
        return self.name or _default_name(self.env_id, self.kwargs)


@dataclass(frozen=True)
class Suite:
    name: str
    entries: tuple[SuiteEntry, ...]
    description: str = ""


def _default_name(env_id: str, kwargs: dict[str, Any]) -> str:
    base = env_id.split(":")[-1].split("/")[-1]
    for key in ("dataset", "category", "game"):
        if isinstance(kwargs.get(key), str):
            base += f"-{kwargs[key]}"
    return re.sub(r"[^A-Za-z0-9_.=-]+", "_", base)


def _rg(dataset: str) -> SuiteEntry:
    return SuiteEntry("rlenvs/ReasoningGym-v0", {"dataset": dataset}, 10)


BUILTIN_SUITES: dict[str, Suite] = {
    "math": Suite("math", (
        SuiteEntry("rlenvs/Arithmetic-v0", {}, 20),
        SuiteEntry("rlenvs/Math-v0", {"level": 1}, 20),
        SuiteEntry("rlenvs/GSM8K-v0", {}, 20),
    ), "arithmetic, reasoning-gym math generators, GSM8K (shipped sample offline)"),
    "code": Suite("code", (
        SuiteEntry("rlenvs/HumanEval-v0", {}, 20),
        SuiteEntry("rlenvs/MBPP-v0", {}, 20),
    ), "Python functions checked by unit tests in a sandbox"),
    "tools": Suite("tools", (
        SuiteEntry("rlenvs/ToolMath-v0", {}, 20),
        SuiteEntry("rlenvs/BFCL-v0", {"category": "simple"}, 20),
    ), "multi-turn tool use and BFCL single-turn function calling (simple)"),
    "instruction": Suite("instruction", (
        SuiteEntry("rlenvs/IFEval-v0", {}, 20),
    ), "IFEval verifiable instructions"),
    "reasoning-gym-sample": Suite("reasoning-gym-sample", tuple(_rg(d) for d in (
        "chain_sum", "basic_arithmetic", "letter_counting", "spell_backward", "number_sorting",
        "gcd")), "a handful of reasoning-gym datasets scored by their own score_answer"),
}

_ENTRY_KEYS = {"id", "env", "episodes", "name", "kwargs"}
_TOP_KEYS = {"name", "description", "env"}


def load_suite(spec: str | Path) -> Suite:
    """A built-in suite by name, or a suite file (``.toml``; ``.yaml``/``.yml`` with PyYAML)."""
    text = str(spec)
    if text in BUILTIN_SUITES:
        return BUILTIN_SUITES[text]
    path = Path(text)
    if not path.is_file():
        raise SuiteError(f"--suite {text}: not a built-in suite ({', '.join(BUILTIN_SUITES)}) "
                         "nor a suite file (.toml, .yaml)")
    suffix = path.suffix.lower()
    if suffix == ".toml":
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise SuiteError(f"--suite {path}: not valid TOML ({e})") from None
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise SuiteError(f"--suite {path}: YAML suites need PyYAML (pip install pyyaml); "
                             "or write the suite as TOML") from None
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            raise SuiteError(f"--suite {path}: not valid YAML ({' '.join(str(e).split())})") \
                from None
    else:
        raise SuiteError(f"--suite {path}: a suite file ends in .toml (or .yaml / .yml)")
    return parse_suite(data, default_name=path.stem, where=str(path))


def parse_suite(data: Any, default_name: str = "suite", where: str = "suite") -> Suite:
    """A :class:`Suite` from a parsed file; :class:`SuiteError` names the first problem."""
    if not isinstance(data, dict):
        raise SuiteError(f"{where}: a suite is a table with a list `env` of environments")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} (a suite has "
                         f"{', '.join(sorted(_TOP_KEYS))})")
    envs = data.get("env")
    if not isinstance(envs, list) or not envs:
        raise SuiteError(f"{where}: no environments: add at least one [[env]] table with an id")
    entries = []
    for i, raw in enumerate(envs, 1):
        at = f"{where}: env #{i}"
        if not isinstance(raw, dict):
            raise SuiteError(f"{at} is not a table")
        bad = set(raw) - _ENTRY_KEYS
        if bad:
            raise SuiteError(f"{at}: unknown key(s) {', '.join(sorted(bad))} (an env has id, "
                             "episodes, name, kwargs)")
        env_id = raw.get("id", raw.get("env"))
        if not isinstance(env_id, str) or not env_id.strip():
            raise SuiteError(f"{at}: `id` (the environment id, `rlenvs list`) is missing")
        kwargs = raw.get("kwargs", {})
        if not isinstance(kwargs, dict):
            raise SuiteError(f"{at} ({env_id}): `kwargs` must be a table of env options")
        episodes = raw.get("episodes")
        if episodes is not None and (isinstance(episodes, bool) or not isinstance(episodes, int)
                                     or episodes < 1):
            raise SuiteError(f"{at} ({env_id}): `episodes` must be a positive integer, got "
                             f"{episodes!r}")
        name = raw.get("name", "")
        if not isinstance(name, str) or (name and not re.fullmatch(r"[A-Za-z0-9_.=-]+", name)):
            raise SuiteError(f"{at} ({env_id}): `name` must be a plain file stem "
                             "(letters, digits, _ . = -)")
        entries.append(SuiteEntry(env_id.strip(), dict(kwargs), episodes, name))
    labels = [e.label() for e in entries]
    twice = sorted({x for x in labels if labels.count(x) > 1})
    if twice:
        raise SuiteError(f"{where}: two envs would write the same file {twice[0]}.jsonl: give "
                         "them distinct `name`s")
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise SuiteError(f"{where}: `name` must be a string")
    description = data.get("description", "")
    return Suite(name, tuple(entries), str(description))


def run_suite(suite: Suite, policy: Any, out_dir: str | Path, *, episodes: int | None = None,
              seed: int = 0, samples: int = 1, sampling: Any = None, progress: bool = True,
              episode_timeout: float | None = None, resume: bool = False,
              on_env: Any = None) -> dict[str, Any]:
    """Evaluate ``policy`` on every env of ``suite``; transcripts to ``out_dir/NAME.jsonl``.

    ``episodes`` (when given) replaces every entry's own count. ``resume`` finishes each env's
    earlier run in ``out_dir``. Returns (and writes to ``out_dir/summary.json``) every env's
    summary keyed by its entry name, plus ``out_dir/suite.json`` saying what the suite was.
    ``on_env(name, result)`` is called as each env finishes."""
    from rlenvs.eval_files import existing_results
    from rlenvs.evaluation import evaluate

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "suite.json").write_text(json.dumps({
        "suite": suite.name, "description": suite.description, "seed": seed,
        "samples": samples, "episodes_override": episodes,
        "envs": [{"name": e.label(), "env_id": e.env_id, "kwargs": e.kwargs,
                  "episodes": episodes or e.episodes or DEFAULT_EPISODES}
                 for e in suite.entries]}, indent=2, default=str), encoding="utf-8")
    summaries: dict[str, Any] = {}
    for entry in suite.entries:
        name = entry.label()
        out = out_dir / f"{name}.jsonl"
        result = evaluate(entry.env_id, policy, episodes=episodes or entry.episodes or
                          DEFAULT_EPISODES, samples=samples, seed=seed,
                          out=out, env_kwargs=dict(entry.kwargs), sampling=sampling,
                          progress=progress, episode_timeout=episode_timeout,
                          resume=resume and existing_results(out))  # an env not begun: run
        summaries[name] = {**result.summary, "env_kwargs": entry.kwargs,
                           "scored": result.summary["unscored"] < result.summary["transcripts"]}
        if on_env is not None:
            on_env(name, result)
    (out_dir / "summary.json").write_text(json.dumps(summaries, indent=2, default=str),
                                          encoding="utf-8")
    return summaries
