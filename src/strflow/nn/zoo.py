"""Encoding-model architectures (the zoo): population models, strictly causal.

Every model maps a batch of standardised spectrograms ``x`` ``(B, F, T)`` to
predictions ``(B, N, T)`` (one output per neuron) and is **causal**: the prediction
at bin ``t`` depends on ``x[..., :t+1]`` only.  Causality comes from left padding
(``F.pad(x, (k - 1, 0))`` before every temporal convolution), from recurrences that
run forwards in time (GRU) and from causal exponential kernels (DNet, AdapTrans).
No layer mixes information across time within a clip otherwise (no BatchNorm, no
pooling over time, no attention), so padding a clip at its end never changes its
earlier predictions.

* ``linear``  -- ``y = c + sum_{f,l} w[n,f,l] x[f,t-l]``: the ridge STRF's model,
  lags ``0 .. max_lag_ms``.
* ``ln``      -- ``linear`` followed by a per-neuron 4-parameter sigmoid
  ``a + b / (1 + exp(-(u - c) / d))`` (the ridge LN stage's form, :func:`strflow.strf.sigmoid`).
* ``nrf``     -- network receptive field (Harper et al. 2016): ``n_hidden`` sigmoid
  units on the lagged spectrogram, a linear readout per neuron.
* ``dnet``    -- dynamic network (Rahman et al. 2019): NRF with short input lags
  (``max_lag_ms`` 25 by default) whose hidden units integrate their input in time
  with a learnable time constant each, ``h[t] = a h[t-1] + (1 - a) u[t]``,
  ``a = exp(-dt / tau)``, ``tau`` in ``tau_ms`` (the recurrence is applied exactly as a
  causal exponential kernel truncated at ``5 * tau_max``), then a sigmoid and a readout.
* ``cnn2d``   -- 2D convolutional population model (deepSTRF's ConvNet2D family): a
  ``(kernel_f, kernel_t)`` convolution over (frequency, time), ``same`` padding in
  frequency and causal padding in time, ELU, a per-bin hidden layer of ``n_hidden``
  ELU units, a linear readout.
* ``statenet``-- a front end, a GRU of ``hidden`` units, a linear readout per neuron.
  ``encoder: temporal`` (the default): a causal 1D convolution over time
  (``channels`` x ``kernel`` bins, bands as input channels), ELU.
  ``encoder: spectral`` (deepSTRF's StateNet, Rancon et al. 2025): every bin's spectrum
  alone goes through a locally connected layer over *frequency* (``kernel`` bands,
  ``stride`` bands, ``channels`` per position, weights specific to each position),
  a layer norm over the channels and a sigmoid; the GRU sees the ``channels x F_down``
  features of each bin (``hidden: 0``: a GRU of that many units, deepSTRF's rule).  deepSTRF's ``stride=3`` is this frequency stride: the front
  end looks at one bin at a time, so the model is causal at the full bin rate with
  any stride (the GRU alone carries time).  The GRU is ``nn.GRU``; on a CPU its training
  pass goes through :func:`strflow.nn.gru.gru` (same values and gradients, ~6x faster).
* ``output: softplus`` (any model but ``ln``): a per-neuron parametric softplus on the
  readout, ``softplus(beta_n u) / beta_n + b_n`` with ``beta_n > 0`` and ``b_n >= 0``
  (deepSTRF's default output of its population models: non-negative, unbounded above, as a
  firing rate is).  It starts sharp (``beta`` ~5.5, close to a ReLU) with ``b`` ~0.02, so
  that the initial output is near the small mean rate of a 5 ms bin, not ``log(2)``.
* ``adaptrans`` (any model, ``adaptrans: true``): a front end with two parameters per
  band, ``x'_f = x_f - w_f * EMA_{tau_f}(x_f)`` (a causal exponential moving average,
  ``tau_f`` learnable in ``adapt_tau_ms``), deepSTRF's AdapTrans idea (adaptation to
  the recent past of each band).
  AdapTrans and DNet apply their exponential kernels (up to ``5 * tau_max`` taps) by FFT
  (:func:`causal_exp_filter`).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from strflow.nn.gru import gru
from strflow.nn.spec import ADAPT_DEFAULTS, ARCHITECTURES, DEFAULTS, resolve  # noqa: F401

from strflow.timegrid import n_lags  # noqa: E402  (lags 0..max_lag_ms, shared with the ridge fits)


def causal_conv1d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, groups: int = 1) -> torch.Tensor:
    """Conv1d with ``kernel - 1`` zeros on the left: output bin t sees inputs ``t-k+1 .. t``."""
    return F.conv1d(F.pad(x, (weight.shape[-1] - 1, 0)), weight, bias, groups=groups)


def causal_exp_filter(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """``causal_conv1d(x, kernel, groups=C)`` for long per-channel kernels ``(C, 1, L)``,
    computed by FFT: ``x`` and the kernel are zero-padded to a length ``>= T + L - 1``, so
    the product of their transforms is the linear (not circular) convolution, and its first
    ``T`` bins are the causal output.  A depthwise ``conv1d`` with the 100-500 taps of the
    AdapTrans and DNet kernels costs ~20x more on a CPU (forward + backward)."""
    t, length = x.shape[-1], kernel.shape[-1]
    n = 1 << (t + length - 2).bit_length()  # a power of two >= t + length - 1
    taps = kernel[:, 0].flip(-1)  # lag order: taps[:, l] weighs x[t - l]
    out = torch.fft.irfft(torch.fft.rfft(x, n) * torch.fft.rfft(taps, n), n)
    return out[..., :t]


def _bounded(raw: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    """Map an unconstrained parameter into ``[lo, hi]`` on a log scale."""
    return torch.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * torch.sigmoid(raw))


def exp_kernel(tau_bins: torch.Tensor, length: int) -> torch.Tensor:
    """``(C, 1, length)`` causal kernels of the leaky integrator ``h = a h[-1] + (1-a) u``,
    in conv1d order (last tap = lag 0)."""
    a = torch.exp(-1.0 / tau_bins)[:, None]
    lags = torch.arange(length - 1, -1, -1, dtype=tau_bins.dtype, device=tau_bins.device)[None]
    return ((1 - a) * a**lags)[:, None, :]


class AdapTrans(nn.Module):
    """Per-band adaptation front end: ``x_f - w_f * EMA_{tau_f}(x_f)``."""

    def __init__(self, n_bands: int, dt_ms: float, tau_ms=(10.0, 500.0)) -> None:
        super().__init__()
        self.lo, self.hi = float(tau_ms[0]) / dt_ms, float(tau_ms[1]) / dt_ms
        self.tau_raw = nn.Parameter(torch.zeros(n_bands))
        self.w = nn.Parameter(torch.zeros(n_bands))
        self.length = int(math.ceil(5 * self.hi))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = exp_kernel(_bounded(self.tau_raw, self.lo, self.hi), self.length)
        return x - self.w[None, :, None] * causal_exp_filter(x, k)


class ParametricSoftplus(nn.Module):
    """Per-neuron ``softplus(beta_n u) / beta_n + b_n`` on ``(B, N, T)``; ``beta_n =
    softplus(beta_raw_n)``, ``b_n = softplus(b_raw_n)`` (both positive)."""

    per_neuron = True

    def __init__(self, n_neurons: int) -> None:
        super().__init__()
        self.beta_raw = nn.Parameter(torch.full((n_neurons,), 5.5))
        self.b_raw = nn.Parameter(torch.full((n_neurons,), -4.0))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        beta = F.softplus(self.beta_raw)[None, :, None]
        return F.softplus(beta * u) / beta + F.softplus(self.b_raw)[None, :, None]


LN_LR_SCALE = 10.0  # learning-rate multiplier of the LN sigmoid's parameters


class Linear(nn.Module):
    per_neuron = True  # every parameter belongs to one neuron (row n of each tensor)

    def __init__(self, n_bands: int, n_neurons: int, n_lags: int) -> None:
        super().__init__()
        # zero start: the fit is the convex least-squares problem the ridge solves in
        # closed form, and every neuron's parameters start independent of the others
        self.weight = nn.Parameter(torch.zeros(n_neurons, n_bands, n_lags))
        self.bias = nn.Parameter(torch.zeros(n_neurons))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return causal_conv1d(x, self.weight, self.bias)

    def strf(self) -> torch.Tensor:
        """``(N, F, L)`` weights with lag 0 in column 0 (the ridge's layout)."""
        return self.weight.flip(-1)


class LN(Linear):
    """Linear + per-neuron sigmoid ``a + b * sigmoid((u - c) / d)``, ``d > 0``."""

    def __init__(self, n_bands: int, n_neurons: int, n_lags: int) -> None:
        super().__init__(n_bands, n_neurons, n_lags)
        # start near the identity around u = 0 over the response range: a=-2, b=4, c=0, d=1
        # (slope b/(4d) = 1 at c)
        self.a = nn.Parameter(torch.full((n_neurons,), -2.0))
        self.b = nn.Parameter(torch.full((n_neurons,), 4.0))
        self.c = nn.Parameter(torch.zeros(n_neurons))
        self.log_d = nn.Parameter(torch.zeros(n_neurons))
        for p in (self.a, self.b, self.c, self.log_d):
            # four numbers per neuron that must travel far from the identity start: Adam's
            # per-step bound (lr) would otherwise hold them back while the weights converge
            p.lr_scale = LN_LR_SCALE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = super().forward(x)
        d = torch.exp(self.log_d)[None, :, None]
        return self.a[None, :, None] + self.b[None, :, None] * torch.sigmoid((u - self.c[None, :, None]) / d)


class NRF(nn.Module):
    def __init__(self, n_bands: int, n_neurons: int, n_lags: int, n_hidden: int = 20) -> None:
        super().__init__()
        self.hidden = nn.Conv1d(n_bands, n_hidden, n_lags)
        self.readout = nn.Conv1d(n_hidden, n_neurons, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.sigmoid(causal_conv1d(x, self.hidden.weight, self.hidden.bias))
        return self.readout(h)


class DNet(nn.Module):
    def __init__(self, n_bands: int, n_neurons: int, n_lags: int, n_hidden: int = 20, tau_ms=(5.0, 200.0),
                 dt_ms: float = 5.0) -> None:
        super().__init__()
        self.hidden = nn.Conv1d(n_bands, n_hidden, n_lags)
        self.lo, self.hi = float(tau_ms[0]) / dt_ms, float(tau_ms[1]) / dt_ms
        self.tau_raw = nn.Parameter(torch.linspace(-2.0, 2.0, n_hidden))
        self.length = int(math.ceil(5 * self.hi))
        self.readout = nn.Conv1d(n_hidden, n_neurons, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = causal_conv1d(x, self.hidden.weight, self.hidden.bias)
        k = exp_kernel(_bounded(self.tau_raw, self.lo, self.hi), self.length)
        h = torch.sigmoid(causal_exp_filter(u, k))
        return self.readout(h)


class CNN2D(nn.Module):
    def __init__(self, n_bands: int, n_neurons: int, kernel_f: int = 6, kernel_t: int = 15, channels: int = 10,
                 n_hidden: int = 90) -> None:
        super().__init__()
        self.kf, self.kt = int(kernel_f), int(kernel_t)
        self.conv = nn.Conv2d(1, channels, (self.kf, self.kt))
        self.hidden = nn.Conv1d(channels * n_bands, n_hidden, 1)
        self.readout = nn.Conv1d(n_hidden, n_neurons, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, f, t = x.shape
        top = (self.kf - 1) // 2
        z = F.pad(x[:, None], (self.kt - 1, 0, top, self.kf - 1 - top))  # causal in time, same in frequency
        z = F.elu(self.conv(z))  # (B, C, F, T)
        z = F.elu(self.hidden(z.reshape(b, -1, t)))
        return self.readout(z)


class SpectralEncoder(nn.Module):
    """Per-bin locally connected layer over frequency: ``(B, F, T) -> (B, C * F_down, T)``.

    Position ``p`` (bands ``p*stride .. p*stride + kernel - 1``) has its own ``(C, kernel)``
    weights and ``C`` biases; then a layer norm over the ``C`` channels of each (position,
    bin) and a sigmoid.  Nothing mixes bins, so it is causal by construction."""

    def __init__(self, n_bands: int, channels: int, kernel: int, stride: int) -> None:
        super().__init__()
        if kernel < 1 or stride < 1 or kernel > n_bands:
            raise ValueError(f"statenet: need 1 <= kernel <= n_bands ({n_bands}) and stride >= 1, "
                             f"got kernel {kernel}, stride {stride}")
        self.kernel, self.stride = int(kernel), int(stride)
        self.positions = (n_bands - self.kernel) // self.stride + 1
        bound = 1.0 / math.sqrt(self.kernel)  # nn.Conv1d's default range (fan-in = kernel)
        self.weight = nn.Parameter(torch.empty(self.positions, channels, self.kernel).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(self.positions, channels).uniform_(-bound, bound))
        self.norm = nn.LayerNorm(channels)

    @property
    def out_features(self) -> int:
        return self.positions * self.weight.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        patches = x.unfold(1, self.kernel, self.stride)  # (B, P, T, K)
        z = torch.einsum("bptk,pck->btpc", patches, self.weight) + self.bias  # (B, T, P, C)
        z = torch.sigmoid(self.norm(z))  # normalised over the channels of one position and bin
        return z.reshape(b, t, -1).transpose(1, 2)


class StateNet(nn.Module):
    def __init__(self, n_bands: int, n_neurons: int, channels: int = 7, kernel: int = 7, hidden: int = 64,
                 stride: int = 1, encoder: str = "temporal") -> None:
        super().__init__()
        self.encoder = encoder
        if encoder == "temporal":
            if stride != 1:
                raise ValueError(f"statenet: stride {stride} needs encoder: spectral (deepSTRF's stride is over "
                                 "frequency); the temporal encoder has stride 1")
            self.conv = nn.Conv1d(n_bands, channels, kernel)
            features = channels
        elif encoder == "spectral":
            self.spectral = SpectralEncoder(n_bands, channels, kernel, stride)
            features = self.spectral.out_features
            if hidden <= 0:  # deepSTRF's rule: the GRU as wide as the encoder's output
                hidden = features
        else:
            raise ValueError(f"statenet: encoder must be 'temporal' or 'spectral', got {encoder!r}")
        self.gru = nn.GRU(features, hidden, batch_first=True)
        self.readout = nn.Linear(hidden, n_neurons)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.encoder == "temporal":
            z = F.elu(causal_conv1d(x, self.conv.weight, self.conv.bias))
        else:
            z = self.spectral(x)
        h = gru(self.gru, z.transpose(1, 2))  # nn.GRU's outputs; on a CPU with a ~6x cheaper backward pass
        return self.readout(h).transpose(1, 2)


class Model(nn.Module):
    """An architecture with its optional AdapTrans front end."""

    def __init__(self, front: nn.Module | None, core: nn.Module, out: nn.Module | None = None) -> None:
        super().__init__()
        self.front = front
        self.core = core
        self.out = out  # None: no output stage (and no state_dict keys)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.core(self.front(x) if self.front is not None else x)
        return y if self.out is None else self.out(y)

    @property
    def per_neuron(self) -> bool:
        """True when every parameter belongs to one neuron (``linear``, ``ln`` without a
        shared front end): the trainer then keeps each neuron's own best epoch."""
        return (self.front is None and getattr(self.core, "per_neuron", False)
                and (self.out is None or getattr(self.out, "per_neuron", False)))


def build(arch: str, n_bands: int, n_neurons: int, dt_ms: float, options: dict | None = None) -> Model:
    """A fresh model (parameters drawn from torch's current RNG state)."""
    o = resolve(arch, options)
    if arch in ("linear", "ln"):
        core = (Linear if arch == "linear" else LN)(n_bands, n_neurons, n_lags(o["max_lag_ms"], dt_ms))
    elif arch == "nrf":
        core = NRF(n_bands, n_neurons, n_lags(o["max_lag_ms"], dt_ms), int(o["n_hidden"]))
    elif arch == "dnet":
        core = DNet(n_bands, n_neurons, n_lags(o["max_lag_ms"], dt_ms), int(o["n_hidden"]), o["tau_ms"], dt_ms)
    elif arch == "cnn2d":
        core = CNN2D(n_bands, n_neurons, o["kernel_f"], o["kernel_t"], int(o["channels"]), int(o["n_hidden"]))
    else:
        core = StateNet(n_bands, n_neurons, int(o["channels"]), int(o["kernel"]), int(o["hidden"]), int(o["stride"]),
                        str(o["encoder"]))
    front = AdapTrans(n_bands, dt_ms, o["adapt_tau_ms"]) if o["adaptrans"] else None
    return Model(front, core, ParametricSoftplus(n_neurons) if o.get("output") == "softplus" else None)


def n_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))
