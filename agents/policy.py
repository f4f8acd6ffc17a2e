"""A trainable ``transformers`` policy: per-token log-probabilities with gradients, optional
LoRA adapters (peft), optional value head (PPO), and a chat interface for evaluation.

The policy trains in fp32 by default. Generation does not use this module's forward pass: the
rollout engine keeps its own (bf16) copy, refreshed with :meth:`CausalLMPolicy.sync` semantics by
the trainer after every optimizer step.

Sequence layout everywhere in ``agents``: ``[left pad][prompt][completion][right pad]``; the
log-probability of completion token ``j`` comes from the logits at position ``P + j - 1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from agents.prefix import PrefixRows

__all__ = ["CausalLMPolicy", "LoraSettings", "PolicyOutput", "entropy_from_logits"]


@dataclass(frozen=True)
class LoraSettings:
    """peft LoRA settings (names as in ``peft.LoraConfig``)."""

    r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass
class PolicyOutput:
    """Per-token outputs for the completion positions, each ``(B, C)``."""

    logprobs: torch.Tensor
    entropy: torch.Tensor | None = None
    values: torch.Tensor | None = None


def _token_outputs(logits: torch.Tensor, targets: torch.Tensor, temperature: float,
                   with_entropy: bool, entropy_grad: bool) -> tuple[torch.Tensor,
                                                                     torch.Tensor | None]:
    """Per-token log-probabilities of ``targets`` (and entropy) from fp32 ``logits``."""
    if temperature not in (0.0, 1.0):
        logits = logits / temperature
    logprobs = logits.gather(-1, targets[..., None]).squeeze(-1) - torch.logsumexp(logits, -1)
    entropy = None
    if with_entropy:
        if entropy_grad:
            entropy = entropy_from_logits(logits)
        else:
            with torch.no_grad():
                entropy = entropy_from_logits(logits.detach())
    return logprobs, entropy


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of ``softmax(logits)`` along the last dimension: ``logsumexp(l) - Σ p·l``."""
    logz = torch.logsumexp(logits, dim=-1)
    return logz - (torch.softmax(logits, dim=-1) * logits).sum(dim=-1)


