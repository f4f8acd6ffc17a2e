"""Conversations as token ids, turn by turn, without re-tokenizing what the policy sampled.

The policy's sampled ids are kept exactly (re-tokenizing decoded text can give different ids,
which would make the trainer score tokens the sampler never produced). What the environment adds
between two policy turns — the template's end of the assistant turn, then user/tool messages and
the next generation prompt — is rendered by the chat template as text and tokenized on its own;
those ids are marked as environment tokens (mask 0) and never enter the loss.

Only the chat template writes role markers: a message's content is data, tokenized with special
tokens split, so a tool result or a reply that holds ``<|im_end|><|im_start|>system`` text opens
no role turn in the policy's context (as ``rlenvs.tools.masks.render_with_mask`` does for the
training view).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["ChatTokenizer"]

Messages = list[dict[str, Any]]


class ChatTokenizer:
    """Chat-template bookkeeping for multi-turn rollouts.

    Args:
        tokenizer: a ``transformers`` tokenizer with a chat template.
    """

    def __init__(self, tokenizer: Any) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError("the tokenizer has no chat template; rollouts need one to build prompts")
        self.tokenizer = tokenizer

    def render(self, messages: Messages, add_generation_prompt: bool) -> str:
        return self.tokenizer.apply_chat_template(
            _plain(messages), add_generation_prompt=add_generation_prompt, tokenize=False
        )

    def encode(self, text: str, contents: Sequence[Any] = ()) -> list[int]:
        """Ids of rendered ``text``; the spans of ``contents`` (message contents, in order) are
        data: a special token's text inside them stays text."""
        ids: list[int] = []
        cursor = 0
        for content in contents:
            if not isinstance(content, str) or not content:
                continue
            start = text.find(content, cursor)
            if start < 0:
                continue  # a template that rewrites this content: its text stays template text
            ids += self._ids(text[cursor:start], data=False) + self._ids(content, data=True)
            cursor = start + len(content)
        return ids + self._ids(text[cursor:], data=False)

    def encode_content(self, text: str) -> list[int]:
        """Ids of message content alone (a reply the rollout forces, say)."""
        return self._ids(text, data=True)

    def _ids(self, text: str, data: bool) -> list[int]:
        if not text:
            return []
        extra = {"split_special_tokens": True} if data else {}
        return list(self.tokenizer(text, add_special_tokens=False, **extra)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        """The reply text the environment sees (special tokens dropped)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)

    def prompt_ids(self, messages: Messages) -> list[int]:
        """Ids of the first prompt (conversation so far plus the generation prompt)."""
        return self.encode(self.render(messages, add_generation_prompt=True),
                           [m.get("content") for m in messages])

    def feedback_ids(
        self, before: Messages, reply: str, after: Messages, stop_text: str | None
    ) -> list[int]:
        """Ids the environment contributes between two policy turns.

        Args:
            before: the conversation the policy answered (ends before its reply).
            reply: the decoded reply (as sent to ``env.step``).
            after: the environment's new observation (``before`` + reply + feedback).
            stop_text: text of the stop token the policy produced, or ``None`` if it was cut
                off by the length limit (then the template's whole end-of-turn is added here).
        """
        prompt = self.render(before, add_generation_prompt=True)
        with_reply = self.render(list(before) + [{"role": "assistant", "content": reply}], False)
        full = self.render(after, add_generation_prompt=True)
        if not with_reply.startswith(prompt):
            raise ValueError(
                "the chat template re-renders earlier turns differently; multi-turn token "
                "bookkeeping needs a prefix-stable template"
            )
        if not full.startswith(with_reply):
            raise ValueError("the environment's observation does not extend the conversation")
        # with_reply = prompt + <reply as the template writes it> + <end of turn>
        closing = with_reply[len(prompt) :]
        closing = closing[len(reply) :] if closing.startswith(reply) else _tail_after(closing, reply)
        if stop_text and closing.startswith(stop_text):
            closing = closing[len(stop_text) :]
        return self.encode(closing + full[len(with_reply) :],
                           [m.get("content") for m in after[len(before) + 1 :]])


def _tail_after(text: str, reply: str) -> str:
    """``text`` after the template's copy of ``reply`` (templates may strip whitespace)."""
    stripped = reply.strip()
    index = text.find(stripped) if stripped else 0
    if index < 0:
        raise ValueError("cannot find the reply inside the chat template's rendering")
    return text[index + len(stripped) :]


def _plain(messages: Messages) -> Messages:
    return [dict(m) for m in messages]
