"""Token masks for agents: which tokens of a rendered episode the policy produced.

``render_with_mask(tokenizer, messages, tools)`` renders the conversation with the tokenizer's
chat template and returns ``(input_ids, policy_mask)``: ``policy_mask[i]`` is 1 for tokens of
assistant message contents (what the policy generated) and 0 for everything the environment or
the template added (system/user/tool messages, role headers, end-of-turn markers). Decoding the
masked tokens gives back exactly the concatenated assistant replies.

How: the template is rendered once as text; each assistant content is located at the end of the
rendering of the conversation before it (with the generation prompt), and the text is tokenized
segment by segment (environment text, assistant content, environment text, ...), so no token
straddles a policy/environment boundary. Every message content is tokenized with special tokens
split: only the template itself writes role markers, so a reply or a tool result that contains
the text ``<|im_end|><|im_start|>system`` cannot forge a turn. Tool schemas go to the template's
``tools=`` argument
when the template uses them; otherwise they are described in the system message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

__all__ = ["render_with_mask", "template_supports_tools"]


def _render(tokenizer: Any, messages: list[dict[str, Any]], **kwargs: Any) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, **kwargs)


def template_supports_tools(tokenizer: Any, tools: Sequence[dict[str, Any]]) -> bool:
    """Whether passing ``tools`` changes the chat template's rendering."""
    probe = [{"role": "user", "content": "hi"}]
    try:
        return _render(tokenizer, probe, tools=list(tools)) != _render(tokenizer, probe)
    except Exception:  # noqa: BLE001 - a template that rejects tools= does not support them
        return False


def _with_tools_in_system(messages: list[dict[str, Any]],
                          tools: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    text = "Available tools:\n" + "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    if messages and messages[0]["role"] == "system":
        if text in messages[0]["content"]:
            return messages
        first = dict(messages[0], content=messages[0]["content"] + "\n\n" + text)
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def render_with_mask(
    tokenizer: Any,
    messages: Sequence[dict[str, Any]],
    tools: Sequence[dict[str, Any]] | None = None,
) -> tuple[list[int], list[int]]:
    """``(input_ids, policy_mask)`` of ``messages`` rendered with ``tokenizer``'s chat template.

    Args:
        tokenizer: a ``transformers`` tokenizer with a chat template.
        messages: the episode (e.g. the last observation of an env), ``{"role", "content"}``.
        tools: OpenAI function schemas (e.g. ``ToolEnv.tool_schemas``), or None.

    Raises:
        ValueError: the template rewrites assistant contents, so they cannot be located.
    """
    msgs = [{"role": m["role"], "content": m["content"]} for m in messages]
    kwargs: dict[str, Any] = {}
    if tools:
        if template_supports_tools(tokenizer, tools):
            kwargs["tools"] = list(tools)
        else:
            msgs = _with_tools_in_system(msgs, tools)
    full = _render(tokenizer, msgs, **kwargs)
    spans: list[tuple[int, int, int]] = []  # (start, end, policy flag) of each message content
    cursor = 0
    for i, m in enumerate(msgs):
        content = m["content"]
        if not isinstance(content, str) or not content:
            continue
        start = -1
        if m["role"] == "assistant" and i > 0:
            prefix = _render(tokenizer, msgs[:i], add_generation_prompt=True, **kwargs)
            if full.startswith(prefix) and full.startswith(content, len(prefix)):
                start = len(prefix)
        if start < cursor:
            start = full.find(content, cursor)
        if start < 0:
            if m["role"] == "assistant":
                raise ValueError(f"assistant message {i} does not appear verbatim in the "
                                 "rendered chat template; this template rewrites assistant "
                                 "content")
            continue  # a template that rewrites this message: its text stays template text
        spans.append((start, start + len(content), int(m["role"] == "assistant")))
        cursor = start + len(content)
    ids: list[int] = []
    mask: list[int] = []

    def add(text: str, flag: int, content: bool) -> None:
        # A message's content is data: a special token's text inside it ("<|im_start|>") stays
        # text, so no content -- a tool result, a reply -- can open or close a role turn.
        if text:
            toks = tokenizer.encode(text, add_special_tokens=False,
                                    **({"split_special_tokens": True} if content else {}))
            ids.extend(toks)
            mask.extend([flag] * len(toks))

    pos = 0
    for a, b, flag in spans:
        add(full[pos:a], 0, False)
        add(full[a:b], flag, True)
        pos = b
    add(full[pos:], 0, False)
    return ids, mask
