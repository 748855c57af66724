"""Response-quality and prediction metrics (Sahani-Linden power, CCmax, CCnorm).

One module, used everywhere in strflow, so that every number in every table is
computed with the same conventions.

Conventions
-----------
* A response for one (stimulus, neuron) is an array ``resp`` of shape ``(R, T)``:
  ``R`` repeats (trials) x ``T`` time bins, float (counts, rates or smoothed
  counts).  A 1-D array is read as a single repeat.  The PSTH is ``y = resp.mean(0)``.
* **One normalisation everywhere: "power" = mean squared deviation from the
  temporal mean, i.e. 1/T (``ddof=0``)**, as in Sahani & Linden (2003).  Every
  variance and covariance below (over time, and per repeat) uses 1/T.  (Schoppe's
  MATLAB code mixes 1/(T-1) for SP with 1/T elsewhere, which makes its CCnorm low by
  sqrt((T-1)/T); deepSTRF uses 1/(T-1) everywhere.  With one consistent ddof the
  ratios CCmax and CCnorm do not depend on the choice except through that mixing.)
* NaN padding: repeats (rows) that are NaN at every bin are dropped (NaN-padded
  repeats), then time bins (columns) that are NaN in every remaining repeat are
  dropped (NaN-padded time).  Any NaN left after that (a partially recorded repeat)
  makes the metric NaN with reason ``"nan_values"``; predictions must be finite on
  the kept bins.

Definitions (R repeats r_n, PSTH y, prediction p)
-------------------------------------------------
* total power       TP = (1/R) sum_n Var(r_n)
* signal power      SP = (R Var(y) - TP) / (R - 1)
                       = [Var(sum_n r_n) - sum_n Var(r_n)] / (R (R-1))   (Sahani & Linden)
* noise power       NP = TP - SP,     noise ratio NR = NP / SP
* CCmax (SP)        sqrt(SP / Var(y))
* CCmax (split)     sqrt(2 / (1 + 1/CC_half)), CC_half = mean over complementary
                    half-splits of corr(mean of half A, mean of half B) (Hsu et al. 2004)
* CCabs             Cov(y, p) / sqrt(Var(y) Var(p))        (Pearson)
* CCnorm            Cov(y, p) / sqrt(SP Var(p)) = CCabs / CCmax      (Schoppe et al. 2016)

SP is an unbiased estimate of the variance of the underlying rate and can be
negative for noisy, weakly driven units: :func:`signal_power` returns the raw
estimate (so that length-weighted averages across stimuli stay unbiased); every
quantity that divides by SP or takes its square root (NR, CCmax, CCnorm) is NaN with
reason ``"sp_nonpositive"`` when SP <= 0.  Values above 1 are never clipped.

Every metric is returned as a :class:`Metric` ``(value, reason)``; ``reason`` is
``""`` when the value is valid and one of these strings when it is NaN:
``"sp_nonpositive"`` (SP <= 0), ``"constant_prediction"``, ``"constant_response"``,
``"single_trial"`` (R < 2), ``"too_few_bins"`` (T < 2), ``"nan_values"``,
``"split_half_nonpositive"`` (CC_half <= 0), ``"no_data"`` (empty block),
``"no_valid_blocks"`` (no stimulus usable, for different reasons).

Several stimuli for one neuron
------------------------------
* :func:`power_across_stimuli` / :func:`response_quality`: per-stimulus values and
  their **length-weighted** average (weights T_s, the number of valid bins); blocks
  with R < 2 or T < 2 (or leftover NaN) are excluded, with their reason recorded.
* :func:`ccnorm_across_stimuli`: the stimuli are **concatenated in time** before the
  formulas are applied, with every stimulus truncated to the same number of repeats
  (the minimum over stimuli, first repeats kept) as NEMS0 does, so that the PSTH of
  every bin is an average over the same number of trials.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "REASON_OK",
    "REASON_SP_NONPOSITIVE",
    "REASON_CONSTANT_PREDICTION",
    "REASON_CONSTANT_RESPONSE",
    "REASON_SINGLE_TRIAL",
    "REASON_TOO_FEW_BINS",
    "REASON_NAN_VALUES",
    "REASON_SPLIT_HALF_NONPOSITIVE",
    "REASON_NO_VALID_BLOCKS",
    "REASON_SHAPE_MISMATCH",
    "REASON_NO_DATA",
    "Metric",
    "Power",
    "StimulusPower",
    "CCResult",
    "ResponseQuality",
    "clean_response",
    "pearson",
    "sahani_linden_power",
    "signal_power",
    "noise_power",
    "total_power",
    "noise_ratio",
    "power_across_stimuli",
    "ccmax_sp",
    "half_splits",
    "split_half_correlation",
    "ccmax_split",
    "ccnorm",
    "ccnorm_across_stimuli",
    "response_quality",
    "signal_power_significance",
]

REASON_OK = ""
REASON_SP_NONPOSITIVE = "sp_nonpositive"
REASON_CONSTANT_PREDICTION = "constant_prediction"
REASON_CONSTANT_RESPONSE = "constant_response"
REASON_SINGLE_TRIAL = "single_trial"
REASON_TOO_FEW_BINS = "too_few_bins"
REASON_NAN_VALUES = "nan_values"
REASON_SPLIT_HALF_NONPOSITIVE = "split_half_nonpositive"
REASON_NO_VALID_BLOCKS = "no_valid_blocks"
REASON_SHAPE_MISMATCH = "shape_mismatch"
REASON_NO_DATA = "no_data"

#: Default cap on the number of complementary half-splits (C(10, 5) / 2, as deepSTRF).
MAX_SPLITS = 126

# Relative tolerance below which a series counts as constant (peak-to-peak range
# relative to its largest magnitude): float noise, not signal.
_CONST_RTOL = 1e-12


@dataclass(frozen=True)
class Metric:
    """A scalar metric and why it is NaN (``reason == ""`` when it is valid)."""

    value: float
    reason: str = REASON_OK

    @property
    def ok(self) -> bool:
        return self.reason == REASON_OK and bool(np.isfinite(self.value))

    def __float__(self) -> float:
        return float(self.value)


def _nan(reason: str) -> Metric:
    return Metric(math.nan, reason)


@dataclass(frozen=True)
class Power:
    """Sahani-Linden powers of one ``(R, T)`` block (1/T normalisation).

    ``signal`` and ``noise`` are NaN (with ``reason``) when R < 2 or T < 2; ``signal``
    may be negative.  ``psth`` is Var(PSTH), ``total`` is TP.
    """

    signal: float
    noise: float
    total: float
    psth: float
    n_repeats: int
    n_bins: int
    reason: str = REASON_OK


@dataclass(frozen=True)
class StimulusPower:
    """Powers of one neuron over several stimuli.

    ``signal``, ``noise``, ``total`` are length-weighted (weights = ``n_bins`` of the
    used blocks); the per-stimulus arrays have one entry per input block (NaN for
    excluded blocks, whose reason is in ``reasons``; ``""`` for used blocks).
    """

    signal: float
    noise: float
    total: float
    per_stimulus_signal: np.ndarray
    per_stimulus_noise: np.ndarray
    per_stimulus_total: np.ndarray
    per_stimulus_psth: np.ndarray
    n_repeats: np.ndarray
    n_bins: np.ndarray
    weights: np.ndarray
    reasons: tuple[str, ...]
    reason: str = REASON_OK

    @property
    def excluded(self) -> dict[int, str]:
        """Index -> reason of every excluded block."""
        return {i: r for i, r in enumerate(self.reasons) if r}


@dataclass(frozen=True)
class CCResult:
    """CCnorm, CCabs and CCmax of one prediction (each with its own reason)."""

    ccnorm: Metric
    ccabs: Metric
    ccmax: Metric
    signal_power: float
    n_repeats: int
    n_bins: int


@dataclass(frozen=True)
class ResponseQuality:
    """Noise-ceiling summary of one neuron over its stimuli.

    Scalars are length-weighted across stimuli (``noise_ratio`` = weighted NP /
    weighted SP; ``ccmax_sp`` / ``ccmax_split`` = weighted mean of the finite
    per-stimulus values).  ``per_stimulus`` holds arrays with one entry per block:
    ``signal_power``, ``noise_power``, ``total_power``, ``ccmax_sp``, ``ccmax_split``,
    ``n_bins``, ``n_repeats``; ``per_stimulus_reasons`` the matching reasons.
    """

    signal_power: Metric
    noise_power: Metric
    total_power: Metric
    noise_ratio: Metric
    ccmax_sp: Metric
    ccmax_split: Metric
    per_stimulus: dict[str, np.ndarray] = field(default_factory=dict)
    per_stimulus_reasons: dict[str, tuple[str, ...]] = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers


def _is_constant(x: np.ndarray, axis: int | None = None) -> np.ndarray | bool:
    """True where ``x`` is constant up to float noise (along ``axis``)."""
    rng = np.ptp(x, axis=axis)
    scale = np.max(np.abs(x), axis=axis)
    return rng <= _CONST_RTOL * scale


def clean_response(resp: ArrayLike) -> tuple[np.ndarray, np.ndarray, str]:
    """Drop NaN-padded repeats and bins of one response block.

    Returns ``(block, kept_bins, reason)``: ``block`` is the float64 ``(R', T')``
    array without all-NaN rows and all-NaN columns, ``kept_bins`` the boolean mask of
    kept columns (length T, to apply the same cut to a prediction), and ``reason`` is
    ``"nan_values"`` if NaN remain (else ``""``).
    """
    r = np.asarray(resp, dtype=np.float64)
    if r.ndim == 1:
        r = r[None, :]
    if r.ndim != 2:
        raise ValueError(
            f"a response block must be (repeats, time); got shape {r.shape}"
        )
    nan = np.isnan(r)
    rows = ~nan.all(axis=1)
    r = r[rows]
    kept = ~nan[rows].all(axis=0) if r.shape[0] else np.zeros(r.shape[1], dtype=bool)
    r = r[:, kept]
    reason = REASON_NAN_VALUES if not np.isfinite(r).all() else REASON_OK
    return r, kept, reason


def _powers(r: np.ndarray) -> tuple[float, float, float]:
    """(SP, TP, Var(psth)) of a clean (R>=2, T>=2) block, 1/T normalisation."""
    n_rep = r.shape[0]
    var_psth = float(r.mean(axis=0).var())
    tp = float(r.var(axis=1).mean())
    sp = (n_rep * var_psth - tp) / (n_rep - 1)
    return sp, tp, var_psth


def _block_reason(r: np.ndarray, reason: str) -> str:
    if reason:
        return reason
    if r.size == 0:
        return REASON_NO_DATA
    if r.shape[1] < 2:
        return REASON_TOO_FEW_BINS
    if r.shape[0] < 2:
        return REASON_SINGLE_TRIAL
    return REASON_OK


def _weighted_mean(values: np.ndarray, weights: np.ndarray) -> float:
    return float(np.sum(values * weights) / np.sum(weights))


def _combine_reasons(reasons: Sequence[str]) -> str:
    """Reason for an aggregate with no valid block: the common one, if shared."""
    distinct = {r for r in reasons if r}
    return distinct.pop() if len(distinct) == 1 else REASON_NO_VALID_BLOCKS


# --------------------------------------------------------------------------- basic


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


def sahani_linden_power(resp: ArrayLike) -> Power:
    """Signal, noise and total power of one ``(R, T)`` block (Sahani & Linden 2003).

    SP = (R Var(psth) - TP) / (R - 1), TP = mean_n Var(r_n), NP = TP - SP, all with
    the 1/T normalisation.  With one repeat SP and NP are NaN with reason
    ``"single_trial"`` (TP and Var(psth) are still reported); with fewer than 2
    bins everything is NaN (``"too_few_bins"``); an empty block gives ``"no_data"``.
    """
    r, _, reason = clean_response(resp)
    n_rep, n_bins = r.shape
    reason = _block_reason(r, reason)
    if reason == REASON_SINGLE_TRIAL:
        tp = float(r.var(axis=1).mean())
        return Power(math.nan, math.nan, tp, tp, n_rep, n_bins, reason)
    if reason:
        return Power(math.nan, math.nan, math.nan, math.nan, n_rep, n_bins, reason)
    sp, tp, var_psth = _powers(r)
    return Power(sp, tp - sp, tp, var_psth, n_rep, n_bins)


def signal_power(resp: ArrayLike) -> Metric:
    """Sahani-Linden signal power of one ``(R, T)`` block (may be negative)."""
    p = sahani_linden_power(resp)
    return Metric(p.signal, p.reason)


def noise_power(resp: ArrayLike) -> Metric:
    """Sahani-Linden noise power NP = TP - SP of one ``(R, T)`` block."""
    p = sahani_linden_power(resp)
    return Metric(p.noise, p.reason)


def total_power(resp: ArrayLike) -> Metric:
    """Total power TP = mean over repeats of the per-repeat power (defined for R = 1)."""
    p = sahani_linden_power(resp)
    ok = np.isfinite(p.total)
    return Metric(p.total, REASON_OK if ok else p.reason)


def _ratio_metric(num: float, sp: float, reason: str) -> Metric:
    if reason:
        return _nan(reason)
    if not sp > 0:
        return _nan(REASON_SP_NONPOSITIVE)
    return Metric(num / sp)


def noise_ratio(resp: ArrayLike) -> Metric:
    """NR = NP / SP of one block; NaN (``"sp_nonpositive"``) when SP <= 0."""
    p = sahani_linden_power(resp)
    return _ratio_metric(p.noise, p.signal, p.reason)


def power_across_stimuli(blocks: Sequence[ArrayLike]) -> StimulusPower:
    """Per-stimulus Sahani-Linden powers and their length-weighted average.

    ``blocks`` holds one ``(R_s, T_s)`` response per stimulus (same neuron; R_s may
    differ).  Blocks with R < 2, T < 2 or leftover NaN are excluded (reason kept in
    ``reasons``); the averages use weights T_s (valid bins) over the other blocks.
    """
    powers = [sahani_linden_power(b) for b in blocks]
    reasons = tuple(p.reason for p in powers)
    sp = np.array([p.signal for p in powers], dtype=np.float64)
    npow = np.array([p.noise for p in powers], dtype=np.float64)
    tp = np.array(
        [p.total if not p.reason else math.nan for p in powers], dtype=np.float64
    )
    vp = np.array(
        [p.psth if not p.reason else math.nan for p in powers], dtype=np.float64
    )
    n_rep = np.array([p.n_repeats for p in powers], dtype=np.int64)
    n_bins = np.array([p.n_bins for p in powers], dtype=np.int64)
    used = np.array([not r for r in reasons], dtype=bool)
    weights = np.where(used, n_bins, 0).astype(np.float64)
    if used.any():
        pooled = [_weighted_mean(x[used], weights[used]) for x in (sp, npow, tp)]
        agg_reason = REASON_OK
    else:
        pooled = [math.nan] * 3
        agg_reason = _combine_reasons(reasons) if reasons else REASON_NO_VALID_BLOCKS
    return StimulusPower(*pooled, sp, npow, tp, vp, n_rep, n_bins, weights, reasons, agg_reason)


# --------------------------------------------------------------------------- CCmax


def ccmax_sp(resp: ArrayLike) -> Metric:
    """Noise ceiling CCmax = sqrt(SP / Var(psth)) of one ``(R, T)`` block."""
    p = sahani_linden_power(resp)
    if p.reason:
        return _nan(p.reason)
    if not p.signal > 0:
        return _nan(REASON_SP_NONPOSITIVE)
    return Metric(math.sqrt(p.signal / p.psth))


def half_splits(
    n_repeats: int, max_splits: int = MAX_SPLITS, seed: int = 0
) -> np.ndarray:
    """Deterministic set of complementary half-splits of ``n_repeats`` repeats.

    Returns a boolean array ``(n_splits, R')`` with ``R' = n_repeats`` rounded down
    to even (the last repeat is dropped when R is odd); row ``i`` marks half A of
    split ``i`` and its complement is half B.  Every unordered split is listed once
    (half A contains repeat 0) when there are at most ``max_splits`` of them
    (C(R', R'/2) / 2); otherwise ``max_splits`` distinct splits are drawn with a
    fixed-seed generator, so the set is reproducible.
    """
    r_even = n_repeats - n_repeats % 2
    if r_even < 2:
        return np.zeros((0, max(r_even, 0)), dtype=bool)
    half = r_even // 2
    n_total = math.comb(r_even, half) // 2
    if n_total <= max_splits:
        rest = np.array(
            list(itertools.combinations(range(1, r_even), half - 1)), dtype=np.int64
        )
        rest = rest.reshape(n_total, half - 1)
        masks = np.zeros((n_total, r_even), dtype=bool)
        masks[:, 0] = True
        np.put_along_axis(masks, rest, True, axis=1)
        return masks
    rng = np.random.default_rng(seed)
    chosen: dict[bytes, np.ndarray] = {}
    while len(chosen) < max_splits:
        m = np.zeros(r_even, dtype=bool)
        m[rng.permutation(r_even)[:half]] = True
        if not m[0]:  # canonical orientation: half A holds repeat 0
            m = ~m
        chosen.setdefault(m.tobytes(), m)
    return np.array(list(chosen.values()))


def split_half_correlation(
    resp: ArrayLike, max_splits: int = MAX_SPLITS, seed: int = 0
) -> Metric:
    """CC_half: mean over complementary half-splits of corr(mean(A), mean(B)).

    NaN with ``"single_trial"`` for fewer than 2 repeats and ``"constant_response"``
    if a half-mean is constant.  May be negative (no clipping).
    """
    r, _, reason = clean_response(resp)
    reason = _block_reason(r, reason)
    if reason:
        return _nan(reason)
    masks = half_splits(r.shape[0], max_splits, seed)
    r = r[: masks.shape[1]]
    half = masks.shape[1] // 2
    # Half means of every split with two GEMMs: (n_splits, R') @ (R', T).
    mean_a = (masks / half) @ r
    mean_b = (~masks / half) @ r
    if np.any(_is_constant(mean_a, axis=1)) or np.any(_is_constant(mean_b, axis=1)):
        return _nan(REASON_CONSTANT_RESPONSE)
    mean_a -= mean_a.mean(axis=1, keepdims=True)
    mean_b -= mean_b.mean(axis=1, keepdims=True)
    num = np.einsum("st,st->s", mean_a, mean_b)
    den = np.sqrt(
        np.einsum("st,st->s", mean_a, mean_a) * np.einsum("st,st->s", mean_b, mean_b)
    )
    return Metric(float(np.mean(num / den)))


def ccmax_split(resp: ArrayLike, max_splits: int = MAX_SPLITS, seed: int = 0) -> Metric:
    """Split-half noise ceiling CCmax = sqrt(2 / (1 + 1/CC_half)) (Hsu et al. 2004).

    NaN with ``"split_half_nonpositive"`` when CC_half <= 0 (deepSTRF would use
    |CC_half| there; we do not).  See :func:`half_splits` for the split set.
    """
    cc = split_half_correlation(resp, max_splits, seed)
    if cc.reason:
        return cc
    return _ccmax_from_half(cc.value)


def _ccmax_from_half(cc_half: float) -> Metric:
    if not cc_half > 0:
        return _nan(REASON_SPLIT_HALF_NONPOSITIVE)
    return Metric(math.sqrt(2.0 / (1.0 + 1.0 / cc_half)))


# --------------------------------------------------------------------------- CCnorm


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


# --------------------------------------------------------------------------- summary


def response_quality(
    blocks: Sequence[ArrayLike], max_splits: int = MAX_SPLITS, seed: int = 0
) -> ResponseQuality:
    """Noise-ceiling summary of one neuron from its ``(R_s, T_s)`` response blocks.

    Per stimulus: SP, NP, TP, Var(PSTH), CC_half and the two CCmax.  Per neuron, the
    underlying statistics are pooled first (length-weighted, weights T_s over the
    blocks where they are defined, negative values included) and transformed once:
    NR = NP / SP, CCmax (SP) = sqrt(SP / Var(PSTH)), CCmax (split) from the pooled
    CC_half.  (Averaging the per-stimulus CCmax over the stimuli where they happen to
    be defined would bias a neuron without a reliable response upwards: its SP > 0
    stimuli alone give CCmax ~ 0.3.)  See :class:`ResponseQuality`.
    """
    power = power_across_stimuli(blocks)
    cm_sp = [ccmax_sp(b) for b in blocks]
    halves = [split_half_correlation(b, max_splits, seed) for b in blocks]
    cm_split = [h if h.reason else _ccmax_from_half(h.value) for h in halves]
    n_bins = power.n_bins.astype(np.float64)
    sp_vals = np.array([m.value for m in cm_sp], dtype=np.float64)
    split_vals = np.array([m.value for m in cm_split], dtype=np.float64)
    sp_reasons = tuple(m.reason for m in cm_sp)
    split_reasons = tuple(m.reason for m in cm_split)
    if power.reason:
        sp_m = np_m = ccmax_sp_m = _nan(power.reason)
        nr = _nan(power.reason)
    else:
        sp_m, np_m = Metric(power.signal), Metric(power.noise)
        nr = _ratio_metric(power.noise, power.signal, REASON_OK)
        used = power.weights > 0
        var_psth = _weighted_mean(power.per_stimulus_psth[used], power.weights[used])
        ccmax_sp_m = (Metric(math.sqrt(power.signal / var_psth)) if power.signal > 0 and var_psth > 0
                      else _nan(REASON_SP_NONPOSITIVE))
    cc_vals = np.array([h.value for h in halves], dtype=np.float64)
    ok = np.isfinite(cc_vals)
    ccmax_split_m = (_ccmax_from_half(_weighted_mean(cc_vals[ok], n_bins[ok])) if ok.any()
                     else _nan(_combine_reasons(split_reasons) if split_reasons else REASON_NO_VALID_BLOCKS))
    tp_m = (
        Metric(power.total, REASON_OK)
        if np.isfinite(power.total)
        else _nan(power.reason)
    )
    return ResponseQuality(
        signal_power=sp_m,
        noise_power=np_m,
        total_power=tp_m,
        noise_ratio=nr,
        ccmax_sp=ccmax_sp_m,
        ccmax_split=ccmax_split_m,
        per_stimulus={
            "signal_power": power.per_stimulus_signal,
            "noise_power": power.per_stimulus_noise,
            "total_power": power.per_stimulus_total,
            "ccmax_sp": sp_vals,
            "ccmax_split": split_vals,
            "n_bins": power.n_bins,
            "n_repeats": power.n_repeats,
        },
        per_stimulus_reasons={
            "power": power.reasons,
            "ccmax_sp": sp_reasons,
            "ccmax_split": split_reasons,
        },
    )


# --------------------------------------------------------------------------- significance

#: Circular-shift shuffles behind :func:`signal_power_significance`.
SP_SHUFFLES = 199


def signal_power_significance(blocks: Sequence[ArrayLike], n_shuffles: int = SP_SHUFFLES,
                              seed: int = 0) -> tuple[float, float]:
    """``(z, p)``: how far a neuron's signal power stands above chance.

    The blocks are cleaned and truncated to a common number of repeats exactly as in
    :func:`ccnorm_across_stimuli`, so the SP tested is the one behind that CCmax and
    CCnorm.  Null: no stimulus locking.  Every repeat of every block is circularly
    shifted in time by its own random offset (within its block; the offsets of block
    ``b`` are ``rng.integers(0, T_b, (n_shuffles, R))``, blocks in order, ``rng =
    default_rng(seed)``), which keeps each trial's spike count and autocorrelation
    (smoothing included) but destroys the alignment across repeats.  TP and the mean
    do not change under the shifts, so only Var(PSTH) does; its sum of squares for a
    set of offsets is ``sum_{r,r'} C_rr'(s_r' - s_r) / R^2`` with ``C`` the circular
    cross-correlations of the repeats (one FFT per block, no shifted copies).
    ``z = (SP - mean(SP_null)) / std(SP_null)`` (the null spread is the estimation
    noise of SP without signal, so z also says how precisely SP, and so CCmax, is
    known) and the one-sided permutation p-value ``p = (1 + #{SP_null >= SP}) /
    (n_shuffles + 1)``.  Both NaN when SP is undefined (fewer than 2 repeats or 2
    bins, leftover NaN, no block).
    """
    cleaned = []
    for b in blocks:
        r, _, reason = clean_response(b)
        if r.shape[0] == 0 or r.shape[1] == 0:
            continue
        if reason:
            return math.nan, math.nan
        cleaned.append(r)
    if not cleaned:
        return math.nan, math.nan
    n_rep = min(r.shape[0] for r in cleaned)
    cleaned = [r[:n_rep] for r in cleaned]
    n_bins = sum(r.shape[1] for r in cleaned)
    if n_rep < 2 or n_bins < 2:
        return math.nan, math.nan
    resp = np.concatenate(cleaned, axis=1)
    sp, tp, _ = _powers(resp)
    mean = float(resp.mean())
    rng = np.random.default_rng(seed)
    sum_sq = np.zeros(n_shuffles)
    a, b = np.triu_indices(n_rep, k=1)
    for r in cleaned:
        t = r.shape[1]
        spec = np.fft.rfft(r, axis=1)
        # pairs a < b of repeats: C_ab(d) = sum_u r_a(u) r_b(u + d) (circular)
        cc = np.fft.irfft(np.conj(spec[a]) * spec[b], n=t, axis=1)
        shifts = rng.integers(0, t, size=(n_shuffles, n_rep))
        lags = (shifts[:, b] - shifts[:, a]) % t  # (n_shuffles, pairs)
        cross = cc[np.arange(a.size)[None, :], lags].sum(axis=1)
        sum_sq += (float((r * r).sum()) + 2.0 * cross) / n_rep**2
    var_psth = sum_sq / n_bins - mean**2
    null = (n_rep * var_psth - tp) / (n_rep - 1)
    spread = float(null.std())
    z = (sp - float(null.mean())) / spread if spread > 0 else math.nan
    return z, float((1 + np.count_nonzero(null >= sp)) / (n_shuffles + 1))
