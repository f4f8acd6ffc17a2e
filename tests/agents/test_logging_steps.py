"""``logging_steps`` (issue 15): one metrics line every N optimizer steps, the mean of the rounds
since the last line as TRL logs them; rounds not yet written travel in the checkpoint, so a run
killed between two lines and resumed writes the lines an uninterrupted run writes. Tiny policy,
a few seconds."""

from __future__ import annotations

import pytest

from agents import GRPOConfig, GRPOTrainer
from agents.run.metrics import merge_logged_rounds, read_metrics
from tests.agents.toy_envs import tiny_policy

ENV = "agents-test/Uppercase-v0"
VOLATILE = ("time/", "tokens_per_second")


def _config(out, **extra) -> GRPOConfig:
    settings = dict(output_dir=str(out), max_steps=3, per_device_train_batch_size=4,
                    num_generations=4, max_completion_length=6, learning_rate=1e-2, seed=5,
                    progress=False, generation_dtype="float32", save_final_checkpoint=False)
    return GRPOConfig(**{**settings, **extra})


def _train_records(out) -> list[dict]:
    return [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"]


def _stable(records):
    return [{k: v for k, v in r.items() if not k.startswith(VOLATILE)} for r in records]


def test_every_n_steps_one_line_with_the_mean_of_its_rounds(tmp_path):
    GRPOTrainer(tiny_policy(letters_only=True), ENV, _config(tmp_path / "one")).train()
    GRPOTrainer(tiny_policy(letters_only=True), ENV,
                _config(tmp_path / "two", logging_steps=2)).train()
    one, two = _train_records(tmp_path / "one"), _train_records(tmp_path / "two")
    assert [r["step"] for r in one] == [1, 2, 3]
    assert [r["step"] for r in two] == [2, 3]  # every 2 steps, and the last step
    assert len({r["reward"] for r in one}) > 1  # the rounds differ: the mean means something
    first = two[0]
    assert first["logged_rounds"] == 2 and first["round"] == 2
    for key in ("reward", "pass_rate", "loss", "grad_norm", "entropy", "num_completions"):
        assert first[key] == pytest.approx((one[0][key] + one[1][key]) / 2, rel=1e-6), key
    assert first["learning_rate"] == one[1]["learning_rate"]
    assert _stable([two[1]]) == _stable([one[2]])  # a one-round line is the round's record


def test_merge_keeps_the_last_step_round_and_stage():
    a = {"kind": "train", "step": 1, "round": 1, "stage": "dense", "reward": 0.2,
         "learning_rate": 1e-3, "generation/dtype": "float32", "only_a": 4.0, "flag": True}
    b = {"kind": "train", "step": 2, "round": 2, "stage": "binary", "reward": 0.6,
         "learning_rate": 5e-4, "generation/dtype": "float32", "flag": False}
    merged = merge_logged_rounds([a, b])
    assert merged == {"kind": "train", "step": 2, "round": 2, "stage": "binary",
                      "reward": pytest.approx(0.4), "learning_rate": 5e-4,
                      "generation/dtype": "float32", "only_a": 4.0, "flag": False,
                      "logged_rounds": 2}
    assert merge_logged_rounds([a]) == a


class _Killed(GRPOTrainer):
    """Dies at the start of round 4, after checkpoint-3 (whose round 3 is not written yet)."""

    def _round(self):  # type: ignore[override]
        if self.state.global_step == 3:
            raise RuntimeError("killed")
        return super()._round()


def test_rounds_not_yet_written_survive_a_resume(tmp_path):
    settings = dict(max_steps=4, logging_steps=2, save_steps=1)
    GRPOTrainer(tiny_policy(letters_only=True), ENV,
                _config(tmp_path / "straight", **settings)).train()
    with pytest.raises(RuntimeError, match="killed"):
        _Killed(tiny_policy(letters_only=True), ENV, _config(tmp_path / "b", **settings)).train()
    assert [r["step"] for r in _train_records(tmp_path / "b")] == [2]  # round 3 pending
    GRPOTrainer(tiny_policy(letters_only=True), ENV,
                _config(tmp_path / "b", resume_from_checkpoint=True, **settings)).train()
    straight, resumed = _train_records(tmp_path / "straight"), _train_records(tmp_path / "b")
    assert [r["step"] for r in resumed] == [2, 4] and resumed[1]["logged_rounds"] == 2
    assert _stable(resumed) == _stable(straight)
    with pytest.raises(ValueError, match="logging_steps must be a positive integer"):
        _config(tmp_path, logging_steps=0)
