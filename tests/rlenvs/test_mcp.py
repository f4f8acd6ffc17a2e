"""MCP: a third-party MCP server's tools in a ToolEnv; rlenvs' own tools as an MCP server."""

from __future__ import annotations

import sys
import textwrap

import pytest

import rlenvs
from rlenvs.tools import ToolEnv
from rlenvs.tools.mcp_client import MCPToolbox

pytest.importorskip("mcp")

FOREIGN = textwrap.dedent('''
    from mcp.server.fastmcp import FastMCP

    app = FastMCP("arith")

    @app.tool()
    def multiply(a: int, b: int) -> int:
        """Multiply two integers."""
        return a * b

    @app.tool()
    def explode(reason: str) -> str:
        """Always fails."""
        raise ValueError(reason)

    app.run("stdio")
''')


def _call(name, **args):
    import json

    return f'<tool_call>{json.dumps({"name": name, "arguments": args})}</tool_call>'


def test_a_real_mcp_servers_tools_drive_a_tool_env(tmp_path):
    script = tmp_path / "arith_server.py"
    script.write_text(FOREIGN)
    with MCPToolbox.stdio(sys.executable, [str(script)], timeout_s=30) as box:
        assert {t.name for t in box.tools} == {"multiply", "explode"}
        env = ToolEnv(rlenvs.make("rlenvs/Arithmetic-v0").unwrapped, tools=box.tools)
        first, _ = env.reset(options={"task": {"question": "4161 * 32", "answer": "133152"}})
        assert "multiply" in first[0]["content"]  # the MCP schema is in the tool prompt
        obs, _, done, _, info = env.step(_call("multiply", a=4161, b=32))
        assert not done and obs[-1] == {"role": "tool", "name": "multiply", "content": "133152"}
        obs, _, _, _, info = env.step(_call("explode", reason="boom"))
        assert info["tool_calls"][0]["status"] == "error" and "boom" in obs[-1]["content"]
        obs, _, _, _, info = env.step(_call("multiply", a="x", b=2))  # schema checked locally
        assert info["tool_calls"][0]["status"] == "invalid"
        _, reward, done, _, info = env.step("\\boxed{133152}")
        assert done and reward == 1.0 and info["verdict"].passed


def test_rlenvs_tools_served_over_mcp_stdio():
    with MCPToolbox.stdio(sys.executable, ["-m", "rlenvs.tools.mcp_server"], timeout_s=60) as box:
        tools = {t.name: t for t in box.tools}
        assert set(tools) == {"python", "calculator", "search"}
        assert tools["calculator"].invoke({"expression": "4161 * 32"}).output == "133152"
        assert tools["python"].invoke({"code": "x = 6 * 7"}).ok
        assert tools["python"].invoke({"code": "print(x)"}).output.strip() == "42"  # one session
        bad = tools["calculator"].invoke({"expression": "__import__('os')"})
        assert not bad.ok and bad.error
        found = tools["search"].invoke({"query": "capital of France"})
        assert found.ok and found.output


def test_the_server_module_starts_without_a_double_import_warning():
    """`python -m rlenvs.tools.mcp_server` (the README's command) used to print runpy's
    RuntimeWarning: the package imported the module eagerly before it ran as __main__."""
    import subprocess

    proc = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m",
                           "rlenvs.tools.mcp_server"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "RuntimeWarning" not in proc.stderr, proc.stderr
    from rlenvs.tools import build_mcp_server  # still importable from the package

    assert callable(build_mcp_server)
