"""Preference data for the DPO family: pairs, margins and KTO labels from judged rollouts
(values written out by hand), the datasets in the exact formats TRL 1.16 reads, one real TRL
DPO step (and a KTO and a SimPO step) on them, and the ``rlenvs preferences`` command."""

from __future__ import annotations

import copy
import itertools
import json
import re
import warnings

import datasets
import pytest

from agents.preferences import (
    collect_preferences,
    kto_examples,
    preference_pairs,
    split_conversation,
)
from rlenvs.policies import FunctionPolicy

PROMPT = [{"role": "user", "content": "Compute 2 + 3."}]


def _record(episode, sample, reply, ret, passed, score=None, seed=100):
    return {"episode": episode, "sample": sample, "seed": seed + episode,
            "messages": PROMPT + [{"role": "assistant", "content": reply}], "return": ret,
            "passed": passed, "verdict": {"score": ret if score is None else score}}


RECORDS = [
    _record(0, 0, "\\boxed{5}", 1.0, True),
    _record(0, 1, "\\boxed{6}", 0.1, False),
    _record(0, 2, "five", 0.0, False, score=0.3),
    _record(0, 3, "\\boxed{5}!", 1.0, True),
    _record(1, 0, "7", 0.0, False),     # a prompt whose replies all score the same
    _record(1, 1, "8", 0.0, False),
]


def test_split_conversation():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "A", "tool_calls": [{"x": 1}]},
                {"role": "tool", "content": None}, {"role": "assistant", "content": "B"}]
    prompt, completion = split_conversation(messages)
    assert prompt == [{"role": "system", "content": "Be brief."},
                      {"role": "user", "content": "Hi"}]
    assert completion == [{"role": "assistant", "content": "A"},
                          {"role": "tool", "content": ""}, {"role": "assistant", "content": "B"}]
    with pytest.raises(ValueError, match="assistant"):
        split_conversation(PROMPT)


def test_best_worst_pairs_and_margins():
    rows = preference_pairs(RECORDS)
    assert len(rows) == 1  # prompt 1 has no score difference
    row = rows[0]
    # best: the first of the two 1.0 episodes (sample 0); worst: 0.0 (sample 2)
    assert row["chosen"] == [{"role": "assistant", "content": "\\boxed{5}"}]
    assert row["rejected"] == [{"role": "assistant", "content": "five"}]
    assert row["prompt"] == PROMPT and row["task_seed"] == 100
    assert (row["margin"], row["score_chosen"], row["score_rejected"]) == (1.0, 1.0, 0.0)
    # by the verdict's score instead: worst is now sample 1 (0.1 < 0.3)
    row = preference_pairs(RECORDS, score="verdict")[0]
    assert row["rejected"][0]["content"] == "\\boxed{6}" and row["margin"] == pytest.approx(0.9)


def test_an_unscored_record_is_neither_chosen_nor_rejected_nor_labelled():
    # issue 28: a judge that could not judge gives a placeholder 0, not a judgement
    fault = _record(0, 4, "\\boxed{5} (judge timed out)", 0.0, False)
    fault["status"], fault["cause"] = "unscored", "judge_backend"
    old_style = _record(0, 5, "old transcript, fault in its verdict", 0.0, False)
    old_style["verdict"] = {"score": 0.0, "status": "unscored", "details": {"unscored": True}}
    records = RECORDS + [fault, old_style]
    assert preference_pairs(records) == preference_pairs(RECORDS)
    assert preference_pairs(records, pairs="all") == preference_pairs(RECORDS, pairs="all")
    assert kto_examples(records) == kto_examples(RECORDS)
    assert kto_examples(records, label="above_mean") == kto_examples(RECORDS, label="above_mean")


