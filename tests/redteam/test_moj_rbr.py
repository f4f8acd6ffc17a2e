"""Red team, Mixture of Judges and rule-based rewards (issue 26, items 9 and 10): generated
families.

* MoJ: random reward scores against random baselines, random constraint outcomes (pass,
  violate, raise, could not judge) -> the mixture is violated iff a constraint failed or raised,
  unscored iff a judge could not judge and nothing was violated, and otherwise passes with the
  calibrated reward -- whatever the reward judge's own ``passed`` says.
* CGPO reads those verdicts: an unscored one is never a positive, a negative or a kept row.
* RBR: random proposition probabilities and reward-model scores with a planted weight vector
  that ranks every ideal completion at least the paper's margin (1) above every worse
  completion of its prompt -> the fitted RM + RBR total ranks every such pair correctly.
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from agents.algorithms.cgpo import codpo_select, crraft_select
from agents.rollout.chain import Trajectory
from agents.trainers.cgpo import CGPOTrainer
from agents.trainers.cgpo_tasks import CGPOTask, TaskScoring
from judges.moj import MixtureOfJudges
from judges.rbr import RuleBasedReward
from judges.verdict import Verdict

RESPONSE, BASELINE = "the response", "the baseline"
EXCEPTIONS = [KeyError("instruction_id_list"), ValueError("bad kwargs"),
              RuntimeError("checker crashed"), ZeroDivisionError("division by zero")]

unit = st.floats(0.0, 1.0, allow_nan=False)
constraint_outcome = st.tuples(st.sampled_from(["pass", "pass", "pass", "violate", "raise",
                                                "unscored"]), unit,
                               st.booleans(), st.sampled_from(range(len(EXCEPTIONS))))
reward_outcome = st.tuples(st.sampled_from(["score", "score", "score", "unscored", "raise"]), unit,
                           st.booleans())


def constraint_judge(outcome):
    kind, score, flag, exc = outcome

    def judge(response, task):
        if kind == "raise":
            raise EXCEPTIONS[exc]
        if kind == "unscored":  # a fault, whatever ``passed`` claims
            return Verdict(score, flag, "judge backend timed out", {"unscored": True})
        return Verdict(score, kind == "pass", "ok" if kind == "pass" else "violated")

    return judge


def reward_judge(own, base):
    def judge(response, task):
        kind, score, own_passed = own if response == RESPONSE else base
        if kind == "raise":
            raise RuntimeError("reward model crashed")
        if kind == "unscored":
            return Verdict(0.0, False, "unparseable judgement", {"unscored": True})
        return Verdict(score, own_passed, f"reward {score}")  # its own passed is never read

    return judge


@given(st.lists(constraint_outcome, max_size=4), reward_outcome,
       st.none() | reward_outcome, st.sampled_from([1.0, 4.0]))
def test_mixture_verdict_is_violated_unscored_or_the_calibrated_reward(cons, own, base, scale):
    names = [f"c{i}" for i in range(len(cons))]
    moj = MixtureOfJudges(reward_judge(own, base or own),
                          {n: constraint_judge(o) for n, o in zip(names, cons, strict=True)},
                          scale=scale)
    task = {"prompt": "p"} if base is None else {"prompt": "p", "baseline": BASELINE}
    v = moj(RESPONSE, task)

    violated = [n for n, o in zip(names, cons, strict=True) if o[0] in ("violate", "raise")]
    judged = {"reward": own} if base is None else {"reward": own, "reward_baseline": base}
    crashed = [n for n, o in judged.items() if o[0] == "raise"]
    faults = ([n for n, o in zip(names, cons, strict=True) if o[0] == "unscored"]
              + [n for n, o in judged.items() if o[0] == "unscored"])
    assert v.details["violations"] == violated
    if violated:
        assert not v.passed and v.score == 0.0 and not v.details.get("unscored")
        for n, o in zip(names, cons, strict=True):
            if o[0] == "raise":
                exc = EXCEPTIONS[o[3]]
                assert f"{n}: raised {type(exc).__name__}" in v.reason
                assert v.details["errors"][n].startswith(type(exc).__name__)
    elif crashed:
        assert not v.passed and v.score == 0.0 and not v.details.get("unscored")
        assert sorted(v.details["errors"]) == sorted(crashed) and "crashed" in v.reason
    elif faults:
        assert not v.passed and v.score == 0.0 and v.details["unscored"] is True
        assert v.details["faults"] == faults
    else:
        r = own[1]
        expected = r if base is None else 1 / (1 + math.exp(-scale * (r - base[1])))
        assert v.passed and v.score == pytest.approx(expected, abs=1e-12)
        assert not v.details.get("unscored") and v.details["faults"] == []


class Scorer(TaskScoring):
    config = SimpleNamespace(calibration_scale=1.0)


@st.composite
def judged_groups(draw):
    """``P`` prompts × ``K`` generations, each a reward and a constraint outcome."""
    k = draw(st.integers(1, 4))
    generation = st.tuples(unit, st.sampled_from(["pass", "violate", "unscored"]))
    return draw(st.lists(st.lists(generation, min_size=k, max_size=k), min_size=1, max_size=3))


@given(judged_groups())
@settings(max_examples=40)
def test_cgpo_never_trains_on_an_unscored_verdict(groups):
    """Each generation is judged by a real mixture; CODPO and CRRAFT never pick a fault."""
    scorer = Scorer()
    rows = []
    for group in groups:
        for r, kind in group:
            moj = MixtureOfJudges(lambda resp, t, r=r: Verdict(r, False, "rm"),
                                  {"c": constraint_judge((kind, 0.5, True, 0))})
            task = CGPOTask("rlenvs/Instruct-v0", "codpo", judge=moj)
            rows.append(scorer._from_verdict(task, moj(RESPONSE, {"prompt": "p"}), None))
    p, k = len(groups), len(groups[0])
    reward = torch.tensor([s.reward for s in rows], dtype=torch.float64).view(p, k)
    passed = torch.tensor([s.passed for s in rows]).view(p, k)
    unscored = torch.tensor([s.unscored for s in rows]).view(p, k)
    kinds = [[kind for _, kind in g] for g in groups]
    assert unscored.tolist() == [[kd == "unscored" for kd in g] for g in kinds]
    assert passed.tolist() == [[kd == "pass" for kd in g] for g in kinds]
    sel = codpo_select(reward, passed, scored=~unscored)
    cal = torch.full((p, k), 0.5, dtype=torch.float64)
    raft = crraft_select(reward, cal, passed, torch.zeros(p, k), 1.0)
    for g in range(p):
        assert bool(sel.keep[g]) == ("pass" in kinds[g])
        if sel.keep[g]:
            assert kinds[g][int(sel.positive[g])] == "pass"
            assert kinds[g][int(sel.negative[g])] != "unscored"
        if raft.keep[g]:
            assert kinds[g][int(raft.index[g])] == "pass"


class RowsOnly(Scorer):
    """The CGPO trainer's row selection, with zero log-probs instead of a model."""

    _task_rows = CGPOTrainer._task_rows
    _crraft_rows = CGPOTrainer._crraft_rows

    def _sequence_logprobs(self, samples):
        return torch.zeros(len(samples), dtype=torch.float64), torch.zeros(len(samples),
                                                                           dtype=torch.float64)


