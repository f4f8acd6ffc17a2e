"""CGPO on the base trainer (issue 15): a round of ``RLTrainer`` is one multi-task update whose
losses match the paper's equations computed by hand; ``train()`` writes metrics, evaluations,
checkpoints and plots; ``rlenvs train --algo cgpo`` takes a multi-task config file. The tiny
random policy keeps each test to seconds (kill -9 resume: tests/agents/test_resume.py)."""

from __future__ import annotations

import copy
import json
import math

import pytest
import torch

from agents.run.metrics import read_metrics
from agents.trainers.cgpo import CGPOConfig, CGPOTask, CGPOTrainer
from tests.agents.toy_envs import tiny_policy

ENV = "agents-test/Uppercase-v0"
T = 0.9


def _sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _logprob(model, prompt_ids, completion_ids) -> float:
    """log π(a|s) from one plain forward of prompt + completion at temperature T."""
    ids = torch.tensor([list(prompt_ids) + list(completion_ids)])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float() / T, -1)
    start = len(prompt_ids) - 1
    return float(sum(logp[start + j, ids[0, start + j + 1]] for j in range(len(completion_ids))))


def _trainer(tmp_path, tasks, **settings) -> tuple[CGPOTrainer, list]:
    config = CGPOConfig(output_dir=str(tmp_path), max_completion_length=6, temperature=T,
                        learning_rate=1e-3, progress=False, generation_dtype="float32",
                        **settings)
    trainer = CGPOTrainer(tiny_policy(seed=1, letters_only=True), tasks, config)
    rollouts: list = []
    collect = trainer.collector.collect

    def recording(env, seeds, k, seed=0, first_group=0):
        trajs = collect(env, seeds, k, seed=seed, first_group=first_group)
        rollouts.append(trajs)
        return trajs

    trainer.collector.collect = recording
    return trainer, rollouts


def test_cgpo_is_a_base_trainer_reachable_from_agents_and_the_cli():
    import agents
    from agents.run.presets import PRESETS
    from agents.trainers.base import RLTrainer

    assert agents.CGPOTrainer is CGPOTrainer and issubclass(CGPOTrainer, RLTrainer)
    assert agents.CGPOConfig is CGPOConfig and agents.CGPOTask is CGPOTask
    assert PRESETS["cgpo"][0] == "CGPOTrainer"
    assert CGPOConfig().num_generations == 4 and CGPOConfig().temperature == 0.9
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be 1"):
        CGPOConfig(gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match="CGPOConfig takes no rollout settings"):
        CGPOConfig.from_dict({"rollout": "tree"})
    with pytest.raises(ValueError, match="CGPOConfig has no setting 'tasks'.*CGPOTrainer"):
        CGPOConfig.from_dict({"tasks": []})
    with pytest.raises(ValueError, match="weight"):
        CGPOTask(ENV, weight=-1.0)
    with pytest.raises(ValueError, match="task names must differ"):
        CGPOTrainer(tiny_policy(), [CGPOTask(ENV, name="a"), CGPOTask(ENV, name="a")])
    with pytest.raises(ValueError, match="at least one task"):
        CGPOTrainer(tiny_policy(), [])


def test_one_round_is_the_papers_update_computed_by_hand(tmp_path):
    """CRPG (ρ = 0.7) and CODPO (ρ = 0.4) in one round. At the start π_w = π_ref, so KL = 0,
    the CRPG gate is 1 and every CODPO margin is 0:
      CRPG   loss = −(1/n) Σ_i (R̃_i − mean R̃) log π(a_i|s_i),  R̃_i = σ(r_i − 0.5)·[passed_i]
      CODPO  loss = mean over prompts with a positive of  log 2 − (λ/|a⁺|) log π(a⁺|s)
    and the round's loss is 0.7·CRPG + 0.4·CODPO (one optimizer step)."""
    tasks = [CGPOTask(ENV, "crpg", num_generations=4, prompts_per_step=2, kl_threshold=10.0,
                      baseline_reward=0.5, weight=0.7, name="pg"),
             CGPOTask(ENV, "codpo", num_generations=3, prompts_per_step=3, weight=0.4,
                      name="dpo")]
    trainer, rollouts = _trainer(tmp_path, tasks, max_steps=1)
    start = copy.deepcopy(trainer.policy.model).eval()
    trainer.train()
    record = next(r for r in read_metrics(tmp_path / "metrics.jsonl") if r["kind"] == "train")
    pg, dpo = rollouts

    def logp(t):
        return _logprob(start, t.prompt_ids, t.completion_ids)

    gated = [_sig(t.total_reward - 0.5) if t.passed else 0.0 for t in pg]
    mean = sum(gated) / len(gated)
    crpg = -sum((g - mean) * logp(t) for g, t in zip(gated, pg, strict=True)) / len(pg)
    assert len({round(g, 9) for g in gated}) > 1  # a real advantage signal
    codpo, kept = 0.0, 0
    for p in range(3):
        group = dpo[3 * p: 3 * p + 3]
        pos = [t for t in group if t.passed]
        if not pos:
            continue
        best = max(pos, key=lambda t: t.total_reward)  # first of the best on ties
        codpo += math.log(2) - 5.0 / len(best.completion_ids) * logp(best)
        kept += 1
    assert kept > 0
    codpo /= kept
    assert record["pg/loss"] == pytest.approx(crpg, rel=1e-4, abs=1e-6)
    assert record["dpo/loss"] == pytest.approx(codpo, rel=1e-4)
    assert record["loss"] == pytest.approx(0.7 * crpg + 0.4 * codpo, rel=1e-4, abs=1e-6)
    assert record["pg/kl"] == 0.0 and record["dpo/kl"] == 0.0
    assert record["pg/reward"] == pytest.approx(sum(t.total_reward for t in pg) / 8)
    assert record["pg/violation_rate"] == pytest.approx(1 - sum(t.passed for t in pg) / 8)
    assert record["dpo/kept"] == pytest.approx(kept / 3)
    assert record["tasks"] == ["pg", "dpo"] and record["num_completions"] == 8 + 9
    assert record["optimizer_steps"] == 1 and record["grad_norm"] > 0


