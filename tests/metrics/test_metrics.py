"""Tests of strflow.metrics against hand computations and simulation anchors
(strf_fitting.md section 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.ndimage

from strflow import metrics as m

# --------------------------------------------------------------------------- fixtures


def smooth_rate(
    rng: np.random.Generator, n_bins: int, mean_hz: float, dt_s: float = 0.005
) -> np.ndarray:
    """Positive, smoothly modulated expected spike count per bin (mean = mean_hz * dt)."""
    z = scipy.ndimage.gaussian_filter1d(rng.standard_normal(n_bins), 4.0, mode="wrap")
    z /= z.std()
    g = np.exp(0.7 * z)
    return mean_hz * dt_s * g / g.mean()


@pytest.fixture(scope="module")
def poisson_sims():
    """200 simulations: 10 Poisson repeats of a 20 Hz rate, T = 2000 bins of 5 ms."""
    rng = np.random.default_rng(12345)
    rates = np.stack([smooth_rate(rng, 2000, 20.0) for _ in range(200)])
    counts = rng.poisson(rates[:, None, :], size=(200, 10, 2000)).astype(float)
    return rates, counts


# --------------------------------------------------------------------------- powers


def test_signal_power_of_identical_noiseless_repeats_is_signal_variance():
    rng = np.random.default_rng(0)
    s = rng.standard_normal(500) * 3.0 + 7.0
    resp = np.tile(s, (6, 1))
    p = m.sahani_linden_power(resp)
    assert p.reason == ""
    assert p.signal == pytest.approx(np.var(s), rel=1e-12)  # 1/T power
    assert p.noise == pytest.approx(0.0, abs=1e-12)
    assert p.total == pytest.approx(np.var(s), rel=1e-12)


def test_hand_computed_powers_3x4():
    resp = np.array([[1.0, 2, 3, 4], [2, 2, 4, 4], [0, 3, 2, 5]])
    # Row powers 5/4, 1, 13/4 -> TP = 11/6.  PSTH (1, 7/3, 3, 13/3), mean 8/3 ->
    # Var(psth) = 52/9 / 4 = 13/9.  SP = (3 * 13/9 - 11/6) / 2 = 5/4; NP = 7/12.
    p = m.sahani_linden_power(resp)
    assert p.total == pytest.approx(11 / 6, rel=1e-14)
    assert p.psth == pytest.approx(13 / 9, rel=1e-14)
    assert p.signal == pytest.approx(5 / 4, rel=1e-14)
    assert p.noise == pytest.approx(7 / 12, rel=1e-14)
    assert m.signal_power(resp).value == pytest.approx(1.25)
    assert m.noise_power(resp).value == pytest.approx(7 / 12)
    assert m.total_power(resp).value == pytest.approx(11 / 6)
    assert m.noise_ratio(resp).value == pytest.approx((7 / 12) / (5 / 4))
    assert m.ccmax_sp(resp).value == pytest.approx(math.sqrt(45 / 52))


def test_signal_power_matches_schoppe_form():
    """SP = [Var(sum_n r_n) - sum_n Var(r_n)] / (N (N-1)) with the same (1/T) power."""
    rng = np.random.default_rng(1)
    resp = rng.poisson(2.0, size=(7, 300)).astype(float) + np.sin(np.arange(300) / 9.0)
    n = resp.shape[0]
    expected = (np.var(resp.sum(0)) - np.var(resp, axis=1).sum()) / (n * (n - 1))
    assert m.signal_power(resp).value == pytest.approx(expected, rel=1e-12)


def test_power_across_stimuli_is_length_weighted_and_excludes_bad_blocks():
    rng = np.random.default_rng(2)
    b1 = rng.standard_normal((4, 100)) + np.sin(np.arange(100) / 5)
    b2 = rng.standard_normal((6, 300)) + 2 * np.cos(np.arange(300) / 7)
    single = rng.standard_normal((1, 50))
    short = rng.standard_normal((5, 1))
    res = m.power_across_stimuli([b1, single, b2, short])
    p1, p2 = m.sahani_linden_power(b1), m.sahani_linden_power(b2)
    assert res.signal == pytest.approx(
        (100 * p1.signal + 300 * p2.signal) / 400, rel=1e-12
    )
    assert res.noise == pytest.approx(
        (100 * p1.noise + 300 * p2.noise) / 400, rel=1e-12
    )
    assert res.excluded == {1: "single_trial", 3: "too_few_bins"}
    np.testing.assert_allclose(res.weights, [100, 0, 300, 0])
    assert res.per_stimulus_signal[2] == pytest.approx(p2.signal)
    assert np.isnan(res.per_stimulus_signal[1])


def test_nan_padding_is_ignored_but_partial_nan_is_flagged():
    rng = np.random.default_rng(3)
    resp = rng.standard_normal((5, 80)) + np.sin(np.arange(80) / 4)
    pred = np.sin(np.arange(80) / 4)
    padded = np.full((7, 100), np.nan)
    padded[:5, :80] = resp
    pred_padded = np.concatenate([pred, np.full(20, np.nan)])
    assert m.signal_power(padded).value == pytest.approx(
        m.signal_power(resp).value, rel=1e-14
    )
    a, b = m.ccnorm(pred_padded, padded), m.ccnorm(pred, resp)
    assert a.ccnorm.value == pytest.approx(b.ccnorm.value, rel=1e-14)
    partial = resp.copy()
    partial[2, 10] = np.nan
    assert m.signal_power(partial).reason == "nan_values"
    assert m.ccnorm(pred, partial).ccnorm.reason == "nan_values"


# --------------------------------------------------------------------------- CCmax / CCnorm


def test_ccnorm_equals_ccabs_over_ccmax_and_direct_formula():
    rng = np.random.default_rng(4)
    rate = smooth_rate(rng, 1500, 30.0)
    resp = rng.poisson(rate, size=(8, 1500)).astype(float)
    pred = rate + 0.02 * rng.standard_normal(1500)
    res = m.ccnorm(pred, resp)
    assert res.ccnorm.ok and res.ccabs.ok and res.ccmax.ok
    assert res.ccnorm.value == pytest.approx(
        res.ccabs.value / res.ccmax.value, rel=1e-12
    )
    psth = resp.mean(0)
    assert res.ccabs.value == pytest.approx(np.corrcoef(pred, psth)[0, 1], rel=1e-12)
    cov = np.mean((pred - pred.mean()) * (psth - psth.mean()))
    sp = m.signal_power(resp).value
    assert res.ccnorm.value == pytest.approx(
        cov / math.sqrt(sp * np.var(pred)), rel=1e-12
    )
    assert res.ccmax.value == pytest.approx(m.ccmax_sp(resp).value, rel=1e-12)


def test_ccnorm_of_true_rate_is_one_for_poisson_repeats(poisson_sims):
    """strf_fitting.md 2.1: 20 Hz, 10 repeats, T = 2000 -> median CCnorm 0.998."""
    rates, counts = poisson_sims
    values = np.array([m.ccnorm(r, c).ccnorm.value for r, c in zip(rates, counts)])
    assert np.isfinite(values).all()
    assert 0.98 <= np.median(values) <= 1.02
    # Not clipped at 1: some simulations exceed it.
    assert (values > 1).any()


def test_split_half_ccmax_agrees_with_sp_ccmax(poisson_sims):
    _, counts = poisson_sims
    sp = np.array([m.ccmax_sp(c).value for c in counts])
    split = np.array([m.ccmax_split(c).value for c in counts])
    assert abs(np.median(split) - np.median(sp)) <= 0.02
    assert np.median(np.abs(split - sp)) <= 0.02


def test_ccmax_split_of_noiseless_repeats_is_one():
    resp = np.tile(np.sin(np.arange(200) / 3.0), (6, 1))
    assert m.ccmax_split(resp).value == pytest.approx(1.0, abs=1e-12)
    assert m.split_half_correlation(resp).value == pytest.approx(1.0, abs=1e-12)


def test_half_splits_are_complementary_deterministic_and_capped():
    s10 = m.half_splits(10)
    assert s10.shape == (126, 10)  # C(10, 5) / 2: every split once
    assert s10[:, 0].all() and (s10.sum(1) == 5).all()
    assert len({row.tobytes() for row in s10}) == 126
    s11 = m.half_splits(11)  # odd: last repeat dropped
    np.testing.assert_array_equal(s11, s10)
    s4 = m.half_splits(4)
    assert sorted(map(tuple, s4.astype(int))) == [
        (1, 0, 0, 1),
        (1, 0, 1, 0),
        (1, 1, 0, 0),
    ]
    s20 = m.half_splits(20, max_splits=50)
    assert s20.shape == (50, 20) and len({row.tobytes() for row in s20}) == 50
    np.testing.assert_array_equal(s20, m.half_splits(20, max_splits=50))


def test_split_half_correlation_matches_explicit_loop():
    rng = np.random.default_rng(5)
    resp = rng.standard_normal((7, 120)) + np.sin(np.arange(120) / 6)
    expected = []
    for split in m.half_splits(7):
        a, b = resp[:6][split].mean(0), resp[:6][~split].mean(0)
        expected.append(np.corrcoef(a, b)[0, 1])
    cc = float(np.mean(expected))
    assert m.split_half_correlation(resp).value == pytest.approx(cc, rel=1e-12)
    assert m.ccmax_split(resp).value == pytest.approx(
        math.sqrt(2 / (1 + 1 / cc)), rel=1e-12
    )


# --------------------------------------------------------------------------- edge cases


def test_nonpositive_signal_power_gives_nan_with_reason():
    resp = np.array([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])  # PSTH constant
    pred = np.array([0.0, 1.0, 2.0, 3.0])
    assert m.signal_power(resp).value < 0 and m.signal_power(resp).reason == ""
    res = m.ccnorm(pred, resp)
    assert np.isnan(res.ccnorm.value) and res.ccnorm.reason == "sp_nonpositive"
    assert np.isnan(res.ccmax.value) and res.ccmax.reason == "sp_nonpositive"
    assert m.ccmax_sp(resp).reason == "sp_nonpositive"
    assert m.noise_ratio(resp).reason == "sp_nonpositive"
    anti = np.array([[0.0, 1, 2, 3], [3.0, 2, 1, 0]])
    assert m.ccmax_split(anti).reason == "split_half_nonpositive"


def test_constant_prediction_gives_nan_with_reason():
    rng = np.random.default_rng(6)
    resp = rng.standard_normal((4, 50)) + np.arange(50) / 10
    res = m.ccnorm(np.full(50, 0.3), resp)
    assert np.isnan(res.ccnorm.value) and res.ccnorm.reason == "constant_prediction"
    assert res.ccabs.reason == "constant_prediction"
    assert res.ccmax.ok  # the ceiling does not depend on the prediction


def test_single_trial_gives_nan_with_reason():
    rng = np.random.default_rng(7)
    one = rng.standard_normal((1, 60))
    pred = rng.standard_normal(60)
    res = m.ccnorm(pred, one)
    assert np.isnan(res.ccnorm.value) and res.ccnorm.reason == "single_trial"
    assert res.ccmax.reason == "single_trial"
    assert res.ccabs.ok and res.ccabs.value == pytest.approx(
        np.corrcoef(pred, one[0])[0, 1]
    )
    for metric in (
        m.signal_power,
        m.noise_power,
        m.noise_ratio,
        m.ccmax_sp,
        m.ccmax_split,
    ):
        out = metric(one)
        assert np.isnan(out.value) and out.reason == "single_trial"
    assert m.total_power(one).value == pytest.approx(np.var(one))
    assert m.ccnorm(pred[:1], one[:, :1]).ccnorm.reason == "too_few_bins"


# --------------------------------------------------------------------------- several stimuli


def test_ccnorm_across_stimuli_concatenates_with_min_repeats():
    rng = np.random.default_rng(8)
    rates = [smooth_rate(rng, t, 25.0) for t in (400, 700, 300)]
    blocks = [
        rng.poisson(r, size=(n, r.size)).astype(float)
        for r, n in zip(rates, (10, 6, 8))
    ]
    preds = [r + 0.01 * rng.standard_normal(r.size) for r in rates]
    res = m.ccnorm_across_stimuli(preds, blocks)
    manual = m.ccnorm(
        np.concatenate(preds), np.concatenate([b[:6] for b in blocks], axis=1)
    )
    assert res.n_repeats == 6 and res.n_bins == 1400
    assert res.ccnorm.value == pytest.approx(manual.ccnorm.value, rel=1e-14)
    assert res.ccabs.value == pytest.approx(manual.ccabs.value, rel=1e-14)


def test_response_quality_summary():
    rng = np.random.default_rng(9)
    rates = [smooth_rate(rng, t, 20.0) for t in (500, 1500)]
    blocks = [rng.poisson(r, size=(10, r.size)).astype(float) for r in rates]
    blocks.append(rng.poisson(0.1, size=(1, 200)).astype(float))  # one trial: excluded
    q = m.response_quality(blocks)
    pw = m.power_across_stimuli(blocks)
    assert q.signal_power.value == pytest.approx(pw.signal)
    assert q.noise_ratio.value == pytest.approx(pw.noise / pw.signal)
    # pooled statistics (weights = bins of the usable blocks), transformed once
    pw2 = [m.sahani_linden_power(b) for b in blocks[:2]]
    sp = (500 * pw2[0].signal + 1500 * pw2[1].signal) / 2000
    var_psth = (500 * pw2[0].psth + 1500 * pw2[1].psth) / 2000
    assert q.ccmax_sp.value == pytest.approx(math.sqrt(sp / var_psth), rel=1e-12)
    half = [m.split_half_correlation(b).value for b in blocks[:2]]
    cc = (500 * half[0] + 1500 * half[1]) / 2000
    assert q.ccmax_split.value == pytest.approx(math.sqrt(2 / (1 + 1 / cc)), rel=1e-12)
    assert q.per_stimulus["ccmax_sp"][0] == pytest.approx(math.sqrt(pw2[0].signal / pw2[0].psth))
    assert q.per_stimulus_reasons["ccmax_sp"] == ("", "", "single_trial")
    assert np.isnan(q.per_stimulus["ccmax_split"][2])
    empty = m.response_quality([np.ones((1, 10))])
    assert (
        empty.ccmax_sp.reason == "single_trial"
        and empty.noise_ratio.reason == "single_trial"
    )


def test_unreliable_neuron_is_not_credited_with_a_ceiling():
    """A neuron firing at a constant rate (no stimulus-locked signal): per stimulus, SP
    is positive about half the time by chance; averaging CCmax over only those stimuli
    would give ~0.3.  Pooled first, the ceiling is undefined or small."""
    rng = np.random.default_rng(4)
    blocks = [rng.poisson(0.2, size=(10, 300)).astype(float) for _ in range(20)]
    q = m.response_quality(blocks)
    per = q.per_stimulus["ccmax_sp"]
    assert np.isfinite(per).sum() >= 3 and np.nanmean(per) > 0.2  # the biased average
    assert np.isnan(q.ccmax_sp.value) or q.ccmax_sp.value < 0.15
    assert np.isnan(q.ccmax_split.value) or q.ccmax_split.value < 0.15
    if np.isnan(q.ccmax_sp.value):
        assert q.ccmax_sp.reason == "sp_nonpositive"
