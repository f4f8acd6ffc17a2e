from __future__ import annotations

import pytest
import torch

from tests.agents.toy_envs import register_toy_envs, tiny_policy

register_toy_envs()


@pytest.fixture(autouse=True)
def _one_thread():
    """The suite shares two cores with other work; one torch thread per test is faster there."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def tiny():
    return tiny_policy()


@pytest.fixture(scope="session")
def tokenizer():
    from judges.llm.embedded import load_embedded_tokenizer

    return load_embedded_tokenizer()