@given(judged_groups(), st.sampled_from(["crpg", "crraft", "codpo"]))
@settings(max_examples=30)
def test_cgpo_task_rows_hold_no_fault_and_rates_are_over_judged_ones(groups, optimizer):
    k = len(groups[0])
    kinds = {f"reply {g} {i}": kind for g, group in enumerate(groups)
             for i, (_, kind) in enumerate(group)}
    rewards = {f"reply {g} {i}": r for g, group in enumerate(groups) for i, (r, _) in
               enumerate(group)}
    moj = MixtureOfJudges(lambda resp, t: Verdict(rewards[resp], True, "rm"),
                          {"c": lambda resp, t: constraint_judge((kinds[resp], 0.5, True, 0))(
                              resp, t)})
    task = CGPOTask("rlenvs/Instruct-v0", optimizer, judge=moj, num_generations=k,
                    prompts_per_step=len(groups), kl_threshold=1.0)
    texts = [f"reply {g} {i}" for g in range(len(groups)) for i in range(k)]
    trajs = [Trajectory(group=n // k, seed=n // k, prompt_ids=[1, 2], completion_ids=[100 + n],
                        policy_mask=[1], messages=[{"role": "assistant", "content": text}],
                        task={"prompt": "p"}) for n, text in enumerate(texts)]
    rows, stats, _ = RowsOnly()._task_rows(0, task, None, trajs)
    trained = [kinds[texts[r.completion_ids[0] - 100]] for r in rows]
    assert "unscored" not in trained  # no optimizer trains on a fault
    judged = [kd for kd in kinds.values() if kd != "unscored"]
    assert stats["unscored_rate"] == pytest.approx(1 - len(judged) / len(kinds))
    assert stats["pass_rate"] == pytest.approx(judged.count("pass") / len(judged) if judged
                                               else 0.0)
    if optimizer == "crpg":  # every judged generation, in the batch mean; no fault
        assert len(rows) == len(judged)
    elif optimizer == "crraft":  # one passing generation per prompt that has one
        assert trained == ["pass"] * sum("pass" in [kd for _, kd in g] for g in groups)