def test_all_pairs_above_a_margin():
    rows = preference_pairs(RECORDS, pairs="all")
    # scores 1.0, 0.1, 0.0, 1.0 -> ordered pairs with a positive gap: (s0,s1) (s0,s2) (s3,s1)
    # (s3,s2) (s1,s2)
    got = sorted((r["chosen"][0]["content"], r["rejected"][0]["content"], r["margin"])
                 for r in rows)
    assert got == sorted([("\\boxed{5}", "\\boxed{6}", 0.9), ("\\boxed{5}", "five", 1.0),
                          ("\\boxed{5}!", "\\boxed{6}", 0.9), ("\\boxed{5}!", "five", 1.0),
                          ("\\boxed{6}", "five", 0.1)])
    assert len(preference_pairs(RECORDS, pairs="all", min_margin=0.5)) == 4
    assert preference_pairs(RECORDS, score="passed", pairs="all", min_margin=0.0)[0]["margin"] \
        == 1.0
    for bad in ({"pairs": "best"}, {"score": "vibes"}, {"min_margin": -1.0}):
        with pytest.raises(ValueError):
            preference_pairs(RECORDS, **bad)


def test_kto_labels():
    rows = kto_examples(RECORDS)
    assert [r["label"] for r in rows] == [True, False, False, True, False, False]
    assert rows[0]["completion"] == [{"role": "assistant", "content": "\\boxed{5}"}]
    # above the prompt's mean (0.525): samples 0 and 3; prompt 1 (no spread) is skipped
    rows = kto_examples(RECORDS, label="above_mean")
    assert [r["label"] for r in rows] == [True, False, False, True]
    with pytest.raises(ValueError):
        kto_examples(RECORDS, label="maybe")


class Alternating:
    """A scripted policy for Arithmetic-v0: right, wrong-but-boxed, unboxed, right, ..."""

    def __init__(self):
        self.calls = itertools.count()

    def __call__(self, messages):
        a, op, b = re.search(r"Compute (\d+) ([+-]) (\d+)", messages[-1]["content"]).groups()
        value = int(a) + int(b) if op == "+" else int(a) - int(b)
        k = next(self.calls) % 3
        return [f"So it is \\boxed{{{value}}}.", f"\\boxed{{{value + 1}}}", f"{value}"][k]


def _collected(tmp_path=None):
    return collect_preferences("rlenvs/Arithmetic-v0", FunctionPolicy(Alternating()),
                               episodes=3, num_generations=3,
                               env_kwargs={"level": 1, "format_credit": 0.1, "reward": "dense"},
                               progress=False, pairs="all",
                               rollouts_out=None if tmp_path is None else
                               tmp_path / "rollouts.jsonl")


def test_datasets_are_in_trls_conversational_formats(tmp_path):
    from trl.data_utils import is_conversational

    data = _collected(tmp_path)
    pairs, unpaired = data.pairs, data.unpaired
    assert set(pairs.column_names) >= {"prompt", "chosen", "rejected", "margin"}
    assert set(unpaired.column_names) >= {"prompt", "completion", "label"}
    assert len(pairs) == 9 and len(unpaired) == 9  # 3 prompts x (3 ordered pairs, 3 replies)
    for row in pairs:
        assert is_conversational(row)
        assert row["prompt"][-1]["role"] == "user" and row["chosen"][0]["role"] == "assistant"
        assert row["margin"] in (pytest.approx(0.9), pytest.approx(0.1), pytest.approx(1.0))
    assert unpaired.features["label"].dtype == "bool"
    assert sum(unpaired["label"]) == 3
    data.save(tmp_path / "out")
    loaded = datasets.load_from_disk(str(tmp_path / "out" / "dpo"))
    assert loaded[0] == pairs[0]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["pairs_written"] == 9 and summary["kto_desirable"] == 3
    assert len((tmp_path / "rollouts.jsonl").read_text().splitlines()) == 9


def test_empty_results_still_have_trls_columns():
    data = collect_preferences("rlenvs/Arithmetic-v0", FunctionPolicy(lambda m: "no idea"),
                               episodes=2, num_generations=2, progress=False)
    assert len(data.pairs) == 0 and "chosen" in data.pairs.column_names
    assert len(data.unpaired) == 4 and not any(data.unpaired["label"])
    with pytest.raises(ValueError, match="num_generations"):
        collect_preferences("rlenvs/Arithmetic-v0", FunctionPolicy(lambda m: "x"),
                            num_generations=1, progress=False)


def _tiny_model():
    from tests.agents.toy_envs import tiny_policy

    policy = tiny_policy(seed=0)
    return policy.model, policy.tokenizer