def test_train_writes_metrics_evaluations_checkpoints_and_plots(tmp_path):
    from agents.run.checkpoint import list_checkpoints
    from agents.run.plot import plot_run

    tasks = [CGPOTask(ENV, "crpg", num_generations=2, kl_threshold=10.0, name="pg"),
             CGPOTask(ENV, "crraft", num_generations=2, prompts_per_step=1,
                      baseline=lambda task: task["word"].upper(), name="sft")]
    trainer, _ = _trainer(tmp_path, tasks, max_steps=2, eval_episodes=3, save_steps=1,
                          eval_max_new_tokens=4)
    summary = trainer.train()
    assert summary["algorithm"] == "cgpo" and summary["steps"] == 2 == trainer.steps
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [(r["kind"], r["step"]) for r in records] == [("eval", 0), ("train", 1),
                                                         ("train", 2), ("eval", 2)]
    for r in records[1:3]:
        for name in ("pg", "sft"):
            for key in ("reward", "violation_rate", "pass_rate", "kl", "calibrated_reward",
                        "loss"):
                assert math.isfinite(r[f"{name}/{key}"]), (name, key)
        assert r["sft/baseline_pass_rate"] == 1.0  # ā = the shouted word, judged by the env
    for r in (records[0], records[3]):
        for name in ("pg", "sft"):
            assert r[f"eval/{name}/pass@1"] == pytest.approx(1 - r[f"eval/{name}/violation_rate"])
        assert r["eval/pass@1"] == pytest.approx((r["eval/pg/pass@1"] + r["eval/sft/pass@1"]) / 2)
        assert r["eval/episodes"] == 3
    assert [p.name for p in list_checkpoints(tmp_path)] == ["checkpoint-1", "checkpoint-2"]
    identity = json.loads((tmp_path / "run.json").read_text())
    assert identity["algorithm"] == "cgpo" and identity["env_id"] == ENV
    assert [t["name"] for t in identity["env_kwargs"]["tasks"]] == ["pg", "sft"]
    assert identity["env_kwargs"]["tasks"][1]["baseline"].endswith("<lambda>")
    png = plot_run(tmp_path)
    assert png.is_file() and png.stat().st_size > 10_000


def shouted(task) -> str:
    """A baseline function for config files (``tests.agents.test_cgpo_run:shouted``)."""
    return task["word"].upper()


def _config_file(tmp_path, **task_overrides):
    tasks = [
        {"name": "shout", "env": ENV, "optimizer": "crraft", "num_generations": 2,
         "prompts_per_step": 1,
         "judge": {"reward": "tests.agents.resume_job:exact_shout",
                   "constraints": {"exact": "tests.agents.resume_job:exact_shout"},
                   "scale": 4.0},
         "baseline": {"function": "tests.agents.test_cgpo_run:shouted"}, **task_overrides},
        {"name": "upper", "env": ENV, "optimizer": "crpg", "kl_threshold": 10.0,
         "baseline": {"format": "{word}"}},
    ]
    path = tmp_path / "cgpo.json"
    path.write_text(json.dumps({"max_completion_length": 4, "learning_rate": 1e-3,
                                "num_generations": 2, "generation_dtype": "float32",
                                "tasks": tasks}))
    return path


