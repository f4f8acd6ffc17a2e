"""vLLM generation backend (GPU) behind the same protocol as the CPU sampler.

Optional: needs ``pip install vllm`` and a CUDA GPU. **Untested in this repository's CI** (no
GPU there); it follows vLLM's offline ``LLM`` API (token-id prompts, per-request seeds, sampled
token log-probabilities) and TRL's "colocate" weight sync (``model.load_weights`` on the engine's
model after every optimizer step). vLLM's internal path to the model object changes between
versions; :meth:`VLLMSampler.sync_weights` tries the known ones and otherwise says so.

Note: vLLM's returned log-probabilities are those of its own (bf16) forward pass; the trainer
recomputes old/reference log-probabilities itself where the algorithm needs them.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agents.generation import Generation, SamplingConfig
from agents.weights import merged_state_dict

__all__ = ["VLLMSampler"]


class VLLMSampler:
    """Generation with an in-process ``vllm.LLM``.

    Args:
        model: a local model folder (what ``vllm.LLM(model=...)`` loads).
        stop_token_ids: ids that end a reply (default: the model's EOS).
        **llm_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``dtype``...).
    """

    def __init__(self, model: str | Path, stop_token_ids: Sequence[int] | None = None,
                 **llm_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as e:  # pragma: no cover - GPU only
            raise ImportError("VLLMSampler needs vLLM and a CUDA GPU: pip install vllm") from e
        llm_kwargs.setdefault("gpu_memory_utilization", 0.3)
        llm_kwargs.setdefault("enable_prefix_caching", True)
        self.llm = LLM(model=str(model), **llm_kwargs)
        self.stop_token_ids = list(stop_token_ids) if stop_token_ids else None

    @classmethod
    def from_policy(cls, policy: Any, **llm_kwargs: Any) -> VLLMSampler:  # pragma: no cover
        """Save the policy (LoRA merged) to a temporary folder and start an engine on it."""
        folder = Path(tempfile.mkdtemp(prefix="agents-vllm-"))
        policy.save_pretrained(folder)
        return cls(folder, stop_token_ids=policy.stop_token_ids, **llm_kwargs)

    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingConfig,
                 seed: int | None = None) -> list[Generation]:  # pragma: no cover - GPU only
        from vllm import SamplingParams

        params = [
            SamplingParams(
                n=1, temperature=config.temperature, top_p=config.top_p,
                top_k=config.top_k if config.top_k > 0 else -1,
                max_tokens=config.max_new_tokens, logprobs=0,
                seed=None if seed is None else seed + i,
                stop_token_ids=self.stop_token_ids,
            )
            for i in range(len(prompts))
        ]
        requests = [{"prompt_token_ids": list(p)} for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        result = []
        for out in outputs:
            completion = out.outputs[0]
            ids = list(completion.token_ids)
            logprobs = [float(step[tok].logprob) if step and tok in step else 0.0
                        for tok, step in zip(ids, completion.logprobs or [{}] * len(ids),
                                             strict=False)]
            result.append(Generation(ids, logprobs, completion.finish_reason == "stop"))
        return result

    def sync_weights(self, model: Any) -> None:  # pragma: no cover - GPU only
        """Push the trainer's weights (LoRA merged) into the engine."""
        state = merged_state_dict(model)
        target = _engine_model(self.llm)
        target.load_weights(weights=list(state.items()))
        reset = getattr(self.llm, "reset_prefix_cache", None)
        if callable(reset):
            reset()


def _engine_model(llm: Any) -> Any:  # pragma: no cover - GPU only
    paths = (
        "llm_engine.model_executor.driver_worker.model_runner.model",
        "llm_engine.model_executor.driver_worker.worker.model_runner.model",
    )
    for path in paths:
        obj = llm
        try:
            for part in path.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        return obj
    raise RuntimeError(
        "cannot reach the vLLM engine's model object to load new weights (vLLM's internals "
        "changed); run vLLM with VLLM_ENABLE_V1_MULTIPROCESSING=0 or use a supported version"
    )
