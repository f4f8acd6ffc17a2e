"""Any MCP server's tools as rlenvs ``Tool`` objects (for ``ToolEnv`` and every tool env).

>>> with MCPToolbox.stdio("python", ["-m", "rlenvs.tools.mcp_server"]) as box:
...     env = ToolEnv(rlenvs.make("rlenvs/Arithmetic-v0").unwrapped, tools=box.tools)

The toolbox keeps one MCP client session (``mcp`` SDK) on an event loop in a background thread;
each ``Tool`` sends ``tools/call`` and waits at most ``timeout_s``. The server's JSON schema is
the tool's schema, so ``ToolEnv`` validates arguments before anything is sent. An MCP error
result (``isError``) becomes the tool call's error observation; a timeout or a dead server a
tool fault (``ToolFault``: shown as such, never penalised), never an exception in ``step``. Tool state lives in the MCP server: a ``clone()`` of a
``ToolEnv`` shares it, so use stateless MCP tools when branching.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from contextlib import AsyncExitStack
from typing import Any

from rlenvs.tools.base import Tool, ToolError, ToolFault

__all__ = ["MCPToolbox"]


class MCPToolbox:
    """A live MCP client session and its tools (``.tools``). Close it (or use ``with``)."""

    def __init__(self, connect: Any, timeout_s: float = 30.0, prefix: str = "") -> None:
        self.timeout_s = timeout_s
        self.prefix = prefix
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="rlenvs-mcp-client")
        self._thread.start()
        self._stack: AsyncExitStack | None = None
        self._session: Any = None
        try:
            self._run(self._open(connect), timeout_s)
        except BaseException:
            self.close()
            raise
        self.tools: list[Tool] = self._run(self._list(), timeout_s)

    @classmethod
    def stdio(cls, command: str, args: Sequence[str] = (), env: dict[str, str] | None = None,
              cwd: str | None = None, **kwargs: Any) -> MCPToolbox:
        """Start ``command args`` as an MCP server over stdio and connect to it."""
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=command, args=list(args), env=env, cwd=cwd)
        return cls(lambda: stdio_client(params), **kwargs)

    def _run(self, coro: Any, timeout_s: float) -> Any:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout=timeout_s)
        except TimeoutError:
            future.cancel()
            raise

    async def _open(self, connect: Any) -> None:
        from mcp import ClientSession

        self._stack = AsyncExitStack()
        read, write = await self._stack.enter_async_context(connect())
        self._session = await self._stack.enter_async_context(ClientSession(read, write))
        await self._session.initialize()

    async def _list(self) -> list[Tool]:
        listed = await self._session.list_tools()
        return [self._tool(t) for t in listed.tools]

    def _tool(self, spec: Any) -> Tool:
        remote_name = spec.name

        def call(**arguments: Any) -> str:
            return self.call(remote_name, arguments)

        call.__name__ = f"{self.prefix}{remote_name}"
        schema = dict(spec.inputSchema or {"type": "object", "properties": {}})
        schema.setdefault("properties", {})
        return Tool(call, name=f"{self.prefix}{remote_name}"[:64],
                    description=spec.description or "", parameters=schema)

    def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Call one tool; its text content, or ``ToolError`` with the server's message."""
        try:
            result = self._run(self._session.call_tool(name, arguments), self.timeout_s)
        except TimeoutError:
            raise ToolFault(f"MCP tool {name!r} timed out after {self.timeout_s:g} s") from None
        except Exception as e:  # noqa: BLE001 - a dead server is an observation (a tool fault)
            raise ToolFault(f"MCP tool {name!r} failed: {type(e).__name__}: {e}") from None
        text = "\n".join(getattr(c, "text", f"[{getattr(c, 'type', 'content')}]")
                         for c in result.content)
        if result.isError:
            raise ToolError(text or f"MCP tool {name!r} reported an error")
        return text

    def close(self) -> None:
        if self._stack is not None:
            try:
                self._run(self._stack.aclose(), 10)
            except Exception:  # noqa: BLE001 - the server may be gone already
                pass
            self._stack = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> MCPToolbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
