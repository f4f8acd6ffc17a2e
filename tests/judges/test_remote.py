"""RayJudgePool: judges on Ray actors give the local judge's verdicts, in order, and no item is
lost or hung when an actor dies, hangs or the judge raises."""

from __future__ import annotations

import os
import threading
import time

import pytest

from judges.moj import MixtureOfJudges, ifeval_constraint, math_constraint
from judges.verdict import Verdict

ray = pytest.importorskip("ray")

from judges.remote import RayJudgePool  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


# ------------------------------------------------------------------ judges used by the tests
_MATH = math_constraint()
_IF = ifeval_constraint()


def math_or_if(response: str, task) -> Verdict:
    """Rule-based judge: math answer equivalence or instruction checks, by task kind."""
    return (_MATH if "answer" in task else _IF)(response, task)


class SlowJudge:
    """``math_or_if`` after a short sleep, so a batch is still running when an actor dies."""

    def __init__(self, delay_s: float = 0.05) -> None:
        self.delay_s = delay_s

    def __call__(self, response: str, task) -> Verdict:
        time.sleep(self.delay_s)
        return math_or_if(response, task)


class FaultyJudge:
    """Kills its own process on ``CRASH``, never returns on ``HANG``, raises on ``RAISE``."""

    def __call__(self, response: str, task) -> Verdict:
        if response == "CRASH":
            os._exit(1)
        if response == "HANG":
            time.sleep(600)
        if response == "RAISE":
            raise ValueError("bad input")
        return math_or_if(response, task)


def _broken_factory():
    raise RuntimeError("no model here")


IF_TASK = {"instruction_id_list": ["punctuation:no_comma", "change_case:english_lowercase"],
           "kwargs": [{}, {}], "prompt": "say hi"}
ITEMS = [
    ("The sum is \\boxed{4}.", {"answer": "4"}),
    ("I think it is 5", {"answer": "4"}),
    ("\\boxed{\\frac{1}{2}}", {"answer": "0.5"}),
    ("hello there friend", IF_TASK),
    ("Hello there, friend", IF_TASK),
    ("\\boxed{12}", {"answer": "12"}),
    ("no commas here at all", IF_TASK),
    ("\\boxed{7}", {"answer": "-7"}),
]


def _local(items):
    return [math_or_if(r, t) for r, t in items]


def _split(items):
    return [r for r, _ in items], [t for _, t in items]


# ------------------------------------------------------------------ tests
def test_pool_matches_the_local_judge_in_order():
    with RayJudgePool(lambda: math_or_if, num_actors=2, num_cpus=0.5) as pool:
        got = pool.judge_batch(*_split(ITEMS))
        assert got == _local(ITEMS)
        assert [v.passed for v in got] == [True, False, True, True, False, True, True, False]
        # single calls and shared-task batches
        assert pool("\\boxed{4}", {"answer": "4"}) == math_or_if("\\boxed{4}", {"answer": "4"})
        shared = pool.score_batch(["\\boxed{4}", "\\boxed{3}"], {"answer": "4"})
        assert [v.passed for v in shared] == [True, False]
        assert pool.score_batch([], []) == []
        with pytest.raises(ValueError):
            pool.score_batch(["a", "b"], [{"answer": "1"}])


def test_pool_inside_a_mixture_of_judges_and_from_a_ready_judge():
    def length_reward(response, task):
        return Verdict(min(len(response) / 40, 1.0), True, "length")

    with RayJudgePool.from_judge(math_or_if, num_actors=2, num_cpus=0.5) as pool:
        remote = MixtureOfJudges(length_reward, {"rule": pool})
        local = MixtureOfJudges(length_reward, {"rule": math_or_if})
        for response, task in ITEMS:
            assert remote(response, task) == local(response, task)


def test_killing_an_actor_mid_batch_returns_every_result():
    items = ITEMS * 4  # 32 items, 2 per chunk, 50 ms each: the batch runs ~0.8 s
    pool = RayJudgePool(SlowJudge, num_actors=2, num_cpus=0.5, batch_size=2)
    try:
        victim = pool.actors[0]
        killer = threading.Timer(0.3, lambda: ray.kill(victim, no_restart=True))
        killer.start()
        got = pool.judge_batch(*_split(items))
        killer.join()
        assert pool.restarts >= 1  # the kill landed while the batch ran
        assert got == _local(items)
        assert pool.judge_batch(*_split(ITEMS)) == _local(ITEMS)  # the pool still works
    finally:
        pool.close()


def test_an_item_that_kills_its_actor_twice_gets_a_failing_verdict():
    items = [ITEMS[0], ("CRASH", {"answer": "1"}), ITEMS[3]]
    with RayJudgePool(FaultyJudge, num_actors=2, num_cpus=0.5, batch_size=1) as pool:
        got = pool.judge_batch(*_split(items))
        assert got[0] == math_or_if(*ITEMS[0]) and got[2] == math_or_if(*ITEMS[3])
        assert not got[1].passed and got[1].score == 0.0
        assert "died" in got[1].reason and got[1].details["attempts"] == 2
        assert pool.restarts == 2  # first attempt + one retry, each replaced its actor


def test_a_hanging_item_times_out_and_the_rest_are_judged():
    items = [("HANG", {"answer": "1"}), ITEMS[0], ITEMS[4]]
    with RayJudgePool(FaultyJudge, num_actors=2, num_cpus=0.5, batch_size=1, timeout_s=1.0,
                      max_retries=0, failure_score=0.1) as pool:
        got = pool.judge_batch(*_split(items))
        assert got[1:] == _local(items[1:])
        assert "timed out" in got[0].reason and got[0].score == pytest.approx(0.1)
        assert not got[0].passed


def test_judge_exceptions_raise_or_become_verdicts_and_a_broken_factory_fails_early():
    with RayJudgePool(FaultyJudge, num_actors=1, num_cpus=0.5) as pool:
        with pytest.raises(ValueError, match="bad input"):
            pool("RAISE", {"answer": "1"})
        assert pool(*ITEMS[0]) == math_or_if(*ITEMS[0])
    with RayJudgePool(FaultyJudge, num_actors=1, num_cpus=0.5, on_error="verdict") as pool:
        v = pool("RAISE", {"answer": "1"})
        assert not v.passed and "ValueError" in v.reason
    with pytest.raises(RuntimeError, match="failed to start"):
        RayJudgePool(_broken_factory, num_actors=1, num_cpus=0.5)


def concise(response: str, task) -> Verdict:
    return Verdict(1.0 - min(len(response) / 40, 1.0), True, "short")


def math_mixture() -> MixtureOfJudges:
    return MixtureOfJudges(concise, {"answer": _MATH}, name="concise")


def test_a_pooled_mixture_of_judges_keeps_its_name_baseline_key_and_calibration():
    with RayJudgePool(math_mixture, num_actors=2, num_cpus=0.5) as pool:
        assert pool.name == "concise" and pool.baseline_key == "baseline"
        tasks = [{"answer": "4", "baseline": "The answer is \\boxed{4}."}] * 3
        responses = ["\\boxed{4}", "\\boxed{5}", "It is \\boxed{4} after a long derivation"]
        got = pool.score_batch(responses, tasks)
        assert got == [math_mixture()(r, t) for r, t in zip(responses, tasks, strict=True)]
        assert "concise_calibrated" in got[0].details["components"]
    with RayJudgePool.from_judge(math_or_if, num_actors=1, num_cpus=0.5, name="rules") as pool:
        assert pool.name == "rules" and not hasattr(pool, "baseline_key")
