"""The nested rollout config (issue 15): only GRPO takes tree / ARPO settings; every spelling a
user has (flat TRL-style names, Tree-GRPO's words, ``rollout.`` paths, nested dicts in JSON/YAML,
``--set``) lands in ``GRPOConfig.rollout``; the others refuse them by name. No model is loaded."""

from __future__ import annotations

import argparse
import dataclasses
import json

import pytest

from agents.trainers.config import GRPOConfig, PPOConfig, RLOOConfig, RolloutConfig, TrainConfig

ROLLOUT_SETTINGS = {"ts_m", "ts_n", "ts_l", "ts_k", "tree_advantage", "rollout_budget",
                    "initial_rollouts", "beam_size", "branch_probability", "entropy_weight",
                    "entropy_tokens", "entropy_top_logprobs", "arpo_attribution",
                    "arpo_branch_on"}


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_only_grpo_configs_carry_rollout_settings():
    assert {f.name for f in dataclasses.fields(RolloutConfig)} == ROLLOUT_SETTINGS | {"kind"}
    for cls in (TrainConfig, PPOConfig):
        assert not _fields(cls) & (ROLLOUT_SETTINGS | {"rollout"}), cls
    assert not _fields(GRPOConfig) & ROLLOUT_SETTINGS and "rollout" in _fields(GRPOConfig)
    assert GRPOConfig().rollout == RolloutConfig() and GRPOConfig().rollout.kind == "chain"
    with pytest.raises(TypeError):
        PPOConfig(rollout="chain")  # noqa - no such field


def test_every_spelling_lands_in_the_nested_config():
    want = RolloutConfig("tree", ts_m=3, ts_n=1, ts_l=2, ts_k=2)
    spellings = [
        {"rollout": "tree", "ts_m": 3, "ts_n": 1, "ts_l": 2, "ts_k": 2},  # flat (--set)
        {"rollout": {"kind": "tree", "ts_m": 3, "ts_n": 1, "ts_l": 2, "ts_k": 2}},  # JSON/YAML
        {"rollout.kind": "tree", "rollout.ts_m": 3, "rollout.ts_n": 1, "rollout.ts_l": 2,
         "rollout.ts_k": 2},  # dotted
        {"rollout": "tree", "trees_per_prompt": 3, "expansions_per_round": 1,
         "expansion_rounds": 2, "leaves_kept": 2},  # Tree-GRPO's words
        {"rollout": want},
    ]
    for values in spellings:
        cfg = GRPOConfig.from_dict({**values, "per_device_train_batch_size": 6})
        assert cfg.rollout == want, values
        assert cfg.rows_per_prompt == 6 and cfg.prompts_per_generation == 1
        assert cfg.semantics == "trl"
    # the constructor takes the config, a kind, or a dict of its settings
    assert GRPOConfig(rollout=want, per_device_train_batch_size=6).rollout == want
    assert GRPOConfig(rollout={"kind": "tree", "ts_m": 3, "ts_n": 1, "ts_l": 2, "ts_k": 2},
                      per_device_train_batch_size=6).rollout == want
    assert GRPOConfig(rollout="arpo", num_generations=4,
                      per_device_train_batch_size=4).rollout == RolloutConfig("arpo")


def test_arpo_settings_and_the_rows_per_prompt():
    cfg = GRPOConfig.from_dict({"rollout": "arpo", "rollout_budget": 6, "initial_rollouts": 3,
                                "beam_size": 3, "branch_probability": 0.4,
                                "entropy_weight": 0.3, "arpo_attribution": "hard",
                                "per_device_train_batch_size": 12})
    arpo = cfg.arpo_config()
    assert (arpo.n, arpo.initial_rollouts, arpo.beam_size, arpo.attribution) == (6, 3, 3, "hard")
    assert (arpo.branch_probability, arpo.entropy_weight) == (0.4, 0.3)
    assert cfg.rows_per_prompt == 6 and cfg.prompts_per_generation == 2
    # M defaults to num_generations, N to M // 2
    cfg = GRPOConfig(rollout="arpo", num_generations=4, per_device_train_batch_size=8)
    assert (cfg.arpo_config().n, cfg.arpo_config().initial_rollouts, cfg.rows_per_prompt) == \
        (4, 2, 4)


def test_verl_rollout_n_is_not_a_rollout_setting():
    # verl's rollout.n (samples per prompt) beside our nested rollout section
    cfg = GRPOConfig.from_dict({"rollout": {"n": 4, "kind": "arpo", "entropy_tokens": 5},
                                "per_device_train_batch_size": 8})
    assert cfg.num_generations == 4 and cfg.semantics == "verl"
    assert cfg.rollout == RolloutConfig("arpo", entropy_tokens=5)
    assert cfg.arpo_config().n == 4


