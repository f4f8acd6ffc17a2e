"""Fresh red team, wires (issue 26, before closing): a program echoes its arguments, the
hidden tests' inputs, in an exception message; the verdict's reason carries the message, and
the server's text filter withholds only texts that hold a *whole* private value (a test line),
so the hidden inputs reach the client.

Fixed by a rule, not the filter: a verdict built from running the program is summarised on the
wire from its records' fixed fields (counts, the first failing test's index and status), never
the program's message (``rlenvs.serving.public._wire_reason``).
"""

from __future__ import annotations

import ast

from hypothesis import given, settings
from hypothesis import strategies as st

import rlenvs
from rlenvs.serving.public import PublicView


def _hidden_inputs(task: dict, shown: str) -> list[str]:
    """repr() of the literal arguments of each test call the public prompt does not show."""
    out = []
    for test in task["tests"]:
        if test.strip() in shown:
            continue
        node = ast.parse(test).body[0]
        call = getattr(getattr(node, "test", None), "left", None)
        if isinstance(call, ast.Call) and call.args:
            try:
                out.append(repr(tuple(ast.literal_eval(a) for a in call.args)))
            except ValueError:
                continue
    return out


@settings(max_examples=10)
@given(env_id=st.sampled_from(["rlenvs/Code-v0", "rlenvs/MBPP-v0"]), seed=st.integers(0, 40),
       call=st.integers(1, 3))
def test_hidden_test_inputs_never_reach_the_wire(env_id, seed, call):
    env = rlenvs.make(env_id)
    try:
        _, info = env.reset(seed=seed)
        task = info["task"]
        public = env.unwrapped.public_task(dict(task))
        hidden = _hidden_inputs(task, str(public))
        from judges.code.contract import derive_contract

        name = derive_contract(list(task["tests"]))["names"][0]
        reply = (f"```python\n_n = [0]\ndef {name}(*a, **k):\n    _n[0] += 1\n"
                 f"    if _n[0] >= {call}:\n        raise ValueError(repr(a))\n    return None\n```")
        _, _, _, _, step_info = env.step(reply)
        wire = str(PublicView().info(env, step_info))
    finally:
        env.close()
    assert not [h for h in hidden if h in wire], wire
