"""Trainers never learn from a fault, and no stuck env call holds a round (issue 28)."""

from __future__ import annotations

import socket
import time

import pytest
import torch

from agents import GRPOConfig, GRPOTrainer, PPOConfig, PPOTrainer, RLOOConfig, RLOOTrainer
from agents.rollout.deadline import Deadline, StepTimeout, call_within
from agents.rollout.tree import TreeRollout, TreeRolloutConfig
from agents.run.metrics import UnscoredRewardsError, read_metrics
from tests.agents.faulty_envs import JUDGED, RELEASE, register_faulty_envs
from tests.agents.toy_envs import tiny_policy

register_faulty_envs()

BASE = dict(max_steps=1, per_device_train_batch_size=8, gradient_accumulation_steps=1,
            num_generations=4, max_completion_length=6, learning_rate=1e-3, progress=False,
            unscored_retries=0, max_unscored_frac=None)
ENV = "agents-test/Faulty-v0"


@pytest.fixture(autouse=True, scope="module")
def _release_stuck_calls():
    yield
    RELEASE.set()  # abandoned tool calls of the deadline tests return and their threads end


class Spy:
    """Records the trajectories a trainer's ``settle`` sees (all episodes, faults included)."""

    def __init__(self, trainer):
        self.seen = []
        real = trainer.settle

        def settle(trajs):
            self.seen.extend(trajs)
            return real(trajs)

        trainer.settle = settle


def _keys(trajs):
    return [tuple(t.completion_ids) for t in trajs]


@pytest.mark.parametrize("trainer_cls,config_cls", [(GRPOTrainer, GRPOConfig),
                                                    (RLOOTrainer, RLOOConfig)])
def test_unscored_episodes_never_reach_the_loss(tmp_path, trainer_cls, config_cls):
    config = config_cls(output_dir=str(tmp_path), **BASE)
    trainer = trainer_cls(tiny_policy(), ENV, config, env_kwargs={"mode": "odd"})
    spy = Spy(trainer)
    from agents.run.metrics import FaultTally

    trainer._faults = FaultTally()
    samples, _ = trainer.make_samples()
    faults = [t for t in spy.seen if not t.scored]
    assert faults, "the toy judge should have failed on some odd-length reply"
    assert all(t.cause == "judge_backend" for t in faults)
    fault_keys = set(_keys(faults))
    trained = [tuple(s.completion_ids) for s in samples]
    # no fault is a training row, unless a scored episode produced exactly the same ids
    scored_keys = set(_keys([t for t in spy.seen if t.scored]))
    assert not (set(trained) & (fault_keys - scored_keys))
    # group sizes follow what is left: each trained group has >= 2 scored rows
    groups = {}
    for t in spy.seen:
        groups.setdefault(t.group, []).append(t)
    kept_groups = {g for g, members in groups.items() if sum(m.scored for m in members) >= 2}
    assert len(samples) == sum(sum(m.scored for m in groups[g]) for g in kept_groups)
    for s in samples:  # every trained row has a finite advantage from scored rewards
        assert torch.isfinite(s.tokens["advantages"]).all()


def test_group_statistics_follow_the_scored_members(tmp_path):
    """Advantages of a group are those of its scored members alone (placeholder score 1.0 of
    the faults would shift the mean)."""
    from agents.algorithms.grpo import group_advantages
    from agents.run.metrics import FaultTally

    config = GRPOConfig(output_dir=str(tmp_path), **BASE)
    trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs={"mode": "odd"})
    spy = Spy(trainer)
    trainer._faults = FaultTally()
    samples, _ = trainer.make_samples()
    kept = trainer.trainable(spy.seen)
    rewards = torch.tensor([t.total_reward for t in kept])
    expected, _ = group_advantages(rewards, torch.tensor([t.group for t in kept]))
    got = torch.tensor([s.scalars["advantage"] for s in samples])
    assert torch.allclose(got, expected, atol=1e-5)


