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

from strflow.strf.stats import (  # noqa: F401  (the public STRF API)
    Standardisation,
    LagGramParts,
    SufficientStats,
    lagged_design,
    weights_to_strf,
    strf_to_weights,
    fit_standardisation,
    lag_gram_parts,
    lagged_gram,
    lagged_cross,
    sufficient_statistics,
)
from strflow.strf.solver import (  # noqa: F401  (the public STRF API)
    EigenRidge,
    contiguous_folds,
    default_penalty_grid,
)
from strflow.strf.estimator import (  # noqa: F401  (the public STRF API)
    RidgeSTRF,
    fit_ridge_strf,
    predict_segments,
)
from strflow.strf.ln import (  # noqa: F401  (the public STRF API)
    OutputNonlinearity,
    sigmoid,
    fit_sigmoid,
    fit_output_nonlinearity,
    fit_ln_strf,
)

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