def test_round_trip_and_conflicts():
    cfg = GRPOConfig(rollout=RolloutConfig("tree", ts_m=1, ts_k=2), beta=0.04,
                     per_device_train_batch_size=4)
    assert GRPOConfig.from_dict(cfg.to_dict()) == cfg
    assert GRPOConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert cfg.to_dict()["rollout"]["ts_k"] == 2
    with pytest.raises(ValueError, match="rollout.ts_m=2 both set the rollout's ts_m and disagree"):
        GRPOConfig.from_dict({"rollout": "tree", "ts_m": 3, "rollout.ts_m": 2})
    with pytest.raises(ValueError, match="RolloutConfig has no setting 'm'"):
        GRPOConfig(rollout={"kind": "tree", "m": 2})
    with pytest.raises(TypeError, match="rollout must be a RolloutConfig"):
        GRPOConfig(rollout=3)
    with pytest.raises(ValueError, match="GRPOConfig has no setting 'ts_q'"):
        GRPOConfig.from_dict({"rollout": "tree", "ts_q": 1})
    with pytest.raises(ValueError, match="need ts_m, ts_k >= 1"):
        GRPOConfig.from_dict({"rollout": "tree", "ts_m": 0})
    with pytest.raises(ValueError, match="ts_k must be an integer, got '3'"):
        GRPOConfig(rollout=RolloutConfig("tree", ts_k="3"))
    with pytest.raises(ValueError, match="branch_probability"):
        RolloutConfig("arpo", branch_probability=1.5)


def test_trainers_without_a_rollout_refuse_its_settings_by_name():
    # chain is what they do: accepted (e.g. --rollout chain with --algo ppo)
    assert PPOConfig.from_dict({"rollout": "chain"}) == PPOConfig()
    for values, named in [({"ts_m": 2}, "ts_m"), ({"rollout": "tree"}, "rollout"),
                          ({"rollout": {"kind": "arpo", "beam_size": 3}},
                           "rollout.beam_size, rollout.kind"),
                          ({"rollout": "chain", "rollout_budget": 4}, "rollout_budget")]:
        with pytest.raises(ValueError, match=f"PPOConfig takes no rollout settings \\({named}\\)"):
            PPOConfig.from_dict(values)
    # RLOO takes GRPO's config but trains on its own leave-one-out advantages
    with pytest.raises(ValueError, match="rollout='tree' brings its own advantages"):
        RLOOConfig(rollout="tree", num_generations=2, per_device_train_batch_size=6)


def test_cli_spellings_and_refusals(tmp_path, capsys):
    from agents.cli import _settings, add_train_parser, config_for, main

    parser = argparse.ArgumentParser()
    add_train_parser(parser.add_subparsers(dest="command"))
    config = tmp_path / "tree.yaml"
    config.write_text("rollout:\n  kind: tree\n  ts_m: 1\n  ts_k: 2\nbeta: 0.04\n")
    args = parser.parse_args(["train", "--config", str(config), "--set", "ts_n=1",
                              "--batch-size", "2"])
    cfg = config_for("grpo", _settings(args))
    assert cfg.rollout == RolloutConfig("tree", ts_m=1, ts_n=1, ts_k=2) and cfg.beta == 0.04
    with pytest.raises(ValueError, match="ts_m must be a number"):
        config_for("grpo", {"rollout": "tree", "ts_m": "two"})
    capsys.readouterr()
    code = main(["train", "--env", "agents-test/Uppercase-v0", "--algo", "ppo", "--rollout",
                 "tree", "--out-dir", str(tmp_path / "ppo")])
    err = capsys.readouterr().err
    assert code == 2 and "PPOConfig takes no rollout settings (rollout)" in err
    assert err.count("\n") == 1 and not (tmp_path / "ppo").exists()


def test_a_resume_names_the_nested_setting_that_differs(tmp_path):
    from agents.run.checkpoint import RunMismatch, prepare_output_dir, run_identity

    def identity(cfg):
        return run_identity("grpo", "agents-test/Uppercase-v0", {}, "tiny", cfg.to_dict())

    one = GRPOConfig(rollout=RolloutConfig("tree", ts_m=1, ts_k=2), per_device_train_batch_size=2)
    two = GRPOConfig(rollout=RolloutConfig("tree", ts_m=2, ts_k=2), per_device_train_batch_size=4)
    assert identity(one)["settings"]["rollout.ts_m"] == 1
    prepare_output_dir(tmp_path, identity(one), resume=False)
    prepare_output_dir(tmp_path, identity(one), resume=True)  # the same run
    with pytest.raises(RunMismatch, match=r"rollout\.ts_m=1->2"):
        prepare_output_dir(tmp_path, identity(two), resume=True)


def test_a_resume_may_move_the_vllm_server_but_not_change_the_correction(tmp_path):
    from agents.run.checkpoint import RunMismatch, prepare_output_dir, run_identity

    def identity(**kw):
        cfg = GRPOConfig(per_device_train_batch_size=8, **kw)
        return run_identity("grpo", "agents-test/Uppercase-v0", {}, "tiny", cfg.to_dict())

    prepare_output_dir(tmp_path, identity(vllm_server_port=8000), resume=False)
    prepare_output_dir(tmp_path, identity(vllm_server_port=9000, vllm_server_host="10.0.0.2",
                                          vllm_server_weights_dir="/shared/w",
                                          vllm_gpu_memory_utilization=0.5,
                                          vllm_server_timeout=600.0), resume=True)
    with pytest.raises(RunMismatch, match="vllm_importance_sampling_correction"):
        prepare_output_dir(tmp_path, identity(vllm_importance_sampling_correction=False),
                           resume=True)
