"""Calls into the installed verl 0.9.1 for the quantities its trainer computes outside
``core_algos`` (issue 33: tests call verl's own code instead of a retyped formula):

* :func:`verl_adaptive_kl_update` -- ``ray_trainer.apply_kl_penalty``: the KL it feeds the
  adaptive controller (and updates it with);
* :func:`verl_overlong_rewards` -- the DAPO reward manager's overlong shaping
  (``DAPORewardManager.__call__`` with ``overlong_buffer.enable``) on responses of given lengths.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import torch


def verl_adaptive_kl_update(kl_ctrl: Any, kl: torch.Tensor, mask: torch.Tensor) -> float:
    """Run verl's ``apply_kl_penalty`` on token KLs ``kl`` (B, T) under ``mask``: with
    ``kl_penalty="kl"`` (k1 = old − ref) and ``ref = 0`` its KL is ``kl`` itself. Updates
    ``kl_ctrl`` (a verl controller) as verl's trainer does and returns the KL it was fed."""
    from verl import DataProto
    from verl.trainer.ppo.ray_trainer import apply_kl_penalty

    kl = kl.double()
    data = DataProto.from_dict(tensors={
        "response_mask": mask.to(kl.dtype), "token_level_scores": torch.zeros_like(kl),
        "old_log_probs": kl.clone(), "ref_log_prob": torch.zeros_like(kl)})
    _, metrics = apply_kl_penalty(data, kl_ctrl, kl_penalty="kl")
    return float(metrics["actor/reward_kl_penalty"])


class _Tokenizer:
    eos_token = "</s>"

    def decode(self, ids: Any, skip_special_tokens: bool = True) -> str:
        return " ".join(str(int(i)) for i in ids)


def verl_overlong_rewards(lengths: list[int], max_resp_len: int, buffer_len: int,
                          penalty_factor: float = 1.0) -> list[float]:
    """verl's DAPO reward manager on responses of ``lengths`` tokens, each scored 0 by the task:
    the returned per-response rewards are its overlong penalties alone."""
    from verl import DataProto
    from verl.workers.reward_manager.dapo import DAPORewardManager

    width, prompt = max(max(lengths), max_resp_len), 2
    attention = torch.zeros((len(lengths), prompt + width), dtype=torch.long)
    attention[:, :prompt] = 1
    for i, n in enumerate(lengths):
        attention[i, prompt:prompt + n] = 1
    data = DataProto.from_dict(
        tensors={"prompts": torch.ones((len(lengths), prompt), dtype=torch.long),
                 "responses": torch.ones((len(lengths), width), dtype=torch.long),
                 "attention_mask": attention},
        non_tensors={"reward_model": np.array([{"ground_truth": ""}] * len(lengths)),
                     "data_source": np.array(["rlenvs"] * len(lengths))})
    cfg = SimpleNamespace(enable=True, len=buffer_len, penalty_factor=penalty_factor, log=False)
    manager = DAPORewardManager(_Tokenizer(), num_examine=0, compute_score=lambda **_: 0.0,
                                max_resp_len=max_resp_len, overlong_buffer_cfg=cfg)
    return manager(data).sum(-1).tolist()
