"""rlenvs' tools (python, calculator, search, or any ``Tool``) as an MCP server.

    python -m rlenvs.tools.mcp_server            # stdio: python, calculator, search

Each tool is listed with its JSON schema; a call runs ``Tool.invoke`` (argument validation,
the python sandbox, output cut at ``max_result_chars``) in a worker thread. A failing call comes
back as an MCP error result (``isError``) with the tool's message. The python tool keeps one
session state per server connection, as in one ``ToolEnv`` episode.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from rlenvs.tools.base import Tool, ToolError

__all__ = ["build_mcp_server", "default_tools", "serve_stdio"]


def default_tools() -> list[Tool]:
    """``python`` (sandboxed), ``calculator`` and ``search`` (the shipped corpus)."""
    from rlenvs.tools.calculator import calculator
    from rlenvs.tools.python_tool import make_python_tool
    from rlenvs.tools.search import make_search_tool

    return [make_python_tool(), calculator, make_search_tool()]


def build_mcp_server(tools: Sequence[Tool] | None = None, name: str = "rlenvs-tools") -> Any:
    """An ``mcp`` low-level ``Server`` exposing ``tools`` (default: :func:`default_tools`)."""
    from mcp import types
    from mcp.server.lowlevel import Server

    table = {t.name: t for t in (tools if tools is not None else default_tools())}
    states: dict[str, dict[str, Any]] = {n: {} for n in table}
    server: Any = Server(name)

    @server.list_tools()
    async def list_tools() -> list[types.Tool]:
        return [types.Tool(name=t.name, description=t.description, inputSchema=t.parameters)
                for t in table.values()]

    @server.call_tool(validate_input=False)  # Tool.invoke validates with readable errors
    async def call_tool(name: str, arguments: dict[str, Any]) -> list[types.TextContent]:
        tool = table.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}; available: {sorted(table)}")
        result = await asyncio.to_thread(tool.invoke, arguments, states[name])
        if not result.ok:
            raise ToolError(result.error or "tool failed")
        return [types.TextContent(type="text", text=result.output)]

    return server


async def serve_stdio(tools: Sequence[Tool] | None = None) -> None:
    """Serve over stdin/stdout until the client disconnects."""
    from mcp.server.stdio import stdio_server

    server = build_mcp_server(tools)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    asyncio.run(serve_stdio())