def test_round_metrics_count_faults_and_their_causes(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 2})
    trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs={"mode": "odd"})
    trainer.train()
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"]
    assert records
    for r in records:
        assert 0.0 < r["reward/unscored_frac"] < 1.0
        assert r["reward/unscored/judge_backend"] >= 1
        # the trained completions are scored ones: together with the faults, at most the 8
        unscored = round(r["reward/unscored_frac"] * 8)
        assert r.get("num_completions", 0) + unscored <= 8


def test_unscored_episodes_are_retried_on_the_same_task(tmp_path):
    JUDGED.clear()
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "unscored_retries": 2})
    trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs={"mode": "first_try"})
    spy = Spy(trainer)
    record = trainer.step()
    # every task's first judgement was a fault; the retry of that episode was scored
    assert record["reward/unscored_retries"] == 2  # one fault per task, 2 tasks
    assert record["reward/unscored_frac"] == 0.0
    assert all(t.scored for t in spy.seen)
    assert sorted(t.attempts for t in spy.seen).count(2) == 2
    assert record["num_completions"] == 8


def test_a_run_of_faults_stops_with_the_causes_named(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "max_steps": 10,
                                                       "max_unscored_frac": 0.5,
                                                       "unscored_window": 2})
    trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs={"mode": "always"})
    before = {k: v.detach().clone() for k, v in trainer.policy.named_parameters()}
    with pytest.raises(UnscoredRewardsError, match="judge_backend: 8") as err:
        trainer.train()
    assert err.value.causes == {"judge_backend": 8.0}
    records = [r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train"]
    assert [r["reward/unscored_frac"] for r in records] == [1.0, 1.0]
    assert all(r["train/skipped_round"] == 1.0 for r in records)
    # nothing was trained on the faults
    after = dict(trainer.policy.named_parameters())
    assert all(torch.equal(v, after[k]) for k, v in before.items())


def test_ppo_leaves_faults_out(tmp_path):
    config = PPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=8,
                       num_generations=4, max_completion_length=6, progress=False,
                       unscored_retries=0, max_unscored_frac=None)
    trainer = PPOTrainer(tiny_policy(value_head=True), ENV, config, env_kwargs={"mode": "odd"})
    spy = Spy(trainer)
    from agents.run.metrics import FaultTally

    trainer._faults = FaultTally()
    samples, _ = trainer.make_samples()
    assert len(samples) == sum(t.scored for t in spy.seen) < len(spy.seen)


def test_dynamic_sampling_does_not_count_faults_as_signal(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **BASE, dynamic_sampling=True,
                        max_num_gen_batches=2)
    trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs={"mode": "always"})
    record = trainer.step()
    assert record["dynamic_sampling/groups_with_signal"] == 0
    assert record["reward/unscored_frac"] == 1.0 and record["train/skipped_round"] == 1.0


# ------------------------------------------------------------------------------ deadlines
def test_call_within_abandons_a_stuck_call():
    import threading

    gate = threading.Event()
    t0 = time.monotonic()
    with pytest.raises(StepTimeout):
        call_within(gate.wait, timeout=0.2, name="stuck")
    assert time.monotonic() - t0 < 5.0
    gate.set()
    assert call_within(lambda: 7, timeout=1.0) == 7
    with pytest.raises(ZeroDivisionError):
        call_within(lambda: 1 / 0, timeout=1.0)
    assert Deadline(None).left() is None and Deadline.earliest(Deadline(None)) is None


