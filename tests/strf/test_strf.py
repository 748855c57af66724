"""Tests of strflow.strf against explicit lagged designs and direct solves."""

from __future__ import annotations

import numpy as np
import pytest

from strflow import strf as st
from strflow.strf.solver import _quadratic_forms

F, L = 5, 7


def explicit_design(spec: np.ndarray, n_lags: int) -> np.ndarray:
    """Independent reference: X[t, l*F + f] = S[f, t - l], zero before the segment."""
    n_bands, n_bins = spec.shape
    x = np.zeros((n_bins, n_lags * n_bands))
    for t in range(n_bins):
        for lag in range(n_lags):
            if t - lag >= 0:
                x[t, lag * n_bands : (lag + 1) * n_bands] = spec[:, t - lag]
    return x


def rel_err(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def pearson_cols(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


@pytest.fixture(scope="module")
def problem():
    """Segments of several lengths (two shorter than L), K = 4 neurons, offset stimulus."""
    rng = np.random.default_rng(0)
    lengths = [60, 3, 45, 80, 5, 70, 55, 66, 40]
    segs = [
        rng.standard_normal((F, t)) * np.arange(1, F + 1)[:, None] + 2.0
        for t in lengths
    ]
    w_true = rng.standard_normal((F * L, 4))
    ys = [
        explicit_design(s, L) @ w_true
        + 0.5
        + 2.0 * rng.standard_normal((s.shape[1], 4))
        for s in segs
    ]
    return segs, ys


# --------------------------------------------------------------------------- statistics


def test_weight_layout_round_trip():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((F * L, 3))
    h = st.weights_to_strf(w, F, L)
    assert h.shape == (3, F, L)
    assert h[2, 1, 4] == w[4 * F + 1, 2]
    np.testing.assert_array_equal(st.strf_to_weights(h), w)
    np.testing.assert_array_equal(
        st.lagged_design(np.arange(12.0).reshape(2, 6), 3),
        explicit_design(np.arange(12.0).reshape(2, 6), 3),
    )


def test_toeplitz_gram_equals_explicit_design_gram(problem):
    segs, _ = problem
    x = np.concatenate([explicit_design(s, L) for s in segs])
    expected = x.T @ x
    assert rel_err(st.lagged_gram(segs, L), expected) <= 1e-12
    # Also after standardisation, and with a single lag.
    std = st.fit_standardisation(segs)
    xs = np.concatenate([explicit_design(std.apply(s), L) for s in segs])
    assert rel_err(st.lagged_gram(segs, L, std), xs.T @ xs) <= 1e-12
    x1 = np.concatenate([explicit_design(s, 1) for s in segs])
    assert rel_err(st.lagged_gram(segs, 1), x1.T @ x1) <= 1e-12


def test_cross_products_and_sums_equal_explicit(problem):
    segs, ys = problem
    std = st.fit_standardisation(segs)
    x = np.concatenate([explicit_design(std.apply(s), L) for s in segs])
    y = np.concatenate(ys)
    stats = st.sufficient_statistics(segs, ys, L, std)
    assert rel_err(stats.cross, x.T @ y) <= 1e-12
    assert rel_err(stats.gram, x.T @ x) <= 1e-12
    np.testing.assert_allclose(stats.sum_x, x.sum(0), rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(stats.sum_y, y.sum(0), rtol=1e-12)
    np.testing.assert_allclose(stats.sum_yy, (y * y).sum(0), rtol=1e-12)
    assert stats.n == x.shape[0]


def test_standardisation_uses_training_bins_only():
    rng = np.random.default_rng(2)
    segs = [rng.standard_normal((3, t)) * 4 + 1 for t in (10, 30)]
    std = st.fit_standardisation(segs)
    allbins = np.concatenate(segs, axis=1)
    np.testing.assert_allclose(std.mean, allbins.mean(1))
    np.testing.assert_allclose(std.std, allbins.std(1))
    z = np.concatenate([std.apply(s) for s in segs], axis=1)
    np.testing.assert_allclose(z.mean(1), 0, atol=1e-12)
    np.testing.assert_allclose(z.std(1), 1, rtol=1e-12)


# --------------------------------------------------------------------------- ridge algebra


def centred(x: np.ndarray, y: np.ndarray):
    xc, yc = x - x.mean(0), y - y.mean(0)
    return xc.T @ xc, xc.T @ yc


def test_eigen_weights_equal_direct_solve_for_every_penalty(problem):
    segs, ys = problem
    std = st.fit_standardisation(segs)
    stats = st.sufficient_statistics(segs, ys, L, std)
    x = np.concatenate([explicit_design(std.apply(s), L) for s in segs])
    y = np.concatenate(ys)
    g, c = centred(x, y)
    er = st.EigenRidge(stats)
    for alpha in np.logspace(-2, 4, 9):
        w, b0 = er.weights(alpha)
        w_ref = np.linalg.solve(g + alpha * np.eye(g.shape[0]), c)
        assert rel_err(w, w_ref) <= 1e-8
        np.testing.assert_allclose(
            b0, y.mean(0) - x.mean(0) @ w_ref, rtol=1e-8, atol=1e-10
        )
    per_neuron = np.array([0.1, 10.0, 1e3, 3.0])
    w, _ = er.weights(per_neuron)
    for k, alpha in enumerate(per_neuron):
        w_ref = np.linalg.solve(g + alpha * np.eye(g.shape[0]), c[:, k])
        assert rel_err(w[:, k], w_ref) <= 1e-8


def test_validation_r_and_mse_from_statistics_equal_explicit_predictions(problem):
    segs, ys = problem
    std = st.fit_standardisation(segs)
    train, val = [0, 1, 2, 3, 5, 6], [4, 7, 8]
    s_tr = st.sufficient_statistics(
        [segs[i] for i in train], [ys[i] for i in train], L, std
    )
    s_va = st.sufficient_statistics(
        [segs[i] for i in val], [ys[i] for i in val], L, std
    )
    penalties = np.logspace(-1, 4, 6)
    er = st.EigenRidge(s_tr)
    r, mse = er.validate(s_va, penalties)
    x_va = np.concatenate([explicit_design(std.apply(segs[i]), L) for i in val])
    y_va = np.concatenate([ys[i] for i in val])
    for i, alpha in enumerate(penalties):
        w, b0 = er.weights(alpha)
        pred = x_va @ w + b0
        np.testing.assert_allclose(r[i], pearson_cols(pred, y_va), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(mse[i], ((pred - y_va) ** 2).mean(0), rtol=1e-6)


def test_validation_with_rank_deficient_validation_gram(problem):
    """A validation fold shorter than D (singular validation Gram) is still exact."""
    segs, ys = problem
    std = st.fit_standardisation(segs)
    s_tr = st.sufficient_statistics(segs[:-1], ys[:-1], L, std)
    short_seg, short_y = segs[-1][:, :20], ys[-1][:20]
    s_va = st.sufficient_statistics([short_seg], [short_y], L, std)
    assert np.linalg.matrix_rank(s_va.gram) < F * L
    er = st.EigenRidge(s_tr)
    penalties = np.logspace(-1, 3, 5)
    r, mse = er.validate(s_va, penalties)
    x_va = explicit_design(std.apply(short_seg), L)
    for i, alpha in enumerate(penalties):
        w, b0 = er.weights(alpha)
        pred = x_va @ w + b0
        np.testing.assert_allclose(
            r[i], pearson_cols(pred, short_y), rtol=1e-6, atol=1e-9
        )
        np.testing.assert_allclose(mse[i], ((pred - short_y) ** 2).mean(0), rtol=1e-6)


def test_quadratic_forms_in_chunks_equal_direct():
    rng = np.random.default_rng(7)
    a = rng.standard_normal((30, 12))
    z = a @ a.T  # rank 12 of 30
    b, s = rng.standard_normal((30, 4)), rng.random(30)
    penalties = np.logspace(-1, 2, 7)
    expected = [
        np.einsum("dk,dk->k", b / (s + p)[:, None], z @ (b / (s + p)[:, None]))
        for p in penalties
    ]
    for chunk in (1, 3 * 30 * 4 * 8, 2**20):
        np.testing.assert_allclose(
            _quadratic_forms(z, b, s, penalties, chunk), expected, rtol=1e-10
        )


# --------------------------------------------------------------------------- full fit


def explicit_cv(segs, ys, folds, penalties, std):
    """Reference blocked CV: explicit designs, np.linalg.solve, explicit predictions."""
    xs = [explicit_design(std.apply(s), L) for s in segs]
    r = np.zeros((len(np.unique(folds)), len(penalties), ys[0].shape[1]))
    for fi, f in enumerate(np.unique(folds)):
        tr = [i for i in range(len(segs)) if folds[i] != f]
        va = [i for i in range(len(segs)) if folds[i] == f]
        x, y = np.concatenate([xs[i] for i in tr]), np.concatenate([ys[i] for i in tr])
        g, c = centred(x, y)
        xv, yv = np.concatenate([xs[i] for i in va]), np.concatenate(
            [ys[i] for i in va]
        )
        for a, alpha in enumerate(penalties):
            w = np.linalg.solve(g + alpha * np.eye(g.shape[0]), c)
            pred = xv @ w + (y.mean(0) - x.mean(0) @ w)
            r[fi, a] = pearson_cols(pred, yv)
    return r


def test_fit_matches_explicit_cross_validation_and_refit(problem):
    segs, ys = problem
    folds = st.contiguous_folds([s.shape[1] for s in segs], 3)
    penalties = np.logspace(-1, 4, 11)
    model = st.fit_ridge_strf(segs, ys, L, folds=3, penalties=penalties)
    std = model.standardisation
    r_ref = explicit_cv(segs, ys, folds, penalties, std)
    np.testing.assert_allclose(model.cv_r, r_ref, rtol=1e-6, atol=1e-9)
    best = np.argmax(r_ref.mean(0), axis=0)
    np.testing.assert_array_equal(model.penalty_index, best)
    np.testing.assert_allclose(model.penalties, penalties[best])
    x = np.concatenate([explicit_design(std.apply(s), L) for s in segs])
    y = np.concatenate(ys)
    g, c = centred(x, y)
    for k in range(y.shape[1]):
        w_ref = np.linalg.solve(g + penalties[best[k]] * np.eye(g.shape[0]), c[:, k])
        assert rel_err(model.flat_weights()[:, k], w_ref) <= 1e-8
    pred = np.concatenate(model.predict(segs))
    ref = x @ model.flat_weights() + model.intercepts
    np.testing.assert_allclose(pred, ref, rtol=1e-10, atol=1e-10)
    assert model.reasons == ("",) * 4
    np.testing.assert_allclose(
        model.cv_r_best, r_ref.mean(0)[best, np.arange(4)], rtol=1e-6
    )


def test_contiguous_folds_hold_whole_segments_in_order():
    labels = st.contiguous_folds([100] * 10, 5)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 2, 2, 3, 3, 4, 4])
    labels = st.contiguous_folds([500, 100, 100, 100, 100, 100], 2)
    np.testing.assert_array_equal(labels, [0, 1, 1, 1, 1, 1])
    with pytest.raises(ValueError):
        st.contiguous_folds([10, 10], 3)


def test_default_grid_is_scaled_to_mean_eigenvalue(problem):
    segs, ys = problem
    model = st.fit_ridge_strf(segs, ys, L, folds=3)
    std = model.standardisation
    x = np.concatenate([explicit_design(std.apply(s), L) for s in segs])
    g, _ = centred(x, np.concatenate(ys))
    np.testing.assert_allclose(
        model.penalty_grid,
        np.trace(g) / g.shape[0] * np.logspace(-4, 4, 17),
        rtol=1e-10,
    )


def test_penalty_at_edge_flag(problem):
    segs, ys = problem
    model = st.fit_ridge_strf(segs, ys, L, folds=3, penalties=[1e6, 1e7, 1e8])
    # Such large penalties are all too strong: the smallest one wins and is flagged.
    assert (model.penalty_index == 0).all() and model.penalty_at_edge.all()


def test_sparse_coverage_is_exact(problem):
    segs, ys = problem
    n_seg = len(segs)
    folds = st.contiguous_folds([s.shape[1] for s in segs], 3)
    penalties = np.logspace(-1, 4, 11)
    std = st.fit_standardisation(segs)
    mask = np.ones((n_seg, 4), dtype=bool)
    mask[[2, 6], 1] = False  # neuron 1: missing segments via the mask
    ys_nan = [y.copy() for y in ys]
    for i in (0, 3, 4):  # neuron 2: missing segments via NaN columns
        ys_nan[i][:, 2] = np.nan
    ys_nan[5][:, 3] = np.nan  # neuron 3: partially NaN column -> unavailable too
    ys_nan[5][:10, 3] = 1.0
    model = st.fit_ridge_strf(
        segs,
        ys_nan,
        L,
        mask=mask,
        folds=folds,
        penalties=penalties,
        standardisation=std,
    )
    avail = np.ones((n_seg, 4), dtype=bool)
    avail[[2, 6], 1] = avail[[0, 3, 4], 2] = avail[5, 3] = False
    np.testing.assert_array_equal(model.availability, avail)
    assert len(set(model.group_of_neuron)) == 4
    for k in range(4):
        keep = np.flatnonzero(avail[:, k])
        alone = st.fit_ridge_strf(
            [segs[i] for i in keep],
            [ys[i][:, [k]] for i in keep],
            L,
            folds=folds[keep],
            penalties=penalties,
            standardisation=std,
        )
        assert model.penalty_index[k] == alone.penalty_index[0]
        np.testing.assert_allclose(
            model.weights[k], alone.weights[0], rtol=1e-9, atol=1e-12
        )
        assert model.intercepts[k] == pytest.approx(alone.intercepts[0], rel=1e-9)
        fold_rows = np.isin(model.fold_ids, alone.fold_ids)
        np.testing.assert_allclose(
            model.cv_r[fold_rows, :, k], alone.cv_r[:, :, 0], rtol=1e-9
        )
    # Zero filling would not give this: the exact fit differs from a fit on zeros.
    zero = st.fit_ridge_strf(
        segs,
        [np.nan_to_num(y) for y in ys_nan],
        L,
        folds=folds,
        penalties=penalties,
        standardisation=std,
    )
    assert not np.allclose(zero.weights[2], model.weights[2], rtol=1e-3)


def test_neuron_without_data_gets_nan(problem):
    segs, ys = problem
    ys2 = [np.column_stack([y[:, 0], np.full(y.shape[0], np.nan)]) for y in ys]
    model = st.fit_ridge_strf(segs, ys2, L, folds=3)
    assert model.reasons == ("", "no_data")
    assert np.isnan(model.weights[1]).all() and np.isnan(model.penalties[1])
    assert np.isfinite(model.weights[0]).all()
    assert not model.penalty_at_edge[1]


# --------------------------------------------------------------------------- recovery


def gabor_strfs(
    rng: np.random.Generator, n_neurons: int, n_bands: int, n_lags: int
) -> np.ndarray:
    f = np.arange(n_bands)[None, :, None]
    lag = np.arange(n_lags)[None, None, :]
    f0 = rng.uniform(6, n_bands - 6, (n_neurons, 1, 1))
    l0 = rng.uniform(3, 8, (n_neurons, 1, 1))
    return (
        np.exp(-((f - f0) ** 2) / (2 * 3.0**2))
        * np.exp(-lag / 6.0)
        * np.sin(2 * np.pi * (lag - l0) / 14.0 + rng.uniform(0, 1, (n_neurons, 1, 1)))
    )


def test_recovery_of_lnp_strfs_from_poisson_spikes():
    """strf_fitting.md 4.2: DRC-like Gaussian stimulus, F=32, L=20, 20 Hz, 60k bins of
    5 ms -> median recovery 0.92 (acceptance threshold there: 0.88)."""
    rng = np.random.default_rng(3)
    n_bands, n_lags, n_neurons, seg_len, n_seg = 32, 20, 6, 1000, 60
    strfs = gabor_strfs(rng, n_neurons, n_bands, n_lags)
    w = st.strf_to_weights(strfs)
    segs = [rng.standard_normal((n_bands, seg_len)) for _ in range(n_seg)]
    drive = [st.predict_segments([s], w, np.zeros(n_neurons), n_lags)[0] for s in segs]
    mu, sd = np.concatenate(drive).mean(0), np.concatenate(drive).std(0)
    gain = np.exp(0.8**2 / 2)  # E[exp(0.8 z)] for z ~ N(0, 1): mean rate = r0
    ys = [
        rng.poisson(20.0 * 0.005 * np.exp(0.8 * (d - mu) / sd) / gain).astype(float)
        for d in drive
    ]
    model = st.fit_ridge_strf(segs, ys, n_lags, folds=5)
    fitted = model.weights / model.standardisation.std[None, :, None]
    corr = [
        np.corrcoef(fitted[k].ravel(), strfs[k].ravel())[0, 1] for k in range(n_neurons)
    ]
    assert np.median(corr) >= 0.88
    assert np.isfinite(model.cv_r_best).all() and (model.cv_r_best > 0.1).all()


# --------------------------------------------------------------------------- LN


def test_fit_sigmoid_recovers_parameters():
    rng = np.random.default_rng(4)
    x = rng.normal(2.0, 3.0, 20000)
    a, b, c, d = 0.5, 4.0, 3.0, 1.2
    y = st.sigmoid(x, a, b, c, d) + 0.3 * rng.standard_normal(x.size)
    params, reason = st.fit_sigmoid(x, y)
    assert reason == ""
    np.testing.assert_allclose(params, [a, b, c, d], rtol=0.05, atol=0.05)
    # Decreasing sigmoids are fitted with b < 0.
    params, reason = st.fit_sigmoid(x, -y)
    assert reason == "" and params[1] < 0
    grid = np.linspace(-5, 9, 50)
    np.testing.assert_allclose(
        st.sigmoid(grid, *params), -st.sigmoid(grid, a, b, c, d), atol=0.1
    )


def test_fit_sigmoid_falls_back_to_identity():
    rng = np.random.default_rng(5)
    params, reason = st.fit_sigmoid(np.full(100, 2.0), rng.standard_normal(100))
    assert reason == "constant_prediction" and np.isnan(params).all()
    params, reason = st.fit_sigmoid(rng.standard_normal(100), np.zeros(100))
    assert reason == "constant_response"
    params, reason = st.fit_sigmoid(np.arange(5.0), np.arange(5.0))
    assert reason == "too_few_bins"
    nl = st.OutputNonlinearity(
        np.full((2, 4), np.nan), ("constant_prediction", "constant_response")
    )
    x = rng.standard_normal((10, 2))
    np.testing.assert_array_equal(nl(x), x)


def test_ln_model_recovers_output_nonlinearity_and_improves_fit():
    rng = np.random.default_rng(6)
    n_bands, n_lags, n_neurons = 16, 10, 3
    strfs = gabor_strfs(rng, n_neurons, 2 * n_bands, n_lags)[:, ::2, :]
    w = st.strf_to_weights(strfs)
    segs = [rng.standard_normal((n_bands, 500)) for _ in range(20)]
    drive = [st.predict_segments([s], w, np.zeros(n_neurons), n_lags)[0] for s in segs]
    sd = np.concatenate(drive).std(0)
    true_nl = lambda u: 1.0 + 5.0 / (1.0 + np.exp(-(u / sd - 0.5) / 0.4))  # noqa: E731
    ys = [true_nl(d) + 0.3 * rng.standard_normal(d.shape) for d in drive]
    lin = st.fit_ridge_strf(segs, ys, n_lags, folds=4)
    ln = st.fit_ln_strf(lin, segs, ys)
    assert ln.nonlinearity is not None and ln.nonlinearity.reasons == ("",) * n_neurons
    y = np.concatenate(ys)
    mse_lin = ((np.concatenate(lin.predict(segs)) - y) ** 2).mean(0)
    mse_ln = ((np.concatenate(ln.predict(segs)) - y) ** 2).mean(0)
    assert (mse_ln < 0.8 * mse_lin).all()
    # The LN prediction tracks the true noiseless output closely.
    truth = np.concatenate([true_nl(d) for d in drive])
    pred = np.concatenate(ln.predict(segs))
    assert (pearson_cols(pred, truth) > 0.98).all()
    assert (np.sqrt(((pred - truth) ** 2).mean(0)) < 0.1 * 5.0).all()
    # predict(nonlinearity=False) is the linear model.
    np.testing.assert_array_equal(
        ln.predict(segs, nonlinearity=False)[0], lin.predict(segs)[0]
    )
