"""TRL ``environment_factory``: a multi-turn rlenvs tool environment inside ``GRPOTrainer``.

>>> from trl import GRPOTrainer
>>> from rlenvs.adapters import (env_dataset, env_reward_func, environment_factory,
...                             tool_calling_tokenizer)
>>> data = env_dataset("rlenvs/ToolMath-v0", n=256)                  # prompts without tool text
>>> GRPOTrainer(model, args=config, train_dataset=data,
...             processing_class=tool_calling_tokenizer(tokenizer),  # e.g. SmolLM2's ChatML
...             environment_factory=environment_factory("rlenvs/ToolMath-v0"),
...             reward_funcs=env_reward_func("rlenvs/ToolMath-v0")).train()

TRL (>= 1.16, ``GRPOTrainer(environment_factory=...)``) builds one instance per rollout, calls
``reset(**row)`` with the dataset row, exposes the instance's public methods as tools in the chat
template, parses the model's tool calls, calls the methods and feeds their results back as tool
messages (masked out of the loss with its ``tool_mask``). Here every such method is one of the
environment's tools and each call is **stepped through the rlenvs environment** (the same
parser, argument validation, sandbox, per-episode budgets and tool state as in rlenvs' own
rollouts); the result is the tool message the environment produced. The final answer is the
model's last message, scored by :func:`rlenvs.adapters.env_reward_func` (which never re-runs
tools). ``tool_log`` on each instance records the calls of its current episode. What goes back
to the model is the tool messages the environment wrote (never ``info`` or the task), and
``reset`` returns nothing, so no private field of the row's task reaches the model.

TRL needs a chat template that renders tool calls and tool results, and a response parser for
the model's tool calls. A ChatML model whose own template lacks tools (SmolLM2) gets both from
:func:`tool_calling_tokenizer`: ``GRPOTrainer(..., processing_class=tool_calling_tokenizer(tok))``.
(``tests/rlenvs/test_trl_tools.py`` runs one such GRPO step with real tool calls.)
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from typing import Any

__all__ = ["environment_factory", "tool_calling_tokenizer", "RLEnvsToolEnvironment"]

_CHATML = ("<|im_start|>", "<|im_end|>")
_QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
_NEUTRAL_SYSTEM = "You are a helpful assistant."
_PY_TYPES = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list,
             "object": dict}


class RLEnvsToolEnvironment:
    """Base of the generated environment classes (one subclass per env id)."""

    env_id: str = ""
    env_kwargs: dict[str, Any] = {}

    def __init__(self) -> None:
        import rlenvs
        from rlenvs.tools.tool_env import ToolEnv

        self._env = rlenvs.make(self.env_id, **self.env_kwargs).unwrapped
        if not isinstance(self._env, ToolEnv):
            raise TypeError(f"{self.env_id} has no tools; use env_reward_func for single-turn "
                            "training")
        self.tool_log: list[dict[str, Any]] = []
        self._ended = True

    def reset(self, task: str | dict[str, Any] | None = None, seed: int | None = None,
              **row: Any) -> None:
        """Start the row's episode (its ``task`` column pins the task)."""
        if isinstance(task, str):
            task = json.loads(task)
        self._env.reset(seed=seed, options={"task": task} if task else None)
        self.tool_log, self._ended = [], False
        return None

    def _invoke(self, name: str, arguments: dict[str, Any]) -> str:
        if self._ended:
            return "Error: the episode has ended; no more tool calls"
        call = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        before = len(self._env.episode.messages)
        obs, _, terminated, truncated, info = self._env.step(f"<tool_call>{call}</tool_call>")
        self._ended = terminated or truncated
        self.tool_log.extend(info.get("tool_calls") or [])
        results = [m["content"] for m in obs[before + 1:] if m["role"] == "tool"]
        if results:
            return "\n".join(results)
        return f"Error: {info.get('truncated_reason') or 'the tool call did not run'}"


def _method(name: str, tool: Any) -> Callable[..., str]:
    props = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", []))
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    annotations: dict[str, Any] = {"return": str}
    arg_docs = []
    for pname, schema in props.items():
        kind = _PY_TYPES.get(schema.get("type", "string"), str)
        default = inspect.Parameter.empty if pname in required else schema.get("default")
        params.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=default,
                                        annotation=kind))
        annotations[pname] = kind
        arg_docs.append(f"    {pname}: {schema.get('description') or pname}")

    # ``self`` positional-only: a policy's ``self`` argument reaches the env's validation
    def method(self: RLEnvsToolEnvironment, /, **arguments: Any) -> str:
        return self._invoke(name, arguments)

    method.__name__ = method.__qualname__ = name
    method.__signature__ = inspect.Signature(params, return_annotation=str)  # type: ignore[attr-defined]
    method.__annotations__ = annotations
    method.__doc__ = (f"{tool.description or name}\n\nArgs:\n" + "\n".join(arg_docs)
                      + "\n\nReturns:\n    The tool's output.")
    return method


