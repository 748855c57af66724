"""Prediction quality: Pearson correlation, CCabs and CCnorm (per response and across stimuli)
(conventions: :mod:`strflow.metrics`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from strflow.metrics.base import (
    _block_reason,
    CCResult,
    clean_response,
    _is_constant,
    Metric,
    _nan,
    _powers,
    REASON_CONSTANT_PREDICTION,
    REASON_CONSTANT_RESPONSE,
    REASON_NAN_VALUES,
    REASON_NO_VALID_BLOCKS,
    REASON_OK,
    REASON_SHAPE_MISMATCH,
    REASON_SINGLE_TRIAL,
    REASON_SP_NONPOSITIVE,
    REASON_TOO_FEW_BINS,
)


def pearson(x: ArrayLike, y: ArrayLike) -> Metric:
    """Pearson correlation of two 1-D series (NaN with a reason if undefined)."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        return _nan(REASON_SHAPE_MISMATCH)
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return _nan(REASON_NAN_VALUES)
    if x.size < 2:
        return _nan(REASON_TOO_FEW_BINS)
    if _is_constant(x):
        return _nan(REASON_CONSTANT_PREDICTION)
    if _is_constant(y):
        return _nan(REASON_CONSTANT_RESPONSE)
    xc = x - x.mean()
    yc = y - y.mean()
    return Metric(float(xc @ yc / math.sqrt((xc @ xc) * (yc @ yc))))


def _ccnorm_clean(pred: np.ndarray, r: np.ndarray, reason: str) -> CCResult:
    """CCnorm / CCabs / CCmax of a prediction against a clean block."""
    n_rep, n_bins = r.shape
    if reason == REASON_OK and not np.isfinite(pred).all():
        reason = REASON_NAN_VALUES
    reason = _block_reason(r, reason)
    if reason and reason != REASON_SINGLE_TRIAL:
        return CCResult(
            _nan(reason), _nan(reason), _nan(reason), math.nan, n_rep, n_bins
        )
    psth = r.mean(axis=0)
    ccabs = pearson(pred, psth)
    pred_const = bool(_is_constant(pred))
    if reason == REASON_SINGLE_TRIAL:
        return CCResult(_nan(reason), ccabs, _nan(reason), math.nan, n_rep, n_bins)
    sp, _, var_psth = _powers(r)
    ccmax = (
        _nan(REASON_SP_NONPOSITIVE) if not sp > 0 else Metric(math.sqrt(sp / var_psth))
    )
    if pred_const:
        return CCResult(
            _nan(REASON_CONSTANT_PREDICTION), ccabs, ccmax, sp, n_rep, n_bins
        )
    if not sp > 0:
        return CCResult(_nan(REASON_SP_NONPOSITIVE), ccabs, ccmax, sp, n_rep, n_bins)
    pc = pred - pred.mean()
    cov = float(pc @ (psth - psth.mean())) / n_bins
    var_pred = float(pc @ pc) / n_bins
    return CCResult(
        Metric(cov / math.sqrt(sp * var_pred)), ccabs, ccmax, sp, n_rep, n_bins
    )


def ccnorm(pred: ArrayLike, resp: ArrayLike) -> CCResult:
    """Normalised correlation coefficient (Schoppe et al. 2016) of one block.

    ``pred`` is the ``(T,)`` prediction, ``resp`` the ``(R, T)`` responses.  CCnorm =
    Cov(psth, pred) / sqrt(SP Var(pred)); also returns CCabs (Pearson of pred vs the
    PSTH) and CCmax = sqrt(SP / Var(psth)), so CCnorm = CCabs / CCmax.  NaN reasons:
    ``"single_trial"`` (R = 1; CCabs is still given), ``"constant_prediction"``,
    ``"sp_nonpositive"``, ``"too_few_bins"``, ``"nan_values"``.
    """
    pred = np.asarray(pred, dtype=np.float64).ravel()
    r, kept, reason = clean_response(resp)
    if pred.shape[0] != kept.shape[0]:
        raise ValueError(
            f"prediction has {pred.shape[0]} bins, responses {kept.shape[0]}"
        )
    return _ccnorm_clean(pred[kept], r, reason)


def ccnorm_across_stimuli(
    preds: Sequence[ArrayLike], blocks: Sequence[ArrayLike]
) -> CCResult:
    """CCnorm over several stimuli, concatenated in time.

    ``preds[s]`` is the ``(T_s,)`` prediction and ``blocks[s]`` the ``(R_s, T_s)``
    responses of stimulus ``s``.  After NaN cleaning every block is truncated to the
    same number of repeats, the minimum R_s (first repeats kept; NEMS0's
    convention), and blocks and predictions are concatenated along time before
    :func:`ccnorm`'s formulas are applied.  Blocks without any valid repeat are
    skipped.
    """
    if len(preds) != len(blocks):
        raise ValueError("need one prediction per response block")
    cleaned = []
    for p, b in zip(preds, blocks):
        p = np.asarray(p, dtype=np.float64).ravel()
        r, kept, reason = clean_response(b)
        if p.shape[0] != kept.shape[0]:
            raise ValueError(
                f"prediction has {p.shape[0]} bins, responses {kept.shape[0]}"
            )
        if r.shape[0] == 0 or r.shape[1] == 0:
            continue
        cleaned.append((p[kept], r, reason))
    if not cleaned:
        why = REASON_NO_VALID_BLOCKS
        return CCResult(_nan(why), _nan(why), _nan(why), math.nan, 0, 0)
    n_rep = min(r.shape[0] for _, r, _ in cleaned)
    reason = next((why for _, _, why in cleaned if why), REASON_OK)
    pred = np.concatenate([p for p, _, _ in cleaned])
    resp = np.concatenate([r[:n_rep] for _, r, _ in cleaned], axis=1)
    return _ccnorm_clean(pred, resp, reason)
