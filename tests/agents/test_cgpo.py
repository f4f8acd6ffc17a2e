"""Fidelity of the CGPO optimizers (CRPG, CRRAFT, CODPO) against hand/numpy computations of
the equations of the CGPO paper (arXiv 2409.20370, Section 4)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.algorithms.cgpo import (
    BASELINE,
    SKIP,
    calibrated_reward,
    codpo_loss,
    codpo_select,
    constraint_regularized_reward,
    crpg_loss,
    crpg_rewards,
    crraft_loss,
    crraft_select,
    kl_gate,
    sequence_kl,
)


def _t(x, dtype=torch.float64):
    return torch.tensor(np.asarray(x), dtype=dtype)


def _sig(x):
    return 1.0 / (1.0 + math.exp(-x))


# ------------------------------------------------------------------ reward shaping
def test_calibrated_reward_and_constraint_gate():
    r = np.array([[0.9, 0.2, 0.5]])
    base = np.array([[0.5]])
    cal = calibrated_reward(_t(r), _t(base))
    expected = [[_sig(0.4), _sig(-0.3), 0.5]]
    np.testing.assert_allclose(cal.numpy(), expected, rtol=1e-12)
    # scale multiplies the difference (as MixtureOfJudges' scale)
    np.testing.assert_allclose(calibrated_reward(_t(r), _t(base), scale=4.0).numpy(),
                               [[_sig(1.6), _sig(-1.2), 0.5]], rtol=1e-12)
    cr = constraint_regularized_reward(cal, _t([[True, False, True]], torch.bool))
    np.testing.assert_allclose(cr.numpy(), [[_sig(0.4), 0.0, 0.5]], rtol=1e-12)


def test_sequence_kl_and_gate():
    logp = _t([[-1.0, -2.0, -0.5], [-0.2, -0.3, -9.0]])
    ref = _t([[-1.5, -1.0, -0.5], [-0.4, -0.1, -1.0]])
    mask = _t([[1, 1, 1], [1, 1, 0]])
    kl = sequence_kl(logp, ref, mask)
    # row 0: 0.5 − 1.0 + 0 = −0.5 ; row 1: 0.2 − 0.2 (pad ignored) = 0
    np.testing.assert_allclose(kl.numpy(), [-0.5, 0.0], atol=1e-12)
    gate = kl_gate(_t([-0.5, 0.0, 1.0, 2.0, 3.0]), 2.0)
    np.testing.assert_allclose(gate.numpy(), [1.25, 1.0, 0.5, 0.0, 0.0])
    with pytest.raises(ValueError):
        kl_gate(kl, 0.0)


# ------------------------------------------------------------------ CRPG
CAL = np.array([0.8, 0.6, 0.3, 0.9])
PASSED = np.array([True, True, True, False])
KL = np.array([0.0, 1.0, 5.0, 0.0])
KL_MAX = 4.0


def test_crpg_rewards_gate_constraints_and_kl():
    got = crpg_rewards(_t(CAL), _t(PASSED, torch.bool), _t(KL), KL_MAX)
    # 0.8·1 ; 0.6·(1 − 1/4) ; KL 5 > 4 blocked ; constraint failed
    np.testing.assert_allclose(got.numpy(), [0.8, 0.45, 0.0, 0.0], rtol=1e-12)


@pytest.mark.parametrize("normalize", ["sequences", "tokens"])
def test_crpg_loss_value_and_gradient(normalize):
    rng = np.random.default_rng(0)
    logp_np = -rng.uniform(0.1, 2.0, size=(4, 3))
    mask_np = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1]], dtype=float)
    r_tilde = np.array([0.8, 0.45, 0.0, 0.0])
    adv = r_tilde - r_tilde.mean()  # mean 0.3125
    seq = (logp_np * mask_np).sum(1)
    z = mask_np.sum() if normalize == "tokens" else 4.0
    expected = -(adv * seq).sum() / z

    logp = _t(logp_np).requires_grad_(True)
    loss, stats = crpg_loss(logp, _t(mask_np), _t(r_tilde), normalize=normalize)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(stats["advantages"].numpy(), adv, rtol=1e-12)
    loss.backward()
    # d loss / d logp_{i,t} = −A_i · M_{i,t} / Z
    np.testing.assert_allclose(logp.grad.numpy(), -adv[:, None] * mask_np / z, rtol=1e-12)


def test_crpg_all_equal_rewards_give_zero_gradient():
    logp = _t(-np.ones((3, 2))).requires_grad_(True)
    loss, _ = crpg_loss(logp, _t(np.ones((3, 2))), _t([0.5, 0.5, 0.5]))
    loss.backward()
    assert loss.item() == 0.0
    assert torch.count_nonzero(logp.grad) == 0
    with pytest.raises(ValueError):
        crpg_loss(logp, _t(np.ones((3, 2))), _t([0.5, 0.5, 0.5]), normalize="bogus")


# ------------------------------------------------------------------ CRRAFT
def _crraft_by_hand(r, cal, passed, kl, kl_max, base_passed, base_kl):
    """Literal per-prompt loop of CRRAFT (arXiv 2409.20370)."""
    out = []
    for i in range(r.shape[0]):
        ok = [j for j in range(r.shape[1]) if passed[i, j] and kl[i, j] <= kl_max]
        if ok:
            j = max(ok, key=lambda j: (r[i, j], -j))
            out.append((j, cal[i, j]))
        elif base_passed[i] and base_kl[i] <= kl_max:
            out.append((BASELINE, 0.5))
        else:
            out.append((SKIP, 0.0))
    return out


R = np.array([
    [0.9, 0.7, 0.4],   # best (0.9) fails a constraint -> 0.7 chosen
    [0.9, 0.8, 0.1],   # best over KL -> 0.8 chosen
    [0.5, 0.6, 0.2],   # nothing passes, baseline passes -> fallback
    [0.5, 0.6, 0.2],   # nothing passes, baseline fails -> skip
    [0.3, 0.9, 0.6],   # all pass -> argmax
    [0.3, 0.4, 0.2],   # nothing passes the KL gate, baseline over KL -> skip
])
PASS = np.array([
    [False, True, True],
    [True, True, True],
    [False, False, False],
    [False, False, False],
    [True, True, True],
    [True, True, True],
])
KLS = np.array([
    [0.0, 1.0, 1.0],
    [3.5, 2.0, 0.0],
    [0.0, 0.0, 0.0],
    [0.0, 0.0, 0.0],
    [1.0, 1.0, 1.0],
    [3.1, 4.0, 9.0],
])
BASE_R = np.array([[0.5], [0.5], [0.5], [0.5], [0.2], [0.1]])
BASE_PASS = np.array([True, True, True, False, True, True])
BASE_KL = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 3.5])


def test_crraft_select_matches_hand_loop():
    cal = 1.0 / (1.0 + np.exp(-(R - BASE_R)))
    sel = crraft_select(_t(R), _t(cal), _t(PASS, torch.bool), _t(KLS), 3.0,
                        _t(BASE_PASS, torch.bool), _t(BASE_KL))
    hand = _crraft_by_hand(R, cal, PASS, KLS, 3.0, BASE_PASS, BASE_KL)
    assert sel.index.tolist() == [j for j, _ in hand] == [1, 1, BASELINE, SKIP, 1, SKIP]
    np.testing.assert_allclose(sel.weight.numpy(), [w for _, w in hand], rtol=1e-12)
    assert sel.weight[2].item() == 0.5  # σ(0) for the baseline
    assert sel.keep.tolist() == [True, True, True, False, True, False]
    assert sel.use_baseline.tolist() == [False, False, True, False, False, False]
    np.testing.assert_array_equal(sel.eligible.numpy(), PASS & (KLS <= 3.0))


def test_crraft_fallback_without_baseline_kl_and_without_baseline():
    cal = np.full((1, 2), 0.7)
    args = (_t([[0.1, 0.2]]), _t(cal), _t([[False, False]], torch.bool), _t([[0.0, 0.0]]), 1.0)
    assert crraft_select(*args, baseline_passed=_t([True], torch.bool)).index.tolist() == [BASELINE]
    no_base = crraft_select(*args)
    assert no_base.index.tolist() == [SKIP] and no_base.weight.tolist() == [0.0]


def test_crraft_loss_value_and_gradient():
    chosen = _t([-3.0, -1.5, -8.0, -2.0]).requires_grad_(True)
    w = _t([0.6, 0.5, 0.9, 0.7])
    keep = _t([True, True, False, True], torch.bool)
    loss = crraft_loss(chosen, w, keep)
    expected = -(0.6 * -3.0 + 0.5 * -1.5 + 0.7 * -2.0) / 3
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(chosen.grad.numpy(), [-0.6 / 3, -0.5 / 3, 0.0, -0.7 / 3])
    # every prompt skipped -> zero loss, zero gradient
    chosen2 = _t([-1.0]).requires_grad_(True)
    loss2 = crraft_loss(chosen2, _t([0.0]), _t([False], torch.bool))
    loss2.backward()
    assert loss2.item() == 0.0 and chosen2.grad.item() == 0.0


# ------------------------------------------------------------------ CODPO
def test_codpo_select_pairs():
    r = np.array([
        [0.2, 0.9, 0.5, 0.1],   # positives {0,1}; negatives {2,3} -> (1, 3)
        [0.2, 0.9, 0.5, 0.1],   # all pass -> best 1, lowest overall 3
        [0.2, 0.9, 0.5, 0.1],   # no positive -> skipped
        [0.6, 0.3, 0.8, 0.7],   # one negative (index 1) -> (2, 1)
        [0.5, 0.5, 0.5, 0.5],   # all pass, all tie -> (0, 1), never the same response
    ])
    passed = np.array([
        [True, True, False, False],
        [True, True, True, True],
        [False, False, False, False],
        [True, False, True, True],
        [True, True, True, True],
    ])
    sel = codpo_select(_t(r), _t(passed, torch.bool))
    assert sel.positive.tolist()[:2] == [1, 1]
    assert sel.negative.tolist()[:2] == [3, 3]
    assert sel.keep.tolist() == [True, True, False, True, True]
    # row 3: positives {0,2,3} best is 2 (0.8); the only negative is 1 -> a⁻ = 1
    assert (sel.positive[3].item(), sel.negative[3].item()) == (2, 1)
    assert (sel.positive[4].item(), sel.negative[4].item()) == (0, 1)
    one = codpo_select(_t([[0.4]]), _t([[True]], torch.bool))
    assert (one.positive.item(), one.negative.item(), one.keep.item()) == (0, 0, True)


def test_codpo_prefers_constraint_over_reward():
    # a negative with the top reward must never be the positive
    sel = codpo_select(_t([[0.99, 0.1, 0.3]]), _t([[False, True, True]], torch.bool))
    assert (sel.positive.item(), sel.negative.item()) == (2, 0)


def test_codpo_loss_value_and_gradient():
    beta, lamb = 0.1, 5.0
    pos, pos_ref = np.array([-4.0, -10.0, -6.0]), np.array([-5.0, -9.0, -6.0])
    neg, neg_ref = np.array([-8.0, -7.0, -3.0]), np.array([-6.0, -7.5, -3.0])
    length = np.array([4, 5, 2])
    keep = np.array([True, True, False])
    per = []
    for i in range(2):
        h = beta * ((pos[i] - pos_ref[i]) - (neg[i] - neg_ref[i]))
        per.append(-math.log(_sig(h)) - lamb / length[i] * pos[i])
    expected = sum(per) / 2

    pos_t = _t(pos).requires_grad_(True)
    neg_t = _t(neg).requires_grad_(True)
    loss, stats = codpo_loss(pos_t, _t(pos_ref), neg_t, _t(neg_ref), _t(length, torch.long),
                             _t(keep, torch.bool), beta=beta, lamb=lamb)
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(stats["margin"].numpy()[:2], [3.0, -1.5], rtol=1e-12)
    loss.backward()
    # dℓ/dlogπ(a⁺) = −β(1 − σ(h)) − λ/|a⁺| ; dℓ/dlogπ(a⁻) = β(1 − σ(h)); mean over 2 prompts
    for i in range(2):
        h = beta * stats["margin"][i].item()
        assert pos_t.grad[i].item() == pytest.approx(
            (-beta * (1 - _sig(h)) - lamb / length[i]) / 2, rel=1e-10)
        assert neg_t.grad[i].item() == pytest.approx(beta * (1 - _sig(h)) / 2, rel=1e-10)
    assert pos_t.grad[2].item() == 0.0 and neg_t.grad[2].item() == 0.0


def test_codpo_same_response_pair_is_log2_plus_nll():
    loss, _ = codpo_loss(_t([-2.0]), _t([-1.0]), _t([-2.0]), _t([-1.0]), _t([4]),
                         beta=0.1, lamb=5.0)
    assert loss.item() == pytest.approx(math.log(2) + 5.0 * 2.0 / 4, rel=1e-12)
