"""In-process vLLM engine as a chat backend (GPU; optional ``rlenvs[vllm]`` extra).

Seeds follow the other backends: conversation ``i`` of a seeded call samples with ``seed + i``
(one ``vllm.SamplingParams`` per request), so ``n`` copies of one prompt -- a Monte-Carlo
prefix, a judge's ``k`` votes -- are ``n`` different draws, not one draw ``n`` times.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judges.llm.base import Messages, SamplingParams

__all__ = ["VLLMChat"]


class VLLMChat:
    """``vllm.LLM(model=...)`` behind the ``ChatModel`` interface.

    Args:
        model: a local model folder (or an id your vLLM can load).
        **engine_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``dtype``, ...).
    """

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError:
            raise ImportError(
                "the vLLM backend needs vllm (GPU): pip install 'rlenvs[vllm]'"
            ) from None
        self._vllm = vllm
        engine_kwargs.setdefault("enable_prefix_caching", True)
        self.llm = vllm.LLM(model=model, **engine_kwargs)
        self.name = model

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        sampling = sampling or SamplingParams()

        def params(seed: int | None) -> Any:
            return self._vllm.SamplingParams(
                temperature=sampling.temperature,
                top_p=sampling.top_p,
                top_k=sampling.top_k if sampling.top_k > 0 else -1,
                max_tokens=sampling.max_new_tokens,
                seed=seed,
                stop=list(sampling.stop) or None,
            )

        per_request = (params(None) if sampling.seed is None
                       else [params(sampling.seed + i) for i in range(len(conversations))])
        outputs = self.llm.chat([list(c) for c in conversations], per_request, use_tqdm=False)
        return [o.outputs[0].text for o in outputs]
