"""The engine a trainer samples with: :mod:`judges.llm.sampler`, the house's one inference layer.

The CPU engine (:class:`TorchSampler`), the sampling type and the protocol moved down to
``judges.llm`` so that evaluation, serving and the LLM judges generate through the same engine
as training. This module keeps the old import path, and builds the vLLM engine of a trainer's
config (:func:`vllm_backend`).
"""

from typing import Any

from judges.llm.sampler import *  # noqa: F403 -- the same names, one implementation
from judges.llm.sampler import GenerationBackend
from judges.llm.sampler import __all__ as _sampler_names

__all__ = [*_sampler_names, "vllm_backend"]


def vllm_backend(policy: Any, config: Any) -> GenerationBackend:
    """The vLLM engine of a trainer with ``use_vllm=True``, by TRL's ``vllm_mode``.

    ``"colocate"``: an in-process :class:`~judges.llm.vllm_backend.VLLMSampler` started on the
    policy's weights, taking ``vllm_gpu_memory_utilization`` of the GPU (on vLLM's CPU build: a
    KV cache of ``VLLM_CPU_KVCACHE_SPACE`` GiB) and sleeping while the trainer trains when
    ``vllm_enable_sleep_mode``. ``"server"``: a
    :class:`~judges.llm.vllm_backend.VLLMServerSampler` on ``vllm_server_base_url`` (else
    ``http://vllm_server_host:vllm_server_port``); the policy's weights are pushed to it once
    here, so the server samples from exactly this policy whatever it was started with.
    """
    from judges.llm.vllm_backend import VLLMSampler, VLLMServerSampler

    if config.vllm_mode == "server":
        url = config.vllm_server_base_url or \
            f"http://{config.vllm_server_host}:{config.vllm_server_port}"
        server = VLLMServerSampler(url, stop_token_ids=policy.stop_token_ids,
                                   timeout=config.vllm_server_timeout,
                                   weights_dir=config.vllm_server_weights_dir)
        server.sync_weights(policy.model)
        return server
    if config.vllm_mode != "colocate":
        raise ValueError(f"vllm_mode must be 'colocate' or 'server', got {config.vllm_mode!r}")
    extra = {"enable_sleep_mode": True} if config.vllm_enable_sleep_mode else {}
    return VLLMSampler.from_policy(
        policy, gpu_memory_utilization=config.vllm_gpu_memory_utilization, **extra)
