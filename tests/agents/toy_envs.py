"""Small environments and a tiny policy for the agents tests (no real task knowledge needed).

* ``agents-test/Uppercase-v0``: single turn; reward = fraction of letters in the reply that are
  uppercase (a dense signal a randomly initialised model can learn).
* ``agents-test/Retry-v0``: up to 3 turns; the env answers "Try again, LOUDER." until a reply
  scores >= ``target``; per-line ``step_rewards`` (process reward) on every reply.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

import rlenvs
from judges import Verdict
from rlenvs.core import LLMEnv, Turn


def upper_fraction(text: str) -> float:
    letters = [c for c in text if c.isalpha()]
    return sum(c.isupper() for c in letters) / len(letters) if letters else 0.0


class UppercaseEnv(LLMEnv):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("reward", "dense")
        super().__init__(**kwargs)

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"word": ["apple", "river", "stone", "cloud"][int(rng.integers(4))],
                "answer": "UPPER"}

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"role": "user", "content": f"Shout the word {task['word']}."}]

    def respond(self, reply: str) -> Turn:
        score = upper_fraction(reply)
        return Turn(verdict=Verdict(score=score, passed=score > 0.5, reason="upper"),
                    terminated=True)


class RetryEnv(LLMEnv):
    def __init__(self, target: float = 0.5, max_turns: int = 3, **kwargs: Any) -> None:
        kwargs.setdefault("reward", "dense")
        super().__init__(max_turns=max_turns, **kwargs)
        self.target = target

    def sample_task(self, rng: np.random.Generator) -> dict[str, Any]:
        return {"word": ["moon", "tree"][int(rng.integers(2))]}

    def initial_messages(self, task: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"role": "user", "content": f"Say {task['word']} loudly."}]

    def respond(self, reply: str) -> Turn:
        lines = [line for line in reply.split("\n") if line.strip()] or [""]
        steps = [upper_fraction(line) for line in lines]
        score = upper_fraction(reply)
        done = score >= self.target
        return Turn(
            verdict=Verdict(score=score, passed=done, reason="upper", steps=steps),
            terminated=done,
            feedback=[] if done else [{"role": "user", "content": "Try again, LOUDER."}],
        )


def register_toy_envs() -> None:
    rlenvs.register("agents-test/Uppercase-v0", entry_point=UppercaseEnv)
    rlenvs.register("agents-test/Retry-v0", entry_point=RetryEnv)


def tiny_policy(seed: int = 0, value_head: bool = False, hidden: int = 64,
                letters_only: bool = False) -> Any:
    """A randomly initialised 2-layer Llama with the SmolLM2 tokenizer (fast on CPU).

    ``letters_only``: an untied output layer that is zero except for the 52 single-letter
    tokens ``A``..``Z``/``a``..``z``, so the model samples almost only letters (half of them
    uppercase) and ``Uppercase-v0`` becomes learnable in a few steps.
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    from agents.policy import CausalLMPolicy
    from judges.llm.embedded import load_embedded_tokenizer

    tok = load_embedded_tokenizer()
    config = LlamaConfig(
        hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, vocab_size=len(tok),
        tie_word_embeddings=not letters_only, eos_token_id=tok.eos_token_id, bos_token_id=1,
        pad_token_id=tok.pad_token_id, max_position_embeddings=2048,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    if letters_only:
        letters = [chr(c) for c in range(ord("A"), ord("Z") + 1)]
        letters += [c.lower() for c in letters]
        ids = tok.convert_tokens_to_ids(letters)
        with torch.no_grad():
            head = model.get_output_embeddings().weight
            head.zero_()
            head[ids] = torch.randn(len(ids), hidden) * 3.0
    model.train()
    return CausalLMPolicy(model, tok, value_head=value_head, name="tiny")
