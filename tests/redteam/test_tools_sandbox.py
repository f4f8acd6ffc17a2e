"""Red team, the ``python`` tool: reaching the gold answer, or another episode, from a cell.

A tool env that wraps a dataset task (here a math task read from a JSONL file of gold answers)
gives the policy a Python interpreter in the code sandbox. From a cell the policy tries to read
the task file, the environment's process (its memory, environment, command line), the network
and a scratch file left by an earlier episode. None of it may reach the cell's output, and no
state may survive into a new episode or a branch that did not make it.
"""

from __future__ import annotations

import functools
import json

import pytest

from judges.code import run_python
from rlenvs.envs.math_judge import make_math_judge
from rlenvs.task_env import TaskEnv
from rlenvs.tasks import ListSource
from rlenvs.tools.python_tool import make_python_tool
from rlenvs.tools.tool_env import ToolEnv
from tests.redteam.test_code_channel import CONTAINED

GOLD = "7316491"  # unguessable, appears nowhere but in the task file / env memory


@pytest.fixture
def task_file(tmp_path):
    path = tmp_path / "secret_tasks.jsonl"
    path.write_text(json.dumps({"id": "t1", "question": "What is the secret number?",
                                "answer": GOLD}) + "\n")
    return path


def _env(path, mode: str) -> ToolEnv:
    inner = TaskEnv(ListSource.from_jsonl(path, required=("question", "answer")),
                    prompt=lambda t: t["question"], judge=make_math_judge(),
                    required_keys=("question", "answer"))
    runner = functools.partial(run_python, mode=mode)
    return ToolEnv(inner, [make_python_tool(timeout_s=10.0, runner=runner)], max_turns=12,
                   max_tool_calls=12)


def _call(code: str) -> str:
    return "<tool_call>" + json.dumps({"name": "python", "arguments": {"code": code}}) + \
        "</tool_call>"


def _observe(env: ToolEnv, code: str) -> str:
    obs, reward, terminated, truncated, info = env.step(_call(code))
    assert not (terminated or truncated) and reward == 0.0
    return obs[-1]["content"]


PROBES = {
    "task file": "print(open({path!r}).read())",
    "task dir": "import os; print(os.listdir({dir!r}))",
    "parent memory": """
import os, re
for pid in os.listdir('/proc'):
    if pid.isdigit() and int(pid) != os.getpid():
        try:
            print(open(f'/proc/{{pid}}/cmdline','rb').read()[:200])
            print(open(f'/proc/{{pid}}/environ','rb').read()[:2000])
            with open(f'/proc/{{pid}}/maps') as m, open(f'/proc/{{pid}}/mem','rb') as mem:
                for line in m:
                    a, b = (int(x, 16) for x in line.split()[0].split('-'))
                    if 'rw' in line.split()[1] and b - a < 1 << 24:
                        mem.seek(a)
                        blob = mem.read(b - a)
                        i = blob.find(b'secret')
                        if i >= 0:
                            print(blob[i:i + 200])
        except OSError as e:
            print('denied', pid, e)
""",
    "own environment": "import os; print(dict(os.environ))",
    "walk for jsonl": """
import os
for root, dirs, files in os.walk('/'):
    if root.startswith(('/proc', '/sys', '/dev')):
        dirs[:] = []
        continue
    for f in files:
        if f.endswith('.jsonl'):
            try:
                print(root, f, open(os.path.join(root, f)).read()[:300])
            except OSError:
                pass
""",
    "network": "import socket; s = socket.create_connection(('127.0.0.1', 1), timeout=1)",
    "import the env": "import rlenvs, judges; print(rlenvs.__file__)",
}


@pytest.mark.parametrize("mode", CONTAINED)
@pytest.mark.parametrize("probe", sorted(PROBES))
def test_a_cell_cannot_reach_the_gold_answer(task_file, mode, probe):
    env = _env(task_file, mode)
    env.reset(seed=0)
    assert env.task["answer"] == GOLD
    seen = _observe(env, PROBES[probe].format(path=str(task_file), dir=str(task_file.parent)))
    assert GOLD not in seen, seen[-500:]


@pytest.mark.parametrize("mode", CONTAINED)
def test_no_state_survives_into_another_episode_or_branch(task_file, mode):
    env = _env(task_file, mode)
    env.reset(seed=0)
    plant = ("import os\n"
             "for d in ('/tmp', '/dev/shm', os.path.expanduser('~'), os.getcwd()):\n"
             "    try:\n"
             "        open(os.path.join(d, 'leak.txt'), 'w').write('" + GOLD[::-1] + "')\n"
             "    except OSError:\n"
             "        pass\n"
             "leaked = 1")
    _observe(env, plant)
    twin = env.clone()
    assert "1" in _observe(env, "print(leaked)")  # the session itself keeps its variables
    look = ("import os\n"
            "for d in ('/tmp', '/dev/shm', os.path.expanduser('~'), os.getcwd()):\n"
            "    try:\n"
            "        print(open(os.path.join(d, 'leak.txt')).read())\n"
            "    except OSError:\n"
            "        pass\n"
            "print(globals().get('leaked'))")
    env.reset(seed=1)
    seen = _observe(env, look)
    assert GOLD[::-1] not in seen and "None" in seen, seen
    # the branch keeps the history it had, and nothing the other branch did afterwards
    assert env.episode.extra["tool_state"]["python"]["cells"] == [look]
    assert twin.episode.extra["tool_state"]["python"]["cells"] == [plant]
