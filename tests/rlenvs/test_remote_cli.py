"""``rlenvs eval URL`` and ``rlenvs train URL`` on an environment served by ``rlenvs serve-env``
(issue 17's "serve, connect, train" from the command line): both refused the URL with "no
environment registered as 'http://...'" although ``rlenvs.make(URL)`` takes it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

from judges.llm.server import ChatServer
from rlenvs.cli import main
from rlenvs.policies import FunctionPolicy
from rlenvs.registration import resolve_id
from rlenvs.serving import EnvServer


def _oracle(messages):
    question = re.search(r"Compute (.*)\. Put", messages[-1]["content"]).group(1)
    return f"\\boxed{{{eval(question)}}}"  # noqa: S307 - digits and operators we generated


def test_eval_and_train_take_a_served_envs_url(tmp_path):
    """~25 s: an in-process env server, a scripted HTTP policy, a 2-layer model's GRPO
    step in a `rlenvs train` process."""
    from tests.agents.toy_envs import tiny_policy

    with EnvServer(["rlenvs/Arithmetic-v0"], max_sessions=8).background() as base:
        url = f"{base}/rlenvs/Arithmetic-v0"
        assert resolve_id(url) == url
        out = tmp_path / "eval.jsonl"
        with ChatServer(FunctionPolicy(_oracle, name="oracle")) as chat:
            assert main(["eval", url, "--policy", chat.base_url, "--episodes", "2",
                         "--out", str(out), "--quiet"]) == 0
        summary = json.loads((tmp_path / "eval.jsonl.summary.json").read_text())
        assert summary["env_id"] == url and summary["pass_at_k"]["pass@1"] == 1.0

        model_dir = tmp_path / "tiny-model"
        tiny_policy().save_pretrained(model_dir)
        run = tmp_path / "run"
        # its own process: the branched RemoteEnvs left for the exit's garbage collection hung
        # the interpreter there (websockets' close joined a thread that had been stopped)
        done = subprocess.run(
            [sys.executable, "-m", "rlenvs.cli", "train", url, "--policy", str(model_dir),
             "--steps", "1", "--num-generations", "2", "--batch-size", "2",
             "--max-completion-length", "4", "--output-dir", str(run), "--no-plot", "--quiet"],
            capture_output=True, text=True, timeout=240)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Exception ignored" not in done.stderr, done.stderr[-2000:]  # a quiet exit
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
    assert json.loads((run / "run.json").read_text())["env_id"] == url
