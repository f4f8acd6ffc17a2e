"""Differential test: verify_math on (gold, pred, expected) cases in math-verify's test style.

The fixture ``data/math_verify_cases.json`` holds 218 hand-written cases modelled on
math-verify's ``tests/test_all.py`` (its ``compare_strings`` helper parses both sides with
``LatexExtractionConfig(boxed_match_priority=0)`` and/or ``ExprExtractionConfig``). Every case
where a run disagrees with ``expected`` is explained in the fixture's ``notes`` (by index, with
the runs it affects); a new, unexplained disagreement fails the test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from judges.math import verify_math_batch

DATA = json.loads((Path(__file__).parent / "data" / "math_verify_cases.json").read_text())
CASES = DATA["cases"]
NOTES = DATA["notes"]
TARGETS = {"latex": ("latex",), "expr": ("expr",), "latex_expr": ("latex", "expr")}
MV_MODE = "verify_math_math_verify_mode"
DEFAULT_MODE = "verify_math_default_mode"


def _disagreements(passed: list[bool]) -> list[int]:
    return [i for i, c in enumerate(CASES) if passed[i] != bool(c["expected"])]


def _unexplained(disagree: list[int], mode: str) -> list[str]:
    return [
        f"#{i} {CASES[i]['gold']!r} vs {CASES[i]['pred']!r} expected {CASES[i]['expected']}"
        for i in disagree
        if mode not in NOTES.get(str(i), {}).get("modes", [])
    ]


def test_fixture_is_well_formed() -> None:
    assert len(CASES) >= 150
    assert {c["expected"] for c in CASES} == {0, 1}
    assert all(c["match_types"] in TARGETS for c in CASES)
    for key, note in NOTES.items():
        assert 0 <= int(key) < len(CASES) and note["why"] and note["modes"]


def test_configured_like_math_verify_test_helper() -> None:
    """Both sides through math-verify's own extraction with the helper's configs."""
    passed: list[bool] = [False] * len(CASES)
    for match_types, targets in TARGETS.items():
        idx = [i for i, c in enumerate(CASES) if c["match_types"] == match_types]
        verdicts = verify_math_batch(
            [CASES[i]["pred"] for i in idx],
            [CASES[i]["gold"] for i in idx],
            extract="math_verify",
            gold_extract="math_verify",
            math_verify_targets=targets,
            boxed_priority=0,
        )
        for i, v in zip(idx, verdicts, strict=True):
            passed[i] = v.passed
    disagree = _disagreements(passed)
    agreement = 1 - len(disagree) / len(CASES)
    assert agreement >= 0.95, (agreement, _unexplained(disagree, MV_MODE))
    assert not _unexplained(disagree, MV_MODE)


def test_default_extraction() -> None:
    """The same cases through verify_math's default answer extraction (a policy check)."""
    verdicts = verify_math_batch([c["pred"] for c in CASES], [c["gold"] for c in CASES])
    disagree = _disagreements([v.passed for v in verdicts])
    agreement = 1 - len(disagree) / len(CASES)
    assert agreement >= 0.95, (agreement, _unexplained(disagree, DEFAULT_MODE))
    assert not _unexplained(disagree, DEFAULT_MODE)


@pytest.mark.parametrize("key", sorted(NOTES, key=int))
def test_notes_name_real_cases(key: str) -> None:
    note, case = NOTES[key], CASES[int(key)]
    assert (note["gold"], note["pred"], note["expected"]) == (
        case["gold"],
        case["pred"],
        case["expected"],
    )
