"""Data-parallel training (issue 32): 2 CPU ranks under ``torchrun`` (gloo) take the same
parameter update, to 1e-5, as one process on the full batch -- GRPO, PPO with its value head,
CGPO -- on the same fixed episodes (data_parallel_job.py), each rank doing half of the work;
a data-parallel run resumes exactly; ``rlenvs train --nproc 2`` runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from agents.run.distributed import balance_micro_batches, shard_indices

REPO = Path(__file__).resolve().parents[2]
JOB = Path(__file__).with_name("data_parallel_job.py")


def _env() -> dict[str, str]:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(REPO))
    env.pop("WORLD_SIZE", None)
    env.pop("RANK", None)
    return env


def _job(*args: str, nproc: int = 1) -> None:
    cmd = [sys.executable, str(JOB), *args] if nproc == 1 else \
        [sys.executable, "-m", "torch.distributed.run", "--standalone",
         f"--nproc_per_node={nproc}", str(JOB), *args]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def _params(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "params.pt")


def _train_records(folder: Path) -> list[dict]:
    lines = (folder / "run" / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == "train"]


def test_shards_and_balance():
    assert shard_indices(5, 0, 2) == [0, 2, 4] and shard_indices(5, 1, 2) == [1, 3]
    assert shard_indices(1, 1, 2) == []
    # largest first onto the least-loaded rank; every micro-batch exactly once
    assert balance_micro_batches([4, 1, 3, 2], 2) == [[0, 1], [2, 3]]
    assert balance_micro_batches([5], 2) == [[0], []]


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["grpo", "ppo", "cgpo"])
def test_two_ranks_take_the_single_process_update(tmp_path, algo):
    episodes = tmp_path / "episodes.pkl"
    _job(algo, str(episodes), str(tmp_path / "one"))  # also writes the fixed episodes
    _job(algo, str(episodes), str(tmp_path / "two"), nproc=2)
    one, two = _params(tmp_path / "one"), _params(tmp_path / "two")
    assert one.keys() == two.keys()
    if algo == "ppo":
        assert any(k.startswith("value_head") for k in one)  # the value head is trained too
    # 4 optimizer steps (GRPO: 2 rounds x 2 iterations; PPO/CGPO: 2 rounds) moved every model
    from tests.agents.toy_envs import tiny_policy

    start = {"grpo": tiny_policy(seed=1), "ppo": tiny_policy(seed=2, value_head=True),
             "cgpo": tiny_policy(seed=3, letters_only=True)}[algo]
    moved = max(float((one[k] - p.detach()).abs().max())
                for k, p in start.named_parameters() if p.requires_grad)
    assert moved > 1e-3
    for k in one:
        assert torch.allclose(one[k], two[k], rtol=0, atol=1e-5), (k, (one[k] - two[k]).abs().max())
    # the same metrics from rank 0 (reduced over ranks) as from one process
    recs_one, recs_two = _train_records(tmp_path / "one"), _train_records(tmp_path / "two")
    assert [r["step"] for r in recs_one] == [r["step"] for r in recs_two]
    for a, b in zip(recs_one, recs_two, strict=True):
        for key in ("loss", "grad_norm", "reward", "pass_rate", "num_completions"):
            if key in a:
                assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), key
    # each rank did half of the work: rollouts, scoring passes, micro-batches
    [single] = json.loads((tmp_path / "one" / "work.json").read_text())
    ranks = json.loads((tmp_path / "two" / "work.json").read_text())
    assert len(ranks) == 2
    for what in ("prompts", "scored", "micro_batches"):
        assert sum(r[what] for r in ranks) == single[what], what
        assert all(r[what] > 0 for r in ranks), (what, ranks)
    assert sorted(p.name for p in (tmp_path / "two" / "run").glob("checkpoint-*")) == \
        ["checkpoint-2", "checkpoint-4"]


@pytest.mark.slow
def test_two_ranks_resume_exactly(tmp_path):
    episodes = tmp_path / "episodes.pkl"
    _job("grpo", str(episodes), str(tmp_path / "one"))  # the fixed episodes
    _job("grpo", str(episodes), str(tmp_path / "whole"), nproc=2)
    _job("grpo", str(episodes), str(tmp_path / "cut"), "2", nproc=2)
    state = torch.load(tmp_path / "cut" / "run" / "checkpoint-2" / "state.pt",
                       weights_only=False)
    assert len(state["rng_by_rank"]) == 2  # every rank's RNG state is in the checkpoint
    _job("grpo", str(episodes), str(tmp_path / "cut"), "4", "--resume", nproc=2)
    whole, cut = _params(tmp_path / "whole"), _params(tmp_path / "cut")
    for k in whole:
        assert torch.allclose(whole[k], cut[k], rtol=0, atol=1e-6), k
    assert [r["step"] for r in _train_records(tmp_path / "cut")] == \
        [r["step"] for r in _train_records(tmp_path / "whole")]


@pytest.mark.slow
def test_accelerate_launch_takes_the_single_process_update(tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` (what a user of accelerate types; on a
    CPU-only machine it starts torch.distributed.run's ranks, gloo) trains the same GRPO update
    as one process."""
    import socket

    accelerate = Path(sys.executable).with_name("accelerate")
    if not accelerate.exists():
        pytest.fail("accelerate is a dependency of the agents extra (TRL): its launcher is missing")
    episodes = tmp_path / "episodes.pkl"
    _job("grpo", str(episodes), str(tmp_path / "one"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines",
           "1", "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port",
           str(port), str(JOB), "grpo", str(episodes), str(tmp_path / "two")]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    one, two = _params(tmp_path / "one"), _params(tmp_path / "two")
    assert one.keys() == two.keys()
    for k in one:
        assert torch.allclose(one[k], two[k], rtol=0, atol=1e-5), k
    ranks = json.loads((tmp_path / "two" / "work.json").read_text())
    assert len(ranks) == 2 and all(r["micro_batches"] > 0 for r in ranks)


@pytest.mark.slow
def test_rlenvs_train_nproc_2_runs(tmp_path):
    from tests.agents.toy_envs import tiny_policy

    model_dir = tmp_path / "tiny-model"
    tiny_policy().save_pretrained(model_dir)
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "rlenvs.cli", "train", "--env", "rlenvs/Arithmetic-v0",
           "--env-kwarg", "level=1", "--policy", str(model_dir), "--nproc", "2", "--steps", "1",
           "--max-new-tokens", "8", "--num-generations", "2", "--batch-size", "2",
           "--grad-accum", "2", "--threads", "1", "--out-dir", str(out), "--no-plot", "--quiet"]
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=600,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert done.stdout.count('"steps": 1') == 1  # rank 0 reports, once
    [record] = _train_records(tmp_path)  # (tmp_path/run/metrics.jsonl)
    assert record["step"] == 1 and record["num_completions"] == 4
    assert (out / "checkpoint-1" / "state.pt").is_file()
    state = torch.load(out / "checkpoint-1" / "state.pt", weights_only=False)
    assert len(state["rng_by_rank"]) == 2


def test_nproc_refuses_the_demo(capsys):
    from agents.cli import main

    assert main(["train", "--demo", "--nproc", "2"]) == 2
    assert "--nproc" in capsys.readouterr().err
