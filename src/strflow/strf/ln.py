"""The LN model's output nonlinearity: a four-parameter sigmoid fitted to the linear
prediction (derivation: :mod:`strflow.strf`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import scipy.linalg
import scipy.linalg.lapack
import scipy.optimize
import scipy.special
from numpy.typing import ArrayLike

from strflow.strf.estimator import RidgeSTRF
from strflow.strf.stats import REASON_OK, _as_2d, _prepare_responses


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
