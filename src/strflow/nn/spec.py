"""The zoo's architectures and their default hyperparameters (no torch import: the
Snakefile reads these when it parses the config)."""

from __future__ import annotations

ARCHITECTURES = ("linear", "ln", "nrf", "dnet", "cnn2d", "statenet")

# Defaults of every architecture's hyperparameters (config ``models.zoo.<name>`` overrides).
DEFAULTS = {
    "linear": dict(max_lag_ms=200.0),
    "ln": dict(max_lag_ms=200.0),
    "nrf": dict(max_lag_ms=200.0, n_hidden=20),
    "dnet": dict(max_lag_ms=25.0, n_hidden=20, tau_ms=[5.0, 200.0]),
    "cnn2d": dict(kernel_f=6, kernel_t=15, channels=10, n_hidden=90),
    # encoder temporal: causal conv over time (kernel in bins, stride 1); spectral: deepSTRF's
    # per-bin locally connected layer over frequency (kernel and stride in bands)
    "statenet": dict(channels=7, kernel=7, hidden=64, stride=1, encoder="temporal"),
}
# Options every architecture takes: the AdapTrans front end, and the output stage
# (``linear``: the core's readout as it is; ``softplus``: a per-neuron parametric softplus
# on it, deepSTRF's default output of its population models; not for ``ln``, whose output
# is its own sigmoid).
# ``output`` is left out of the resolved options unless given, so that the job parameters and
# training fingerprints of models that existed before it (all ``linear``) stay as they were.
ADAPT_DEFAULTS = dict(adaptrans=False, adapt_tau_ms=[10.0, 500.0])
OUTPUTS = ("linear", "softplus")

# Training settings an architecture gets unless the config (models.train or the zoo entry's
# train:) sets them.  l2: the ridge-like penalty on the weight tensors (strflow.nn.trainer):
# 0.1 brings linear within 0.003-0.013 test CCnorm of the ridge fit on the recovery settings;
# 0.01 lets NRF's hidden units learn two-subunit units (0.71 -> 0.86 test CCnorm on
# tests/nn/test_nn_workflow.py's dataset, where LN reaches 0.72); untested elsewhere: 0.
TRAIN_DEFAULTS = {
    "linear": dict(l2=0.1),
    "ln": dict(l2=0.1),
    "nrf": dict(l2=0.01),
}



def resolve(arch: str, options: dict | None) -> dict:
    """The architecture's full hyperparameters: defaults merged with ``options``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; known: {', '.join(ARCHITECTURES)}")
    known = {**DEFAULTS[arch], **ADAPT_DEFAULTS}
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(known) - {"output"})
    if unknown:
        raise ValueError(f"model {arch!r}: unknown option(s) {unknown}; known: {sorted({*known, 'output'})}")
    out = {**known, **opts}
    if out.get("output", "linear") not in OUTPUTS:
        raise ValueError(f"model {arch!r}: output must be one of {list(OUTPUTS)}, got {out['output']!r}")
    if arch == "ln" and out.get("output", "linear") != "linear":
        raise ValueError("model 'ln': its output is its own sigmoid; output must be 'linear'")
    return out
