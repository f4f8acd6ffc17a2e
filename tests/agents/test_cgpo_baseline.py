"""The CRRAFT fallback to the baseline response ā inside the multi-task CGPO trainer.

A tiny random policy on ``agents-test/Uppercase-v0`` (the word to shout is in the task data);
the constraint judge passes only the exact shouted word, which the random policy never writes,
so every prompt has no eligible sample and CRRAFT must train on ā = the shouted word with
weight σ(0) = 0.5:  loss = −(1/P) Σ_i 0.5 · log π(ā_i | s_i), checked against a hand forward.
"""

from __future__ import annotations

import math

import pytest
import torch

from agents.trainers.cgpo import Baseline, CGPOConfig, CGPOTask, CGPOTrainer
from judges.verdict import Verdict
from tests.agents.toy_envs import tiny_policy

ENV = "agents-test/Uppercase-v0"
TEMPERATURE = 0.9


def _exact_shout(response: str, task) -> Verdict:
    """Constraint + reward: 1 and passed only for exactly the shouted word."""
    ok = response.strip() == task["word"].upper()
    return Verdict(1.0 if ok else 0.0, ok, "exact" if ok else "not the shouted word")


def _trainer(baseline, kl_threshold: float = 5.0, prompts: int = 2, judge=_exact_shout,
             optimizer: str = "crraft") -> CGPOTrainer:
    task = CGPOTask(ENV, optimizer, judge=judge, num_generations=2, prompts_per_step=prompts,
                    kl_threshold=kl_threshold, baseline=baseline, name="shout")
    config = CGPOConfig(max_completion_length=6, temperature=TEMPERATURE, learning_rate=1e-3)
    return CGPOTrainer(tiny_policy(seed=1), [task], config)


def _hand_logprob(trainer: CGPOTrainer, model, seed: int, text: str) -> float:
    """log π(ā|s) from a plain full forward: prompt ids, ā's ids, the stop token."""
    env = trainer.envs[0]
    obs, _ = env.reset(seed=seed)
    tok = trainer.policy.tokenizer
    prompt = tok(tok.apply_chat_template(obs, add_generation_prompt=True, tokenize=False),
                 add_special_tokens=False)["input_ids"]
    completion = tok(text, add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    ids = torch.tensor([prompt + completion])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0].float() / TEMPERATURE
    logp = torch.log_softmax(logits, -1)
    c = len(completion)
    positions = range(len(prompt) - 1, len(prompt) - 1 + c)
    return float(sum(logp[pos, ids[0, pos + 1]] for pos in positions))


def _shouted(trainer: CGPOTrainer, seed: int) -> str:
    _, info = trainer.envs[0].reset(seed=seed)
    return info["task"]["word"].upper()