class CausalLMPolicy(nn.Module):
    """A causal LM (plus optional value head) that the trainers optimise.

    Args:
        model: a ``transformers`` causal LM (or a peft model wrapping one).
        tokenizer: its tokenizer (needs a chat template).
        value_head: add a scalar value head on the last hidden state (PPO).
        name: shown in logs and evaluation results.
    """

    def __init__(self, model: Any, tokenizer: Any, value_head: bool = False,
                 name: str = "policy") -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.name = name
        self.value_head: nn.Linear | None = None
        if value_head:
            hidden = self.base_model.config.hidden_size
            self.value_head = nn.Linear(hidden, 1)
            with torch.no_grad():
                self.value_head.weight.normal_(0.0, 1.0 / (hidden + 1))
                self.value_head.bias.zero_()

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_embedded(cls, lora: LoraSettings | dict[str, Any] | None = None,
                      value_head: bool = False) -> CausalLMPolicy:
        """The embedded SmolLM2-135M-Instruct in fp32 (optionally with LoRA adapters)."""
        from judges.llm.embedded import (
            EMBEDDED_MODEL_NAME,
            load_embedded_model,
            load_embedded_tokenizer,
        )

        model = load_embedded_model(torch.float32)
        return cls._build(model, load_embedded_tokenizer(), lora, value_head, EMBEDDED_MODEL_NAME)

    @classmethod
    def from_pretrained(cls, path: str | Path, lora: LoraSettings | dict[str, Any] | None = None,
                        value_head: bool = False) -> CausalLMPolicy:
        """A local model folder (fp32)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not Path(path).is_dir():
            raise FileNotFoundError(f"no model folder at {path!r} (no hub access: pass a local path)")
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(path)
        return cls._build(model, tokenizer, lora, value_head, str(path))

    @classmethod
    def _build(cls, model: Any, tokenizer: Any, lora: LoraSettings | dict[str, Any] | None,
               value_head: bool, name: str) -> CausalLMPolicy:
        tokenizer.padding_side = "left"
        if lora is not None:
            model = apply_lora(model, lora if isinstance(lora, LoraSettings) else LoraSettings(**lora))
        model.train()
        return cls(model, tokenizer, value_head=value_head, name=name)

    # ----------------------------------------------------------------- properties
    @property
    def is_peft(self) -> bool:
        return hasattr(self.model, "peft_config")

    @property
    def base_model(self) -> Any:
        """The underlying ``transformers`` model (LoRA layers included, if any)."""
        return self.model.get_base_model() if self.is_peft else self.model

    @property
    def stop_token_ids(self) -> list[int]:
        eos = getattr(self.base_model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = self.tokenizer.eos_token_id
        return [eos] if isinstance(eos, int) else list(eos)

    def num_trainable_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    # ----------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        position_ids: torch.Tensor,
        completion_width: int,
        temperature: float = 1.0,
        with_entropy: bool = False,
        entropy_grad: bool = False,
        with_values: bool = False,
        prefix: PrefixRows | None = None,
    ) -> PolicyOutput:
        """Log-probabilities (and entropy / values) of the last ``completion_width`` columns.

        Logits are divided by ``temperature`` (the distribution the sampler drew from), as TRL
        does. Only the logits of the completion positions are materialised.

        ``prefix``: the rows' prompts already encoded (:mod:`agents.prefix`); only the last
        ``completion_width`` columns are run, on top of the prompts' cached keys/values.
        """
        c = completion_width
        if c < 1 or c >= input_ids.shape[1]:
            raise ValueError(f"completion_width must be in [1, {input_ids.shape[1] - 1}], got {c}")
        if prefix is not None:
            if with_values:
                raise ValueError("a shared prompt prefix has no value for the prompt's last "
                                 "position; score value-head policies without one")
            return self._forward_on_prefix(input_ids[:, -c:], attention_mask[:, -c:],
                                           position_ids[:, -c:], prefix, temperature,
                                           with_entropy, entropy_grad)
        captured: dict[str, torch.Tensor] = {}
        hook = None
        if with_values:
            if self.value_head is None:
                raise ValueError("this policy has no value head; build it with value_head=True")
            decoder = self.base_model.get_decoder()

            def keep_hidden(_module: Any, _inputs: Any, output: Any) -> None:
                captured["hidden"] = output[0] if isinstance(output, tuple) else \
                    output.last_hidden_state

            hook = decoder.register_forward_hook(keep_hidden)
        try:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask,
                             position_ids=position_ids, use_cache=False, logits_to_keep=c + 1)
        finally:
            if hook is not None:
                hook.remove()
        logprobs, entropy = _token_outputs(out.logits[:, :-1].float(), input_ids[:, -c:],
                                           temperature, with_entropy, entropy_grad)
        values = None
        if with_values:
            hidden = captured["hidden"][:, -c - 1 : -1]
            values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
        return PolicyOutput(logprobs=logprobs, entropy=entropy, values=values)

    def _forward_on_prefix(self, ids: torch.Tensor, attn: torch.Tensor, positions: torch.Tensor,
                           prefix: PrefixRows, temperature: float, with_entropy: bool,
                           entropy_grad: bool) -> PolicyOutput:
        """The completion columns on top of their prompts' cached keys/values: the first
        completion token is predicted by the prompt's last logits, the others by this pass."""
        c = ids.shape[1]
        mask = torch.cat([prefix.mask().to(attn.dtype), attn], dim=1)
        out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                         use_cache=True, logits_to_keep=c, **prefix.cache_kwargs())
        logits = torch.cat([prefix.last_logits()[:, None], out.logits[:, :-1].float()], dim=1)
        logprobs, entropy = _token_outputs(logits, ids, temperature, with_entropy, entropy_grad)
        return PolicyOutput(logprobs=logprobs, entropy=entropy)

    # ----------------------------------------------------------------- saving
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Only the parameters that train (LoRA adapters + value head, or everything)."""
        return {k: v.detach().clone() for k, v in self.named_parameters() if v.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        params = dict(self.named_parameters())
        missing = [k for k, p in params.items() if p.requires_grad and k not in state]
        unknown = [k for k in state if k not in params]
        if missing or unknown:
            raise KeyError(f"checkpoint does not match the policy: missing={missing[:5]} "
                           f"unknown={unknown[:5]}")
        with torch.no_grad():
            for k, v in state.items():
                params[k].copy_(v)

    def save_pretrained(self, path: str | Path) -> None:
        """Save the model (LoRA merged) and tokenizer as a plain ``transformers`` folder."""
        from judges.llm.weights import merged_state_dict

        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        base = self.base_model
        state = merged_state_dict(self.model)
        plain = type(base)(base.config)
        plain.load_state_dict(state, strict=False)
        plain.save_pretrained(path, safe_serialization=True)
        self.tokenizer.save_pretrained(path)
        if self.value_head is not None:
            torch.save(self.value_head.state_dict(), path / "value_head.pt")


def apply_lora(model: Any, settings: LoraSettings) -> Any:
    """Wrap ``model`` with peft LoRA adapters (``pip install peft``)."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("LoRA needs peft: pip install peft") from e
    target = settings.target_modules
    config = LoraConfig(
        r=settings.r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
        target_modules=target if isinstance(target, str) else list(target), task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


class PolicyChat:
    """``rlenvs`` ``ChatModel`` view of a policy (for ``rlenvs.evaluation.evaluate``).

    Generation goes through ``backend`` (the trainer's sampler, already synced).
    """

    def __init__(self, policy: CausalLMPolicy, backend: Any) -> None:
        from agents.rollout.chat_tokens import ChatTokenizer

        self.policy = policy
        self.backend = backend
        self.chat = ChatTokenizer(policy.tokenizer)
        self.name = policy.name

    def generate(self, conversations: Sequence[list[dict[str, Any]]],
                 sampling: Any = None) -> list[str]:
        from judges.llm.base import SamplingParams

        sampling = sampling or SamplingParams()
        prompts = [self.chat.prompt_ids(conv) for conv in conversations]
        outs = self.backend.generate(prompts, sampling, seed=sampling.seed)
        replies = [self.chat.decode(o.token_ids) for o in outs]
        for stop in sampling.stop:
            replies = [r.split(stop, 1)[0] for r in replies]
        return replies
