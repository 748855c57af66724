"""Shared pieces of the metrics: reason codes, result types and the response cleaning every metric
applies (conventions: :mod:`strflow.metrics`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike


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
