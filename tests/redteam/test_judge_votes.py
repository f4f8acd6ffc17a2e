"""Red team, LLM judges: votes that are not votes, rollouts that fix the answer, judges that
cannot see what they judge, failures that pass. Each test fails if a wrong response scores as
right (issue 13 items 12, 15, 16, 17)."""

from __future__ import annotations

import itertools
import math

import pytest

from judges.grm import GenerativeRewardModel, meta_from_judge
from judges.llm import BackendError, SamplingParams
from judges.llm.cache import CachedChat
from judges.llmjudge import PairwiseJudge, PointwiseJudge, ReferenceJudge, YesNoJudge
from judges.moj import MixtureOfJudges, math_constraint
from judges.prm import MonteCarloPRM
from judges.rbr import Proposition, PropositionGrader, RuleBasedReward
from judges.verdict import Verdict

TASK = {"prompt": "Name a primary colour."}


class Sampler:
    """A stochastic judge: each call draws the next score of a stream (1, 2, 3, ...)."""

    name = "sampler"

    def __init__(self):
        self.stream = itertools.count(1)

    def generate(self, conversations, sampling=None):
        return [f"Critique: ok.\nScore: {next(self.stream)}/10" for _ in conversations]


def test_k_samples_through_an_unseeded_cache_are_k_draws():
    # issue 13 item 15: seed=None + CachedChat made every sample the first one
    grm = GenerativeRewardModel(CachedChat(Sampler(), path=":memory:"), k=4, aggregate="mean",
                                sampling=SamplingParams(temperature=0.7, seed=None))
    v = grm("Red.", TASK)
    assert sorted(s["score"] for s in v.details["samples"]) == [1, 2, 3, 4]
    seeded = GenerativeRewardModel(CachedChat(Sampler(), path=":memory:"), k=4)
    assert len({s["score"] for s in seeded("Red.", TASK).details["samples"]}) == 4


def test_cache_gives_distinct_draws_for_repeated_stochastic_conversations():
    cached = CachedChat(Sampler(), path=":memory:")
    conv = [{"role": "user", "content": "judge this"}]
    for sampling in (SamplingParams(temperature=0.8), SamplingParams(temperature=0.8, seed=3)):
        replies = cached.generate([conv] * 3, sampling)
        assert len(set(replies)) == 3, replies


def test_one_parseable_sample_out_of_four_does_not_pass():
    # issue 13 item 15: "mean" over the one parseable sample gave 1.0 and passed
    class MostlyMute:
        name = "mute"

        def __init__(self):
            self.calls = 0

        def generate(self, conversations, sampling=None):
            self.calls += 1
            return ["Score: 10/10" if self.calls == 1 else "I cannot say." for _ in conversations]

    for aggregate in ("mean", "sum"):
        v = GenerativeRewardModel(MostlyMute(), k=4, aggregate=aggregate)("Red.", TASK)
        assert not v.passed and "no majority" in v.reason
    two_of_four = GenerativeRewardModel(MostlyMute(), k=2, aggregate="mean")("Red.", TASK)
    assert not two_of_four.passed  # 1 of 2 is not a majority either


class FixingPolicy:
    """Continues any prefix with the right answer, whatever the prefix says."""

    name = "fixer"

    def generate(self, conversations, sampling=None):
        return ["Actually, correcting that: 6 * 7 + 1 = 43, so \\boxed{43}"
                for _ in conversations]


def test_monte_carlo_prm_judges_the_responses_own_final_answer():
    # issue 13 item 16: the continuation of the last prefix was verified instead
    task = {"prompt": "What is 6 * 7 + 1?", "answer": "43"}
    wrong = "Step 1: 6 * 7 = 42\nStep 2: 42 + 1 = 44\nStep 3: so \\boxed{44}"
    for aggregate in ("min", "mean", "last", "product"):
        v = MonteCarloPRM(FixingPolicy(), math_constraint(), n=2, aggregate=aggregate,
                          pass_threshold=0.5)(wrong, task)
        assert v.steps[-1] == 0.0 and not v.passed, (aggregate, v.steps, v.reason)
    right = MonteCarloPRM(FixingPolicy(), math_constraint(), n=2)(wrong.replace("44", "43"), task)
    assert right.steps == [1.0, 1.0, 1.0] and right.passed


class RecordingLogprobs:
    """A yes/no judge backend that records what it was shown and always answers Yes."""

    name = "recorder"

    def __init__(self):
        self.seen: list[str] = []

    def generate(self, conversations, sampling=None):
        return ["Yes" for _ in conversations]

    def choice_logprobs(self, conversations, choices):
        self.seen += [c[-1]["content"] for c in conversations]
        return [{choices[0]: -0.1, choices[1]: -3.0} for _ in conversations]


