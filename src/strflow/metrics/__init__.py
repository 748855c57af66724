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

from strflow.metrics.base import (  # noqa: F401  (the public metrics API, as before the split)
    REASON_OK,
    REASON_SP_NONPOSITIVE,
    REASON_CONSTANT_PREDICTION,
    REASON_CONSTANT_RESPONSE,
    REASON_SINGLE_TRIAL,
    REASON_TOO_FEW_BINS,
    REASON_NAN_VALUES,
    REASON_SPLIT_HALF_NONPOSITIVE,
    REASON_NO_VALID_BLOCKS,
    REASON_SHAPE_MISMATCH,
    REASON_NO_DATA,
    Metric,
    Power,
    StimulusPower,
    CCResult,
    ResponseQuality,
    clean_response,
)
from strflow.metrics.noise_ceiling import (  # noqa: F401
    sahani_linden_power,
    signal_power,
    noise_power,
    total_power,
    noise_ratio,
    power_across_stimuli,
    ccmax_sp,
    half_splits,
    split_half_correlation,
    ccmax_split,
    response_quality,
    signal_power_significance,
    MAX_SPLITS,
    SP_SHUFFLES,
)
from strflow.metrics.prediction import ccnorm, ccnorm_across_stimuli, pearson  # noqa: F401

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