def test_no_sample_passes_so_crraft_trains_on_the_baseline_with_weight_half():
    trainer = _trainer(baseline=lambda task: task["word"].upper())
    assert trainer.policy.stop_token_ids[0] == trainer.policy.tokenizer.eos_token_id
    expected = -sum(0.5 * _hand_logprob(trainer, trainer.policy.model, s, _shouted(trainer, s))
                    for s in (0, 1)) / 2
    before = [p.detach().clone() for p in trainer.policy.parameters()]
    metrics = trainer.step()
    assert metrics["shout/violation_rate"] == 1.0  # no sample passes
    assert metrics["shout/baseline_pass_rate"] == 1.0
    assert metrics["shout/baseline_used"] == 1.0 and metrics["shout/kept"] == 1.0
    assert metrics["shout/loss"] == pytest.approx(expected, rel=1e-5)
    assert expected > 0
    after = list(trainer.policy.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_baseline_from_a_task_data_key_that_fails_its_constraint_is_skipped():
    # task["answer"] == "UPPER" is not the shouted word: ā fails -> prompt skipped, loss 0
    trainer = _trainer(baseline="answer")
    metrics = trainer.step()
    assert metrics["shout/baseline_pass_rate"] == 0.0
    assert metrics["shout/baseline_used"] == 0.0 and metrics["shout/kept"] == 0.0
    assert metrics["shout/loss"] == 0.0


def test_baseline_over_the_kl_threshold_is_skipped():
    trainer = _trainer(baseline=lambda task: task["word"].upper(), prompts=1)
    text = _shouted(trainer, 0)
    start = [p.detach().clone() for p in trainer.policy.parameters()]
    for noise_seed in range(20):  # move the policy away from the frozen reference until
        torch.manual_seed(noise_seed)  # ā is more likely under it (KL(s, ā) > 0)
        with torch.no_grad():
            for p, p0 in zip(trainer.policy.parameters(), start, strict=True):
                p.copy_(p0 + 0.05 * torch.randn_like(p))
        kl = (_hand_logprob(trainer, trainer.policy.model, 0, text)
              - _hand_logprob(trainer, trainer.ref.model, 0, text))
        if kl > 0.05:
            break
    assert kl > 0.05, kl
    trainer.tasks[0].kl_threshold = kl / 2
    metrics = trainer.step()
    assert metrics["shout/baseline_used"] == 0.0 and metrics["shout/loss"] == 0.0
    trainer.tasks[0].kl_threshold = 2 * kl + 1.0  # (the step moved the weights a little)
    trainer.next_seed[0] = 0
    metrics = trainer.step()
    assert metrics["shout/baseline_used"] == 1.0 and metrics["shout/loss"] > 0


def test_baseline_judged_by_the_environment_sets_the_calibration():
    # no judge: ā is replied to a fresh reset of the env; Uppercase scores the upper fraction
    trainer = _trainer(baseline=lambda task: task["word"].upper(), judge=None,
                       optimizer="crpg")
    env = trainer.envs[0]
    _, info = env.reset(seed=0)
    assert trainer.judge_baseline(trainer.tasks[0], env, 0, info["task"]) == \
        Baseline(info["task"]["word"].upper(), 1.0, True)
    low = trainer.judge_baseline(CGPOTask(ENV, baseline="word"), env, 0, info["task"])
    assert low.reward == 0.0 and not low.passed
    metrics = trainer.step()
    # R_calib = σ(r − r(ā)) = σ(r − 1) for every sample, r = the upper-case fraction ≤ 1
    assert metrics["shout/calibrated_reward"] == pytest.approx(
        1 / (1 + math.exp(-(metrics["shout/reward"] - 1.0))), abs=0.02)
    assert metrics["shout/calibrated_reward"] <= 0.5


def test_mixture_of_judges_calibrates_against_the_baseline():
    from judges.moj import MixtureOfJudges

    moj = MixtureOfJudges(reward=_exact_shout, constraints={"exact": _exact_shout}, scale=4.0)
    trainer = _trainer(baseline=lambda task: task["word"].upper(), judge=moj)
    metrics = trainer.step()
    # every sample: r = 0, r(ā) = 1 -> σ(4·(0 − 1))
    assert metrics["shout/calibrated_reward"] == pytest.approx(1 / (1 + math.exp(4.0)))
    assert metrics["shout/baseline_used"] == 1.0


class _CountingMoJ:
    """A Mixture of Judges with ``score_batch`` that records its batch sizes."""

    def __init__(self):
        from judges.moj import MixtureOfJudges

        self.moj = MixtureOfJudges(reward=_exact_shout, constraints={"exact": _exact_shout},
                                   scale=4.0)
        self.name, self.baseline_key = self.moj.name, self.moj.baseline_key
        self.batches: list[int] = []

    def __call__(self, response, task):
        return self.moj(response, task)

    def score_batch(self, responses, tasks):
        self.batches.append(len(responses))
        return [self.moj(r, t) for r, t in zip(responses, tasks, strict=True)]


def test_a_batch_judge_gets_one_call_per_task_and_the_same_metrics():
    from judges.moj import MixtureOfJudges

    judge = _CountingMoJ()
    batched = _trainer(baseline=lambda task: task["word"].upper(), judge=judge).step()
    assert judge.batches == [4]  # 2 prompts × 2 generations, one call
    moj = MixtureOfJudges(reward=_exact_shout, constraints={"exact": _exact_shout}, scale=4.0)
    single = _trainer(baseline=lambda task: task["word"].upper(), judge=moj).step()
    assert batched == pytest.approx(single)


def test_a_ray_judge_pool_is_a_drop_in_cgpo_judge():
    ray = pytest.importorskip("ray")
    from judges.moj import MixtureOfJudges
    from judges.remote import RayJudgePool

    def mixture():
        return MixtureOfJudges(reward=_exact_shout, constraints={"exact": _exact_shout},
                               scale=4.0)

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    try:
        with RayJudgePool(mixture, num_actors=2, num_cpus=0.5) as pool:
            assert pool.name == "reward" and pool.baseline_key == "baseline"
            remote = _trainer(baseline=lambda task: task["word"].upper(), judge=pool).step()
    finally:
        if started:
            ray.shutdown()
    local = _trainer(baseline=lambda task: task["word"].upper(), judge=mixture()).step()
    assert remote == pytest.approx(local)
    assert remote["shout/calibrated_reward"] == pytest.approx(1 / (1 + math.exp(4.0)))


def test_an_env_reward_that_is_a_fault_is_unscored_for_cgpo():
    """Issue 28 red-team F3: a task without a judge (the env's reward) read neither the
    trajectory's status nor the baseline step's: a fault trained as reward 0 and set the
    calibration of its prompt."""
    import rlenvs
    from agents.rollout.chain import Trajectory
    from tests.rlenvs import eval_envs  # noqa: F401 - registers test-eval/Switch-v0

    trainer = _trainer(baseline=lambda task: task["word"].upper(), judge=None,
                       optimizer="crpg")
    task = trainer.tasks[0]
    fault = Trajectory(group=0, seed=0, prompt_ids=[1], status="unscored",
                       cause="judge_backend", messages=[{"role": "assistant", "content": "X"}])
    fault.rewards, fault.terminated = [0.0], True
    scored = trainer.score(task, fault)
    assert scored.unscored and not scored.passed
    env = rlenvs.make("test-eval/Switch-v0")
    _, info = env.reset(seed=0)
    base = trainer.judge_baseline(CGPOTask(ENV, baseline=lambda t: "[judge-down] 7"), env, 0,
                                  info["task"])
    assert base.unscored and not base.passed
    ok = Trajectory(group=0, seed=0, prompt_ids=[1], messages=[{"role": "assistant",
                                                                "content": "X"}])
    ok.rewards, ok.terminated = [1.0], True
    assert trainer.score(task, ok, base).unscored  # calibrated on a fault: not trained on
    assert not trainer.score(task, ok).unscored