def test_a_config_file_names_tasks_judges_baselines_and_optimizers(tmp_path):
    from agents.cli import read_config_file
    from agents.run.cgpo_config import cgpo_from_dict
    from judges.moj import MixtureOfJudges

    config, tasks = cgpo_from_dict(read_config_file(_config_file(tmp_path)))
    assert isinstance(config, CGPOConfig) and config.max_completion_length == 4
    shout, upper = tasks
    assert (shout.optimizer, upper.optimizer, upper.kl_threshold) == ("crraft", "crpg", 10.0)
    assert isinstance(shout.judge, MixtureOfJudges) and shout.judge.scale == 4.0
    assert shout.judge.spec["scale"] == 4.0  # recorded in run.json
    verdict = shout.judge("APPLE", {"word": "apple"})
    assert verdict.passed and not shout.judge("apple", {"word": "apple"}).passed
    assert shout.baseline({"word": "apple"}) == "APPLE"
    assert upper.baseline({"word": "apple"}) == "apple" and upper.baseline({}) is None
    assert upper.judge is None and upper.num_generations is None  # the config's K: 2
    _, (math_task,) = cgpo_from_dict({"tasks": [{"env": ENV, "judge": {
        "factory": "judges.moj:math_constraint", "kwargs": {"gold_key": "answer"}}}]})
    assert math_task.judge("so \\boxed{12}", {"answer": "12"}).passed
    assert not math_task.judge("so \\boxed{13}", {"answer": "12"}).passed
    assert math_task.judge.spec["factory"] == "judges.moj:math_constraint"
    bad = [({"tasks": [{"optimizer": "crpg"}]}, "tasks\\[0\\] needs 'env'"),
           ({"tasks": [{"env": ENV, "k": 4}]}, "tasks\\[0\\] has no setting 'k'"),
           ({"tasks": [{"env": ENV, "optimizer": "ppo"}]}, "tasks\\[0\\]: unknown optimizer"),
           ({"tasks": [{"env": ENV, "judge": "no_such_module:judge"}]},
            "tasks\\[0\\].judge: cannot import 'no_such_module:judge'"),
           ({"tasks": [{"env": ENV, "judge": "exact"}]}, "tasks\\[0\\].judge: expected"),
           ({"tasks": [{"env": ENV, "judge": {"constraints": {}}}]}, "needs a 'reward'"),
           ({"tasks": [{"env": ENV, "baseline": {"format": "{"}}]}, "baseline format"),
           ({"tasks": [{"env": ENV}], "optimizer": "crpg"}, "optimizer: task settings go"),
           ({"tasks": [{"env": ENV}, {"env": ENV}]}, "task names must differ"),
           ({"tasks": []}, "'tasks' must be a non-empty list"),
           ({}, "CGPO needs tasks")]
    for values, message in bad:
        with pytest.raises(ValueError, match=message):
            cgpo_from_dict(values)


def test_rlenvs_train_algo_cgpo_runs_resumes_and_refuses_another_run(tmp_path, capsys):
    from agents.cli import main
    from agents.run.checkpoint import list_checkpoints

    model = tmp_path / "tiny-model"
    tiny_policy(letters_only=True).save_pretrained(model)
    run = tmp_path / "run"

    def train(*extra: str) -> int:
        return main(["train", "--algo", "cgpo", "--policy", str(model), "--out-dir", str(run),
                     "--no-plot", "--quiet", *extra])

    config = _config_file(tmp_path)
    assert train("--config", str(config), "--steps", "1") == 0
    out = capsys.readouterr().out
    assert '"shout/violation_rate"' in out and '"upper/violation_rate"' in out
    record = [r for r in read_metrics(run / "metrics.jsonl") if r["kind"] == "train"][-1]
    assert record["shout/baseline_used"] == 1.0 and record["upper/kl"] == 0.0
    assert train("--config", str(config), "--steps", "2", "--resume") == 0
    assert [p.name for p in list_checkpoints(run)][-1] == "checkpoint-2"
    capsys.readouterr()
    # another task setting is another run: refused before any model loads, the change named
    assert train("--config", str(_config_file(tmp_path, kl_threshold=1.0)), "--steps", "3",
                 "--resume") == 2
    err = capsys.readouterr().err
    assert "different run" in err and "'kl_threshold': 1.0" in err and err.count("\n") == 1
    for extra, message in [(("--env", "rlenvs/Instruct-v0"), "come from the config's tasks"),
                           (("--grad-accum", "2"), "gradient_accumulation_steps must be 1"),
                           (("--rollout", "tree"), "CGPOConfig takes no rollout settings")]:
        assert train("--config", str(config), "--out-dir", str(tmp_path / "x"), *extra) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1
    # no tasks in the config: one task on --env, its settings through --set
    single = tmp_path / "single"
    assert main(["train", "--algo", "cgpo", "--env", ENV, "--set", "optimizer=crpg",
                 "--set", "kl_threshold=10", "--num-generations", "2", "--policy", str(model),
                 "--steps", "1", "--out-dir", str(single), "--no-plot", "--quiet",
                 "--max-completion-length", "4"]) == 0
    record = [r for r in read_metrics(single / "metrics.jsonl") if r["kind"] == "train"][-1]
    assert record["tasks"] == [f"{ENV}:crpg"] and record["num_completions"] == 4
