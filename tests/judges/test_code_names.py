"""judges.code.contract: which names a test takes from the program (no sandbox needed)."""

from __future__ import annotations

import pytest

from judges.code import humaneval_contract, humaneval_helpers, load_humaneval, run_tests
from judges.code.contract import derive_contract, free_names
from judges.code.rewrite import BadTestSource


def test_free_names_are_read_but_never_bound_by_the_test():
    source = ("import math\nfrom heapq import nlargest\nX = [3, 1]\n"
              "def check(candidate):\n    global seen\n    seen = 1\n"
              "    assert candidate(X) == helper(X) and all(abs(v) for v in X)\n"
              "check(solve)\nassert [y for y in X if y > limit]\n"
              "class T:\n    k = konst\n")
    assert free_names(source) == {"helper", "all", "abs", "solve", "limit", "konst"}


def test_contract_takes_only_required_names_from_the_program():
    tests = ["assert math.isclose(area(1.0), 3.14159, rel_tol=1e-3)",
             "assert set(uniq([1, 1])) == {1} and abs(-1) == 1 and Stack().pop() is None",
             "assert code(1) == 2 and string.ascii_lowercase"]
    c = derive_contract(tests)
    assert c["names"] == ["Stack", "area", "code", "uniq"]
    assert c["modules"] == ["math", "string"]  # ``code`` is called: not the module
    assert c["helpers"] is None


def test_entry_point_and_helpers_decide_the_names():
    c = derive_contract(["check(find_zero)\nassert poly([1], 0) == 1"], entry_point="find_zero",
                      helpers="import math\ndef poly(xs, x):\n    return sum(xs)\n")
    assert c["names"] == ["find_zero"] and c["modules"] == [] and c["helpers"]
    assert "poly" not in derive_contract(["assert poly([1], 0) == 1"], helpers="def poly(a, b):"
                                       "\n    return 1\n")["names"]


def test_contract_misuse_and_bad_source():
    with pytest.raises(TypeError):
        derive_contract(["assert f()"], entry_point="not an identifier")
    with pytest.raises(TypeError):
        derive_contract(["assert f()"], helpers=b"def f(): pass")
    with pytest.raises(BadTestSource):
        derive_contract(["assert f()"], helpers="def broken(:")
    v = run_tests("def f():\n    return 1\n", ["assert f() == 1"], helpers="def broken(:")
    assert not v.passed and "helpers do not compile" in v.reason


def test_humaneval_helpers_are_the_prompt_without_the_entry_point():
    tasks = {t["task_id"]: t for t in load_humaneval()}
    with_helpers = sorted(k for k, t in tasks.items() if humaneval_helpers(t))
    assert with_helpers == ["HumanEval/10", "HumanEval/32", "HumanEval/38", "HumanEval/50"]
    helpers = humaneval_helpers(tasks["HumanEval/32"])
    assert "def poly(" in helpers and "import math" in helpers and "def find_zero" not in helpers
    assert humaneval_contract(tasks["HumanEval/0"]) == {"entry_point": "has_close_elements",
                                                        "helpers": None}