RULES = {"hard_refuse": {"refuses": True, "judgmental": False, "apologizes": True},
         "soft_refuse": {"refuses": True, "empathetic": True},
         "comply": {"refuses": False}}
PROPOSITIONS = ["apologizes", "empathetic", "judgmental", "refuses"]
N_FEATURES = len(PROPOSITIONS) + 2  # + all_rules + bias


@st.composite
def ranked_sets(draw):
    """Prompts with completions; the ideal one and the worse ones are chosen by a planted
    weight vector ``w*``: ideal = the best total ``R_rm + w*·f`` of its prompt, worse = those at
    least 1 (the paper's hinge margin) below it; completions in between are left out."""
    w_star = np.array(draw(st.lists(st.floats(-4, 4), min_size=N_FEATURES,
                                    max_size=N_FEATURES)))
    rbr = RuleBasedReward(lambda r, t: {}, RULES)
    rows = []
    for prompt in range(draw(st.integers(2, 4))):
        cls = draw(st.sampled_from(sorted(RULES)))
        cands = []
        for _ in range(draw(st.integers(2, 4))):
            probs = {q: draw(unit) for q in PROPOSITIONS}
            rm = draw(unit)
            cands.append((probs, rm, rm + float(w_star @ rbr.features(probs, cls))))
        top = max(c[2] for c in cands)
        best = next(i for i, c in enumerate(cands) if c[2] == top)
        for i, (probs, rm, total) in enumerate(cands):
            if i == best or total <= top - 1.0:
                rows.append((f"p{prompt}", cls, probs, rm, i == best))
    assume(any(not r[4] for r in rows))
    return rows


@given(ranked_sets())
@settings(max_examples=60)
def test_fitted_total_ranks_every_ideal_completion_above_the_worse_ones(rows):
    table = {f"r{i}": row for i, row in enumerate(rows)}
    rbr = RuleBasedReward(lambda r, t: table[r][2], RULES)
    rm = lambda r, t: Verdict(table[r][3], True, "rm")  # noqa: E731
    examples = [(r, {"prompt": row[0], "response_class": row[1]}, row[4])
                for r, row in table.items()]
    fit = rbr.fit(examples, rm)
    assert fit.misordered == 0, fit.gaps
    total = rbr.plus(rm)
    totals = {r: total(r, t).details["components"]["total"] for r, t, _ in examples}
    for r, (prompt, _, _, _, ideal) in table.items():
        if not ideal:
            continue
        for other, row in table.items():
            if row[0] == prompt and other != r:
                assert totals[r] > totals[other], (prompt, totals)
