"""POLAR: a reference-conditioned reward model (Policy Discriminative Learning, Shanghai AI Lab,
2025-07, arXiv 2507.05197), at the scale of the embedded SmolLM2-135M.

**What it scores.** ``r(prompt, reference, candidate)``: how much ``candidate`` looks like an
output of *the same policy* that wrote ``reference`` -- a learned distance between policies,
not an absolute preference. Give a terse reference and terse answers score highest; give a
detailed one and detailed answers do (the survey's rainbow example). For a closed-form task
the reference is the gold solution and the reward is graded, not 0/1.

**The model.** One causal LM reads the three together, as one sequence::

    <|im_start|>user\\n{prompt}<|im_end|>
    <|im_start|>reference\\n{reference}<|im_end|>
    <|im_start|>candidate\\n{candidate}<|im_end|>

and a linear head on the final hidden state of the last token gives the scalar reward. The
backbone is the embedded SmolLM2-135M-Instruct, frozen except for rank-``r`` LoRA adapters on
every linear layer of its top ``trainable_layers`` blocks (so the layers below compute the same
activations whatever is trained: :mod:`judges.polar_train` computes them once per sequence and
trains the top on the cached states). The adapters and the head are the whole trained state
(:meth:`PolarScorer.adapter_state`, < 1 MB); the shipped file ``judges/data/polar_smollm2.safetensors``
is what ``benchmarks/bench_polar.py`` trains (``docs/polar.md``: the scale, what it is not).

**The judge.** :class:`PolarJudge` ``(response, task) -> Verdict``: the reference is the task's
``reference`` (Chat-v0 with references), else its ``solution``, else ``"The answer is
{answer}."`` built from ``answer``/``gold`` (closed-form tasks). Its score is
``σ((r − offset) / temperature)`` (``offset``: the midpoint of same-policy and other-policy
rewards on the training pairs, stored with the weights); the raw reward is in ``details``.
Faults are unscored verdicts, never a 0: a task with no reference (``verifier_error``), a model
that cannot load or gives a non-finite reward (``judge_backend``). A candidate longer than
``max_candidate_tokens`` is *judged* (score 0, "too long to read"), so a reply cannot make
itself unscored by length.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from judges.verdict import Verdict

__all__ = ["PolarScorer", "PolarJudge", "LoRALinear", "encode_triple", "task_reference",
           "SHIPPED_WEIGHTS", "load_polar_scorer"]

SHIPPED_WEIGHTS = Path(__file__).resolve().parent / "data" / "polar_smollm2.safetensors"
_LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoRALinear(torch.nn.Module):
    """``y = W x + (α / r) · B A x`` over a frozen linear ``W`` (``B`` starts at zero, so a fresh
    adapter leaves the model unchanged)."""

    def __init__(self, base: torch.nn.Linear, rank: int, alpha: float, seed: int) -> None:
        super().__init__()
        self.base = base
        gen = torch.Generator().manual_seed(seed)
        bound = 1.0 / math.sqrt(base.in_features)
        self.lora_a = torch.nn.Parameter(
            (torch.rand(rank, base.in_features, generator=gen) * 2 - 1) * bound)
        self.lora_b = torch.nn.Parameter(torch.zeros(base.out_features, rank))
        self.scale = alpha / rank

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


class PolarScorer(torch.nn.Module):
    """A scalar reward head on a Llama-architecture causal LM (see the module docstring).

    Args:
        lm: a ``transformers`` Llama causal LM (its weights are frozen).
        tokenizer: its tokenizer.
        trainable_layers: how many top blocks carry LoRA adapters.
        rank / alpha: the LoRA rank and scale.
        seed: initialises the adapters and the head.
    """

    def __init__(self, lm: Any, tokenizer: Any, trainable_layers: int = 4, rank: int = 8,
                 alpha: float = 16.0, seed: int = 0) -> None:
        super().__init__()
        self.backbone = getattr(lm, "model", lm)
        self.tokenizer = tokenizer
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        layers = self.backbone.layers
        self.split = len(layers) - trainable_layers
        self.config = {"trainable_layers": trainable_layers, "rank": rank, "alpha": alpha}
        for i, layer in enumerate(layers[self.split:]):
            for part in (layer.self_attn, layer.mlp):
                for name in _LINEARS:
                    if hasattr(part, name):
                        setattr(part, name, LoRALinear(getattr(part, name), rank, alpha,
                                                       seed * 1000 + i * 10 + _LINEARS.index(name)))
        hidden = self.backbone.config.hidden_size
        gen = torch.Generator().manual_seed(seed)
        self.head = torch.nn.Linear(hidden, 1)
        with torch.no_grad():
            self.head.weight.copy_(torch.randn(1, hidden, generator=gen) * 0.01)
            self.head.bias.zero_()
        self.offset = 0.0

    # ------------------------------------------------------------------ forward in two halves

    def _run(self, hidden: torch.Tensor, layers: Sequence[Any]) -> torch.Tensor:
        from transformers.masking_utils import create_causal_mask

        positions = torch.arange(hidden.shape[1]).unsqueeze(0)
        mask = create_causal_mask(config=self.backbone.config, inputs_embeds=hidden,
                                  attention_mask=None, cache=None, position_ids=positions)
        rope = self.backbone.rotary_emb(hidden, position_ids=positions)
        for layer in layers:
            hidden = layer(hidden, attention_mask=mask, position_embeddings=rope,
                           position_ids=positions)
        return hidden

    def lower(self, ids: Sequence[int]) -> torch.Tensor:
        """Hidden states ``(1, T, H)`` entering the first trainable block (no gradient: the
        frozen part, the same whatever is trained)."""
        with torch.no_grad():
            embeds = self.backbone.embed_tokens(torch.tensor([list(ids)], dtype=torch.long))
            return self._run(embeds, self.backbone.layers[: self.split])

    def upper(self, hidden: torch.Tensor) -> torch.Tensor:
        """The reward (a 0-d tensor) from :meth:`lower`'s states: the trainable blocks, the
        final norm and the head on the last token."""
        hidden = self._run(hidden, self.backbone.layers[self.split:])
        last = self.backbone.norm(hidden[0, -1])
        return self.head(last.float())[0]

    def reward(self, prompt: str, reference: str, candidate: str) -> float:
        """``r(prompt, reference, candidate)`` (no gradient)."""
        ids, _ = encode_triple(self.tokenizer, prompt, reference, candidate)
        with torch.no_grad():
            return float(self.upper(self.lower(ids)))

    # ------------------------------------------------------------------ the trained state

    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        return [p for n, p in self.named_parameters() if "lora_" in n or n.startswith("head.")]

    def adapter_state(self) -> dict[str, torch.Tensor]:
        """The adapters and the head (the whole trained state)."""
        return {n: p.detach().clone().contiguous() for n, p in self.named_parameters()
                if "lora_" in n or n.startswith("head.")}

    def save(self, path: str | Path, metadata: Mapping[str, Any] | None = None) -> None:
        """Write the trained state (+ config, offset) as safetensors, in fp16."""
        from safetensors.torch import save_file

        meta = {k: str(v) for k, v in {**self.config, "offset": self.offset,
                                        **(metadata or {})}.items()}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # fp16 on disk (326k parameters: 0.65 MB instead of 1.3 MB); loaded back as fp32
        save_file({k: v.half() for k, v in self.adapter_state().items()}, str(path),
                  metadata=meta)

    def load(self, path: str | Path) -> dict[str, str]:
        """Load a state written by :meth:`save` (its config must match); returns its metadata."""
        from safetensors import safe_open
        from safetensors.torch import load_file

        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        for key in ("trainable_layers", "rank"):
            if int(meta.get(key, -1)) != self.config[key]:
                raise ValueError(f"{path}: {key}={meta.get(key)} but this scorer has "
                                 f"{self.config[key]}")
        state = {k: v.float() for k, v in load_file(str(path)).items()}
        missing = set(self.adapter_state()) - set(state)
        if missing or set(state) - set(self.adapter_state()):
            raise ValueError(f"{path}: adapter keys do not match this scorer")
        self.load_state_dict(state, strict=False)
        self.offset = float(meta.get("offset", 0.0))
        return meta


def encode_triple(tokenizer: Any, prompt: str, reference: str, candidate: str,
                  max_prompt_tokens: int = 128, max_reference_tokens: int = 256
                  ) -> tuple[list[int], int]:
    """Token ids of the scored sequence (prompt and reference cut to their limits: they are
    the task's, trusted) and the candidate's token count."""
    def toks(text: str) -> list[int]:
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])

    body = toks(candidate)
    ids = (toks("<|im_start|>user\n") + toks(prompt)[:max_prompt_tokens]
           + toks("<|im_end|>\n<|im_start|>reference\n") + toks(reference)[:max_reference_tokens]
           + toks("<|im_end|>\n<|im_start|>candidate\n") + body + toks("<|im_end|>"))
    return ids, len(body)


def task_reference(task: Mapping[str, Any]) -> str | None:
    """The reference a task gives POLAR: ``reference``, else ``solution``, else the gold answer
    as ``"The answer is X."`` (``answer`` / ``gold``); ``None`` when it has none."""
    for key in ("reference", "solution"):
        value = task.get(key)
        if isinstance(value, str) and value.strip():
            return value
    for key in ("answer", "gold"):
        value = task.get(key)
        if value is not None and str(value).strip():
            return f"The answer is {value}."
    return None


_SHARED: dict[str, PolarScorer] = {}
_LOCK = threading.Lock()


def load_polar_scorer(weights: str | Path | None = None) -> PolarScorer:
    """The embedded SmolLM2 with the trained POLAR adapters (``weights``: default the shipped
    file); loaded once per process and file."""
    path = str(weights or SHIPPED_WEIGHTS)
    with _LOCK:
        if path not in _SHARED:
            from safetensors import safe_open

            from judges.llm.embedded import load_embedded_model, load_embedded_tokenizer

            if not Path(path).is_file():
                raise FileNotFoundError(f"POLAR weights not found at {path} (benchmarks/"
                                        "bench_polar.py trains them)")
            with safe_open(path, framework="pt") as f:
                meta = dict(f.metadata() or {})
            scorer = PolarScorer(load_embedded_model(), load_embedded_tokenizer(),
                                 trainable_layers=int(meta.get("trainable_layers", 4)),
                                 rank=int(meta.get("rank", 8)),
                                 alpha=float(meta.get("alpha", 16.0)))
            scorer.load(path)
            scorer.eval()
            _SHARED[path] = scorer
        return _SHARED[path]


class PolarJudge:
    """The POLAR reward as a judge (see the module docstring).

    Args:
        scorer: a :class:`PolarScorer`; default: the embedded model with the shipped weights,
            loaded on the first call (a load failure is an unscored verdict).
        weights: another weights file for the default scorer.
        temperature: the score is ``σ((r − offset) / temperature)``.
        pass_threshold: score at which ``passed`` is true.
        max_candidate_tokens: a longer candidate is judged too long (score 0).
        name: the component name in ``details["components"]``.
    """

    def __init__(self, scorer: PolarScorer | None = None, weights: str | Path | None = None,
                 temperature: float = 1.0, pass_threshold: float = 0.5,
                 max_candidate_tokens: int = 512, name: str = "polar") -> None:
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        self.scorer, self.weights = scorer, weights
        self.temperature, self.pass_threshold = temperature, pass_threshold
        self.max_candidate_tokens, self.name = max_candidate_tokens, name

    def __call__(self, response: str, task: Mapping[str, Any]) -> Verdict:
        reference = task_reference(task)
        if reference is None:
            return Verdict.unscored("unscored: POLAR needs a reference (the task has no "
                                    "reference, solution or answer)", "verifier_error",
                                    components={self.name: 0.0})
        try:
            if self.scorer is None:
                self.scorer = load_polar_scorer(self.weights)
            scorer = self.scorer
            ids, n_candidate = encode_triple(scorer.tokenizer, str(task.get("prompt", "")),
                                             reference, response)
            if n_candidate > self.max_candidate_tokens:
                return Verdict.fail(f"too long to read: {n_candidate} tokens > "
                                    f"{self.max_candidate_tokens}", tokens=n_candidate,
                                    components={self.name: 0.0})
            with torch.no_grad():
                value = float(scorer.upper(scorer.lower(ids)))
        except Exception as exc:  # the model's fault, not the reply's
            return Verdict.unscored(f"unscored: POLAR reward model failed ({type(exc).__name__}:"
                                    f" {exc})", "judge_backend", components={self.name: 0.0})
        if not math.isfinite(value):
            return Verdict.unscored(f"unscored: POLAR reward is not finite ({value})",
                                    "judge_backend", components={self.name: 0.0})
        z = max(min((value - scorer.offset) / self.temperature, 700.0), -700.0)
        score = 1.0 / (1.0 + math.exp(-z))
        return Verdict(score, score >= self.pass_threshold,
                       f"POLAR reward {value:.3f} (offset {scorer.offset:.3f})",
                       {"polar_reward": value, "offset": scorer.offset, "tokens": n_candidate,
                        "components": {self.name: score}})
