"""Shared fixtures: the real embedded model, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm2():
    """The embedded SmolLM2-135M-Instruct as a chat policy (bf16, CPU)."""
    from rlenvs.policies import load_policy

    return load_policy("smollm2", dtype="bfloat16", batch_size=16)


# Generated attack families (tests/redteam) use hypothesis. One profile for every run: derandomized
# so CI and a developer see the same examples, no per-example deadline (a sandboxed run or a
# sympy call has its own), and no example database written into the checkout.
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the dev extra brings it; a bare install can still run the rest
    pass
else:
    settings.register_profile(
        "rlenvs",
        derandomize=True,
        deadline=None,
        database=None,
        max_examples=60,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    settings.load_profile("rlenvs")
