"""Stand-ins that run our trainers' real loss code and TRL's real ``_compute_loss`` on the same
fixed tensors (no model: the per-token log-probs are a leaf tensor, so gradients compare too)."""

from __future__ import annotations

from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import torch

from agents.policy import PolicyOutput
from agents.rollout.batch import Sample, collate
from agents.trainers.config import GRPOConfig, RLOOConfig
from agents.trainers.grpo import GRPOTrainer
from agents.trainers.rloo import RLOOTrainer


def fixture(batch: int = 4, width: int = 5, seed: int = 0) -> dict[str, torch.Tensor]:
    """Unequal lengths, one fully masked row, ratios far outside the clip range for both
    advantage signs, a zero advantage, a reference far from the policy."""
    gen = torch.Generator().manual_seed(seed)
    logp = -torch.rand((batch, width), generator=gen, dtype=torch.float64) * 2 - 0.1
    old = logp + torch.randn((batch, width), generator=gen, dtype=torch.float64) * 0.3
    old[0, 0] = logp[0, 0] - 2.0  # ratio e^2 on a positive advantage
    old[1, 1] = logp[1, 1] + 2.0  # ratio e^-2 on a negative advantage
    old[2, 0] = logp[2, 0] - 1.5  # ratio e^1.5 on a negative advantage (dual-clip region)
    ref = logp + torch.randn((batch, width), generator=gen, dtype=torch.float64) * 0.5
    ref[0, 1] = logp[0, 1] - 6.0  # a large KL term
    mask = torch.ones((batch, width), dtype=torch.float64)
    mask[0, 3:] = 0  # lengths 3, width, 2, ..., 0
    mask[2, 2:] = 0
    mask[batch - 1] = 0  # fully masked (a masked truncated completion)
    adv = torch.tensor([1.5, -1.0, -0.7, 0.0, 0.4, -2.0][:batch], dtype=torch.float64)
    entropy = torch.rand((batch, width), generator=gen, dtype=torch.float64) * 3
    return {"logp": logp, "old": old, "ref": ref, "mask": mask, "adv": adv, "entropy": entropy}


