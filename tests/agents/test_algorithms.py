"""Fidelity of every estimator and loss against independent numpy/hand computations of the
equations in the papers (PPO, GRPO, DAPO, GSPO, RLOO) and TRL/verl."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from agents.algorithms import (
    AdaptiveKLController,
    aggregate_loss,
    clipped_surrogate,
    gae_advantages,
    group_advantages,
    groups_with_signal,
    grpo_token_loss,
    kl_estimate,
    kl_penalized_rewards,
    masked_whiten,
    overlong_penalty,
    process_advantages,
    rloo_advantages,
    rloo_kl_rewards,
    rloo_sequence_loss,
    value_loss,
)

REWARDS = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5, 1.0, 0.0, 0.0, 0.2])
GROUPS = np.repeat([0, 1, 2], 4)


def _t(x, dtype=torch.float32):
    return torch.tensor(np.asarray(x), dtype=dtype)


# ------------------------------------------------------------------ group advantages
@pytest.mark.parametrize("scale", ["group", "batch", "none"])
def test_group_advantages_match_numpy(scale):
    adv, stats = group_advantages(_t(REWARDS), _t(GROUPS, torch.long), scale, epsilon=1e-4)
    expected = np.zeros_like(REWARDS)
    for g in range(3):
        r = REWARDS[GROUPS == g]
        centred = r - r.mean()
        if scale == "group":
            expected[GROUPS == g] = centred / (r.std(ddof=1) + 1e-4)
        elif scale == "batch":
            expected[GROUPS == g] = centred / (REWARDS.std(ddof=1) + 1e-4)
        else:
            expected[GROUPS == g] = centred
    np.testing.assert_allclose(adv.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert stats["frac_reward_zero_std"] == pytest.approx(1 / 3)


def test_group_advantages_epsilon_and_singleton_group():
    # [2, 0]: mean 1, unbiased std sqrt(2) -> ±1/(sqrt(2)+eps)
    adv, _ = group_advantages(_t([2.0, 0.0, 5.0]), _t([0, 0, 1], torch.long), "group", 0.5)
    assert adv[0].item() == pytest.approx(1 / (math.sqrt(2) + 0.5), rel=1e-6)
    assert adv[1].item() == pytest.approx(-1 / (math.sqrt(2) + 0.5), rel=1e-6)
    assert adv[2].item() == pytest.approx((5.0 - 0.0) / (1.0 + 0.5))  # mean 0, std 1 (verl)


def test_rloo_advantages_leave_one_out():
    adv = rloo_advantages(_t(REWARDS), _t(GROUPS, torch.long)).numpy()
    expected = np.array([REWARDS[i] - np.mean(np.delete(REWARDS[GROUPS == GROUPS[i]],
                                                        i % 4)) for i in range(12)])
    np.testing.assert_allclose(adv, expected, rtol=1e-6)
    # identity A_i = G/(G-1) (r_i - mean)
    g0 = REWARDS[:4]
    np.testing.assert_allclose(adv[:4], 4 / 3 * (g0 - g0.mean()), rtol=1e-6)
    assert rloo_advantages(_t([3.0]), _t([7], torch.long)).item() == 3.0


# ------------------------------------------------------------------ KL estimators
def test_kl_estimators_k1_k2_k3():
    logp = np.array([-1.0, -2.0, -0.5, -3.0])
    ref = np.array([-1.5, -1.0, -0.5, -2.0])
    x = ref - logp
    np.testing.assert_allclose(kl_estimate(_t(logp), _t(ref), "k1").numpy(), -x, rtol=1e-6)
    np.testing.assert_allclose(kl_estimate(_t(logp), _t(ref), "kl").numpy(), -x, rtol=1e-6)
    np.testing.assert_allclose(kl_estimate(_t(logp), _t(ref), "k2").numpy(), 0.5 * x**2,
                               rtol=1e-6)
    k3 = np.exp(x) - x - 1
    np.testing.assert_allclose(kl_estimate(_t(logp), _t(ref), "k3").numpy(), k3, rtol=1e-5)
    np.testing.assert_allclose(kl_estimate(_t(logp), _t(ref), "low_var_kl").numpy(), k3,
                               rtol=1e-5)
    assert (kl_estimate(_t(logp), _t(ref), "k3") >= 0).all()
    with pytest.raises(ValueError, match="unknown KL estimator"):
        kl_estimate(_t(logp), _t(ref), "k9")


def test_kl_straight_through_has_k2_gradient():
    logp = torch.tensor([-1.0, -2.0], requires_grad=True)
    ref = torch.tensor([-1.5, -1.0])
    value = kl_estimate(logp, ref, "k3+")
    value.sum().backward()
    x = (ref - logp).detach()
    np.testing.assert_allclose(value.detach().numpy(), (torch.exp(x) - x - 1).numpy(), rtol=1e-6)
    np.testing.assert_allclose(logp.grad.numpy(), (-x).numpy(), rtol=1e-6)  # d/dlogp ½x² = −x


# ------------------------------------------------------------------ clipped surrogate
RATIOS = np.array([0.5, 0.9, 1.0, 1.1, 1.25, 1.5, 5.0])


def _ppo_numpy(ratio, adv, lo, hi):
    return np.maximum(-adv * ratio, -adv * np.clip(ratio, 1 - lo, 1 + hi))


@pytest.mark.parametrize("adv", [1.0, -1.0, 0.0])
def test_clipped_surrogate_symmetric_and_clip_higher(adv):
    log_ratio = _t(np.log(RATIOS))
    a = torch.full((len(RATIOS),), adv)
    for lo, hi in [(0.2, 0.2), (0.2, 0.28)]:
        loss, flags = clipped_surrogate(log_ratio, a, lo, hi)
        np.testing.assert_allclose(loss.numpy(), _ppo_numpy(RATIOS, adv, lo, hi), rtol=1e-5)
        assert flags["high"].tolist() == [bool(r > 1 + hi and adv > 0) for r in RATIOS]
        assert flags["low"].tolist() == [bool(r < 1 - lo and adv < 0) for r in RATIOS]
    # by hand: ratio 1.25 with A=+1 is clipped at 1.2 (symmetric) but not at 1.28 (clip-higher)
    if adv == 1.0:
        assert clipped_surrogate(_t([np.log(1.25)]), _t([1.0]), 0.2, 0.2)[0].item() == \
            pytest.approx(-1.2)
        assert clipped_surrogate(_t([np.log(1.25)]), _t([1.0]), 0.2, 0.28)[0].item() == \
            pytest.approx(-1.25)


def test_dual_clip_caps_negative_advantage_loss():
    log_ratio = _t(np.log(RATIOS))
    loss, flags = clipped_surrogate(log_ratio, torch.full((7,), -2.0), 0.2, 0.2, dual_clip=3.0)
    base = _ppo_numpy(RATIOS, -2.0, 0.2, 0.2)
    expected = np.minimum(base, 2.0 * 3.0)  # −A·c = 6
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5)
    assert loss[-1].item() == pytest.approx(6.0)  # ratio 5: 10 -> capped at 6
    assert flags["dual"].tolist() == [False] * 6 + [True]
    # positive advantages are untouched by dual-clip
    pos, _ = clipped_surrogate(log_ratio, torch.full((7,), 2.0), 0.2, 0.2, dual_clip=3.0)
    np.testing.assert_allclose(pos.numpy(), _ppo_numpy(RATIOS, 2.0, 0.2, 0.2), rtol=1e-5)


def test_delta_two_sided_clip():
    loss, _ = clipped_surrogate(_t([np.log(5.0)]), _t([-1.0]), 0.2, 0.2, delta=2.0)
    # unclipped branch uses min(ρ, δ) = 2 -> max(2, 1.2) = 2
    assert loss.item() == pytest.approx(2.0)


# ------------------------------------------------------------------ loss aggregation
L = np.array([[1.0, 2.0, 3.0, 0.0], [4.0, 5.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0],
              [2.0, -1.0, 0.5, 7.0]])
M = np.array([[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]], dtype=float)


def test_aggregation_modes_match_formulas():
    lt, mt = _t(L), _t(M)
    seq_means = (L * M).sum(1) / M.sum(1)
    assert aggregate_loss(lt, mt, "grpo").item() == pytest.approx(seq_means.mean())
    assert aggregate_loss(lt, mt, "dapo").item() == pytest.approx((L * M).sum() / M.sum())
    assert aggregate_loss(lt, mt, "dr_grpo", max_completion_length=10).item() == \
        pytest.approx((L * M).sum() / (4 * 10))
    assert aggregate_loss(lt, mt, "seq_mean_token_sum").item() == \
        pytest.approx((L * M).sum(1).mean())
    # bnpo: token mean within each micro-batch of 2, averaged over the 2 micro-batches
    mb = [(L[:2] * M[:2]).sum() / M[:2].sum(), (L[2:] * M[2:]).sum() / M[2:].sum()]
    assert aggregate_loss(lt, mt, "bnpo", micro_batch_size=2).item() == pytest.approx(np.mean(mb))
    assert aggregate_loss(lt, mt, "bnpo").item() == pytest.approx((L * M).sum() / M.sum())
    with pytest.raises(ValueError, match="loss_type"):
        aggregate_loss(lt, mt, "nope")
    with pytest.raises(ValueError, match="max_completion_length"):
        aggregate_loss(lt, mt, "dr_grpo")


# ------------------------------------------------------------------ GRPO / GSPO losses
def _grpo_setup():
    rng = np.random.default_rng(0)
    logp = rng.normal(-1.0, 0.3, size=(3, 5))
    old = logp + rng.normal(0.0, 0.3, size=(3, 5))
    ref = logp + rng.normal(0.0, 0.2, size=(3, 5))
    adv = np.array([1.0, -0.5, 2.0])
    mask = np.array([[1, 1, 1, 1, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=float)
    return logp, old, ref, adv, mask


def test_grpo_token_loss_with_k3_and_clip_higher_by_numpy():
    logp, old, ref, adv, mask = _grpo_setup()
    loss, info = grpo_token_loss(_t(logp), _t(old), _t(adv), _t(mask), epsilon=0.2,
                                 epsilon_high=0.28, beta=0.04, ref_logp=_t(ref))
    ratio = np.exp(logp - old)
    a = adv[:, None]
    x = ref - logp
    expected = -np.minimum(ratio * a, np.clip(ratio, 0.8, 1.28) * a) + 0.04 * (np.exp(x) - x - 1)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(info["kl"].numpy(), np.exp(x) - x - 1, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="ref_logp"):
        grpo_token_loss(_t(logp), _t(old), _t(adv), _t(mask), beta=0.1)


def test_grpo_on_policy_gradient_is_reinforce_with_baseline():
    """num_iterations=1: old = logp.detach() -> ∂loss/∂logp_t = −A_i·W_{i,t}."""
    logp, _, _, adv, mask = _grpo_setup()
    lp = _t(logp).requires_grad_(True)
    per_token, _ = grpo_token_loss(lp, lp.detach(), _t(adv), _t(mask))
    aggregate_loss(per_token, _t(mask), "grpo").backward()
    expected = -adv[:, None] * mask / mask.sum(1, keepdims=True) / 3
    np.testing.assert_allclose(lp.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_gspo_sequence_ratio_and_sequence_token_gradient():
    logp, old, _, adv, mask = _grpo_setup()
    lp = _t(logp).requires_grad_(True)
    loss, _ = grpo_token_loss(lp, _t(old), _t(adv), _t(mask), epsilon=3e-4, epsilon_high=4e-4,
                              importance_sampling_level="sequence")
    s = np.exp(((logp - old) * mask).sum(1) / mask.sum(1))
    seq_loss = -np.minimum(s * adv, np.clip(s, 1 - 3e-4, 1 + 4e-4) * adv)
    np.testing.assert_allclose(loss.detach().numpy(), np.repeat(seq_loss[:, None], 5, 1),
                               rtol=1e-5)
    total = aggregate_loss(loss, _t(mask), "grpo")
    assert total.item() == pytest.approx(seq_loss.mean(), rel=1e-5)
    # GSPO-token: same value; unclipped rows get per-token gradient −A·s·W
    lp2 = _t(logp).requires_grad_(True)
    loss2, _ = grpo_token_loss(lp2, _t(old), _t(adv), _t(mask), epsilon=10.0,
                               importance_sampling_level="sequence_token")
    np.testing.assert_allclose(loss2.detach().numpy(),
                               np.repeat((-s * adv)[:, None], 5, 1), rtol=1e-5)
    aggregate_loss(loss2, _t(mask), "grpo").backward()
    expected = -(adv * s)[:, None] * mask / mask.sum(1, keepdims=True) / 3
    np.testing.assert_allclose(lp2.grad.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_rloo_sequence_loss_uses_summed_ratio_and_kl_in_reward():
    logp, old, ref, adv, mask = _grpo_setup()
    loss, _ = rloo_sequence_loss(_t(logp), _t(old), _t(adv), _t(mask), epsilon=0.2)
    rho = np.exp(((logp - old) * mask).sum(1))
    np.testing.assert_allclose(loss.numpy(), -np.minimum(rho * adv, np.clip(rho, 0.8, 1.2) * adv),
                               rtol=1e-5)
    rewards, kl = rloo_kl_rewards(_t([1.0, 0.0, 2.0]), _t(old), _t(ref), _t(mask), beta=0.05,
                                  reward_clip_range=(-1.0, 1.5))
    expected_kl = ((old - ref) * mask).sum(1)
    np.testing.assert_allclose(kl.numpy(), expected_kl, rtol=1e-5)
    np.testing.assert_allclose(rewards.numpy(), np.array([1.0, 0.0, 1.5]) - 0.05 * expected_kl,
                               rtol=1e-5)


# ------------------------------------------------------------------ PPO
def _gae_numpy(rewards, values, gamma, lam):
    adv = np.zeros_like(rewards)
    last = 0.0
    for t in reversed(range(len(rewards))):
        nxt = values[t + 1] if t + 1 < len(rewards) else 0.0
        delta = rewards[t] + gamma * nxt - values[t]
        last = delta + gamma * lam * last
        adv[t] = last
    return adv, adv + values


def test_gae_skips_masked_observation_tokens():
    """GAE over [policy, policy, obs, obs, policy, policy, pad] equals GAE over the policy
    tokens alone (observation tokens neither receive nor break credit)."""
    rewards = np.array([[0.0, 0.3, 0.0, 0.0, -0.1, 1.0, 0.0]])
    values = np.array([[0.5, 0.4, 9.0, -9.0, 0.2, 0.7, 3.0]])
    mask = np.array([[1, 1, 0, 0, 1, 1, 0]], dtype=float)
    adv, ret = gae_advantages(_t(rewards), _t(values), _t(mask), gamma=0.9, lam=0.8,
                              whiten=False)
    keep = mask[0] > 0
    exp_adv, exp_ret = _gae_numpy(rewards[0, keep], values[0, keep], 0.9, 0.8)
    np.testing.assert_allclose(adv[0, keep].numpy(), exp_adv, rtol=1e-5)
    np.testing.assert_allclose(ret[0, keep].numpy(), exp_ret, rtol=1e-5)
    assert adv[0, ~keep].abs().sum().item() == 0.0
    white, _ = gae_advantages(_t(rewards), _t(values), _t(mask), gamma=0.9, lam=0.8)
    std = exp_adv.std(ddof=1)
    np.testing.assert_allclose(white[0, keep].numpy(), (exp_adv - exp_adv.mean()) /
                               np.sqrt(std**2 + 1e-8), rtol=1e-4)


def test_kl_penalized_rewards_put_scores_at_turn_ends():
    old = _t([[-1.0, -2.0, -0.5, 0.0]])
    ref = _t([[-1.5, -1.0, -0.5, 0.0]])
    mask = _t([[1, 1, 1, 0]])
    rewards, kl = kl_penalized_rewards([[(1, 0.5), (2, 1.0)]], old, ref, mask, 0.1, "k1")
    k1 = np.array([0.5, -1.0, 0.0, 0.0])
    np.testing.assert_allclose(kl.numpy()[0], k1, rtol=1e-6)
    np.testing.assert_allclose(rewards.numpy()[0], -0.1 * k1 + np.array([0, 0.5, 1.0, 0]),
                               rtol=1e-6)


def test_value_loss_clipping_by_hand():
    v, v_old, ret = _t([1.0, 0.0, 2.0]), _t([0.5, 0.5, 0.5]), _t([0.0, 1.0, 0.5])
    loss, clipped = value_loss(v, v_old, ret, cliprange_value=0.2)
    v_clip = np.array([0.7, 0.3, 0.7])
    expected = 0.5 * np.maximum((np.array([1.0, 0.0, 2.0]) - [0.0, 1.0, 0.5]) ** 2,
                                (v_clip - [0.0, 1.0, 0.5]) ** 2)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-6)
    assert clipped.tolist() == [False, False, False]
    loss2, clipped2 = value_loss(_t([0.0]), _t([0.5]), _t([1.0]), 0.2)  # v_clip 0.3: 0.49 < 1
    assert loss2.item() == pytest.approx(0.5) and not clipped2.item()
    loss3, clipped3 = value_loss(_t([1.0]), _t([0.5]), _t([0.0]), 0.2)  # v_clip 0.7 -> 0.49
    assert loss3.item() == pytest.approx(0.5) and not clipped3.item()
    loss4, clipped4 = value_loss(_t([0.9]), _t([0.5]), _t([2.0]), 0.2)  # v_clip 0.7: 1.69>1.21
    assert loss4.item() == pytest.approx(0.5 * 1.69) and clipped4.item()


def test_adaptive_kl_controller():
    ctl = AdaptiveKLController(0.1, target=0.1, horizon=100)
    ctl.update(current_kl=0.5, n_steps=10)  # error clipped to +0.2
    assert ctl.value == pytest.approx(0.1 * (1 + 0.2 * 10 / 100))
    ctl.update(current_kl=0.09, n_steps=10)  # error −0.1
    assert ctl.value == pytest.approx(0.1 * 1.02 * (1 - 0.1 * 10 / 100))


def test_masked_whiten_ignores_masked_entries():
    x = _t([[1.0, 2.0, 100.0], [3.0, 4.0, -50.0]])
    m = _t([[1, 1, 0], [1, 1, 0]])
    w = masked_whiten(x, m)
    vals = np.array([1.0, 2.0, 3.0, 4.0])
    exp = (vals - vals.mean()) / np.sqrt(vals.var(ddof=1) + 1e-8)
    np.testing.assert_allclose(w[m > 0].numpy(), exp, rtol=1e-5)


# ------------------------------------------------------------------ process rewards, DAPO
def test_process_advantages_by_hand():
    # group 0: completion a has steps [1, 0] ending at tokens 1 and 3, b has [1] ending at 2
    adv = process_advantages([[1.0, 0.0], [1.0]], [[1, 3], [2]], [0, 0], length=5, epsilon=0.0)
    vals = np.array([1.0, 0.0, 1.0])
    mean, std = vals.mean(), vals.std(ddof=1)
    n = (vals - mean) / std
    expected_a = [n[0] + n[1], n[0] + n[1], n[1], n[1], 0.0]
    expected_b = [n[2], n[2], n[2], 0.0, 0.0]
    np.testing.assert_allclose(adv.numpy(), np.array([expected_a, expected_b]), rtol=1e-5)
    with pytest.raises(ValueError, match="outside"):
        process_advantages([[1.0]], [[9]], [0], length=5)


def test_overlong_penalty_piecewise():
    pen = overlong_penalty([10, 12, 14, 16, 17], max_completion_length=16, overlong_buffer_len=4)
    np.testing.assert_allclose(pen.numpy(), [0.0, 0.0, -0.5, -1.0, -1.0], rtol=1e-6)
    pen2 = overlong_penalty([15], 16, 4, penalty_factor=0.5)
    assert pen2.item() == pytest.approx((12 - 15) / 4 * 0.5)


def test_dynamic_sampling_keeps_groups_with_variance():
    metric = _t([1, 1, 0, 1, 0, 0, 0.5])
    groups = _t([0, 0, 1, 1, 2, 2, 3], torch.long)
    assert groups_with_signal(metric, groups) == [1, 3]
