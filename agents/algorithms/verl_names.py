"""verl 0.9.1 setting names -> ours, by full path (``actor_rollout_ref.actor.optim.lr``), never by
suffix: ``critic.optim.lr`` is the critic's learning rate and ``reward.reward_model.rollout.n``
the reward model's sample count, and neither may leak into the actor's settings.

Every key of a verl config is one of:

* **mapped** (:data:`VERL_PATHS`): translated to our setting (with a value converter);
* **inert** (:data:`VERL_INERT_PREFIXES`): infrastructure that does not change the learning
  arithmetic (parallelism, profilers, checkpoint paths, logging, data files, the reward-model
  worker pool; our rewards come from the environment);
* **default-only** (:data:`VERL_DEFAULT_ONLY`): a learning setting we have no counterpart for;
  accepted only at verl's default value (or an unresolved ``${...}`` interpolation), so a config
  that changes it is refused instead of silently trained differently;
* anything else is refused with the list of names we know.

A few unambiguous bare names (``clip_ratio_high``, ``loss_agg_mode``, ``kl_ctrl.type``...) are
shorthands for one full path (:data:`VERL_SHORT`). Any verl name switches the config to verl's
semantics (``semantics="verl"``: verl's clamps, aggregation and epsilons; see docs/defaults.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["VERL_PATHS", "VERL_SHORT", "VERL_INERT_PREFIXES", "VERL_DEFAULT_ONLY", "WORD_ALIASES",
           "TRL_DEPRECATED", "translate"]

_A = "actor_rollout_ref.actor."
_R = "actor_rollout_ref.rollout."

LOSS_AGG_MODES = {"token-mean": "dapo", "seq-mean-token-mean": "grpo",
                  "seq-mean-token-sum-norm": "dr_grpo", "seq-mean-token-sum": "seq_mean_token_sum"}


def _choose(table: dict[Any, Any]) -> Callable[[str, Any], Any]:
    def convert(key: str, value: Any) -> Any:
        if value not in table:
            raise ValueError(f"{key}={value!r} is not supported; choose one of {list(table)}")
        return table[value]
    return convert


def _top_k(key: str, value: Any) -> int:
    return 0 if value is None or int(value) < 0 else int(value)


def _warmup_steps(key: str, value: Any) -> int:
    return max(0, int(value))


# full verl path -> (our setting, converter or None)
VERL_PATHS: dict[str, tuple[str, Callable[[str, Any], Any] | None]] = {
    _R + "n": ("num_generations", None),
    _R + "temperature": ("temperature", None),
    _R + "top_p": ("top_p", None),
    _R + "top_k": ("top_k", _top_k),
    _R + "response_length": ("max_completion_length", None),
    "data.max_response_length": ("max_completion_length", None),
    "data.gen_batch_size": ("gen_batch_size", None),
    "data.seed": ("seed", None),
    _A + "optim.lr": ("learning_rate", None),
    _A + "optim.weight_decay": ("weight_decay", None),
    _A + "optim.lr_warmup_steps_ratio": ("warmup_ratio", None),
    _A + "optim.lr_warmup_steps": ("warmup_steps", _warmup_steps),
    _A + "optim.lr_scheduler_type": ("lr_scheduler_type", None),
    _A + "optim.clip_grad": ("max_grad_norm", None),
    _A + "grad_clip": ("max_grad_norm", None),
    _A + "optim.betas": ("adam_betas", None),
    _A + "clip_ratio": ("clip_ratio", None),  # both sides unless clip_ratio_low/high say otherwise
    _A + "clip_ratio_low": ("epsilon", None),
    _A + "clip_ratio_high": ("epsilon_high", None),
    _A + "clip_ratio_c": ("dual_clip", None),
    _A + "loss_agg_mode": ("loss_type", _choose(LOSS_AGG_MODES)),
    _A + "loss_scale_factor": ("loss_scale_factor", None),
    _A + "entropy_coeff": ("entropy_coef", None),
    _A + "use_kl_loss": ("use_kl_loss", None),
    _A + "kl_loss_coef": ("beta", None),
    _A + "kl_loss_type": ("kl_loss_type", None),
    _A + "ppo_epochs": ("ppo_epochs", None),
    _A + "ppo_mini_batch_size": ("ppo_mini_batch_size", None),
    "data.train_batch_size": ("train_batch_size", None),
    _A + "policy_loss.loss_mode": ("importance_sampling_level",
                                   _choose({"vanilla": "token", "gspo": "sequence_token",
                                            "geo_mean": "geo_mean"})),
    # gigpo: verl-agent's recipe; raft / reinforce_rej: the RAFT++ paper's verl fork
    "algorithm.adv_estimator": ("advantage_estimator",
                                _choose({"grpo": "grpo", "rloo": "rloo", "gae": "gae",
                                         "gigpo": "gigpo", "raft": "raft",
                                         "reinforce_rej": "reinforce_rej",
                                         "reinforce_plus_plus": "reinforce_plus_plus",
                                         "reinforce_plus_plus_baseline":
                                             "reinforce_plus_plus_baseline"})),
    "algorithm.gigpo.step_advantage_w": ("step_advantage_w", None),
    "algorithm.gigpo.mode": ("scale_rewards", _choose({"mean_norm": "none",
                                                       "mean_std_norm": "group"})),
    "algorithm.norm_adv_by_std_in_grpo": ("scale_rewards", _choose({True: "group",
                                                                    False: "none"})),
    "algorithm.gamma": ("gamma", None),
    "algorithm.lam": ("lam", None),
    "algorithm.use_kl_in_reward": ("use_kl_in_reward", None),
    "algorithm.kl_penalty": ("kl_penalty", None),
    "algorithm.kl_ctrl.type": ("kl_ctrl_type", None),
    "algorithm.kl_ctrl.kl_coef": ("kl_coef", None),
    "algorithm.kl_ctrl.horizon": ("kl_horizon", None),
    "algorithm.kl_ctrl.target_kl": ("target_kl", None),
    "algorithm.filter_groups.enable": ("dynamic_sampling", None),
    "algorithm.filter_groups.metric": ("dynamic_sampling_metric", _choose(
        {"acc": "passed", "score": "reward", "seq_reward": "reward",
         "seq_final_reward": "reward", "reward": "reward"})),
    "algorithm.filter_groups.max_num_gen_batches": ("max_num_gen_batches", None),
    "reward_model.overlong_buffer.enable": ("overlong_enable", None),
    "reward_model.overlong_buffer.len": ("overlong_buffer_len", None),
    "reward_model.overlong_buffer.penalty_factor": ("overlong_penalty_factor", None),
    "critic.cliprange_value": ("cliprange_value", None),
    "trainer.total_training_steps": ("max_steps", None),
    # decoupled rollout correction (bypass_mode=False): pi_old / pi_rollout weights the policy
    # loss; TRL's vllm_importance_sampling_* (mode, clip_max, clip_min), see _rollout_correction
    "algorithm.rollout_correction.rollout_is": ("rollout_is", None),
    "algorithm.rollout_correction.rollout_is_threshold": ("rollout_is_threshold", None),
}

# bare shorthands -> the one full path they stand for
VERL_SHORT: dict[str, str] = {
    "rollout.n": _R + "n",
    **{k: _A + k for k in ("clip_ratio", "clip_ratio_low", "clip_ratio_high", "clip_ratio_c",
                           "loss_agg_mode", "loss_scale_factor", "entropy_coeff", "use_kl_loss",
                           "kl_loss_coef", "kl_loss_type", "ppo_epochs", "grad_clip",
                           "ppo_mini_batch_size", "policy_loss.loss_mode")},
    **{k: "algorithm." + k for k in ("adv_estimator", "norm_adv_by_std_in_grpo", "kl_penalty",
                                     "use_kl_in_reward", "kl_ctrl.type", "kl_ctrl.kl_coef",
                                     "kl_ctrl.horizon", "kl_ctrl.target_kl", "filter_groups.enable",
                                     "filter_groups.metric",
                                     "filter_groups.max_num_gen_batches", "gigpo.mode",
                                     "gigpo.step_advantage_w", "gigpo.enable_similarity",
                                     "gigpo.similarity_thresh")},
    **{"overlong_buffer." + k: "reward_model.overlong_buffer." + k
       for k in ("enable", "len", "penalty_factor")},
    "max_response_length": "data.max_response_length",
    "train_batch_size": "data.train_batch_size",
    "gen_batch_size": "data.gen_batch_size",
}

# subtrees that carry no learning arithmetic (see the module docstring)
VERL_INERT_PREFIXES: tuple[str, ...] = (
    "trainer.", "global_profiler.", "transfer_queue.", "skip.", "ray_kwargs.", "sandbox_fusion.",
    "custom_reward_function.", "reward.", "reward_model.",
    "actor_rollout_ref.model.", "actor_rollout_ref.hybrid_engine", "actor_rollout_ref.nccl_timeout",
    "actor_rollout_ref.ref.", "critic.model.", "critic.fsdp", "critic.checkpoint",
    "critic.profiler", "critic.strategy", "critic.ulysses", "critic.forward_",
    "critic.ppo_micro_batch_size", "critic.ppo_max_token_len", "critic.use_dynamic_bsz",
    "critic.data_loader_seed", "critic.shuffle", "critic.rollout_n", "critic._target_",
    "critic.enable", "critic.nccl_timeout", "critic.optim._target_", "critic.optim.optimizer",
    "critic.optim.override_optimizer_config", "critic.optim.total_training_steps",
    "critic.optim.zero_indexed_step", "critic.optim.warmup_style",
    _A + "fsdp_config", _A + "checkpoint", _A + "profiler", _A + "strategy", _A + "_target_",
    _A + "ppo_micro_batch_size", _A + "use_dynamic_bsz", _A + "ppo_max_token_len",
    _A + "ulysses", _A + "entropy_from_logits", _A + "entropy_checkpointing", _A + "pad_to_length",
    _A + "use_torch_compile", _A + "use_fused_kernels", _A + "use_remove_padding",
    _A + "data_loader_seed", _A + "rollout_n", _A + "calculate_entropy",
    _A + "calculate_sum_pi_squared", _A + "use_prefix_grouper", _A + "freeze_vision_tower",
    _A + "megatron", _A + "engine", _A + "nccl_timeout", _A + "router_replay", _A + "qat",
    _A + "optim._target_", _A + "optim.optimizer", _A + "optim.override_optimizer_config",
    _A + "optim.total_training_steps", _A + "optim.zero_indexed_step", _A + "optim.warmup_style",
    _A + "policy_loss._target_",
    _R + "name", _R + "mode", _R + "nnodes", _R + "n_gpus_per_node", _R + "seed", _R + "dtype",
    _R + "prompt_length", _R + "gpu_memory_utilization", _R + "enforce_eager",
    _R + "cudagraph", _R + "free_cache_engine", _R + "tensor_model", _R + "data_parallel",
    _R + "expert_parallel", _R + "pipeline_model", _R + "max_num", _R + "max_model_len",
    _R + "enable_", _R + "scheduling_policy", _R + "load_format", _R + "layered_summon",
    _R + "log_prob_", _R + "disable_log_stats", _R + "val_kwargs.", _R + "router_config_path",
    _R + "skip_tokenizer_init", _R + "moe_", _R + "quantization", _R + "disaggregation.",
    _R + "multi_turn.", _R + "agent.", _R + "trace.", _R + "profiler", _R + "prometheus",
    _R + "checkpoint_engine", _R + "_target_", _R + "full_determinism", _R + "engine_kwargs",
    _R + "update_weights", _R + "mtp", _R + "qat", _R + "skip_", _R + "logprobs_mode",
    _R + "over_sample_rate", _R + "multi_stage_wake_up", _R + "calculate_log_probs",
    _R + "ignore_eos", _R + "do_sample", _R + "limit_images", _R + "layer_name_map",
    _R + "custom", _R + "sglang", _R + "vllm", _R + "server", _R + "load_",
    "data.tokenizer", "data.use_shm", "data.train_files", "data.val_files", "data.train_max",
    "data.val_max", "data.prompt_key", "data.reward_fn_key", "data.max_prompt_length",
    "data.val_batch_size", "data.tool_config_path", "data.function_tool_path", "data.return_",
    "data.shuffle", "data.dataloader_num_workers", "data.image", "data.video", "data.audio",
    "data.validation_shuffle", "data.filter_overlong_prompts", "data.truncation",
    "data.trust_remote_code", "data.custom_cls", "data.apply_chat_template_kwargs",
    "data.mm_processor_kwargs", "data.sampler", "data.datagen", "data.seed_",
    "algorithm._target_", "algorithm.kl_ctrl._target_", "algorithm.filter_groups._target_",
    "algorithm.filter_groups.max_inflight_gen_batches", "algorithm.pf_ppo.",
    "distillation.", "critic.optim.betas",
)

# learning settings without a counterpart: accepted only at verl 0.9.1's default
VERL_DEFAULT_ONLY: dict[str, Any] = {
    "critic.optim.lr": 1e-05,  # a separate critic; ours is a value head on the policy's backbone
    "critic.optim.lr_warmup_steps_ratio": 0.0,
    "critic.optim.lr_warmup_steps": -1,
    "critic.optim.weight_decay": 0.01,
    "critic.optim.clip_grad": 1.0,
    "critic.optim.min_lr_ratio": 0.0,
    "critic.optim.num_cycles": 0.5,
    "critic.optim.lr_scheduler_type": "constant",
    "critic.grad_clip": 1.0,
    "critic.ppo_mini_batch_size": 256,
    "critic.ppo_epochs": 1,
    "critic.loss_agg_mode": "token-mean",
    "critic.loss_scale_factor": None,
    _A + "optim.min_lr_ratio": 0.0,
    _A + "optim.num_cycles": 0.5,
    _A + "tau_pos": 1.0,
    _A + "tau_neg": 1.05,
    _A + "shuffle": False,
    _A + "policy_loss.clip_cov_ratio": 0.0002,
    _A + "policy_loss.clip_cov_lb": 1.0,
    _A + "policy_loss.clip_cov_ub": 5.0,
    _A + "policy_loss.kl_cov_ratio": 0.0002,
    _A + "policy_loss.ppo_kl_coef": 0.1,
    _A + "policy_loss.dro_beta": None,
    "algorithm.rollout_correction.rollout_rs": None,
    "algorithm.rollout_correction.rollout_rs_threshold": None,
    "algorithm.rollout_correction.bypass_mode": False,
    "algorithm.rollout_correction.loss_type": "ppo_clip",
    "algorithm.rollout_correction.rollout_is_batch_normalize": False,
    "algorithm.use_pf_ppo": False,
    # verl-agent's string-similarity step groups: ours are the environment's state keys
    "algorithm.gigpo.enable_similarity": False,
    "algorithm.gigpo.similarity_thresh": 0.95,
}

# verl's None here means "not set": keep ours
_UNSET_IF_NONE = {"max_steps", "seed", "gen_batch_size"}

# our own words for the Tree-GRPO knobs
WORD_ALIASES = {"trees_per_prompt": "ts_m", "expansions_per_round": "ts_n",
                "expansion_rounds": "ts_l", "leaves_kept": "ts_k"}
# TRL 1.16's deprecated names of settings we have under their new name
TRL_DEPRECATED = {"vllm_importance_sampling_cap": "vllm_importance_sampling_clip_max"}


def _is_interpolation(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${")


def _verl_kind(path: str) -> str:
    if path in VERL_PATHS:
        return "mapped"
    if path in VERL_DEFAULT_ONLY:
        return "default"
    if any(path.startswith(p) for p in VERL_INERT_PREFIXES):
        return "inert"
    return "unknown"


def unknown_setting(key: str, known: set[str], cls_name: str) -> str:
    """One short line for a setting nobody has: the closest names (TRL, word aliases, verl
    short names), never the whole list (issue 30: a typo printed 2.2 KB of names)."""
    import difflib

    names = sorted(set(known) | set(WORD_ALIASES) | set(VERL_SHORT))
    close = difflib.get_close_matches(key, names, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return (f"{cls_name} has no setting {key!r}{hint}; settings take TRL names or verl full "
            "paths such as 'actor_rollout_ref.actor.optim.lr' (docs/defaults.md lists them)")


def translate(values: dict[str, Any], known: set[str], cls_name: str) -> dict[str, Any]:
    """Map flat (dotted) keys to our settings; unknown keys raise. See the module docstring."""
    out: dict[str, Any] = {}
    verl: dict[str, tuple[str, Any]] = {}  # our intermediate name -> (verl path, value)
    saw_verl = False
    for key, value in values.items():
        if key in known:
            out[key] = value
            continue
        if key in WORD_ALIASES:
            out[WORD_ALIASES[key]] = value
            continue
        if TRL_DEPRECATED.get(key) in known:
            out.setdefault(TRL_DEPRECATED[key], value)
            continue
        path = VERL_SHORT.get(key, key)
        kind = _verl_kind(path)
        if kind == "unknown":
            raise ValueError(unknown_setting(key, known, cls_name))
        saw_verl = True
        if kind == "inert" or _is_interpolation(value):
            continue
        if kind == "default":
            if value != VERL_DEFAULT_ONLY[path]:
                raise ValueError(f"{key}={value!r}: this verl setting has no counterpart here; "
                                 f"only verl's default {VERL_DEFAULT_ONLY[path]!r} is accepted")
            continue
        name, convert = VERL_PATHS[path]
        if value is None and name in _UNSET_IF_NONE:
            continue
        if convert is not None:
            value = convert(key, value)
        if name in verl and verl[name][1] != value:
            raise ValueError(f"{verl[name][0]}={verl[name][1]!r} and {key}={value!r} both set "
                             f"{name!r} and disagree")
        verl[name] = (key, value)
    if saw_verl:
        explicit = set(out)
        for name, value in _resolve(verl, known, cls_name, explicit).items():
            if name not in explicit:
                out[name] = value
        out.setdefault("semantics", "verl")
    return out


# settings of the other trainer: dropped when they switch nothing on, refused when they do
_PPO_ONLY = {"gamma": None, "lam": None, "kl_ctrl_type": None, "kl_coef": None, "kl_horizon": None,
             "target_kl": None, "kl_penalty": None, "cliprange_value": None}
_GRPO_ONLY = {"scale_rewards": None, "kl_loss_type": None, "dynamic_sampling": False,
              "dynamic_sampling_metric": None, "max_num_gen_batches": None,
              "gen_batch_size": None, "overlong_buffer_len": "off", "overlong_penalty_factor": None,
              "importance_sampling_level": "token", "loss_type": "dapo",
              "loss_scale_factor": "off"}


def _resolve(verl: dict[str, tuple[str, Any]], known: set[str], cls_name: str,
             explicit: set[str]) -> dict[str, Any]:
    """Turn verl's intermediate settings into ours (switches, batch sizes, epochs)."""
    v = {name: value for name, (_, value) in verl.items()}
    ppo = "num_ppo_epochs" in known
    out: dict[str, Any] = {}
    if "use_bias_correction_kl" in known:
        out["use_bias_correction_kl"] = False  # a TRL 1.16 term verl does not have
    if "reward_std_epsilon" in known:
        out["reward_std_epsilon"] = 1e-6  # verl's GRPO epsilon
    if v.get("importance_sampling_level", "token") != "token":
        v.pop("dual_clip", None)  # verl's GSPO loss has no dual-clip
        out["dual_clip"] = None
    elif "dual_clip" not in v:
        out["dual_clip"] = 3.0  # verl's clip_ratio_c default: dual-clip is on
    use_kl_loss = v.pop("use_kl_loss", "beta" in v)
    use_kl_in_reward = v.pop("use_kl_in_reward", "kl_coef" in v)
    if ppo:
        if use_kl_loss:
            raise ValueError("actor.use_kl_loss=True: the PPO trainer puts KL in the reward "
                             "(algorithm.use_kl_in_reward)")
        v.pop("beta", None)
        if not use_kl_in_reward:
            v["kl_coef"] = 0.0
        if "kl_penalty" in v:
            v["kl_estimator"] = v.pop("kl_penalty")
        v.pop("kl_loss_type", None)
    else:
        if use_kl_in_reward:
            raise ValueError("algorithm.use_kl_in_reward=True: GRPO-family trainers take the KL "
                             "as a loss (actor.use_kl_loss)")
        v["beta"] = v.get("beta", 0.001) if use_kl_loss else 0.0
        if "kl_loss_type" in v:
            v["kl_estimator"] = v.pop("kl_loss_type")
    level, threshold = v.pop("rollout_is", None), v.pop("rollout_is_threshold", 2.0)
    if "vllm_importance_sampling_correction" in known:
        out.update(_rollout_correction(level, threshold))
    elif level is not None:
        raise ValueError(f"{verl['rollout_is'][0]}={level!r} has no effect in {cls_name}; "
                         "leave it at its default")
    if v.pop("overlong_enable", True) is False:
        for k in ("overlong_buffer_len", "overlong_penalty_factor"):
            v.pop(k, None)
    eps_low, eps_high = ("cliprange", "cliprange_high") if ppo else ("epsilon", "epsilon_high")
    if "clip_ratio" in v:
        ratio = v.pop("clip_ratio")
        v.setdefault("epsilon", ratio)
        v.setdefault("epsilon_high", ratio)
    for ours, theirs in (("epsilon", eps_low), ("epsilon_high", eps_high)):
        if ours in v:
            v[theirs] = v.pop(ours)
    if "adam_betas" in v:
        v["adam_beta1"], v["adam_beta2"] = (float(b) for b in v.pop("adam_betas"))
    if "ppo_epochs" in v:
        v["num_ppo_epochs" if ppo else "num_iterations"] = v.pop("ppo_epochs")
    if str(v.get("advantage_estimator", "")).startswith("reinforce_plus_plus"):
        v.setdefault("gamma", 1.0)  # verl's algorithm.gamma default (ours is GiGPO's 0.95)
    if v.get("advantage_estimator") == "gae":
        if not ppo:
            raise ValueError("algorithm.adv_estimator='gae' is PPO: use the PPO trainer")
        v.pop("advantage_estimator")
    _batch_sizes(v, ppo)
    other = _GRPO_ONLY if ppo else _PPO_ONLY
    for name, value in v.items():
        if name not in known and name in other:
            inert = other[name]
            if inert is None or value == inert or (inert == "off" and value is None):
                continue
            raise ValueError(f"{verl[name][0] if name in verl else name}={value!r} has no "
                             f"effect in {cls_name}; leave it at its default")
        if name not in known:
            raise ValueError(f"{verl[name][0] if name in verl else name!r} maps to {name!r}, "
                             f"which {cls_name} does not have")
        if name not in explicit:
            out[name] = value
    return out