def ours_grpo(cfg: GRPOConfig, data: dict[str, torch.Tensor], step: list[int] | None = None,
              chunks: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Our trainer's loss for one optimizer step over rows ``step`` of the generation batch
    ``data`` (default: all rows), micro-batched as ``chunks`` (any regrouping). Returns the
    loss and d loss / d logp."""
    # RLOO has its own trainer (its own loss); everything else in the GRPO family is GRPOTrainer
    trainer = object.__new__(RLOOTrainer if isinstance(cfg, RLOOConfig) else GRPOTrainer)
    trainer.config = cfg
    logp = data["logp"].clone().requires_grad_(True)
    entropy = data["entropy"].clone().requires_grad_(True)
    width = logp.shape[1]
    samples = []
    for i in range(logp.shape[0]):
        tokens = {"advantages": data["adv"][i].expand(width).float(),
                  "old_logprobs": data["old"][i].float(), "ref_logprobs": data["ref"][i].float()}
        samples.append(Sample([1], [0] * width, data["mask"][i].float(), tokens,
                              {"advantage": float(data["adv"][i])}))
    step = list(range(len(samples))) if step is None else step
    trainer.prepare_step(samples, step)
    chosen = [samples[i] for i in step]
    total = torch.zeros((), dtype=torch.float64)
    for chunk in chunks or [[k] for k in reversed(range(len(step)))]:
        mb = collate([chosen[k] for k in chunk], 0, chunk)
        rows = [step[k] for k in chunk]
        mb.tokens = {k: v.double() for k, v in mb.tokens.items()}
        mb.scalars = {k: v.double() for k, v in mb.scalars.items()}
        mb.mask = mb.mask.double()
        out = PolicyOutput(logprobs=logp[rows], entropy=entropy[rows])
        loss, _ = trainer.compute_loss(out, mb)
        total = total + loss
    total.backward()
    return total.detach(), logp.grad


class _Accelerator:
    num_processes = 1
    sync_gradients = True
    device = torch.device("cpu")

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        return x

    gather_for_metrics = gather

    def reduce(self, x: torch.Tensor, reduction: str = "sum") -> torch.Tensor:
        return x


def _trl_self(cls: type, **attrs: Any) -> Any:
    obj = object.__new__(cls)
    obj.__dict__.update(
        accelerator=_Accelerator(), model=SimpleNamespace(training=True), aux_loss_enabled=False,
        _metrics={"train": defaultdict(list), "eval": defaultdict(list)}, use_vllm=False,
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, use_adaptive_entropy=False,
        **attrs)
    return obj


def trl_grpo(data: dict[str, torch.Tensor], *, loss_type: str, beta: float = 0.0,
             epsilon: float = 0.2, epsilon_high: float | None = None, delta: float | None = None,
             importance_sampling_level: str = "token", use_bias_correction_kl: bool = True,
             entropy_coef: float = 0.0, per_device: int = 2, steps_per_generation: int | None = None,
             max_completion_length: int = 8, step: list[int] | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """TRL 1.16's ``GRPOTrainer._compute_loss`` over the optimizer step ``step`` (default: all
    rows), one call per micro-batch of ``per_device`` rows in order, summed (what its gradient
    accumulation does). Returns the loss and d loss / d logp."""
    from trl import GRPOTrainer as TRLGRPOTrainer

    step = list(range(data["logp"].shape[0])) if step is None else step
    ga = len(step) // per_device
    spg = steps_per_generation or ga
    args = SimpleNamespace(use_bias_correction_kl=use_bias_correction_kl, delta=delta,
                           steps_per_generation=spg)
    trl = _trl_self(TRLGRPOTrainer, args=args, loss_type=loss_type, beta=beta,
                    epsilon_low=epsilon, epsilon_high=epsilon if epsilon_high is None
                    else epsilon_high, importance_sampling_level=importance_sampling_level,
                    current_gradient_accumulation_steps=ga,
                    max_completion_length=max_completion_length, entropy_coef=entropy_coef,
                    _entropy_bonus_enabled=entropy_coef != 0.0)
    logp = data["logp"].clone().requires_grad_(True)
    num_items = data["mask"].sum()  # the generation batch's tokens (TRL's num_items_in_batch)
    total = torch.zeros((), dtype=torch.float64)
    for k in range(ga):
        rows = step[k * per_device:(k + 1) * per_device]
        width = logp.shape[1]
        trl._get_per_token_logps_and_entropies = (
            lambda *a, _r=rows, **kw: (logp[_r], data["entropy"][_r], None))
        inputs = {
            "prompt_ids": torch.ones((len(rows), 1), dtype=torch.long),
            "prompt_mask": torch.ones((len(rows), 1), dtype=torch.long),
            "completion_ids": torch.zeros((len(rows), width), dtype=torch.long),
            "completion_mask": data["mask"][rows],
            "advantages": data["adv"][rows],
            "old_per_token_logps": data["old"][rows],
            "ref_per_token_logps": data["ref"][rows],
            "num_items_in_batch": num_items,
        }
        total = total + TRLGRPOTrainer._compute_loss(trl, None, inputs)
    total.backward()
    return total.detach(), logp.grad


def trl_rloo(data: dict[str, torch.Tensor], *, epsilon: float = 0.2,
             epsilon_high: float | None = None, per_device: int = 2
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """TRL 1.16's ``RLOOTrainer._compute_loss`` per micro-batch; the HF Trainer divides each
    by the accumulation steps (RLOO returns an unscaled loss)."""
    from trl import RLOOTrainer as TRLRLOOTrainer

    batch = data["logp"].shape[0]
    ga = batch // per_device
    trl = _trl_self(TRLRLOOTrainer, epsilon_low=epsilon,
                    epsilon_high=epsilon if epsilon_high is None else epsilon_high)
    logp = data["logp"].clone().requires_grad_(True)
    total = torch.zeros((), dtype=torch.float64)
    for k in range(ga):
        rows = list(range(k * per_device, (k + 1) * per_device))
        width = logp.shape[1]
        trl._get_per_token_logps_and_entropies = (
            lambda *a, _r=rows, **kw: (logp[_r], data["entropy"][_r], None))
        inputs = {
            "prompt_ids": torch.ones((len(rows), 1), dtype=torch.long),
            "prompt_mask": torch.ones((len(rows), 1), dtype=torch.long),
            "completion_ids": torch.zeros((len(rows), width), dtype=torch.long),
            "completion_mask": data["mask"][rows],
            "advantages": data["adv"][rows],
            "old_logps": (data["old"][rows] * data["mask"][rows]).sum(1),
        }
        total = total + TRLRLOOTrainer._compute_loss(trl, None, inputs) / ga
    total.backward()
    return total.detach(), logp.grad
