"""Shared fixtures: the real embedded model, loaded once per session."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smollm2():
    """The embedded SmolLM2-135M-Instruct as a chat policy (bf16, CPU)."""
    from rlenvs.policies import load_policy

    return load_policy("smollm2", dtype="bfloat16", batch_size=16)
