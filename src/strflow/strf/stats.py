"""Sufficient statistics of the lagged ridge problem: the lagged design, STRF <-> weight
reshaping, band standardisation and the lag-Gram / cross-product accumulators
(derivation: :mod:`strflow.strf`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike


REASON_OK = ""


REASON_NO_DATA = "no_data"


REASON_NO_VALID_FOLDS = "no_valid_folds"


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