def test_the_meta_judge_sees_request_response_and_critique():
    # issue 13 item 17: YesNoJudge.messages ignored task["response"]
    backend = RecordingLogprobs()
    meta = meta_from_judge(YesNoJudge(backend, "Is this critique of the response accurate?"))
    meta("Critique: the response names a primary colour. Score: 9/10", "Green.", TASK)
    shown = backend.seen[-1]
    assert TASK["prompt"] in shown and "Green." in shown and "Critique: the response" in shown
    assert "[BEGIN RESPONSE " in shown and "[BEGIN CRITIQUE " in shown


def test_an_unscored_reward_fails_the_mixture_and_cannot_calibrate_upwards():
    # issue 13 item 17: MoJ ignored the reward judge's own passed
    class Mute:
        name = "mute"

        def generate(self, conversations, sampling=None):
            return ["no idea" for _ in conversations]

    moj = MixtureOfJudges(GenerativeRewardModel(Mute(), k=2), {})
    v = moj("Red.", {**TASK, "answer": "red"})
    # issue 26: an unscored reward is a fault (not a constraint violation): unscored, named
    assert not v.passed and v.score == 0.0 and "reward" in v.details["faults"]
    assert v.details["unscored"] is True and v.details["violations"] == []
    calibrated = moj("Red.", {**TASK, "baseline": "Blue."})
    assert not calibrated.passed and calibrated.score == 0.0 and calibrated.details["unscored"]

    def good_reward(response, task):  # scores every response, except the baseline: unscored
        if response == task.get("baseline"):
            return Verdict(0.0, False, "unparseable", {"unscored": True})
        return Verdict(0.3, True, "scored")

    upward = MixtureOfJudges(good_reward, {})("Red.", {**TASK, "baseline": "Blue."})
    assert not upward.passed and upward.score == 0.0  # not σ(4·(0.3 − 0)) = 0.77
    assert upward.details["unscored"] and upward.details["faults"] == ["reward_baseline"]


class Down:
    name = "down"

    def generate(self, conversations, sampling=None):
        raise BackendError("http://judge:8000/v1/chat/completions: gave up after 3 attempts")

    def choice_logprobs(self, conversations, choices):
        raise BackendError("http://judge:8000/v1/chat/completions: HTTP 503")


def _judges(model):
    return [PointwiseJudge(model), ReferenceJudge(model), GenerativeRewardModel(model, k=2),
            PairwiseJudge(model), YesNoJudge(model, "Is it right?")]


def test_a_backend_failure_is_a_failing_verdict_with_the_reason():
    # issue 13 item 12: the failure escaped as an exception
    task = {**TASK, "reference": "Red."}
    for judge in _judges(Down()):
        v = judge("Red.", task)
        assert not v.passed and v.score == 0.0, type(judge).__name__
        assert "judge backend failed: BackendError" in v.reason and v.details["unscored"]
    rbr = RuleBasedReward(PropositionGrader(Down(), [Proposition("refuses", "Refuses?")]),
                          {"comply": {"refuses": False}})
    v = rbr("Sure.", {"prompt": "q", "response_class": "comply"})
    assert not v.passed and "BackendError" in v.reason
    for judge in _judges(Down()):
        judge.raise_on_error = True
        with pytest.raises(BackendError):
            judge("Red.", task)


def test_a_score_batch_failure_fails_every_response_of_the_batch():
    verdicts = PointwiseJudge(Down()).score_batch(["a", "b", "c"], TASK)
    assert [v.passed for v in verdicts] == [False] * 3
    rewards = PairwiseJudge(Down()).group_rewards(["a", "b", "c"], TASK)
    assert [v.passed for v in rewards] == [False] * 3 and all(v.score == 0 for v in rewards)
    assert not math.isnan(rewards[0].score)


def test_a_meta_judge_may_give_a_critique_the_score_the_critique_gave():
    # issue 26 class 11: the meta judge's own 8/10 was dropped as "quoted from the critique": 0
    from rlenvs.policies import FunctionPolicy

    meta = meta_from_judge(PointwiseJudge(FunctionPolicy(lambda m: "Sound.\nScore: 8/10")))
    assert meta("Critique: fine.\nScore: 8/10", "Red.", TASK) == pytest.approx(7 / 9)


def test_a_pairwise_judge_unparseable_in_both_orders_is_unscored_not_a_tie():
    # issue 26 class 11: 0.5 with no "unscored" flag
    from rlenvs.policies import FunctionPolicy

    v = PairwiseJudge(FunctionPolicy(lambda m: "I cannot tell."))("a", {**TASK, "reference": "b"})
    assert v.details["unscored"] and not v.passed and "unparseable" in v.reason
