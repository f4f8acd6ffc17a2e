"""``bf16="auto"``: the training passes autocast to bf16 only where the device runs it fast.

On an AVX2-only CPU (bf16 emulated) a SmolLM2 LoRA forward+backward took ~17x longer under bf16
autocast than in fp32 (issue 20: no default may make such a machine slower than the peer); the
demo and the example use "auto"."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import pytest
import torch

from agents import GRPOConfig, GRPOTrainer
from agents.cli import _settings, add_train_parser
from agents.run.demo import demo_config
from agents.run.metrics import read_metrics
from tests.agents.toy_envs import tiny_policy

_PROBE = ("import json, torch; from agents.trainers.base import train_bf16; "
          "from judges.llm.cpu_dtype import cpu_facts; torch.set_num_threads(1); "
          "b = train_bf16('auto', torch.device('cpu')); "
          "print(json.dumps({'bf16': b, **cpu_facts()}))")


def _probe(**env: str) -> dict:
    full = {k: v for k, v in os.environ.items() if k != "RLENVS_GENERATION_DTYPE"} | env
    out = subprocess.run([sys.executable, "-c", _PROBE], env=full, capture_output=True,
                         text=True, timeout=180, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_avx2_only_cpu_trains_in_float32_under_auto():
    facts = _probe(ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2")
    assert facts["torch_cpu_capability"] == "AVX2"
    assert facts["bf16"] is False, facts
    assert facts["training_s"]["bfloat16"] > facts["training_s"]["float32"], facts


def test_auto_follows_the_training_measurement_on_this_cpu():
    facts = _probe()
    t = facts["training_s"]  # a forward+backward per dtype, measured apart from generation
    assert facts["bf16"] is (t["bfloat16"] < 0.9 * t["float32"]), facts
    if not facts["cpu_bf16_instructions"]:
        assert facts["bf16"] is False, facts


@pytest.mark.parametrize("forced, autocast", [("float32", False), ("bfloat16", True)])
def test_trainer_resolves_auto_logs_it_and_autocasts_accordingly(tmp_path, monkeypatch,
                                                                 forced, autocast):
    monkeypatch.setenv("RLENVS_GENERATION_DTYPE", forced)  # forces the measurement's answer
    config = GRPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=4,
                        num_generations=4, max_completion_length=4, bf16="auto",
                        progress=False, save_final_checkpoint=False)
    trainer = GRPOTrainer(tiny_policy(), "agents-test/Uppercase-v0", config)
    assert trainer.bf16 is autocast
    with trainer._autocast():
        out = torch.nn.functional.linear(torch.ones(2, 3), torch.ones(4, 3))
    assert out.dtype == (torch.bfloat16 if autocast else torch.float32)
    summary = trainer.train()
    record = [r for r in read_metrics(summary["metrics"]) if r["kind"] == "train"][-1]
    assert record["train/dtype"] == forced


def test_config_and_cli_accept_auto_and_refuse_other_values():
    assert GRPOConfig(bf16="auto").bf16 == "auto"
    assert GRPOConfig.from_dict({"bf16": True}).bf16 is True
    with pytest.raises(ValueError, match="bf16 must be true, false or 'auto'"):
        GRPOConfig(bf16="yes")
    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    for argv, expected in ((["--bf16"], True), (["--bf16", "auto"], "auto"),
                           (["--bf16", "false"], False), ([], None)):
        args = parser.parse_args(["train", "--env", "rlenvs/Arithmetic-v0", *argv])
        assert _settings(args).get("bf16") == expected
    assert demo_config("/tmp/x", 1.0, 0, 0).bf16 == "auto"
