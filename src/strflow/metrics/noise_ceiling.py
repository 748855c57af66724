"""Response reliability: Sahani-Linden signal and noise power, the noise ratio, CCmax (from SP
and from split halves), per-neuron response quality and the signal-power significance
(conventions: :mod:`strflow.metrics`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from strflow.metrics.base import (
    _block_reason,
    clean_response,
    _combine_reasons,
    _is_constant,
    Metric,
    _nan,
    Power,
    _powers,
    REASON_CONSTANT_RESPONSE,
    REASON_NO_VALID_BLOCKS,
    REASON_OK,
    REASON_SINGLE_TRIAL,
    REASON_SP_NONPOSITIVE,
    REASON_SPLIT_HALF_NONPOSITIVE,
    ResponseQuality,
    StimulusPower,
    _weighted_mean,
)


#: Default cap on the number of complementary half-splits (C(10, 5) / 2, as deepSTRF).
MAX_SPLITS = 126


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