def _trl_args(cls, tmp_path, **kw):
    return cls(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=2,
               learning_rate=1e-3, report_to="none", save_strategy="no", logging_steps=1,
               use_cpu=True, bf16=False, **kw)


def test_one_real_trl_dpo_step_and_kto_and_simpo(tmp_path):
    """The datasets go into TRL 1.16's trainers unchanged; one optimizer step each moves the
    weights and gives a finite loss (tiny random Llama with SmolLM2's tokenizer, ~10 s)."""
    import torch
    from trl import DPOConfig, DPOTrainer, KTOConfig, KTOTrainer

    data = _collected()
    model, tokenizer = _tiny_model()
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    # an in-memory model has no path TRL could load the reference from: pass a frozen copy
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model),
                         args=_trl_args(DPOConfig, tmp_path / "dpo", max_length=128),
                         train_dataset=data.pairs, processing_class=tokenizer)
    out = trainer.train()
    assert out.global_step == 1 and torch.isfinite(torch.tensor(out.training_loss))
    assert any(not torch.equal(v, dict(model.named_parameters())[k]) for k, v in before.items())

    model, tokenizer = _tiny_model()
    kto = KTOTrainer(model=model, ref_model=copy.deepcopy(model),
                     args=_trl_args(KTOConfig, tmp_path / "kto", max_length=128),
                     train_dataset=data.unpaired, processing_class=tokenizer)
    assert kto.train().global_step == 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trl.experimental's import notice
        from trl.experimental.cpo import CPOConfig, CPOTrainer
    model, tokenizer = _tiny_model()
    simpo = CPOTrainer(model=model, args=_trl_args(CPOConfig, tmp_path / "simpo",
                                                   loss_type="simpo", cpo_alpha=0.0,
                                                   max_length=128),
                       train_dataset=data.pairs, processing_class=tokenizer)
    assert simpo.train().global_step == 1


def test_cli_refuses_bad_input_before_loading_a_model(tmp_path, capsys):
    from rlenvs.cli import main

    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    cases = [
        (["--num-generations", "1"], "at least 2"),
        (["--temperature", "0"], "temperature"),
        (["--min-margin", "-1"], "min-margin"),
        (["--out", str(tmp_path / "full")], "not empty"),
        (["--env-kwarg", "level=9"], "level"),
    ]
    for extra, message in cases:
        argv = ["preferences", "rlenvs/Arithmetic-v0", "--out", str(tmp_path / "o"), *extra]
        assert main(argv) == 2, extra
        assert message in capsys.readouterr().err, extra
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_preferences_end_to_end_on_smollm2_then_a_dpo_step(tmp_path):
    """``rlenvs preferences`` with SmolLM2 on level-1 arithmetic (dense reward: replies to one
    prompt differ), then one TRL DPO step of SmolLM2 itself on the pairs (~1-2 minutes).
    Able to fail: a run whose replies all score alike gives no pair."""
    import torch
    from trl import DPOConfig, DPOTrainer

    from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer
    from rlenvs.cli import main

    out = tmp_path / "prefs"
    code = main(["preferences", "rlenvs/Arithmetic-v0", "--env-kwarg", "level=1",
                 "--env-kwarg", "lenient=true", "--env-kwarg", "format_credit=0.1",
                 "--env-kwarg", "reward=dense",
                 "--episodes", "4", "--num-generations", "4", "--max-new-tokens", "48",
                 "--out", str(out), "--quiet", "--dtype", "float32"])
    assert code == 0
    pairs = datasets.load_from_disk(str(out / "dpo"))
    unpaired = datasets.load_from_disk(str(out / "kto"))
    assert len(unpaired) == 16
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs_written"] == len(pairs) and summary["rollouts"] == 16
    assert len(pairs) >= 1, "SmolLM2's 16 judged replies gave no preference pair"
    model = load_embedded_model("float32")
    tokenizer = load_embedded_tokenizer()
    trainer = DPOTrainer(model=model, ref_model=copy.deepcopy(model),
                         args=_trl_args(DPOConfig, tmp_path / "dpo", max_length=256),
                         train_dataset=pairs.select(range(min(2, len(pairs)))),
                         processing_class=tokenizer)
    result = trainer.train()
    assert result.global_step == 1 and torch.isfinite(torch.tensor(result.training_loss))