def _never_answering_server():
    """A real loopback TCP listener that accepts HTTP connections (kernel backlog) and never
    replies: an HTTP judge that never answers."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    return server


@pytest.mark.parametrize("mode", ["sleep", "http"])
def test_a_stuck_tool_or_judge_cannot_hold_the_round(tmp_path, mode):
    server = _never_answering_server() if mode == "http" else None
    try:
        config = GRPOConfig(output_dir=str(tmp_path), **BASE, episode_timeout_s=1.0,
                            round_timeout_s=3.0)
        kwargs = {"mode": mode, "port": server.getsockname()[1] if server else 0}
        trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs=kwargs)
        spy = Spy(trainer)
        t0 = time.monotonic()
        record = trainer.step()
        elapsed = time.monotonic() - t0
    finally:
        if server is not None:
            server.close()  # resets the pending connections: the abandoned calls end
    stuck = [t for t in spy.seen if not t.scored]
    assert stuck and all(t.cause == "deadline" and t.truncated for t in stuck)
    assert any(t.scored for t in spy.seen)  # the round went on with the rest
    assert record["reward/unscored/deadline"] == len(stuck)
    # bounded: without the deadline this round never ends (loose bound, a shared machine)
    assert elapsed < 60.0


def test_round_budget_bounds_retries_and_all_episodes(tmp_path):
    config = GRPOConfig(output_dir=str(tmp_path), **{**BASE, "unscored_retries": 50},
                        episode_timeout_s=None, round_timeout_s=1.5)
    trainer = GRPOTrainer(tiny_policy(), ENV, config, env_kwargs={"mode": "sleep"})
    t0 = time.monotonic()
    record = trainer.step()
    assert time.monotonic() - t0 < 60.0
    assert record["reward/unscored/deadline"] >= 1


def test_tree_rollout_gives_up_a_stuck_leaf_and_leaves_it_out_of_the_advantages():
    import rlenvs

    env = rlenvs.make(ENV, mode="sleep")
    replies = iter(["AB", "ABC", "AbCd", "abcd", "ABCD", "xy", "XYZW", "Q"] * 10)

    def generate(conversations):
        return [next(replies) for _ in conversations]

    rollout = TreeRollout(generate, TreeRolloutConfig(ts_m=1, ts_n=2, ts_l=1, ts_k=3))
    rollout.episode_timeout_s = 0.5
    rows = rollout.collect(env, [0], seed=0)
    stuck = [r for r in rows if r.infos[-1]["reward_status"] == "unscored"]
    scored = [r for r in rows if r.infos[-1]["reward_status"] == "scored"]
    assert stuck and scored
    assert all(r.infos[-1]["reward_cause"] == "deadline" and r.truncated for r in stuck)
    assert all(r.advantage == 0.0 for r in stuck)
    # the scored leaves' advantages are those of the scored leaves alone
    from agents.rollout.tree import tree_advantages

    expected = tree_advantages([r.final_reward for r in scored], [0] * len(scored),
                               [r.tree for r in scored])
    assert [r.advantage for r in scored] == pytest.approx(expected)


@pytest.mark.parametrize("attribution", ["soft", "hard"])
def test_arpo_rollout_gives_up_a_stuck_row_and_leaves_it_out(attribution):
    import rlenvs
    from agents.algorithms.grpo import group_advantages
    from agents.rollout.arpo import ARPOConfig, ARPORollout

    env = rlenvs.make(ENV, mode="sleep")
    replies = iter(["AB", "ABC", "AbCd", "abcd"] * 10)

    def generate(conversations):
        return [next(replies) for _ in conversations]

    rollout = ARPORollout(generate, lambda messages: 0.5,
                          ARPOConfig(n=4, initial_rollouts=4, beam_size=1,
                                     attribution=attribution))
    rollout.episode_timeout_s = 0.5
    rows = rollout.collect(env, [0], seed=0)
    stuck = [r for r in rows if r.infos[-1]["reward_status"] == "unscored"]
    scored = [r for r in rows if r.infos[-1]["reward_status"] == "scored"]
    assert len(stuck) == 1 and len(scored) == 3  # "ABC": odd length, its tool never returns
    assert stuck[0].infos[-1]["reward_cause"] == "deadline" and stuck[0].truncated
    assert stuck[0].turn_advantages == [0.0] and stuck[0].turn_owner == [False]
    expected, _ = group_advantages(torch.tensor([r.final_reward for r in scored]),
                                   torch.zeros(3, dtype=torch.long), "group", 1e-6)
    assert [r.advantage for r in scored] == pytest.approx(expected.tolist())
