"""Multi-turn tool use: tools, tool-call parsers, ``ToolEnv``, UFO feedback, token masks.

>>> import rlenvs
>>> from rlenvs.tools import ToolEnv, calculator
>>> env = ToolEnv(rlenvs.make("rlenvs/Arithmetic-v0").unwrapped, tools=[calculator])
"""

from rlenvs.tools.base import Tool, ToolError, ToolResult, tool, validate_arguments
from rlenvs.tools.calculator import calculate, calculator
from rlenvs.tools.feedback import UnaryFeedbackEnv
from rlenvs.tools.masks import render_with_mask
from rlenvs.tools.mcp_client import MCPToolbox
from rlenvs.tools.parsing import (
    AnyParser,
    HermesParser,
    ParseResult,
    TagParser,
    ToolCall,
    ToolCallParser,
    make_parser,
)
from rlenvs.tools.python_tool import make_python_tool
from rlenvs.tools.search import BM25Index, make_search_tool
from rlenvs.tools.tool_env import ToolEnv, answer_tool

__all__ = [
    "Tool",
    "ToolError",
    "ToolResult",
    "tool",
    "validate_arguments",
    "calculate",
    "calculator",
    "make_python_tool",
    "make_search_tool",
    "BM25Index",
    "answer_tool",
    "ToolCall",
    "ParseResult",
    "ToolCallParser",
    "HermesParser",
    "TagParser",
    "AnyParser",
    "make_parser",
    "ToolEnv",
    "UnaryFeedbackEnv",
    "render_with_mask",
    "MCPToolbox",
    "build_mcp_server",
]


def __getattr__(name: str):  # noqa: ANN202 - PEP 562
    # imported on first use: `python -m rlenvs.tools.mcp_server` imports this package first, and an
    # eager import here would load the module twice (runpy's RuntimeWarning)
    if name == "build_mcp_server":
        from rlenvs.tools.mcp_server import build_mcp_server

        return build_mcp_server
    raise AttributeError(f"module 'rlenvs.tools' has no attribute {name!r}")
