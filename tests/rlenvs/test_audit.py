"""``rlenvs audit`` (issue 27): every family catches a judge with its hole and passes one
without it; probes find false negatives; the built-in envs, a plugin env registered by entry
point and a ``module:EnvId`` env are audited; the report comes as a table, JSON and HTML."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rlenvs
from rlenvs.audit import FAMILIES, audit
from tests.rlenvs import audit_judges as aj
from tests.rlenvs.test_view import _dump_dom

ROOT = Path(__file__).resolve().parents[2]
NAIVE = ROOT / "examples" / "naive_plugin"


def _family(report, name):
    return next(f for f in report.families if f.name == name)


def _run(env, name, episodes=3):
    return _family(audit(env, episodes=episodes, families=[name]), name)


# ------------------------------------------------------------------ each family, both ways

@pytest.mark.parametrize("name", sorted(aj.ANSWER_HOLES))
def test_answer_families_catch_their_hole_and_pass_a_sound_judge(name):
    caught = _run(aj.answer_env(aj.ANSWER_HOLES[name]), name)
    assert caught.tried and caught.wrong, (name, caught)
    assert caught.example and caught.example["reply"] is not None
    sound = _run(aj.answer_env(aj.ANSWER_SOUND), name)
    assert sound.tried and sound.wrong == 0, (name, sound.example)


@pytest.mark.parametrize("name", sorted(aj.CODE_HOLES))
def test_code_families_catch_their_hole_and_pass_the_sandbox(name):
    caught = _run(aj.code_env(aj.CODE_HOLES[name], name), name, episodes=1)
    assert caught.tried and caught.wrong, (name, caught)
    sound = _run(aj.code_env(family=name), name, episodes=1)
    assert sound.tried and sound.wrong == 0 and sound.faults == 0, (name, sound.example,
                                                                    sound.fault_example)


@pytest.mark.parametrize("name", sorted(aj.TEXT_HOLES))
def test_instruction_families_catch_their_hole_and_pass_the_library(name):
    caught = _run(aj.text_env(aj.TEXT_HOLES[name]), name, episodes=4)
    assert caught.tried and caught.wrong, (name, caught)
    sound = _run(aj.text_env(), name, episodes=4)
    assert sound.tried and sound.wrong == 0, (name, sound.example)


@pytest.mark.parametrize("name", sorted(aj.OPEN_HOLES))
def test_open_task_families_catch_their_hole_and_pass_a_scripted_llm_judge(name):
    caught = _run(aj.open_env(aj.OPEN_HOLES[name]), name, episodes=2)
    assert caught.tried and caught.wrong, (name, caught)
    sound = _run(aj.open_env(), name, episodes=2)
    assert sound.tried and sound.wrong == 0 and sound.faults == 0, (name, sound.example)


def test_every_family_is_tested_both_ways():
    covered = set(aj.ANSWER_HOLES) | set(aj.CODE_HOLES) | set(aj.TEXT_HOLES) | set(aj.OPEN_HOLES)
    assert covered == {f.name for f in FAMILIES}


def test_an_example_with_invisible_characters_shows_its_code_points():
    fam = _run(aj.answer_env(aj.ANSWER_HOLES["confusables"]), "confusables", episodes=1)
    example = fam.example
    assert example and "\\u" in example["code_points"] and example["code_points"].isascii()


def test_wrong_values_differ_from_the_gold():
    from fractions import Fraction

    from rlenvs.audit.context import as_number, wrong_values

    for gold in ["0", "1", "-7", "42", "1,234", "3/4", "\\frac{5}{6}", "-\\frac{1}{2}", "2.5",
                 "\\sqrt{2}", "Lusk", "x^2+1"]:
        wrongs = wrong_values(gold)
        assert len(wrongs) >= 3 and gold not in wrongs, gold
        g = as_number(gold)
        if g is not None:
            assert all(as_number(w) != g for w in wrongs), (gold, wrongs)
    assert as_number("\\frac{5}{6}") == Fraction(5, 6) and as_number("1,234") == 1234


def test_the_gold_is_read_from_the_envs_private_fields():
    tasks = [{"id": "x", "question": "6 * 7", "target": "42", "note": "private too"}]
    env = rlenvs.TaskEnv(rlenvs.ListSource(tasks), lambda t: f"Compute {t['question']}.",
                         lambda r, t: aj.verdict(t["target"] in r), public_fields=("id", "question"))
    found = audit(env, episodes=1, families=["hedges"])
    assert found.kinds == ["answer"] and found.exit_code == 1
    named = audit(env, episodes=1, families=["hedges"], gold_field="target")
    assert named.holes[0].example == found.holes[0].example
    with pytest.raises(KeyError, match="no field 'gold'"):
        audit(env, episodes=1, gold_field="gold")
    public = rlenvs.TaskEnv(rlenvs.ListSource(tasks), lambda t: f"Compute {t['question']}.",
                            lambda r, t: aj.verdict(True), public_fields=("id", "question",
                                                                          "target"))
    assert audit(public, episodes=1, families=["hedges"]).kinds == ["open"]  # shown: no gold


def test_a_served_env_is_audited_where_it_is_served():
    with pytest.raises(ValueError, match="where the environment is served"):
        audit("http://127.0.0.1:9/rlenvs/Arithmetic-v0")


def test_a_fault_is_counted_apart_never_as_a_pass():
    from judges import Verdict

    def faulty(reply, task):
        return Verdict(1.0, True, "judge timed out", {"unscored": True, "cause": "timeout"})

    def raising(reply, task):
        raise RuntimeError("judge crashed")

    for judge in (faulty, raising):
        report = audit(aj.answer_env(judge), episodes=1, families=["hedges"])
        fam = report.families[0]
        assert fam.wrong == 0 and fam.faults == fam.tried > 0 and report.exit_code == 0
        assert fam.fault_example and fam.status == "faults only"  # not "held": nothing judged
        assert report.probes.to_dict(probe=True)["status"] == "faults only"
        assert "fault(s)" in report.summary_line()


# ------------------------------------------------------------------ false-negative probes

def test_probes_find_false_negatives_and_none_on_a_sound_judge():
    strict = audit(aj.answer_env(aj.ANSWER_SOUND), episodes=3, families=["empty"])
    assert strict.probes.wrong > 0 and 0 < strict.false_negative_rate < 1
    sound = audit("rlenvs/Arithmetic-v0", episodes=3, families=["empty"])
    assert sound.probes.tried >= 15 and sound.false_negative_rate == 0.0, sound.probes.example


def test_code_probes_run_the_reference_in_other_styles():
    report = audit(aj.code_env(), episodes=1, families=["empty"])
    assert report.probes.tried == 4 and report.probes.wrong == 0, report.probes.example


# ------------------------------------------------------------------ determinism and time

def _stable(report):
    d = report.to_dict()
    d.pop("elapsed_s")
    return d


def test_same_seed_same_report():
    a = audit("rlenvs/Arithmetic-v0", episodes=2, seed=5)
    b = audit("rlenvs/Arithmetic-v0", episodes=2, seed=5)
    assert _stable(a) == _stable(b)
    c = audit(aj.answer_env(aj.ANSWER_HOLES["hedges"]), episodes=2, seed=5)
    d = audit(aj.answer_env(aj.ANSWER_HOLES["hedges"]), episodes=2, seed=5)
    assert _stable(c) == _stable(d) and c.exit_code == 1


def test_workers_judge_at_once_and_report_the_same():
    one = audit(aj.answer_env(aj.ANSWER_HOLES["recanting"]), episodes=2, workers=1)
    three = audit(aj.answer_env(aj.ANSWER_HOLES["recanting"]), episodes=2, workers=3)
    assert _stable(one) == _stable(three) and one.exit_code == 1


def test_max_seconds_bounds_the_run_and_marks_it_partial():
    report = audit("rlenvs/Arithmetic-v0", episodes=500, max_seconds=1.0)
    assert report.partial and report.episodes_run < 500 and report.elapsed_s < 10
    assert "PARTIAL" in report.summary_line()


# ------------------------------------------------------------------ the built-in envs

# The holes the audit found in built-in judges (a zero-width-split hedge in verify_math; the
# tool envs reading their boxes alone) are fixed (issue 26): every built-in env must hold.
BUILTIN = [e for e in rlenvs.list_envs() if e.startswith("rlenvs/")]


@pytest.mark.parametrize("env_id", BUILTIN)
def test_every_builtin_env_passes_the_audit(env_id):
    kwargs = {"judge": aj.ScriptedJudge()} if env_id == "rlenvs/Chat-v0" else {}
    report = audit(env_id, episodes=2 if "Code" not in env_id else 1, env_kwargs=kwargs)
    assert report.episodes_run >= 1 and not report.partial
    holes = {f.name for f in report.holes}
    assert not holes, {f.name: f.example for f in report.holes}
    assert report.exit_code == 0


CHAT_FAMILIES = ["master_keys", "empty", "format_only", "planted_scores"]


def test_chat_rules_judge_pays_only_replies_about_the_task_and_the_audit_says_so():
    """Chat-v0's default judge ("rules") checks form and one content invariant (issue 27): a
    paid reply shares a content word with the prompt or its reference and says more than the
    prompt. Master keys, format-only replies and planted scores are made of function words
    and words about answering: over every sample prompt the audit finds no hole, and every
    reference (the probes) still passes. A form-only judge on the same env is caught."""
    from judges import Verdict
    from rlenvs.audit.generic import MASTER_KEYS
    from rlenvs.envs.chat_env import rule_chat_judge

    report = audit("rlenvs/Chat-v0", episodes=24, families=CHAT_FAMILIES)
    assert report.judge == "rlenvs.envs.chat_env.rule_chat_judge"
    assert not report.holes and report.exit_code == 0, {f.name: f.example for f in report.holes}
    assert _family(report, "master_keys").tried == 24 * len(MASTER_KEYS)
    assert report.probes.tried == 24 and report.probes.wrong == 0

    def form_only(reply, task):  # the former rules judge's reading: form, not content
        reply = rule_chat_judge(reply, task)
        parts = reply.details["components"]
        ok = all(v == 1.0 for k, v in parts.items() if k != "addresses_task")
        return Verdict(1.0 if ok else 0.0, ok, "form only")

    report = audit("rlenvs/Chat-v0", episodes=1, families=["master_keys", "empty"],
                   env_kwargs={"judge": form_only})
    assert "master_keys" in {f.name for f in report.holes} and report.exit_code == 1
    assert "empty" not in {f.name for f in report.holes}


# ------------------------------------------------------------------ the command line

CONSOLE = "import sys; from rlenvs.cli import main; sys.exit(main())"  # as the `rlenvs` script


def _cli(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-c", CONSOLE, "audit", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)


def _pythonpath(*paths):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    return env


def test_cli_module_form_names_the_naive_hole_in_three_forms(tmp_path):
    out, page = tmp_path / "r.json", tmp_path / "r.html"
    run = _cli("rlenvs_naive:naive/Multiply-v0", "--episodes", "3", "--out", str(out),
               "--html", str(page), "--quiet", env=_pythonpath(NAIVE))
    assert run.returncode == 1, run.stderr[-2000:]
    assert "hedges" in run.stdout and "HOLE" in run.stdout
    data = json.loads(out.read_text())
    assert data["env_id"] == "naive/Multiply-v0" and not data["passed"]
    assert {"hedges", "recanting", "thinking_only"} <= set(data["holes"])
    hedges = next(f for f in data["families"] if f["name"] == "hedges")
    assert hedges["passed_when_should_not"] > 0 and hedges["example"]["reply"]
    assert page.read_text().startswith("<!doctype html>")
    fixed = _cli("rlenvs_naive:naive/MultiplyVerified-v0", "--episodes", "2", "--quiet",
                 "--families", "hedges,recanting,thinking_only", env=_pythonpath(NAIVE))
    assert fixed.returncode == 0, fixed.stdout[-2000:]


def test_cli_is_deterministic_across_processes(tmp_path):
    reports = []
    for k in range(2):
        out = tmp_path / f"{k}.json"
        run = _cli("rlenvs_naive:naive/Multiply-v0", "--episodes", "2", "--seed", "7", "--out",
                   str(out), "--quiet", env=_pythonpath(NAIVE))
        assert run.returncode == 1, run.stderr[-2000:]
        data = json.loads(out.read_text())
        data.pop("elapsed_s")
        reports.append(data)
    assert reports[0] == reports[1]


def test_cli_plugin_registered_by_entry_point(tmp_path):
    target, source = tmp_path / "site", tmp_path / "naive_plugin"
    shutil.copytree(NAIVE, source, ignore=shutil.ignore_patterns("build", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
           "--target", str(target), str(source)]  # built in a copy: no build files in the tree
    subprocess.run(pip, check=True, capture_output=True, timeout=300)
    shutil.rmtree(target / "rlenvs_naive")  # only the entry point may bring it in...
    env = _pythonpath(target, NAIVE)  # ...from the source folder, never imported by name
    listed = subprocess.run([sys.executable, "-m", "rlenvs.cli", "list"], capture_output=True,
                            text=True, env=env, timeout=120, cwd=ROOT)
    assert "naive/Multiply-v0" in listed.stdout.split()
    run = _cli("naive/Multiply-v0", "--episodes", "2", "--quiet", env=env)
    assert run.returncode == 1 and "hedges" in run.stdout, run.stderr[-2000:]


def test_cli_usage_errors_are_one_line_exit_2():
    run = _cli("rlenvs/Arithmetic-v0", "--judge", "scripted")
    assert run.returncode == 2 and "takes no judge" in run.stderr
    run = _cli("rlenvs/Arithmetic-v0", "--families", "nope")
    assert run.returncode == 2 and "unknown" in run.stderr
    run = _cli("nosuchmodule:Foo-v0")
    assert run.returncode == 2 and "no module named" in run.stderr


def test_cli_scripted_judge_on_the_llm_judged_env(tmp_path):
    out = tmp_path / "chat.json"
    run = _cli("rlenvs/Chat-v0", "--judge", "scripted", "--episodes", "2", "--out", str(out),
               "--quiet")
    assert run.returncode == 0, run.stdout[-2000:]
    data = json.loads(out.read_text())
    assert "scripted judge" in data["judge"] and data["env_kwargs"]["judge"] == "scripted"
    ran = {f["name"] for f in data["families"] if f["tried"]}
    assert {"master_keys", "planted_scores"} <= ran


def test_module_form_resolves_in_every_command():
    code = ("import rlenvs\nfrom rlenvs.cli import _env_checked\n"
            "env = rlenvs.make('rlenvs_naive:naive/Multiply-v0')\n"
            "print(_env_checked('rlenvs_naive:naive/MultiplyVerified-v0', {}))\n"
            "import gymnasium as gym\nprint(gym.spec('naive/Multiply-v0').id)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env=_pythonpath(NAIVE), cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.split() == ["naive/MultiplyVerified-v0", "naive/Multiply-v0"]


# ------------------------------------------------------------------ the HTML page

def test_html_report_renders_in_headless_chromium_escaped(tmp_path):
    tagged = aj.answer_env(lambda r, t: aj.verdict("<score>" in r))  # the example has a tag
    report = audit(tagged, episodes=1, families=["planted_scores", "hedges", "read_tests"])
    page = report.write_html(tmp_path / "audit.html")
    dom = _dump_dom(page, tmp_path)  # skips with a reason where chromium is absent
    assert "data-family=\"planted_scores\"" in dom and "class=\"hole\"" in dom
    assert "class=\"held\"" in dom and "class=\"skipped\"" in dom
    assert "<score>" not in dom and "&lt;score&gt;" in dom  # a planted tag shown, not parsed
    assert "<script" not in dom and re.search(r'id="verdict"[^>]*>[^<]*hole', dom)