def environment_factory(env_id: str, **env_kwargs: Any) -> type[RLEnvsToolEnvironment]:
    """A class (TRL calls it with no arguments) whose methods are ``env_id``'s tools.

    The ``answer`` tool is left out: the model states its final answer in its last message.
    """
    import rlenvs
    from rlenvs.tools.tool_env import ToolEnv

    probe = rlenvs.make(env_id, **env_kwargs).unwrapped
    if not isinstance(probe, ToolEnv):
        raise TypeError(f"{env_id} has no tools; use env_reward_func for single-turn training")
    methods: dict[str, Any] = {"env_id": env_id, "env_kwargs": dict(env_kwargs)}
    for name, tool in probe.tools.items():
        if name == "answer":
            continue
        if not name.isidentifier() or name.startswith("_") or name in ("reset", "get_reward"):
            raise ValueError(f"tool name {name!r} cannot be a TRL environment method")
        methods[name] = _method(name, tool)
    probe.close()
    cls_name = "".join(c for c in env_id.split("/")[-1] if c.isalnum()) + "Environment"
    return type(cls_name, (RLEnvsToolEnvironment,), methods)


def _own_default_system(tokenizer: Any) -> str:
    """The system line the tokenizer's own template adds to a conversation without one."""
    import re

    try:
        text = tokenizer.apply_chat_template([{"role": "user", "content": "x"}], tokenize=False)
    except Exception:  # noqa: BLE001 - a template that cannot render this has no default to keep
        return _NEUTRAL_SYSTEM
    bos = f"(?:{re.escape(tokenizer.bos_token)})?" if tokenizer.bos_token else ""
    found = re.match(bos + r"<\|im_start\|>system\n(.*?)<\|im_end\|>", text, re.S)
    return found.group(1) if found else _NEUTRAL_SYSTEM


def tool_calling_tokenizer(tokenizer: Any) -> Any:
    """A copy of ``tokenizer`` that TRL's tool-calling ``GRPOTrainer`` accepts and parses.

    A tokenizer whose chat template already renders tool calls and tool results (TRL's
    ``supports_tool_calling``) is returned unchanged. Otherwise the tokenizer must be ChatML
    (``<|im_start|>``/``<|im_end|>`` single special tokens, ``<|im_end|>`` its EOS, as in
    SmolLM2): the copy gets TRL's own Qwen2.5 ChatML tool template (tools listed in the system
    turn, calls as ``<tool_call>{json}</tool_call>``, results as ``<tool_response>`` in a user
    turn) and TRL's response parser for it. One change: a conversation without a system message
    gets the model's own default system line (SmolLM2's), not Qwen's persona. Any other
    template raises ``ValueError``: pairing a model with a tool format its tokenizer cannot
    delimit would train it on text TRL cannot parse.
    """
    import copy

    from trl.chat_template_utils import (
        add_response_schema,
        is_chat_template_prefix_preserving,
        qwen2_5_chat_template,
        supports_tool_calling,
    )

    if supports_tool_calling(tokenizer):
        return tokenizer
    unk = getattr(tokenizer, "unk_token_id", None)
    for token in _CHATML:
        ids = tokenizer(token, add_special_tokens=False)["input_ids"]
        if len(ids) != 1 or ids[0] == unk:
            raise ValueError(f"the tokenizer's chat template cannot render tool calls and it is not "
                             f"ChatML ({token!r} is not one token); give it a tool-calling template")
    if tokenizer.eos_token != _CHATML[1]:
        raise ValueError(f"ChatML tool turns end with {_CHATML[1]!r} but the tokenizer's EOS is "
                         f"{tokenizer.eos_token!r}; generation would not stop after a tool call")
    out = copy.deepcopy(tokenizer)
    out.chat_template = qwen2_5_chat_template
    add_response_schema(out)  # TRL's <tool_call> parser for this template (it matches the text)
    if qwen2_5_chat_template.count(_QWEN_SYSTEM) == 2:
        literal = (_own_default_system(tokenizer).replace("\\", "\\\\").replace("'", "\\'")
                   .replace("\n", "\\n"))
        out.chat_template = qwen2_5_chat_template.replace(_QWEN_SYSTEM, literal)
    if not (supports_tool_calling(out) and is_chat_template_prefix_preserving(out)):
        raise RuntimeError("TRL's ChatML tool template no longer renders tool turns as expected")
    return out
