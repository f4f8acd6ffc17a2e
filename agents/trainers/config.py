"""Trainer configurations with TRL's names, plus a mapping layer for verl's names.

``GRPOConfig`` covers GRPO, Dr. GRPO, DAPO, GSPO, GMPO, verl-style RLOO, process-reward GRPO,
GiGPO, RAFT++ and Reinforce-Rej;
``RLOOConfig`` is TRL's RLOO; ``PPOConfig`` is PPO with a value head. ``from_dict`` accepts
either naming (``clip_ratio_high``, ``loss_agg_mode``, ``rollout.n``, ``filter_groups.enable``,
``kl_ctrl.type``...) and says which key it does not know.

Batch sizes follow TRL: one optimizer step sees ``per_device_train_batch_size ×
gradient_accumulation_steps`` completions; one generation round samples
``per_device_train_batch_size × steps_per_generation`` completions
(= that / ``num_generations`` prompts) and is reused ``num_iterations`` times.

``GRPOConfig.rollout`` (a :class:`RolloutConfig`; only GRPO takes one) picks how a round is
sampled: ``kind="chain"`` (``num_generations`` independent episodes per prompt), ``"tree"``
(Tree-GRPO: ``ts_m·ts_k`` rows per prompt) or ``"arpo"`` (ARPO entropy-based branching:
``rollout_budget`` rows per prompt); the generation batch must be a multiple of those rows per
prompt (:attr:`TrainConfig.rows_per_prompt`). ``from_dict`` also takes the flat spellings
(``rollout="tree"``, ``ts_m=2``, ``trees_per_prompt=2``, ``rollout.ts_m``) of the CLI's
``--rollout``/``--set`` and of config files.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TrainConfig", "RolloutConfig", "GRPOConfig", "RLOOConfig", "PPOConfig"]

# GRPOConfig.advantage_estimator: agents.algorithms.{grpo,rloo,process,gigpo,raft,reinforce_pp}
# (issue 33: REINFORCE++ and its baseline variant under verl's adv_estimator names; they
# discount with ``gamma`` -- verl's default is 1.0, which the presets and verl names set)
ADVANTAGE_ESTIMATORS = ("grpo", "rloo", "process", "gigpo", "raft", "reinforce_rej",
                        "reinforce_plus_plus", "reinforce_plus_plus_baseline")


@dataclass
class TrainConfig:
    """Settings every trainer shares (TRL ``TrainingArguments`` / ``GRPOConfig`` names)."""

    output_dir: str = "runs/agents"
    max_steps: int = 100
    # stop after the round that crosses this wall-clock budget (seconds of train(), summed over
    # the sessions of a resumed run)
    max_time_s: float | None = None
    learning_rate: float = 1e-6
    # "linear" / "cosine" decay to 0 over max_steps -- or over max_time_s, whichever runs out
    # first, so a time-budgeted run (the demo) ends its decay with its budget
    lr_scheduler_type: str = "constant"
    warmup_steps: int = 0
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = 1.0
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    steps_per_generation: int | None = None
    num_generations: int = 8
    num_iterations: int = 1
    seed: int = 42
    train_seed: int = 0  # task seed of the first training prompt (prompt k uses train_seed + k)
    # generation
    max_completion_length: int = 256
    max_episode_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    # "auto": bf16 where this CPU runs it natively, fp32 where bf16 is emulated (measured once,
    # judges.llm.cpu_dtype); or "bfloat16" / "float32"
    generation_dtype: str = "auto"
    # TorchSampler prompt-prefix KV cache across calls (tokens; 0 = off; None = 16384 for
    # tree/arpo rollouts, whose branches re-send their parents' contexts, else off; SmolLM2
    # keys+values are ~23 KB per token in bf16)
    prefix_cache_tokens: int | None = None
    use_vllm: bool = False  # GPU: generate with judges.llm.vllm_backend.VLLMSampler
    # vLLM (TRL names; docs/multi_gpu_vllm.md): "colocate" = an in-process engine sharing the
    # machine (vllm_gpu_memory_utilization of the GPU; on vLLM's CPU build a KV cache of
    # VLLM_CPU_KVCACHE_SPACE GiB, default 0.5); sleep mode frees its GPU memory while the trainer
    # trains (CUDA/ROCm/XPU only). "server" = an external `vllm serve` (VLLM_SERVER_DEV_MODE=1,
    # --logprobs-mode processed_logprobs) that reloads the merged weights the trainer writes to
    # vllm_server_weights_dir (a folder the server can read; None: a temporary one) every round
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3
    vllm_enable_sleep_mode: bool = False
    vllm_server_base_url: str | None = None  # None: http://{vllm_server_host}:{vllm_server_port}
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    vllm_server_timeout: float = 240.0  # seconds to wait for the server to come up
    vllm_server_weights_dir: str | None = None
    mask_truncated_completions: bool = False
    # precision / performance
    max_micro_batch_tokens: int | None = 768  # physical micro-batch cap (padded tokens)
    # run each distinct prompt of an optimizer step (or scoring pass) once, and the rows'
    # completions on its cached keys/values (agents.prefix): the same gradient, ~30 % fewer
    # training tokens with 4 completions per 49-token prompt; off for value-head trainers (PPO)
    share_prompt_prefix: bool = True
    # autocast the training forward/backward to bf16 (fp32 master weights); "auto": where this
    # device runs bf16 fast (CUDA with bf16; a CPU where judges.llm.cpu_dtype measures bf16
    # faster, i.e. native AVX-512-BF16/AMX -- emulated bf16 on an AVX2-only CPU is ~17x slower)
    bf16: bool | str = False
    torch_num_threads: int | None = None
    # logging, checkpoints, evaluation
    logging_steps: int = 1
    # checkpoint every save_steps optimizer steps and at the end; None (default, TRL saves by
    # default too): every max(1, max_steps // 5) steps, so a killed run can --resume; 0: only
    # at the end (save_final_checkpoint)
    save_steps: int | None = None
    save_total_limit: int | None = 2
    save_final_checkpoint: bool = True
    resume_from_checkpoint: str | bool | None = None  # True / "latest" / a checkpoint folder
    # a fresh run into a folder that holds another run's checkpoints/metrics deletes them
    # (False: refused; agents.run.checkpoint.prepare_output_dir)
    overwrite_output_dir: bool = False
    eval_steps: int = 0  # 0 = only before and after training (if eval_episodes > 0)
    eval_episodes: int = 0
    eval_seed: int = 10_000_000  # far from the training seeds
    eval_max_new_tokens: int | None = None
    progress: bool = True
    # whose numbers shared names follow: "trl" (TRL 1.16) or "verl" (verl 0.9.1; set by any verl
    # name in from_dict): clamps, aggregation of empty rows, entropy bonus... (docs/defaults.md)
    semantics: str = "trl"
    # faults and deadlines (issue 28; agents.rollout.deadline). An episode whose reward is
    # unscored (a judge backend, sandbox, tool or env fault, or a deadline) is regenerated on the
    # same task up to unscored_retries times (chain rollouts, within the round's budget), then
    # left out of group statistics, advantages and the loss; a group with fewer than 2 scored
    # episodes trains nothing. A run whose unscored fraction is above max_unscored_frac in each
    # of unscored_window consecutive rounds stops with an error naming the causes (None: never).
    unscored_retries: int = 2
    max_unscored_frac: float | None = 0.5
    unscored_window: int = 3
    # wall-clock budgets (seconds, None: none): one episode (env calls that do not return in
    # time are abandoned in their worker thread; the episode is truncated, unscored "deadline")
    # and one round's rollouts (every episode still running then is given up the same way)
    episode_timeout_s: float | None = 600.0
    round_timeout_s: float | None = None

    def __post_init__(self) -> None:
        _choice(self, "semantics", ("trl", "verl"))
        _positive(self, "max_steps", "per_device_train_batch_size", "gradient_accumulation_steps",
                  "num_generations", "num_iterations", "max_completion_length", "logging_steps")
        if self.steps_per_generation is None:
            self.steps_per_generation = self.gradient_accumulation_steps
        _positive(self, "steps_per_generation")
        self._check_batch_geometry()
        if self.learning_rate < 0:
            raise ValueError("learning_rate must be >= 0")
        if self.lr_scheduler_type not in ("constant", "linear", "cosine"):
            raise ValueError("lr_scheduler_type must be 'constant', 'linear' or 'cosine'")
        if self.bf16 not in (True, False, "auto"):
            raise ValueError(f"bf16 must be true, false or 'auto', got {self.bf16!r}")
        if self.generation_dtype not in ("auto", "bfloat16", "float32"):
            raise ValueError("generation_dtype must be 'auto', 'bfloat16' or 'float32'")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0:
            raise ValueError("need temperature >= 0, 0 < top_p <= 1, top_k >= 0")
        if self.prefix_cache_tokens is not None and self.prefix_cache_tokens < 0:
            raise ValueError("prefix_cache_tokens must be >= 0 (0 = off) or None (auto)")
        self._check_vllm()
        for name in ("save_steps", "eval_steps", "eval_episodes", "unscored_retries"):
            if (getattr(self, name) or 0) < 0:
                raise ValueError(f"{name} must be >= 0")
        _positive(self, "unscored_window")
        if self.max_unscored_frac is not None and not 0 <= self.max_unscored_frac <= 1:
            raise ValueError("max_unscored_frac must be in [0, 1] or None")
        for name in ("episode_timeout_s", "round_timeout_s"):
            if getattr(self, name) is not None and not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 (seconds) or None")

    def _check_batch_geometry(self) -> None:
        """A generation round splits into whole optimizer steps and whole prompts."""
        if self.steps_per_generation % self.gradient_accumulation_steps:
            raise ValueError(
                f"steps_per_generation ({self.steps_per_generation}) must be a multiple of "
                f"gradient_accumulation_steps ({self.gradient_accumulation_steps})"
            )
        if self.generation_batch_size % self.rows_per_prompt:
            raise ValueError(
                f"the generation batch (per_device_train_batch_size × steps_per_generation = "
                f"{self.generation_batch_size}) must be divisible by {self._rows_named()} "
                f"({self.rows_per_prompt}), the rows per prompt"
            )

    @property
    def save_every(self) -> int:
        """Optimizer steps between checkpoints (``save_steps``; ``None``: ~5 per run)."""
        if self.save_steps is None:
            return max(1, self.max_steps // 5)
        return int(self.save_steps)

    @property
    def generation_batch_size(self) -> int:
        """Completions sampled per generation round."""
        return self.per_device_train_batch_size * int(self.steps_per_generation or 1)

    @property
    def rows_per_prompt(self) -> int:
        """Training rows per prompt (``num_generations``; GRPO's tree / ARPO rollouts differ)."""
        return self.num_generations

    def _rows_named(self) -> str:
        return "num_generations"

    @property
    def prompts_per_generation(self) -> int:
        return self.generation_batch_size // self.rows_per_prompt

    def _check_vllm(self) -> None:
        _choice(self, "vllm_mode", ("colocate", "server"))
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise ValueError("vllm_gpu_memory_utilization must be in (0, 1]")
        if self.vllm_mode == "server" and self.vllm_enable_sleep_mode:
            raise ValueError("vllm_enable_sleep_mode applies to vllm_mode='colocate'; a server "
                             "is started with its own flags (vllm serve --enable-sleep-mode)")
        if not 0 < self.vllm_server_port < 65536:
            raise ValueError(f"vllm_server_port must be in 1..65535, got {self.vllm_server_port}")
        if not self.vllm_server_timeout > 0:
            raise ValueError("vllm_server_timeout must be > 0 (seconds)")

    @property
    def optimizer_batch_size(self) -> int:
        """Completions per optimizer step."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from TRL names or verl names (full paths, nested dicts; see
        :mod:`agents.algorithms.verl_names`)."""
        from agents.algorithms.verl_names import translate

        flat = _flatten(values)
        known = {f.name for f in dataclasses.fields(cls)}
        if "rollout" not in known:
            _refuse_rollout(flat, cls.__name__)
            return cls(**translate(flat, known, cls.__name__))
        out = translate(flat, known | _ROLLOUT_FLAT, cls.__name__)
        out["rollout"] = _gather_rollout(out)
        return cls(**out)


@dataclass
class RolloutConfig:
    """How a GRPO round is sampled (``GRPOConfig.rollout``); only trainers that train on a
    rollout's own advantages take one.

    ``kind="chain"``: ``num_generations`` independent episodes per prompt (the other settings
    are unused). ``"tree"``: Tree-GRPO (arXiv 2509.21240), ``ts_m·ts_k`` rows per prompt.
    ``"arpo"``: ARPO's entropy-based branching after tool calls (arXiv 2507.19849),
    ``rollout_budget`` rows per prompt.
    """

    kind: str = "chain"  # "chain" | "tree" (Tree-GRPO) | "arpo" (agents.rollout.branched)
    # Tree-GRPO (word aliases in agents.algorithms.verl_names): rows per prompt = ts_m * ts_k
    ts_m: int = 2  # trees_per_prompt: roots, each gets one full chain first
    ts_n: int = 2  # expansions_per_round: nodes drawn (with replacement) per tree per round
    ts_l: int = 1  # expansion_rounds: each drawn node is continued to a new leaf
    ts_k: int = 3  # leaves_kept: leaves kept per tree (<= 1 + ts_l * ts_n)
    tree_advantage: str = "intra+inter"  # intra | inter | intra+inter (Tree-GRPO's sum)
    # ARPO: rows per prompt = rollout_budget (M)
    rollout_budget: int | None = None  # M, final trajectories per prompt (None: num_generations)
    initial_rollouts: int | None = None  # N, chains started from the prompt (None: M // 2)
    beam_size: int = 2  # B: a source makes at most B - 1 branch attempts per round
    branch_probability: float = 0.5  # tau: P(branch) = clip(tau + entropy_weight * dH, 0, 1)
    entropy_weight: float = 0.2  # beta_H (reference scripts 0.2)
    entropy_tokens: int = 20  # k: tokens sampled after a tool result to measure entropy
    entropy_top_logprobs: int = 10  # entropy over the top-k log-probs (reference: vLLM top-10)
    arpo_attribution: str = "soft"  # soft | hard advantage attribution of shared prefixes
    arpo_branch_on: str = "tool"  # branch after tool calls (ARPO) or after "any" env reply

    def __post_init__(self) -> None:
        if self.kind not in ROLLOUT_KINDS:
            raise ValueError(f"rollout must be one of {list(ROLLOUT_KINDS)}, got {self.kind!r}")
        if self.kind == "tree":
            for name in ("ts_m", "ts_n", "ts_l", "ts_k"):
                value = getattr(self, name)
                if not isinstance(value, int) or isinstance(value, bool):
                    raise ValueError(f"{name} must be an integer, got {value!r}")
            self.tree_config()  # raises with the offending ts_* knob
        elif self.kind == "arpo":
            if self.rollout_budget is not None and (not isinstance(self.rollout_budget, int)
                                                    or self.rollout_budget < 1):
                raise ValueError("rollout_budget (ARPO's M) must be a positive integer")
            _positive(self, "entropy_tokens", "entropy_top_logprobs")
            if not isinstance(self.branch_probability, (int, float)) or \
                    not 0 <= self.branch_probability <= 1:
                raise ValueError("branch_probability (tau) must be in [0, 1]")

    def rows_per_prompt(self, num_generations: int) -> int:
        """Training rows per prompt: ``num_generations`` (chain), ``ts_m·ts_k`` (tree),
        ``rollout_budget`` (ARPO's M; default ``num_generations``)."""
        if self.kind == "tree":
            return self.ts_m * self.ts_k
        if self.kind == "arpo":
            return self.rollout_budget or num_generations
        return num_generations

    def rows_named(self) -> str:
        return {"chain": "num_generations", "tree": "ts_m * ts_k",
                "arpo": "rollout_budget"}[self.kind]

    def tree_config(self) -> Any:
        """The :class:`agents.rollout.tree.TreeRolloutConfig` of these settings."""
        from agents.rollout.tree import TreeRolloutConfig

        return TreeRolloutConfig(ts_m=self.ts_m, ts_n=self.ts_n, ts_l=self.ts_l, ts_k=self.ts_k,
                                 advantage_mode=self.tree_advantage)

    def arpo_config(self, num_generations: int) -> Any:
        """The :class:`agents.rollout.arpo.ARPOConfig` of these settings (``M`` defaults to
        ``num_generations``)."""
        from agents.rollout.arpo import ARPOConfig

        m = self.rollout_budget or num_generations
        return ARPOConfig(n=m, initial_rollouts=self.initial_rollouts or max(1, m // 2),
                          beam_size=self.beam_size, branch_probability=self.branch_probability,
                          entropy_weight=self.entropy_weight, attribution=self.arpo_attribution,
                          branch_on=self.arpo_branch_on)

    @classmethod
    def coerce(cls, value: Any) -> RolloutConfig:
        """A :class:`RolloutConfig` from itself, a kind (``"tree"``) or a dict of its fields."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            return cls(kind=value)
        if isinstance(value, dict):
            unknown = sorted(set(value) - _ROLLOUT_FIELDS)
            if unknown:
                raise ValueError(f"RolloutConfig has no setting {unknown[0]!r}; known: "
                                 f"{sorted(_ROLLOUT_FIELDS)}")
            return cls(**value)
        raise TypeError(f"rollout must be a RolloutConfig, a kind ({list(ROLLOUT_KINDS)}) or a "
                        f"dict of RolloutConfig settings, got {type(value).__name__}")


ROLLOUT_KINDS = ("chain", "tree", "arpo")
_ROLLOUT_FIELDS = frozenset(f.name for f in dataclasses.fields(RolloutConfig))
# flat spellings from_dict maps into the nested config: "ts_m", "rollout.ts_m", "rollout.kind"
_ROLLOUT_FLAT = (_ROLLOUT_FIELDS - {"kind"}) | {f"rollout.{n}" for n in _ROLLOUT_FIELDS}


def _gather_rollout(out: dict[str, Any]) -> RolloutConfig:
    """Pop every rollout setting of ``out`` (``rollout``: kind, dict or config; flat and
    ``rollout.``-prefixed names) into one :class:`RolloutConfig`."""
    spec = out.pop("rollout", None)
    values = (dataclasses.asdict(spec) if isinstance(spec, RolloutConfig) else
              {"kind": spec} if isinstance(spec, str) else dict(spec or {}))
    given = {name: "rollout" for name in values} if not isinstance(spec, RolloutConfig) else {}
    for name in sorted(_ROLLOUT_FIELDS):
        for key in (name, f"rollout.{name}"):
            if key not in out:
                continue
            value = out.pop(key)
            if name in given and values[name] != value:
                raise ValueError(f"{given[name]}={values[name]!r} and {key}={value!r} both set "
                                 f"the rollout's {name} and disagree")
            values[name], given[name] = value, key
    return RolloutConfig.coerce(values)


def _refuse_rollout(flat: dict[str, Any], cls_name: str) -> None:
    """A config without a rollout takes chain episodes only: ``rollout="chain"`` is dropped,
    any other rollout setting is refused by name."""
    if flat.get("rollout") == "chain":
        flat.pop("rollout")
    bad = sorted(k for k in flat if k == "rollout" or k in _ROLLOUT_FLAT)
    if bad:
        raise ValueError(f"{cls_name} takes no rollout settings ({', '.join(bad)}): tree / ARPO "
                         f"rollouts train on the rollout's own advantages, which only GRPO "
                         f"does (GRPOConfig.rollout); {cls_name} samples independent episodes")


@dataclass
class GRPOConfig(TrainConfig):
    """GRPO and friends. Presets: Dr. GRPO = ``loss_type="dr_grpo", scale_rewards="none"``;
    DAPO = ``epsilon_high=0.28, loss_type="dapo", dynamic_sampling=True,
    overlong_buffer_len=...``; GSPO = ``importance_sampling_level="sequence",
    loss_type="grpo", epsilon=3e-4, epsilon_high=4e-4``; GMPO = ``importance_sampling_level=
    "geo_mean", epsilon=0.4, epsilon_high=0.4`` (log-space clip); GiGPO =
    ``advantage_estimator="gigpo", scale_rewards="none"``; RAFT++ = ``advantage_estimator="raft"``;
    Reinforce-Rej = ``advantage_estimator="reinforce_rej"`` (agents.run.presets).
    """

    beta: float = 0.0
    kl_estimator: str = "k3"  # verl kl_loss_type; TRL GRPO uses k3
    use_bias_correction_kl: bool = True  # TRL 1.16: the k3 term times the importance ratio
    epsilon: float = 0.2
    epsilon_high: float | None = None
    delta: float | None = None
    dual_clip: float | None = None  # verl clip_ratio_c (off in TRL)
    loss_type: str = "dapo"
    loss_scale_factor: int | None = None  # verl: dr_grpo's divisor (None: max_completion_length)
    scale_rewards: str = "group"
    reward_std_epsilon: float = 1e-4
    importance_sampling_level: str = "token"
    advantage_estimator: str = "grpo"  # grpo | rloo | process | gigpo | raft | reinforce_rej
    entropy_coef: float = 0.0
    # GiGPO (advantage_estimator="gigpo", agents.algorithms.gigpo; verl-agent names)
    gamma: float = 0.95  # discount of the step-level returns (algorithm.gamma)
    step_advantage_w: float = 1.0  # ω, weight of the anchor-state step advantage
    # Reinforce-Rej (advantage_estimator="reinforce_rej", agents.algorithms.raft): A = r − b
    reinforce_baseline: float = 0.5  # b: rlenvs' 1/0 reward -> the paper's ±1 signs
    # GRPO-λ (arXiv 2505.18086, agents.algorithms.grpo_lambda; issue 33): Kimi's length reward
    # on the top-λ groups by correctness ("top_lambda") or on every group ("all", the plain
    # length penalty); None: off
    length_reward: str | None = None
    top_lambda: float = 0.2  # λ: fraction of a batch's groups that get the length reward
    top_lambda_min_accuracy: float = 0.0  # a group qualifies above this correctness ratio
    length_reward_weight: float = 1.0
    # DAPO
    dynamic_sampling: bool = False
    dynamic_sampling_metric: str = "reward"  # reward | passed
    max_num_gen_batches: int = 10
    gen_batch_size: int | None = None  # prompts per generation batch (verl data.gen_batch_size)
    overlong_buffer_len: int | None = None
    overlong_penalty_factor: float = 1.0
    # sampler/trainer mismatch (TRL 1.16 names and defaults; verl algorithm.rollout_correction.*
    # in agents.algorithms.verl_names): each token's policy loss is weighted by a bounded
    # pi_trainer / pi_sampler (agents.algorithms.tis) whenever the sampler's log-probs are not
    # the trainer's own (vLLM, a TorchSampler in bf16); the old log-probs are then computed once
    # per round. Modes: token_truncate | token_mask | sequence_truncate | sequence_mask
    vllm_importance_sampling_correction: bool = True
    vllm_importance_sampling_mode: str = "sequence_mask"
    vllm_importance_sampling_clip_max: float | None = 3.0  # C_max (TRL's deprecated ..._cap)
    vllm_importance_sampling_clip_min: float | None = None  # C_min
    # how a round is sampled: chain / tree (Tree-GRPO) / arpo; a kind or a dict is coerced
    rollout: RolloutConfig = field(default_factory=lambda: RolloutConfig())
    # asynchronous rollouts (issue 32; agents.run.async_rollouts, docs/async.md; TRL's
    # AsyncGRPO names): a producer process samples and judges the next rounds' groups while the
    # trainer trains; an episode more than max_staleness rounds older than the weights it
    # trains is dropped and regenerated; weights are pushed every weight_sync_steps rounds
    async_rollouts: bool = False
    max_staleness: int = 1
    weight_sync_steps: int = 1
    async_prefetch: int | None = None  # requests queued ahead (None: max_staleness - wss + 1)
    async_producer_threads: int | None = None  # the producer's torch threads (None: torch's)
    async_producer_restarts: int = 2  # a dead producer is restarted this often, then an error

    def __post_init__(self) -> None:
        self.rollout = RolloutConfig.coerce(self.rollout)
        super().__post_init__()
        self._check_async()
        if self.rollout.kind == "arpo":
            self.arpo_config()  # raises on initial_rollouts / beam_size / attribution
        from agents.algorithms.common import KL_ALIASES, LOSS_TYPES
        from agents.algorithms.gmpo import GMPO_LEVEL
        from agents.algorithms.grpo import IMPORTANCE_SAMPLING_LEVELS, SCALE_REWARDS
        from agents.algorithms.tis import check_bounds

        check_bounds(self.vllm_importance_sampling_mode, self.vllm_importance_sampling_clip_max,
                     self.vllm_importance_sampling_clip_min)
        _choice(self, "loss_type", tuple(LOSS_TYPES))
        _choice(self, "scale_rewards", SCALE_REWARDS)
        _choice(self, "importance_sampling_level", (*IMPORTANCE_SAMPLING_LEVELS, GMPO_LEVEL))
        _choice(self, "advantage_estimator", ADVANTAGE_ESTIMATORS)
        _choice(self, "kl_estimator", tuple(KL_ALIASES))
        _choice(self, "dynamic_sampling_metric", ("reward", "passed"))
        if self.length_reward is not None:
            _choice(self, "length_reward", ("top_lambda", "all"))
            if not 0 <= self.top_lambda <= 1 or not 0 <= self.top_lambda_min_accuracy < 1:
                raise ValueError("need 0 <= top_lambda <= 1 and 0 <= top_lambda_min_accuracy < 1")
        if self.rollout.kind == "chain" and self.num_generations < 2 and \
                self.advantage_estimator != "process":
            raise ValueError("num_generations must be >= 2 (a group needs a baseline)")
        if self.rollout.kind != "chain":
            blocked = {"advantage_estimator": self.advantage_estimator != "grpo",
                       "dynamic_sampling": self.dynamic_sampling,
                       "overlong_buffer_len": self.overlong_buffer_len is not None}
            bad = [k for k, v in blocked.items() if v]
            if bad:
                raise ValueError(
                    f"rollout={self.rollout.kind!r} brings its own advantages (tree / ARPO "
                    f"attribution); it cannot be combined with {', '.join(bad)} "
                    f"(use advantage_estimator='grpo', no dynamic sampling or overlong shaping)")
        if self.epsilon < 0 or (self.epsilon_high is not None and self.epsilon_high < 0):
            raise ValueError("epsilon and epsilon_high must be >= 0")
        if self.beta < 0:
            raise ValueError("beta must be >= 0")
        if self.overlong_buffer_len is not None and not \
                0 < self.overlong_buffer_len <= self.max_completion_length:
            raise ValueError("overlong_buffer_len must be in (0, max_completion_length]")
        if self.gen_batch_size is not None and self.gen_batch_size < 1:
            raise ValueError("gen_batch_size must be >= 1")
        if not 0 <= self.gamma <= 1 or self.step_advantage_w < 0:
            raise ValueError("need 0 <= gamma <= 1 and step_advantage_w >= 0 (GiGPO)")
        if self.advantage_estimator == "gigpo" and self.scale_rewards == "batch":
            raise ValueError("GiGPO normalises within its groups: scale_rewards must be 'group' "
                             "(mean_std_norm) or 'none' (mean_norm), not 'batch'")

    def _check_async(self) -> None:
        if self.max_staleness < 0 or self.weight_sync_steps < 1 or \
                (self.async_prefetch is not None and self.async_prefetch < 0) or \
                self.async_producer_restarts < 0 or (self.async_producer_threads or 0) < 0:
            raise ValueError("need max_staleness >= 0, weight_sync_steps >= 1, async_prefetch "
                             ">= 0, async_producer_restarts >= 0, async_producer_threads >= 0")
        if self.async_rollouts and self.weight_sync_steps - 1 > self.max_staleness:
            raise ValueError(
                f"weight_sync_steps={self.weight_sync_steps} lets the producer's weights lag "
                f"{self.weight_sync_steps - 1} rounds, more than max_staleness="
                f"{self.max_staleness}: every episode would be dropped (need weight_sync_steps "
                f"<= max_staleness + 1)")

    @property
    def rows_per_prompt(self) -> int:
        """Training rows per prompt (:meth:`RolloutConfig.rows_per_prompt`)."""
        return self.rollout.rows_per_prompt(self.num_generations)

    def _rows_named(self) -> str:
        return self.rollout.rows_named()

    def tree_config(self) -> Any:
        """The rollout's :class:`agents.rollout.tree.TreeRolloutConfig`."""
        return self.rollout.tree_config()

    def arpo_config(self) -> Any:
        """The rollout's :class:`agents.rollout.arpo.ARPOConfig` (``M`` defaults to
        ``num_generations``)."""
        return self.rollout.arpo_config(self.num_generations)


@dataclass
class RLOOConfig(GRPOConfig):
    """TRL ``RLOOConfig`` defaults: KL (k1, summed) in the reward, sequence-level ratio (the
    loss of :class:`agents.trainers.rloo.RLOOTrainer`; ``importance_sampling_level`` does not
    apply to it)."""

    num_generations: int = 2
    beta: float = 0.05
    advantage_estimator: str = "rloo"
    normalize_advantages: bool = False
    reward_clip_range: tuple[float, float] | None = None
    vllm_importance_sampling_correction: bool = False  # TRL's RLOOTrainer has none

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.vllm_importance_sampling_correction:
            raise ValueError("vllm_importance_sampling_correction applies to GRPOConfig: TRL's "
                             "RLOO has no sampler correction and RLOOTrainer's sequence-level "
                             "loss does not take one")
        if self.importance_sampling_level != "token":
            raise ValueError("RLOO's importance ratio is always per sequence (its own loss); "
                             "importance_sampling_level applies to GRPOConfig only")


@dataclass
class PPOConfig(TrainConfig):
    """PPO with a value head sharing the policy's backbone (TRL names; verl ``kl_ctrl``)."""

    learning_rate: float = 3e-6
    num_generations: int = 1
    temperature: float = 0.7
    num_ppo_epochs: int = 4
    num_mini_batches: int = 1
    kl_coef: float = 0.05
    kl_estimator: str = "k1"
    kl_ctrl_type: str = "fixed"  # fixed | adaptive (verl kl_ctrl.type)
    target_kl: float = 0.1
    kl_horizon: int = 10000
    cliprange: float = 0.2
    cliprange_high: float | None = None
    dual_clip: float | None = None
    vf_coef: float = 0.1
    cliprange_value: float | None = 0.2
    gamma: float = 1.0
    lam: float = 0.95
    whiten_rewards: bool = False
    missing_eos_penalty: float | None = None
    entropy_coef: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        from agents.algorithms.common import KL_ALIASES

        _choice(self, "kl_estimator", tuple(KL_ALIASES))
        _choice(self, "kl_ctrl_type", ("fixed", "adaptive"))
        _positive(self, "num_ppo_epochs", "num_mini_batches")
        if self.optimizer_batch_size % self.num_mini_batches:
            raise ValueError("the optimizer batch must be divisible by num_mini_batches")
        if not 0 <= self.gamma <= 1 or not 0 <= self.lam <= 1:
            raise ValueError("gamma and lam must be in [0, 1]")


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and key not in ("reward_clip_range",):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _positive(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _choice(cfg: Any, name: str, options: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")

