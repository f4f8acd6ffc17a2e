"""Issue 18: ``rlenvs view`` -- real evaluations rendered to HTML and opened in headless Chromium.

The results come from real environments (arithmetic, a tool env with a real calculator call, a
process-reward env scored by ``judges.prm.rule_step_judge``); some replies carry script
injections, which the page must show as text and never run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import gymnasium
import pytest

from rlenvs.evaluation import evaluate
from rlenvs.view import render_html, write_view

ATTACK = ("<script>document.body.setAttribute('data-pwned', 'script')</script>"
          "<img src=x onerror=\"document.body.setAttribute('data-pwned', 'img')\">"
          "</script><script>document.title = 'PWNED'</script><!--")


def _arithmetic_policy(messages):
    question = re.search(r"Compute (.*)\. Put", messages[-1]["content"]).group(1)
    if len(question) % 2:  # some replies are attacks (and fail), the rest right answers
        return ATTACK
    return f"\\boxed{{{eval(question)}}}"  # noqa: S307 - digits and operators we generated


def _tool_policy(messages):
    if messages[-1]["role"] == "tool":
        result = json.loads(messages[-1]["content"]) if messages[-1]["content"][:1] == "{" \
            else messages[-1]["content"]
        value = result.get("result") if isinstance(result, dict) else result
        return f"The calculator says {value}. \\boxed{{{value}}}"
    expression = re.search(r"Compute (\d+ \* \d+)\.", messages[-1]["content"])
    expression = expression.group(1) if expression else "1+1"
    call = {"name": "calculator", "arguments": {"expression": expression}}
    return f"<tool_call>{json.dumps(call)}</tool_call>"


def _steps_policy(messages):
    return "Step 1: 2 + 3 = 5\nStep 2: 5 * 4 = 21\nStep 3: so the answer is \\boxed{21}" + ATTACK


def _register_steps_env() -> str:
    env_id = "viewtest/Steps-v0"
    if env_id not in gymnasium.registry:
        def make_env(**kwargs):
            from judges.prm import rule_step_judge
            from rlenvs.task_env import TaskEnv
            from rlenvs.tasks import ListSource

            return TaskEnv(ListSource([{"question": "(2+3)*4", "answer": "20"}]),
                           prompt=lambda t: f"{t['question']}, step by step.",
                           judge=rule_step_judge(), **kwargs)

        gymnasium.register(env_id, entry_point=make_env)
    return env_id


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Three evaluations, in the page's order (files sorted by name)."""
    folder = tmp_path_factory.mktemp("results")
    runs = {
        "arith": evaluate("rlenvs/Arithmetic-v0", _arithmetic_policy, episodes=6, samples=2,
                          out=folder / "Arithmetic-v0.jsonl", progress=False),
        "steps": evaluate(_register_steps_env(), _steps_policy, episodes=2,
                          out=folder / "Steps-v0.jsonl", progress=False),
        "tools": evaluate("rlenvs/ToolMath-v0", _tool_policy, episodes=3,
                          env_kwargs={"kinds": ["multiply"]},
                          out=folder / "ToolMath-v0.jsonl", progress=False),
    }
    return folder, runs


def test_results_hold_what_the_page_shows(results):
    _, runs = results
    assert any(r["passed"] for r in runs["arith"].records)
    assert any(r["messages"][-1]["content"] == ATTACK for r in runs["arith"].records)
    calls = [c for r in runs["tools"].records for c in r["tool_calls"]]
    assert calls and all(c["name"] == "calculator" and c["turn"] == 1 for c in calls)
    assert all(r["passed"] for r in runs["tools"].records), runs["tools"].records[0]
    steps = runs["steps"].records[0]["verdict"]["steps"]
    assert len(steps) >= 2 and min(steps) < 1.0  # the wrong step 5 * 4 = 21 scores low


def test_page_escapes_transcripts_without_a_browser(results):
    folder, runs = results
    page = render_html([{"env_id": "x", "policy": "p", "scored_by": "", "summary":
                         runs["arith"].summary, "records": runs["arith"].records,
                         "source": "s"}])
    assert page.count("<script") == 2  # the data block and the page's own script, nothing else
    assert "document.title = 'PWNED'" in page  # kept, as data
    assert "<img src=x" not in page and "</script><script>document" not in page
    assert "Content-Security-Policy" in page


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: .ci/install installs Debian's chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium; CI installs it)")
    return found


def _dump_dom(page, tmp_path) -> str:
    run = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def test_cli_view_renders_in_headless_chromium(results, tmp_path):
    folder, runs = results
    cli = subprocess.run([sys.executable, "-m", "rlenvs.cli", "view", str(folder)],
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0, cli.stderr
    page = folder / "view.html"
    assert cli.stdout.strip() == str(page)
    dom = _dump_dom(page, tmp_path)
    records = [r for run in runs.values() for r in run.records]
    # the script built one element per transcript, in the right section
    assert dom.count('<details class="transcript ') == len(records)
    assert f'data-rendered="{len(records)}"' in dom
    assert f"{len(records)} of {len(records)} transcripts shown" in dom
    for i, run in enumerate(runs.values()):
        section = dom.split(f'id="transcripts-{i}"', 1)[1].split("</section>", 1)[0]
        assert section.count('<details class="transcript ') == len(run.records)
    passed = sum(r["passed"] for r in records)
    assert dom.count('<details class="transcript pass"') == passed
    # nothing from a transcript ran: no attribute set, no title changed, no <img> element
    assert "data-pwned" not in dom.split("<body", 1)[1].split(">", 1)[0]
    assert "<title>PWNED" not in dom and "<img" not in dom
    assert "&lt;script&gt;document.body.setAttribute('data-pwned', 'script')" in dom
    # pass@k and histogram per environment; the histogram counts every transcript
    assert dom.count("class=\"passk\"") == 3 and "pass@2" in dom
    for i, run in enumerate(runs.values()):
        section = dom.split(f"id=\"env-{i}\"", 1)[1].split("</section>", 1)[0]
        counts = [int(c) for c in re.findall(r'data-count="(\d+)"', section)]
        assert sum(counts) == len(run.records)
    # tool calls highlighted in the reply and tabled; process-reward steps highlighted
    calls = sum(len(r.get("tool_calls", [])) for r in records)
    assert dom.count('class="toolcall-row"') == calls
    assert dom.count('<span class="toolcall"') == calls
    steps = sum(len(r["verdict"]["steps"] or []) for r in runs["steps"].records)
    assert dom.count('<span class="step"') == steps


def test_view_of_one_file_and_a_crashed_run(results, tmp_path):
    folder, runs = results
    crashed = tmp_path / "crashed.jsonl"
    lines = (folder / "Arithmetic-v0.jsonl").read_text().splitlines(keepends=True)
    crashed.write_text("".join(lines[:3]) + lines[3][:40])  # a run killed mid-write
    page = write_view(crashed)
    assert page == tmp_path / "crashed.html"
    dom = _dump_dom(page, tmp_path)
    assert dom.count('<details class="transcript ') == 3
    assert "pass@1" in dom  # summary computed from the transcripts when none was written


def test_view_user_errors_are_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "rlenvs.cli", "view", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no such file or folder" in run.stderr
    assert run.stderr.strip().count("\n") == 0
