"""Ridge STRFs for many neurons and many penalties at once, from sufficient statistics.

Model
-----
For a stimulus segment with spectrogram ``S`` (F bands x T bins, standardised per
band) and lags ``l = 0 .. L-1`` the response of neuron ``k`` is modelled as

    y_k[t] = c_k + sum_{l, f} w_k[f, l] * S[f, t - l],        S[f, u < 0] = 0,

i.e. causal, and **lags never cross segment boundaries**: every segment restarts
with zero padding (after standardisation, so the padding equals the band mean).
The lagged design of one segment is ``X[t, l*F + f] = S[f, t-l]`` (lag-major
features, ``D = F*L``); :func:`lagged_design` builds it explicitly (for tests and
small problems), the fit never does.  Weights are returned as ``(K, F, L)``
(:func:`weights_to_strf` / :func:`strf_to_weights` convert from/to ``(D, K)``).

Standardisation uses the mean and the (1/N) standard deviation of every band over
all bins of the *training* segments (:func:`fit_standardisation`); a band with zero
variance keeps std 1.

Sufficient statistics (float64)
-------------------------------
Per segment (time-major ``S`` of shape (T, F)):

* Gram ``G = X^T X`` from its exact block-Toeplitz structure, without the design.
  For lags l1 <= l2, d = l2 - l1::

      G[(l1, .), (l2, .)] = A_d - E(l1, d),    A_d = S[d:]^T S[:T-d]         (F x F)
      E(l1, d) = sum_{v = T-l1}^{T-1} outer(S[v], S[v-d])                 (edge terms)

  A_d costs one small GEMM per lag; the edge terms only involve the last L-1 rows
  of the segment (the "tail").  A set of segments is therefore summarised exactly
  by ``sum_s A_d^(s)`` (L x F x F) plus the stacked tails, and its Gram is
  assembled on demand (:class:`LagGramParts`): the per-segment stimulus statistics
  are computed once, cached and shared by every fold and every neuron group.
* ``C = X^T Y`` per lag with one GEMM per (segment, lag):
  ``C[l] = S[:T-l]^T Y[l:]`` (F x K), again without the design.
* ``sum_x`` (D), ``sum_y`` and ``sum_yy`` (K) and the bin count ``n``.

Statistics of a fold are sums over its segments.

Intercept and penalty
---------------------
The intercept is handled by centring with the sums (``Gc = G - sum_x sum_x^T / n``,
``Cc = C - sum_x sum_y^T / n``); it is not penalised.  For penalty alpha,
``w = (Gc + alpha I)^{-1} Cc`` and ``c = mean_y - mean_x^T w``.

Cross-validation (folds of whole segments, never leave-one-out)
---------------------------------------------------------------
Per fold, one symmetric eigendecomposition ``Gc_train = V diag(s) V^T`` serves all
penalties and all neurons: ``b = V^T Cc_train``, ``w~ = b / (s + alpha)`` (w = V w~).
The validation Pearson r and MSE follow *exactly* from the validation statistics,
with no prediction formed: with ``Z = V^T Gc_val V`` and ``e = V^T Cc_val``
(centred with the validation sums)::

    cov = sum_d w~ * e,   var_pred = sum_d w~ * (Z w~),   var_y = sum_yy - sum_y^2 / n
    r   = cov / sqrt(var_pred var_y)
    MSE = (var_y - 2 cov + var_pred) / n + (dy - dm^T w~)^2,
          dy = mean_y_val - mean_y_train,  dm = V^T (mean_x_val - mean_x_train).

Each neuron gets the penalty maximising its validation r averaged over the folds
in which it is defined; ``penalty_at_edge`` flags choices at either end of the grid.
The default grid is ``trace(Gc) / D * logspace(-4, 4, 17)`` (Gc: centred Gram of
all training segments; ``trace(Gc)/D`` is the mean eigenvalue, about N for a
standardised spectrogram).  The refit on all training segments uses one more
eigendecomposition.

Sparse coverage (neurons that heard different segments)
-------------------------------------------------------
Availability is a boolean ``(n_segments, K)`` mask (optional argument), combined
with the data: a response column containing any NaN in a segment means "not
heard".  Missing data are handled **exactly, not by zero filling**: neurons are
grouped by identical sets of available segments, and every group is fitted on the
statistics of exactly the segments it heard, so each neuron gets the same fit as
if it were fitted alone on its own segments (with the same standardisation, folds
and penalty grid).  Only the Gram, ``sum_x`` and ``n`` depend on the group, and they
are cheap sums of the cached per-segment stimulus statistics; ``C``, ``sum_y`` and
``sum_yy`` are linear in each response column, so they are accumulated once for all
neurons with unavailable columns set to zero, which is exact column by column.
Each group costs one eigendecomposition per fold plus one for the refit, so the
cost grows with the number of distinct coverage patterns, not with K.  Neurons
with no data get NaN weights (reason ``"no_data"``).

LN model
--------
:func:`fit_ln_strf` adds a static output nonlinearity per neuron, fitted on the
*training* predictions only: ``a + b / (1 + exp(-(x - c) / d))`` (d > 0) by least
squares (:func:`scipy.optimize.least_squares`, analytic Jacobian, robust
quantile-bin initialisation, two starts).  When the fit fails or does not beat the
identity, the neuron keeps the identity and the reason is recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.linalg
import scipy.linalg.blas
import scipy.linalg.lapack
import scipy.optimize
import scipy.special
from numpy.typing import ArrayLike

__all__ = [
    "Standardisation",
    "LagGramParts",
    "SufficientStats",
    "EigenRidge",
    "OutputNonlinearity",
    "RidgeSTRF",
    "lagged_design",
    "weights_to_strf",
    "strf_to_weights",
    "fit_standardisation",
    "lag_gram_parts",
    "lagged_gram",
    "lagged_cross",
    "sufficient_statistics",
    "contiguous_folds",
    "default_penalty_grid",
    "fit_ridge_strf",
    "predict_segments",
    "sigmoid",
    "fit_sigmoid",
    "fit_output_nonlinearity",
    "fit_ln_strf",
]

REASON_OK = ""
REASON_NO_DATA = "no_data"
REASON_NO_VALID_FOLDS = "no_valid_folds"

#: Default penalty grid, relative to trace(Gc) / D.
DEFAULT_RELATIVE_PENALTIES = np.logspace(-4.0, 4.0, 17)


# --------------------------------------------------------------------------- layout


def lagged_design(spec: ArrayLike, n_lags: int) -> np.ndarray:
    """Explicit zero-padded lagged design of one segment, ``X[t, l*F + f] = S[f, t-l]``.

    ``spec`` is ``(F, T)``; returns ``(T, n_lags * F)``.  Reference implementation
    (tests, small problems, other libraries); the fit never materialises it.
    """
    s = np.asarray(spec, dtype=np.float64)
    n_bands, n_bins = s.shape
    x = np.zeros((n_bins, n_lags, n_bands))
    for lag in range(min(n_lags, n_bins)):
        x[lag:, lag, :] = s[:, : n_bins - lag].T
    return x.reshape(n_bins, n_lags * n_bands)


def weights_to_strf(weights: ArrayLike, n_bands: int, n_lags: int) -> np.ndarray:
    """Flat weights ``(D,)`` or ``(D, K)`` (lag-major) -> STRFs ``(F, L)`` or ``(K, F, L)``."""
    w = np.asarray(weights)
    if w.ndim == 1:
        return w.reshape(n_lags, n_bands).T
    return w.reshape(n_lags, n_bands, w.shape[1]).transpose(2, 1, 0)


def strf_to_weights(strf: ArrayLike) -> np.ndarray:
    """STRFs ``(F, L)`` or ``(K, F, L)`` -> flat lag-major weights ``(D,)`` or ``(D, K)``."""
    h = np.asarray(strf)
    if h.ndim == 2:
        return h.T.reshape(-1)
    return h.transpose(2, 1, 0).reshape(h.shape[1] * h.shape[2], h.shape[0])


# --------------------------------------------------------------------------- standardisation


@dataclass(frozen=True)
class Standardisation:
    """Per-band affine standardisation ``(S - mean) / std`` of an ``(F, T)`` spectrogram."""

    mean: np.ndarray
    std: np.ndarray

    def apply(self, spec: ArrayLike) -> np.ndarray:
        """Standardised ``(F, T)`` float64 copy of ``spec``."""
        s = np.asarray(spec, dtype=np.float64)
        return (s - self.mean[:, None]) / self.std[:, None]

    def time_major(self, spec: ArrayLike) -> np.ndarray:
        """Standardised spectrogram as a C-contiguous ``(T, F)`` float64 array."""
        s = np.asarray(spec, dtype=np.float64)
        return np.ascontiguousarray(((s.T - self.mean) / self.std))

    @classmethod
    def identity(cls, n_bands: int) -> Standardisation:
        return cls(np.zeros(n_bands), np.ones(n_bands))


def fit_standardisation(segments: Sequence[ArrayLike]) -> Standardisation:
    """Mean and 1/N std of every band over all bins of ``segments`` (each ``(F, T_s)``).

    Pass only the training segments.  Two passes (mean, then squared deviations), in
    float64; a band with zero variance gets std 1.
    """
    segs = [np.asarray(s, dtype=np.float64) for s in segments]
    n = sum(s.shape[1] for s in segs)
    if n == 0:
        raise ValueError("no time bins to standardise on")
    mean = sum(s.sum(axis=1) for s in segs) / n
    var = sum(np.square(s - mean[:, None]).sum(axis=1) for s in segs) / n
    std = np.sqrt(var)
    std[~(std > 0)] = 1.0
    return Standardisation(mean, std)


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class LagGramParts:
    """Exact compact statistics of the lagged design of a set of segments.

    ``lag_products[d] = sum_s S_s[d:]^T S_s[:T_s-d]`` (L, F, F); ``tails`` stacks the
    last L-1 rows of every segment, zero-padded in front when a segment is shorter
    (n_segments, L-1, F); ``sum_x`` is the column sum of the design (D,) and ``n`` the
    number of bins.  :meth:`gram` assembles ``X^T X``; parts add with ``+``.
    """

    lag_products: np.ndarray
    tails: np.ndarray
    sum_x: np.ndarray
    n: int

    @property
    def n_lags(self) -> int:
        return self.lag_products.shape[0]

    @property
    def n_bands(self) -> int:
        return self.lag_products.shape[1]

    def __add__(self, other: LagGramParts) -> LagGramParts:
        return LagGramParts(
            self.lag_products + other.lag_products,
            np.concatenate([self.tails, other.tails]),
            self.sum_x + other.sum_x,
            self.n + other.n,
        )

    @staticmethod
    def total(parts: Sequence[LagGramParts]) -> LagGramParts:
        """Sum of several parts (all with the same F and L)."""
        if not parts:
            raise ValueError("need at least one part")
        return LagGramParts(
            np.sum([p.lag_products for p in parts], axis=0),
            np.concatenate([p.tails for p in parts]),
            np.sum([p.sum_x for p in parts], axis=0),
            int(sum(p.n for p in parts)),
        )

    def gram(self) -> np.ndarray:
        """``X^T X`` (D x D) of the zero-padded lagged design, from the Toeplitz parts."""
        a = self.lag_products
        n_lags, n_bands = self.n_lags, self.n_bands
        m = n_lags - 1
        edge = np.zeros((n_lags, n_lags, n_bands, n_bands))
        if m > 0 and self.tails.shape[0]:
            flat = self.tails.reshape(self.tails.shape[0], m * n_bands)
            outer = (flat.T @ flat).reshape(m, n_bands, m, n_bands)
            for d in range(m):
                j = np.arange(d, m)
                diag = outer[
                    j, :, j - d, :
                ]  # (m-d, F, F): sum_s outer(tail[j], tail[j-d])
                # E(l1, d) = sum of the last l1 entries of this diagonal, l1 = 1 .. m-d.
                edge[1 : m - d + 1, d] = np.cumsum(diag[::-1], axis=0)
        g4 = np.empty((n_lags, n_bands, n_lags, n_bands))
        for l1 in range(n_lags):
            block = (
                a[: n_lags - l1] - edge[l1, : n_lags - l1]
            )  # block (l1, l1+d), d = 0..
            g4[l1, :, l1:, :] = block.transpose(1, 0, 2)
            g4[l1:, :, l1, :] = block.transpose(0, 2, 1)
        return g4.reshape(n_lags * n_bands, n_lags * n_bands)


def _segment_parts(s: np.ndarray, n_lags: int) -> LagGramParts:
    """Parts of one standardised time-major segment ``s`` (T, F)."""
    n_bins, n_bands = s.shape
    a = np.zeros((n_lags, n_bands, n_bands))
    for d in range(min(n_lags, n_bins)):
        np.matmul(s[d:].T, s[: n_bins - d], out=a[d])
    m = n_lags - 1
    tail = np.zeros((m, n_bands))
    k = min(m, n_bins)
    if k:
        tail[m - k :] = s[n_bins - k :]
    # sum_x[l] = sum_{u <= T-1-l} S[u] = total - (sum of the last l rows).
    suffix = np.zeros((n_lags, n_bands))
    suffix[1:] = np.cumsum(tail[::-1], axis=0)
    sum_x = (s.sum(axis=0) - suffix).reshape(-1)
    return LagGramParts(a, tail[None], sum_x, n_bins)


def _accumulate_cross(out: np.ndarray, s: np.ndarray, y: np.ndarray) -> None:
    """``out[l] += S[:T-l]^T Y[l:]`` for every lag (out: (L, F, K))."""
    n_bins = s.shape[0]
    for lag in range(min(out.shape[0], n_bins)):
        out[lag] += s[: n_bins - lag].T @ y[lag:]


def lag_gram_parts(
    spec: ArrayLike, n_lags: int, standardisation: Standardisation | None = None
) -> LagGramParts:
    """:class:`LagGramParts` of one ``(F, T)`` segment (optionally standardised first)."""
    s = np.asarray(spec, dtype=np.float64)
    std = standardisation or Standardisation.identity(s.shape[0])
    return _segment_parts(std.time_major(s), n_lags)


def lagged_gram(
    segments: Sequence[ArrayLike],
    n_lags: int,
    standardisation: Standardisation | None = None,
) -> np.ndarray:
    """``X^T X`` of the stacked per-segment lagged designs (exact Toeplitz route)."""
    return LagGramParts.total(
        [lag_gram_parts(s, n_lags, standardisation) for s in segments]
    ).gram()


def lagged_cross(
    segments: Sequence[ArrayLike],
    responses: Sequence[ArrayLike],
    n_lags: int,
    standardisation: Standardisation | None = None,
) -> np.ndarray:
    """``X^T Y`` (D x K) of the stacked per-segment lagged designs (per-lag GEMMs)."""
    segs = [np.asarray(s, dtype=np.float64) for s in segments]
    std = standardisation or Standardisation.identity(segs[0].shape[0])
    ys = [_as_2d(y) for y in responses]
    out = np.zeros((n_lags, segs[0].shape[0], ys[0].shape[1]))
    for s, y in zip(segs, ys):
        _accumulate_cross(out, std.time_major(s), y)
    return out.reshape(-1, out.shape[2])


@dataclass(frozen=True)
class SufficientStats:
    """Raw (uncentred) sufficient statistics of a ridge problem over a set of bins.

    ``gram = X^T X`` (D, D), ``cross = X^T Y`` (D, K), ``sum_x`` (D,), ``sum_y`` and
    ``sum_yy`` (K,), ``n`` bins.
    """

    gram: np.ndarray
    cross: np.ndarray
    sum_x: np.ndarray
    sum_y: np.ndarray
    sum_yy: np.ndarray
    n: float


def sufficient_statistics(
    segments: Sequence[ArrayLike],
    responses: Sequence[ArrayLike],
    n_lags: int,
    standardisation: Standardisation | None = None,
) -> SufficientStats:
    """:class:`SufficientStats` of the lagged designs of ``segments`` (each ``(F, T_s)``)
    and ``responses`` (each ``(T_s, K)``; no missing data)."""
    segs = [np.asarray(s, dtype=np.float64) for s in segments]
    std = standardisation or Standardisation.identity(segs[0].shape[0])
    ys = [_as_2d(y) for y in responses]
    parts = [lag_gram_parts(s, n_lags, std) for s in segs]
    total = LagGramParts.total(parts)
    return SufficientStats(
        gram=total.gram(),
        cross=lagged_cross(segs, ys, n_lags, std),
        sum_x=total.sum_x,
        sum_y=np.sum([y.sum(axis=0) for y in ys], axis=0),
        sum_yy=np.sum([np.einsum("tk,tk->k", y, y) for y in ys], axis=0),
        n=float(total.n),
    )


# --------------------------------------------------------------------------- ridge


class EigenRidge:
    """Centred ridge problem diagonalised once, for any penalty and any neuron.

    From training statistics: ``Gc = V diag(s) V^T`` (one ``eigh``), ``b = V^T Cc``;
    for penalty alpha the weights are ``V (b / (s + alpha))`` and the intercept
    ``mean_y - mean_x^T w``.
    """

    def __init__(self, stats: SufficientStats) -> None:
        n = float(stats.n)
        if not n > 0:
            raise ValueError("no training bins")
        self.n = n
        self.mean_x = stats.sum_x / n
        self.mean_y = stats.sum_y / n
        gc = stats.gram - np.outer(stats.sum_x, self.mean_x)
        cc = stats.cross - np.outer(stats.sum_x, self.mean_y)
        self.eigvals, self.eigvecs = scipy.linalg.eigh(
            gc, overwrite_a=True, check_finite=False, driver="evd"
        )
        self.b = self.eigvecs.T @ cc

    def coef_eigen(self, penalty: float | ArrayLike) -> np.ndarray:
        """Weights in the eigenbasis ``(D, K)``; ``penalty`` is a scalar or one per neuron."""
        alpha = np.asarray(penalty, dtype=np.float64)
        return self.b / (self.eigvals[:, None] + alpha)

    def weights(self, penalty: float | ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(W (D, K), intercepts (K,))`` for a scalar penalty or one per neuron."""
        w = self.eigvecs @ self.coef_eigen(penalty)
        return w, self.mean_y - self.mean_x @ w

    def validate(
        self, val: SufficientStats, penalties: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact validation Pearson r and MSE ``(n_penalties, K)`` from validation statistics.

        Equal to the r / MSE of the explicit predictions ``X_val w + c`` against
        ``Y_val`` for every penalty, without forming them.  NaN where the validation
        response or the prediction is constant.  The covariances and mean offsets of
        all penalties are two small GEMMs; the prediction variances
        ``w~^T Z w~`` use a pivoted Cholesky factor ``Z = P L L^T P^T`` so that every
        penalty costs one triangular multiply (half a GEMM).
        """
        penalties = np.atleast_1d(np.asarray(penalties, dtype=np.float64))
        n_v = float(val.n)
        mean_xv = val.sum_x / n_v
        mean_yv = val.sum_y / n_v
        v, s, b = self.eigvecs, self.eigvals, self.b
        z = v.T @ (val.gram - np.outer(val.sum_x, mean_xv)) @ v
        e = v.T @ (val.cross - np.outer(val.sum_x, mean_yv))
        var_y = val.sum_yy - val.sum_y * mean_yv  # sum of squared deviations
        dm = v.T @ (mean_xv - self.mean_x)
        dy = mean_yv - self.mean_y
        inv = 1.0 / (s[None, :] + penalties[:, None])  # (n_penalties, D)
        cov = inv @ (b * e)
        offset = dy[None, :] - inv @ (dm[:, None] * b)
        var_p = _quadratic_forms(z, b, s, penalties)
        y_ok = var_y > 1e-12 * np.maximum(val.sum_yy, np.finfo(float).tiny)
        ok = y_ok[None, :] & (var_p > 0)
        r = np.full_like(cov, np.nan)
        r[ok] = (cov / np.sqrt(np.abs(var_p) * var_y[None, :]))[ok]
        mse = (var_y[None, :] - 2.0 * cov + var_p) / n_v + np.square(offset)
        return r, mse


def _quadratic_forms(
    z: np.ndarray,
    b: np.ndarray,
    s: np.ndarray,
    penalties: np.ndarray,
    chunk_bytes: int = 16 * 2**20,
) -> np.ndarray:
    """``q[i, k] = w~_ik^T Z w~_ik`` with ``w~_i = b / (s + penalties[i])``, Z symmetric PSD.

    ``Z[p][:, p] = L L^T`` (LAPACK pivoted Cholesky, rank-revealing, so a singular Z
    is fine); then ``q = |w~[p]^T L|^2`` row-wise, one triangular multiply for a
    stack of penalties at a time (at most ``chunk_bytes`` of weights).
    """
    n_pen, (n_feat, n_neurons) = penalties.size, b.shape
    out = np.empty((n_pen, n_neurons))
    c, piv, rank, info = scipy.linalg.lapack.dpstrf(z, lower=1)
    if info < 0:  # pragma: no cover - invalid argument; use plain GEMMs
        for i, alpha in enumerate(penalties):
            wt = b / (s + alpha)[:, None]
            out[i] = np.einsum("dk,dk->k", wt, z @ wt)
        return out
    c[:, rank:] = 0.0  # Z[p][:, p] = L L^T with L = tril(c)[:, :rank]
    p = piv - 1
    bp, sp = b[p], s[p]
    step = int(np.clip(chunk_bytes // (8 * n_feat * n_neurons), 1, n_pen))
    buf = np.empty((n_feat, step, n_neurons))  # reused by every chunk
    for i0 in range(0, n_pen, step):
        pens = penalties[i0 : i0 + step]
        # (D, n, K) C-order == (n*K, D) Fortran-order: what dtrmm multiplies in place.
        stack = buf[:, : pens.size]
        np.divide(bp[:, None, :], sp[:, None, None] + pens[None, :, None], out=stack)
        flat = stack.reshape(n_feat, -1)
        prod = scipy.linalg.blas.dtrmm(1.0, c, flat.T, side=1, lower=1, overwrite_b=1)
        # prod rows are w~^T L (written into buf when no copy was needed).
        out[i0 : i0 + pens.size] = np.einsum("mk,mk->k", prod.T, prod.T).reshape(
            pens.size, n_neurons
        )
    return out


def contiguous_folds(lengths: ArrayLike, n_folds: int) -> np.ndarray:
    """Fold label per segment: whole segments, in order, in ``n_folds`` contiguous
    blocks of about equal total length (segment assigned by the position of its
    centre)."""
    lengths = np.asarray(lengths, dtype=np.float64)
    if n_folds < 2:
        raise ValueError("need at least 2 folds")
    if lengths.size < n_folds:
        raise ValueError(
            f"{lengths.size} segments cannot make {n_folds} folds of whole segments"
        )
    centre = np.cumsum(lengths) - lengths / 2.0
    labels = np.floor(centre / lengths.sum() * n_folds).astype(np.int64)
    return np.clip(labels, 0, n_folds - 1)


def default_penalty_grid(
    centred_trace: float, n_features: int, relative: ArrayLike | None = None
) -> np.ndarray:
    """Penalties ``trace(Gc)/D * relative`` (default ``logspace(-4, 4, 17)``)."""
    rel = (
        DEFAULT_RELATIVE_PENALTIES
        if relative is None
        else np.asarray(relative, dtype=np.float64)
    )
    scale = centred_trace / n_features
    if not scale > 0:
        scale = 1.0
    return scale * rel


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class OutputNonlinearity:
    """Per-neuron sigmoid ``a + b / (1 + exp(-(x - c) / d))`` or identity.

    ``params`` is ``(K, 4)`` (a, b, c, d), NaN rows for identity neurons;
    ``reasons[k]`` is ``""`` for a fitted sigmoid, else why the identity was kept.
    """

    params: np.ndarray
    reasons: tuple[str, ...]

    @property
    def is_identity(self) -> np.ndarray:
        return np.isnan(self.params).any(axis=1)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """Apply to linear predictions ``(..., K)``."""
        x = np.asarray(x, dtype=np.float64)
        ident = self.is_identity
        p = np.where(ident[:, None], [0.0, 1.0, 0.0, 1.0], self.params)
        out = sigmoid(x, p[:, 0], p[:, 1], p[:, 2], p[:, 3])
        return np.where(ident, x, out)


@dataclass
class RidgeSTRF:
    """Fitted ridge STRFs of K neurons (see the module docstring).

    ``weights`` (K, F, L) act on the standardised spectrogram (``standardisation``);
    ``cv_r`` / ``cv_mse`` are ``(n_folds, n_penalties, K)`` (NaN where a fold does not
    apply to a neuron); ``reasons[k]`` is ``""``, ``"no_data"`` or ``"no_valid_folds"``.
    """

    weights: np.ndarray
    intercepts: np.ndarray
    penalties: np.ndarray
    penalty_index: np.ndarray
    penalty_grid: np.ndarray
    penalty_at_edge: np.ndarray
    cv_r: np.ndarray
    cv_mse: np.ndarray
    fold_ids: np.ndarray
    fold_of_segment: np.ndarray
    standardisation: Standardisation
    n_lags: int
    availability: np.ndarray
    group_of_neuron: np.ndarray
    reasons: tuple[str, ...]
    nonlinearity: OutputNonlinearity | None = field(default=None)

    @property
    def n_bands(self) -> int:
        return self.weights.shape[1]

    @property
    def mean_cv_r(self) -> np.ndarray:
        """Validation r averaged over the folds where it is defined, ``(n_penalties, K)``."""
        return _nanmean0(self.cv_r)

    @property
    def cv_r_best(self) -> np.ndarray:
        """Mean validation r at the chosen penalty ``(K,)``."""
        idx = np.clip(self.penalty_index, 0, None)
        best = np.take_along_axis(self.mean_cv_r, idx[None], axis=0)[0]
        return np.where(self.penalty_index >= 0, best, np.nan)

    def flat_weights(self) -> np.ndarray:
        """Lag-major weights ``(D, K)``."""
        return strf_to_weights(self.weights)

    def predict(
        self, segments: Sequence[ArrayLike], nonlinearity: bool = True
    ) -> list[np.ndarray]:
        """Predicted responses ``(T_s, K)`` for new ``(F, T_s)`` segments (output
        nonlinearity applied when fitted and ``nonlinearity`` is True)."""
        preds = predict_segments(
            segments,
            self.flat_weights(),
            self.intercepts,
            self.n_lags,
            self.standardisation,
        )
        if nonlinearity and self.nonlinearity is not None:
            preds = [self.nonlinearity(p) for p in preds]
        return preds


def predict_segments(
    segments: Sequence[ArrayLike],
    weights: np.ndarray,
    intercepts: ArrayLike,
    n_lags: int,
    standardisation: Standardisation | None = None,
) -> list[np.ndarray]:
    """``X_s W + c`` for every ``(F, T_s)`` segment, by per-lag GEMMs (no design)."""
    weights = np.asarray(weights, dtype=np.float64)
    intercepts = np.asarray(intercepts, dtype=np.float64)
    out = []
    for spec in segments:
        spec = np.asarray(spec, dtype=np.float64)
        std = standardisation or Standardisation.identity(spec.shape[0])
        s = std.time_major(spec)
        n_bins, n_bands = s.shape
        w = weights.reshape(n_lags, n_bands, -1)
        pred = np.empty((n_bins, w.shape[2]))
        pred[:] = intercepts
        for lag in range(min(n_lags, n_bins)):
            pred[lag:] += s[: n_bins - lag] @ w[lag]
        out.append(pred)
    return out


def _as_2d(y: ArrayLike) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"responses must be (T, K); got shape {y.shape}")
    return y


def _nanmean0(x: np.ndarray) -> np.ndarray:
    """Mean over axis 0 ignoring NaN; NaN (no warning) where nothing is finite."""
    ok = np.isfinite(x)
    count = ok.sum(axis=0)
    total = np.where(ok, x, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _prepare_responses(
    responses: Sequence[ArrayLike], lengths: Sequence[int], mask: ArrayLike | None
) -> tuple[list[np.ndarray], np.ndarray]:
    """Float64 responses with unavailable columns set to 0, and the availability mask."""
    ys = [_as_2d(y) for y in responses]
    n_neurons = ys[0].shape[1]
    for s, (y, n) in enumerate(zip(ys, lengths)):
        if y.shape != (n, n_neurons):
            raise ValueError(
                f"segment {s}: responses have shape {y.shape}, expected {(n, n_neurons)}"
            )
    avail = np.ones((len(ys), n_neurons), dtype=bool)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != avail.shape:
            raise ValueError(f"mask has shape {mask.shape}, expected {avail.shape}")
        avail &= mask
    out = []
    for s, y in enumerate(ys):
        avail[s] &= np.isfinite(y).all(axis=0)
        if not avail[s].all():
            y = np.where(avail[s], y, 0.0)
        out.append(y)
    return out, avail


def _centred_trace(segs: Sequence[np.ndarray], total: LagGramParts) -> float:
    """trace(X^T X) - |sum_x|^2 / n, without the Gram."""
    n_lags = total.n_lags
    tr = 0.0
    for s in segs:
        cs = np.cumsum(np.einsum("tf,tf->t", s, s))
        lags = np.arange(min(n_lags, s.shape[0]))
        tr += float(cs[s.shape[0] - 1 - lags].sum())
    return tr - float(total.sum_x @ total.sum_x) / max(total.n, 1)


def fit_ridge_strf(
    segments: Sequence[ArrayLike],
    responses: Sequence[ArrayLike],
    n_lags: int,
    *,
    mask: ArrayLike | None = None,
    folds: int | ArrayLike = 5,
    penalties: ArrayLike | None = None,
    standardisation: Standardisation | None = None,
) -> RidgeSTRF:
    """Fit ridge STRFs of all neurons with a per-neuron penalty chosen by blocked CV.

    Parameters
    ----------
    segments
        Training spectrograms, each ``(F, T_s)``; lags restart at every segment.
    responses
        Trial-averaged responses per segment, each ``(T_s, K)`` (a column with any
        NaN means the neuron did not hear that segment).
    n_lags
        Number of causal lags L (0 .. L-1 bins).
    mask
        Optional availability ``(n_segments, K)``; combined with the NaN rule.
    folds
        Number of contiguous folds of whole segments (:func:`contiguous_folds`), or a
        label per segment.
    penalties
        Absolute penalty grid; default :func:`default_penalty_grid` of the centred
        Gram of all training segments.
    standardisation
        Spectrogram standardisation; default: fitted on ``segments``.
    """
    specs = [np.asarray(s, dtype=np.float64) for s in segments]
    if not specs:
        raise ValueError("no segments")
    if n_lags < 1:
        raise ValueError("n_lags must be >= 1")
    n_bands = specs[0].shape[0]
    if any(s.ndim != 2 or s.shape[0] != n_bands for s in specs):
        raise ValueError("every segment must be (F, T_s) with the same F")
    lengths = [s.shape[1] for s in specs]
    std = standardisation or fit_standardisation(specs)
    ys, avail = _prepare_responses(responses, lengths, mask)
    n_seg, n_neurons = avail.shape
    n_feat = n_bands * n_lags

    if np.ndim(folds) == 0:
        fold_of = contiguous_folds(lengths, int(folds))
    else:
        fold_of = np.asarray(folds).reshape(-1)
        if fold_of.size != n_seg:
            raise ValueError("need one fold label per segment")
    fold_ids = np.unique(fold_of)

    # Per-segment stimulus statistics (cached, shared by all folds and groups) and
    # per-fold response statistics (zero-filled columns: exact per column).
    seg_tm = [std.time_major(s) for s in specs]
    parts = [_segment_parts(s, n_lags) for s in seg_tm]
    cross_f = np.zeros((fold_ids.size, n_lags, n_bands, n_neurons))
    sum_y_f = np.zeros((fold_ids.size, n_neurons))
    sum_yy_f = np.zeros((fold_ids.size, n_neurons))
    fold_pos = np.searchsorted(fold_ids, fold_of)
    for i, (s, y) in enumerate(zip(seg_tm, ys)):
        _accumulate_cross(cross_f[fold_pos[i]], s, y)
        sum_y_f[fold_pos[i]] += y.sum(axis=0)
        sum_yy_f[fold_pos[i]] += np.einsum("tk,tk->k", y, y)
    cross_f = cross_f.reshape(fold_ids.size, n_feat, n_neurons)
    cross_all, sum_y_all, sum_yy_all = cross_f.sum(0), sum_y_f.sum(0), sum_yy_f.sum(0)

    if penalties is None:
        grid = default_penalty_grid(
            _centred_trace(seg_tm, LagGramParts.total(parts)), n_feat
        )
    else:
        grid = np.sort(np.atleast_1d(np.asarray(penalties, dtype=np.float64)))

    def group_stats(
        seg_idx: np.ndarray, cols: np.ndarray, fold_sel: np.ndarray | None
    ) -> SufficientStats:
        tot = LagGramParts.total([parts[i] for i in seg_idx])
        if fold_sel is None:
            cross, sy, syy = cross_all[:, cols], sum_y_all[cols], sum_yy_all[cols]
        else:
            cross = cross_f[fold_sel][:, :, cols].sum(0)
            sy, syy = sum_y_f[fold_sel][:, cols].sum(0), sum_yy_f[fold_sel][
                :, cols
            ].sum(0)
        return SufficientStats(tot.gram(), cross, tot.sum_x, sy, syy, float(tot.n))

    def complement(total: SufficientStats, part: SufficientStats) -> SufficientStats:
        return SufficientStats(
            *(
                getattr(total, f) - getattr(part, f)
                for f in SufficientStats.__dataclass_fields__
            )
        )

    cv_r = np.full((fold_ids.size, grid.size, n_neurons), np.nan)
    cv_mse = np.full_like(cv_r, np.nan)
    weights = np.full((n_feat, n_neurons), np.nan)
    intercepts = np.full(n_neurons, np.nan)
    chosen = np.full(n_neurons, -1, dtype=np.int64)
    reasons = [REASON_NO_DATA] * n_neurons
    group_of = np.full(n_neurons, -1, dtype=np.int64)

    patterns, inverse = np.unique(avail.T, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    for g, pattern in enumerate(patterns):
        if not pattern.any():
            continue
        cols = np.flatnonzero(inverse == g)
        group_of[cols] = g
        seg_idx = np.flatnonzero(pattern)
        everything = group_stats(seg_idx, cols, None)
        for fi, fid in enumerate(fold_ids):
            tr = seg_idx[fold_of[seg_idx] != fid]
            va = seg_idx[fold_of[seg_idx] == fid]
            if va.size == 0 or tr.size == 0 or sum(lengths[i] for i in tr) < 2:
                continue
            # Validation statistics from the fold's own segments; training = all - fold.
            val = group_stats(va, cols, fold_ids == fid)
            r, mse = EigenRidge(complement(everything, val)).validate(val, grid)
            cv_r[fi][:, cols] = r
            cv_mse[fi][:, cols] = mse
        mean_r = _nanmean0(cv_r[:, :, cols])
        valid = np.isfinite(mean_r).any(axis=0)
        idx = np.where(
            valid,
            np.argmax(np.where(np.isfinite(mean_r), mean_r, -np.inf), axis=0),
            grid.size // 2,
        )
        chosen[cols] = idx
        for k, ok in zip(cols, valid):
            reasons[k] = REASON_OK if ok else REASON_NO_VALID_FOLDS
        w, c = EigenRidge(everything).weights(grid[idx])
        weights[:, cols] = w
        intercepts[cols] = c

    has = chosen >= 0
    chosen_pen = np.where(has, grid[np.clip(chosen, 0, None)], np.nan)
    at_edge = (
        has
        & (np.asarray(reasons) == REASON_OK)
        & ((chosen == 0) | (chosen == grid.size - 1))
    )
    return RidgeSTRF(
        weights=weights_to_strf(weights, n_bands, n_lags),
        intercepts=intercepts,
        penalties=chosen_pen,
        penalty_index=chosen,
        penalty_grid=grid,
        penalty_at_edge=at_edge,
        cv_r=cv_r,
        cv_mse=cv_mse,
        fold_ids=fold_ids,
        fold_of_segment=fold_of,
        standardisation=std,
        n_lags=n_lags,
        availability=avail,
        group_of_neuron=group_of,
        reasons=tuple(reasons),
    )


# --------------------------------------------------------------------------- LN


def sigmoid(
    x: ArrayLike, a: ArrayLike, b: ArrayLike, c: ArrayLike, d: ArrayLike
) -> np.ndarray:
    """``a + b / (1 + exp(-(x - c) / d))`` (numerically stable, broadcasting)."""
    return np.asarray(a) + np.asarray(b) * scipy.special.expit((np.asarray(x) - c) / d)


def _sigmoid_starts(z: np.ndarray, y: np.ndarray, n_bins: int = 20) -> list[np.ndarray]:
    """Initial (a, b, c, d) for standardised inputs ``z`` from quantile-bin means."""
    edges = np.quantile(z, np.linspace(0.0, 1.0, n_bins + 1))
    idx = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    used = count > 0
    y_bin = np.bincount(idx, weights=y, minlength=n_bins)[used] / count[used]
    z_bin = np.bincount(idx, weights=z, minlength=n_bins)[used] / count[used]
    slope = float(np.mean(z * (y - y.mean())))  # cov(z, y), var(z) = 1
    lo, hi = float(y_bin.min()), float(y_bin.max())
    span = max(hi - lo, 1e-12 * max(abs(hi), 1.0))
    a0, b0 = (lo, span) if slope >= 0 else (hi, -span)
    c0 = float(z_bin[np.argmin(np.abs(y_bin - (a0 + b0 / 2)))])
    d0 = float(np.clip(span / (4 * abs(slope)), 0.05, 20.0)) if slope else 1.0
    return [np.array([a0, b0, c0, d0]), np.array([a0 - 0.5 * b0, 2.0 * b0, 0.0, 2.0])]


def fit_sigmoid(
    x: ArrayLike, y: ArrayLike, max_nfev: int = 200
) -> tuple[np.ndarray, str]:
    """Least-squares fit of ``y ~ a + b / (1 + exp(-(x - c) / d))``, d > 0.

    Returns ``(params (4,), reason)``; params are NaN and ``reason`` is set
    (``"too_few_bins"``, ``"constant_prediction"``, ``"constant_response"``,
    ``"fit_failed"``, ``"no_improvement"``) when the identity ``y ~ x`` should be kept.
    """
    nan = np.full(4, np.nan)
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 8:
        return nan, "too_few_bins"
    mx, sx = float(x.mean()), float(x.std())
    if not sx > 1e-12 * max(abs(mx), 1e-300):
        return nan, "constant_prediction"
    if not np.ptp(y) > 0:
        return nan, "constant_response"
    z = (x - mx) / sx

    def resid(p: np.ndarray) -> np.ndarray:
        return p[0] + p[1] * scipy.special.expit((z - p[2]) / p[3]) - y

    def jac(p: np.ndarray) -> np.ndarray:
        u = (z - p[2]) / p[3]
        sg = scipy.special.expit(u)
        ds = p[1] * sg * (1.0 - sg)
        return np.column_stack([np.ones_like(z), sg, -ds / p[3], -ds * u / p[3]])

    lower = [-np.inf, -np.inf, -np.inf, 1e-3]
    upper = [np.inf, np.inf, np.inf, 1e3]
    best, best_cost = None, np.inf
    for p0 in _sigmoid_starts(z, y):
        try:
            res = scipy.optimize.least_squares(
                resid,
                p0,
                jac=jac,
                bounds=(lower, upper),
                method="trf",
                x_scale="jac",
                max_nfev=max_nfev,
            )
        except (ValueError, np.linalg.LinAlgError, FloatingPointError):
            continue
        if (
            np.all(np.isfinite(res.x))
            and np.isfinite(res.cost)
            and res.cost < best_cost
        ):
            best, best_cost = res.x, res.cost
    if best is None:
        return nan, "fit_failed"
    if 2.0 * best_cost >= float(np.sum(np.square(y - x))):
        return nan, "no_improvement"
    a, b, c, d = best
    return np.array([a, b, mx + sx * c, sx * d]), REASON_OK


def fit_output_nonlinearity(
    preds: Sequence[ArrayLike],
    responses: Sequence[ArrayLike],
    availability: ArrayLike | None = None,
) -> OutputNonlinearity:
    """Fit one sigmoid per neuron on (training) linear predictions.

    ``preds`` and ``responses`` are lists of ``(T_s, K)`` arrays; ``availability``
    ``(n_segments, K)`` selects the segments of every neuron (NaN entries are
    ignored as well).
    """
    ps = [_as_2d(p) for p in preds]
    ys = [_as_2d(y) for y in responses]
    n_neurons = ps[0].shape[1]
    avail = (
        np.ones((len(ps), n_neurons), dtype=bool)
        if availability is None
        else np.asarray(availability, bool)
    )
    p_all = np.concatenate(ps)
    y_all = np.concatenate(ys)
    rows = np.repeat(avail, [p.shape[0] for p in ps], axis=0)
    params = np.full((n_neurons, 4), np.nan)
    reasons = []
    for k in range(n_neurons):
        sel = rows[:, k]
        params[k], why = fit_sigmoid(p_all[sel, k], y_all[sel, k])
        reasons.append(why)
    return OutputNonlinearity(params, tuple(reasons))


def fit_ln_strf(
    model: RidgeSTRF,
    segments: Sequence[ArrayLike],
    responses: Sequence[ArrayLike],
    mask: ArrayLike | None = None,
) -> RidgeSTRF:
    """LN model: ``model`` plus a per-neuron output sigmoid fitted on the linear
    predictions of the *training* ``segments`` (the ones ``model`` was fitted on).

    ``mask`` defaults to ``model.availability`` when its shape matches; NaN response
    columns are excluded as in :func:`fit_ridge_strf`.
    """
    preds = model.predict(segments, nonlinearity=False)
    if mask is None and model.availability.shape == (
        len(preds),
        model.weights.shape[0],
    ):
        mask = model.availability
    ys, avail = _prepare_responses(responses, [p.shape[0] for p in preds], mask)
    return replace(model, nonlinearity=fit_output_nonlinearity(preds, ys, avail))
