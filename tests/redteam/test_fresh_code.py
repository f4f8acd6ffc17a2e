"""Fresh red team, code (issue 26, before closing): what the driver raised on its own was
catchable by the test as if the program had raised it.

* ``os._exit`` / a kill inside a call raised ``ProgramGone``, a ``RuntimeError``: a test that
  expects an error (``except Exception``, ``except RuntimeError``) passed a program that
  raised nothing; ``sys.exit`` in the same place already failed the test (invariant 5).
* the driver's refusals (``UntrustedComparison`` on a handle, ``ValueRefused``) are
  ``TypeError``s: a test expecting ``TypeError`` passed a program that returned a dict keyed
  by one of its own objects (Python raises nothing there).

Now both fail the test whatever it catches; a program that really raises still passes.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from judges.code import run_tests

# a wrong program's ways to make the driver raise instead of raising itself
ESCAPES = {
    "exit0": "import os\n    os._exit(0)",
    "exit1": "import os\n    os._exit(1)",
    "sigkill": "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
    "handle_key": "class K:\n        pass\n    return {K(): 1}",
    "handle_set": "class K:\n        pass\n    return {K()}",
}
CATCHES = ["Exception", "RuntimeError", "TypeError", "(TypeError, RuntimeError)",
           "(ValueError, TypeError)", "(Exception,)"]
# the same tests, against a program that really raises what they expect
RAISES = {"Exception": "ValueError", "RuntimeError": "RuntimeError", "TypeError": "TypeError",
          "(TypeError, RuntimeError)": "RuntimeError", "(ValueError, TypeError)": "ValueError",
          "(Exception,)": "KeyError"}


def _test(catch: str, style: int) -> str:
    if style == 0:
        return (f"try:\n    check('bad')\nexcept {catch}:\n    pass\nelse:\n"
                "    raise AssertionError('no error for bad input')")
    if style == 1:
        return (f"raised = False\ntry:\n    check('bad')\nexcept {catch}:\n    raised = True\n"
                "assert raised")
    return (f"def expect_error():\n    try:\n        check('bad')\n    except {catch}:\n"
            "        return True\n    return False\nassert expect_error()")


@settings(max_examples=25)
@given(escape=st.sampled_from(sorted(ESCAPES)), catch=st.sampled_from(CATCHES),
       style=st.integers(0, 2))
def test_what_the_driver_raises_is_not_the_programs_exception(escape, catch, style):
    program = f"def check(x):\n    {ESCAPES[escape]}\n"
    v = run_tests(program, [_test(catch, style)], timeout_s=10)
    assert not v.passed, (escape, catch, v.reason)
    assert not v.details.get("unscored"), v.reason  # a judgement: the program failed


@settings(max_examples=15)
@given(catch=st.sampled_from(CATCHES), style=st.integers(0, 2))
def test_a_program_that_raises_still_passes(catch, style):
    program = f"def check(x):\n    raise {RAISES[catch]}('bad input')\n"
    v = run_tests(program, [_test(catch, style), "assert check is not None"], timeout_s=10)
    assert v.passed, (catch, v.reason)


def test_a_later_test_after_the_program_is_gone_still_fails():
    program = "import os\ndef check(x):\n    if x == 'bad':\n        os._exit(0)\n    return 1\n"
    tests = [_test("Exception", 0), "try:\n    assert check(1) == 1\nexcept Exception:\n    pass"]
    v = run_tests(program, tests, timeout_s=10)
    assert [t["passed"] for t in v.details["tests"]] == [False, False], v.details["tests"]


USAGE = ["Example usage:\n```python\nprint({ep}.__name__)\n```",
         "Tests:\n```python\nassert callable({ep})\n```",
         "Run it:\n```py\nif __name__ == '__main__':\n    import doctest\n    doctest.testmod()\n```"]


def _humaneval_reply(seed: int, usage: str, body: str | None = None) -> tuple[float, str]:
    import rlenvs

    env = rlenvs.make("rlenvs/HumanEval-v0")
    try:
        _, info = env.reset(seed=seed)
        task = info["task"]
        solution = task["program_prefix"] + (body or task["canonical_solution"])
        reply = (f"Here is the solution:\n```python\n{solution}\n```\n\n"
                 + usage.format(ep=task["entry_point"]))
        _, reward, *_ = env.step(reply)
        return reward, reply
    finally:
        env.close()


@settings(max_examples=12)
@given(seed=st.integers(0, 163), usage=st.sampled_from(USAGE))
def test_a_usage_example_after_a_correct_solution_is_not_the_program(seed, usage):
    # was: the last ```python block (the usage example) was taken for the program: reward 0
    reward, reply = _humaneval_reply(seed, usage)
    assert reward == 1.0, reply


@settings(max_examples=6)
@given(seed=st.integers(0, 163), usage=st.sampled_from(USAGE))
def test_a_usage_example_after_a_wrong_solution_still_fails(seed, usage):
    reward, reply = _humaneval_reply(seed, usage, body="    return None\n")
    assert reward == 0.0, reply


@settings(max_examples=10)
@given(env_id=st.sampled_from(["rlenvs/MBPP-v0", "rlenvs/Code-v0"]), seed=st.integers(0, 50),
       usage=st.sampled_from(USAGE[:2]))
def test_a_usage_example_after_a_correct_function_is_not_the_program(env_id, seed, usage):
    import rlenvs
    from judges.code.contract import derive_contract

    env = rlenvs.make(env_id)
    try:
        _, info = env.reset(seed=seed)
        task = info["task"]
        solution = task.get("code") or task["solution"]
        name = derive_contract(list(task["tests"]))["names"][0]
        reply = f"```python\n{solution}\n```\n\n" + usage.format(ep=name)
        _, reward, *_ = env.step(reply)
    finally:
        env.close()
    assert reward == 1.0, reply
