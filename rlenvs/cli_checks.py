"""Checks the CLI commands run before any model loads, and the policy/sampling they build from
their arguments (shared by ``rlenvs eval``, ``main``, ``serve`` and ``rlenvs preferences``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rlenvs.cli_args import UsageError

__all__ = ["_env_checked", "_policy_checked", "_policy", "_sampling"]

_EMBEDDED = ("smollm2", "embedded", "default")


def _env_checked(env: str | None, kwargs: dict[str, Any]) -> str:
    import rlenvs

    if not env:
        raise UsageError("name an environment: `rlenvs eval ENV` or --env ENV (`rlenvs list`)")
    env_id = rlenvs.registration.resolve_id(env)
    rlenvs.make(env_id, **kwargs).close()  # bad kwargs fail here, not after the model load
    return env_id


def _policy_checked(args: argparse.Namespace) -> None:
    """Fail fast on a policy that cannot load: a missing folder, a server that is down."""
    spec = args.policy
    if spec.startswith(("http://", "https://")):
        from judges.llm.openai_backend import OpenAIChat

        try:
            listed = OpenAIChat(spec, timeout_s=10, max_retries=0).request("/models")
        except Exception as e:  # noqa: BLE001 - any failure here means: not reachable
            raise UsageError(f"--policy {spec}: server not reachable ({e})") from None
        models = [m.get("id") for m in listed.get("data", []) if isinstance(m, dict)]
        if args.model is None and models:
            args.model = models[0]
    elif spec not in _EMBEDDED and not spec.startswith("vllm:") and \
            not Path(spec.removeprefix("hf:")).is_dir():
        raise UsageError(f"--policy {spec!r}: use 'smollm2', an http(s):// OpenAI-compatible "
                         "URL, 'vllm:PATH' or a local model folder")


def _policy(args: argparse.Namespace) -> Any:
    from rlenvs.policies import load_policy

    kwargs: dict[str, Any] = {}
    if args.policy.startswith(("http://", "https://")):
        kwargs = {"model": args.model or "default"}
    elif not args.policy.startswith("vllm:"):  # the embedded model or a local folder
        kwargs = {"dtype": args.dtype, "batch_size": args.generation_batch_size}
    policy = load_policy(args.policy, **kwargs)
    if args.policy.startswith(("http://", "https://")):
        policy.name = f"{args.model or 'default'} @ {args.policy}"
    return policy


def _sampling(args: argparse.Namespace, samples: int = 1) -> Any:
    from judges.llm.base import SamplingParams

    temperature = args.temperature
    if temperature is None:
        temperature = 0.0 if samples == 1 else 0.8
    return SamplingParams(temperature=temperature, max_new_tokens=args.max_completion_length,
                          seed=args.seed)
