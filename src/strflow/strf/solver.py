"""The cross-validated eigen solver: one eigendecomposition per fold, every penalty of the
grid from it, contiguous folds and the default penalty grid (derivation: :mod:`strflow.strf`)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.linalg.blas
import scipy.linalg.lapack
from numpy.typing import ArrayLike

from strflow.strf.stats import SufficientStats


#: Default penalty grid, relative to trace(Gc) / D.
DEFAULT_RELATIVE_PENALTIES = np.logspace(-4.0, 4.0, 17)


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
