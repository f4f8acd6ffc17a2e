"""The red-team suite: every way we know a policy could be scored as right without being right.

Each test plays the adversary against a real verifier or judge and fails if the wrong answer
scores as right. Everything here carries the ``redteam`` marker: ``pytest -m redteam``.
"""

import pytest


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/redteam/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.redteam)
