"""The fit API: :func:`fit_ridge_strf` (cross-validated ridge STRF of many neurons at once),
the fitted :class:`RidgeSTRF` and :func:`predict_segments` (derivation: :mod:`strflow.strf`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

from strflow.strf.solver import EigenRidge, contiguous_folds, default_penalty_grid
from strflow.strf.stats import (
    _accumulate_cross,
    fit_standardisation,
    LagGramParts,
    _nanmean0,
    _prepare_responses,
    REASON_NO_DATA,
    REASON_NO_VALID_FOLDS,
    REASON_OK,
    _segment_parts,
    Standardisation,
    strf_to_weights,
    SufficientStats,
    weights_to_strf,
)


if TYPE_CHECKING:  # an annotation only (ln imports this module)
    from strflow.strf.ln import OutputNonlinearity




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
