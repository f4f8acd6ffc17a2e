"""CGPO (Constrained Generative Policy Optimization, arXiv 2409.20370): the three constrained
optimizers, one readable module each, as pure torch functions on tensors.

* :mod:`agents.algorithms.cgpo.reward` -- calibrated reward σ(r(s,a) − r(s,ā)), the constraint gate, the
  sequence KL and the KL gate;
* :mod:`agents.algorithms.cgpo.crpg` -- CRPG: calibrated, KL-gated REINFORCE with a batch-mean baseline;
* :mod:`agents.algorithms.cgpo.crraft` -- CRRAFT: constraint- and KL-filtered best-of-k weighted SFT with the
  fallback to the baseline response;
* :mod:`agents.algorithms.cgpo.codpo` -- CODPO: best-positive vs worst-negative DPO plus the
  length-normalised NLL term on the positive.

Shapes: per-prompt quantities are ``(P,)``; per-generation quantities ``(P, K)`` (``K``
generations per prompt, row-major when flattened); token quantities ``(B, T)``.
"""

from agents.algorithms.cgpo.codpo import CODPOSelection, codpo_loss, codpo_select
from agents.algorithms.cgpo.crpg import crpg_loss, crpg_rewards
from agents.algorithms.cgpo.crraft import (
    BASELINE,
    SKIP,
    CRRAFTSelection,
    crraft_loss,
    crraft_select,
)
from agents.algorithms.cgpo.reward import (
    calibrated_reward,
    constraint_regularized_reward,
    kl_gate,
    sequence_kl,
    sequence_logprob,
)

__all__ = [
    "calibrated_reward",
    "constraint_regularized_reward",
    "kl_gate",
    "sequence_kl",
    "sequence_logprob",
    "crpg_rewards",
    "crpg_loss",
    "BASELINE",
    "SKIP",
    "CRRAFTSelection",
    "crraft_select",
    "crraft_loss",
    "CODPOSelection",
    "codpo_select",
    "codpo_loss",
]