def _rollout_correction(level: Any, threshold: Any) -> dict[str, Any]:
    """verl's ``rollout_is`` (None | token | sequence) and ``rollout_is_threshold`` (an upper
    bound: truncated IS; ``"lower_upper"``: IcePop masking) as TRL's settings. verl's default
    is no correction (TRL's is ``sequence_mask``)."""
    if level is None:
        return {"vllm_importance_sampling_correction": False}
    if level not in ("token", "sequence"):
        raise ValueError(f"algorithm.rollout_correction.rollout_is={level!r} is not supported; "
                         "choose one of [None, 'token', 'sequence']")
    bad = ValueError(f"algorithm.rollout_correction.rollout_is_threshold={threshold!r}: give an "
                     "upper bound (2.0) or 'lower_upper' bounds ('0.5_2.0'), both positive, "
                     "lower <= upper")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, str)):
        raise bad
    text = str(threshold).strip()
    try:
        lower, upper = (float(x) for x in text.split("_", 1)) if "_" in text else \
            (None, float(text))
    except ValueError as e:
        raise bad from e
    if upper <= 0 or (lower is not None and not 0 < lower <= upper):
        raise bad
    return {"vllm_importance_sampling_correction": True,
            "vllm_importance_sampling_mode": f"{level}_{'truncate' if lower is None else 'mask'}",
            "vllm_importance_sampling_clip_max": upper,
            "vllm_importance_sampling_clip_min": lower}


def _batch_sizes(v: dict[str, Any], ppo: bool) -> None:
    """verl counts prompts (train_batch_size per round, ppo_mini_batch_size per optimizer step);
    we count completions per device micro-batch and steps per generation."""
    train, mini = v.pop("train_batch_size", None), v.pop("ppo_mini_batch_size", None)
    if train is None and mini is None:
        return
    n = int(v.get("num_generations", 1))
    train = train or mini
    mini = min(mini or train, train)
    if train % mini:
        raise ValueError(f"data.train_batch_size ({train}) must be a multiple of "
                         f"ppo_mini_batch_size ({mini})")
    if ppo:
        v.update(per_device_train_batch_size=train * n, gradient_accumulation_steps=1,
                 num_mini_batches=train // mini)
    else:
        v.update(per_device_train_batch_size=mini * n, gradient_accumulation_steps=1,
                 steps_per_generation=train // mini)
