"""Deterministic synthetic CRCNS AA4 raw data with a known ground truth.

:func:`generate_animal` writes one bird of an AA4-like release (layout and quirks of
``shared/reference/raw_formats.md`` §6 and §14) plus a ground-truth HDF5 file holding
every number needed to check the workflow end to end: which unit files must be kept
or skipped, the stimulus registry, every trial and spike written, and each unit's
ground-truth STRF and rate model.

Design
------
Randomness.  Every random choice comes from its own ``numpy`` generator seeded with a
key: ``(seed, "pool", i)`` for stimulus ``i`` of the shared pool, ``(seed, animal,
...)`` for everything about one bird (animal names are hashed with SHA-256, never with
the salted built-in ``hash``).  So the stimulus pool (waveforms, wav bytes, md5s) is a
function of ``seed`` alone and identical in every bird, each bird can be generated in a
separate process, and a bird's units and spikes do not depend on the other birds, on
the order of generation, or on ``corrupt_units`` (corrupt files are *extra* files with
their own stream, so a run with them has exactly the same valid units as one without).

Stimulus pool (``n_stims`` sounds at ``sample_rate``, 16-bit PCM, peak 0.5):

* ``song``: a motif of 4-7 syllables repeated to fill the duration; a syllable is a
  harmonic stack (fundamental 400-1500 Hz, sweeps and vibrato, formant-like spectral
  envelope, harmonics below 8 kHz) or a band of noise;
* ``call``: 1-3 elements (harmonic stack, downsweep or noise burst), class drawn from
  the zebra-finch call vocabulary (Te, DC, Be, Ag, Di, Ne, Th, LT, Wh, Tu, So);
* ``mlnoise``: modulation-limited ripple noise, 60 log-spaced tones over 250-8000 Hz
  whose dB amplitudes follow a ripple with slowly drifting temporal (-30..30 Hz) and
  spectral (0-1.5 cyc/oct) modulation.

Each bird hears ``stims_per_animal`` pool sounds, numbered with distinct random
numbers (``wavfiles/stim<K>.wav``) that differ between birds; the wav bytes, and so
``stim_md5``, are the same everywhere.

Spike model (linear-nonlinear-Poisson, recoverable by a linear STRF fit).  The
spectrogram of each pool sound is :func:`strflow.spectrogram.mel_spectrogram` of the
samples *as read back from the wav* with the caller's ``dt_ms`` and parameters, i.e.
exactly what the workflow computes.  Bands are standardised with the mean and standard
deviation over all frames of the whole pool: ``X = (S - mean) / std``.  A driven
process ``c`` has a separable Gabor STRF ``w_c`` (F bands x L lags, lag ``l`` covers
``l*dt`` ms, ``L = round(strf_ms / dt_ms)``; Gabor in frequency around a best frequency
x Gaussian-windowed cosine in lag around a latency), scaled to unit Frobenius norm.
Its drive is the causal convolution ``d[t] = sum_{f,l} w_c[f,l] X[f,t-l]`` with
``X = 0`` before onset and after the last frame (lags never cross a stimulus start),
standardised with the mean and std of ``d`` over all in-stimulus bins of the pool:
``z = (d - drive_mean) / drive_std``.  Its rate is
``min(baseline_hz * exp(gain * z), max_rate_hz)`` (``nonlinearity: exp``, the default) or
``min(baseline_hz * max(1 + gain * z, 0), max_rate_hz)`` (``nonlinearity: relu``).
With ``nonlinearity: two_subunit`` every driven unit (single units too) is the sum of two
processes tuned apart in frequency, each ``min(baseline_hz * max(gain * z - 1, 0)**2, max_rate_hz)``:
a sum of two rectified-squared subunits, which no single linear filter followed by one
output nonlinearity (LN) can represent but a network with hidden units (NRF) can.

How well a *linear* STRF can recover ``w`` (issue #5, measured with the ridge of
:mod:`strflow.strf` on the generator's own noiseless rate, gt_corr in raw-spectrogram
units): with ``exp`` and gain 0.6-1.0 the spectrograms are far from Gaussian, so the
best linear approximation of the rate is *not* proportional to ``w`` (Bussgang's
theorem needs Gaussian stimuli): median 0.71 at the demo's ~2500 training bins per
unit, ~0.87 at 41k bins, whatever the number of trials.  With ``relu`` the rate is
linear in ``w`` except where it is rectified (rare for gain <= 0.5), and the
noiseless oracle reaches >= 0.99; Poisson recovery is then limited by data only
(high-rate tercile ~0.90 at ~26k training bins x 10 trials with 100 ms lags, 0.94 at
55k x 30).  Use ``relu`` to test STRF *recovery*, ``exp`` for a realistic LNP.

* ``single`` units: one process; ``multi`` units: the sum of two processes with
  different best frequencies; ``noise`` and ``tdt`` units: homogeneous Poisson at
  ``baseline_hz``; the *silent* unit (a valid ``single``) fires only before onset.
* Bins run from ``-pre_onset_s`` to ``post_stim_s`` after the last whole bin of the
  sound.  Before onset every unit fires at its spontaneous rate ``sum(baseline_hz)``;
  after the sound the drive decays through the STRF lags.  Counts are Poisson per bin,
  spike times uniform inside the bin but at least 1/1000 of a bin away from its edges
  (so binning is never ambiguous up to float error).  A trial with no spike at all is
  written as the scalar -999, as upstream does.

Raw quirks reproduced in every bird (counts scale with ``units_per_animal``; all at
least one): 'multi', 'noise' and 'tdt' units, the 'singl' typo, string attributes
as ``str`` / ``bytes`` / numpy bytes arrays (cycling by unit), file names without
``_ss<N>`` (all noise/tdt units and some others), missing ``ldepth`` and/or ``rdepth``
attributes (and depth strings in the file name), ``class_info`` / ``extra_info``
groups, ``n_trials >= 10`` (trial names '1'..'10' sort differently as text), -999
empty trials, pre-onset and post-stimulus spikes, sparse coverage (units of one
recording site share a random ``coverage`` fraction of the bird's stimuli), the same
sound under different numbers in different birds, one unit whose stimuli evoke no
spike at all, and optionally ``corrupt_units`` garbage ``.h5`` files.

Ground-truth file (one per bird)
--------------------------------
Root attributes: ``animal``, ``seed``, ``dt_ms``, ``spectrogram_params`` (JSON),
``spec`` (JSON of the :class:`SyntheticSpec`), ``strflow_version``, ``n_lags``,
``pre_onset_s``, ``post_stim_s``, ``n_pre_bins``, ``n_post_bins``, ``max_rate_hz``,
``nonlinearity``, ``rate_model`` (text).

``/standardisation/mean``, ``/standardisation/std`` (F,) float64, band statistics over
the pool; ``/standardisation/band_hz`` (F,) band centres.

``/units/<file name>`` (e.g. ``Site1_L1400R1450_e10_s0_ss1.h5``), attributes: ``file``
(path relative to ``raw_dir``), ``cell_id`` (``<animal>/<stem>``), ``sort_type_raw``
(the sortType string as written), ``expected`` ('kept' or 'skipped'), ``skip_reason``
('' / 'sort type noise' / 'sort type tdt' / 'unreadable file'), ``kind`` ('single',
'multi', 'noise', 'tdt', 'corrupt'), ``silent`` (bool), ``site``, ``electrode``,
``sortid``, ``subsort_id`` (-1 if the name has no ``_ss``), ``ldepth``/``rdepth`` (NaN
where the attribute is missing), ``string_style``.  Datasets (none for corrupt files):
``baseline_hz``, ``gain``, ``drive_mean``, ``drive_std`` (C,) per process (C = 1,
or 2 for multi units; gain 0 for noise/tdt/silent); for single and multi units
``strf_components`` (C, F, L) and ``strf`` (F, L): the unit-norm linearisation
``sum_c baseline_c * gain_c / drive_std_c * w_c`` (= ``w`` for a single unit; both
are zeros for the silent unit, whose ``baseline_hz`` is its pre-onset rate).

``/stims``: datasets ``md5`` (str), ``number`` (int, this bird's K), ``type``,
``class``, ``duration_s``, ``n_samples``, ``sample_rate``, ``pool_index``, sorted by
``number``.

``/trials``: one row per trial written in a raw file (corrupt files excluded), ordered
by unit file name, stimulus number, trial number: ``unit`` (file name), ``stim_md5``,
``stim_number``, ``trial`` (int), ``is_empty_scalar`` (bool: written as -999),
``offset`` (int64 into ``spike_times``), ``n_spikes``; ``spike_times`` (float64, s)
holds every written spike time, concatenated (the -999 sentinel excluded).  The
columns are gzip-compressed; ``unit`` and ``stim_md5`` are fixed-length ASCII (read
them with ``.asstr()``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from strflow import timegrid
from strflow.spectrogram import SpectrogramParams, mel_frequencies, mel_spectrogram

CALL_CLASSES = ("Te", "DC", "Be", "Ag", "Di", "Ne", "Th", "LT", "Wh", "Tu", "So")
EMPTY_TRIAL = -999
STRING_STYLES = ("str", "bytes", "nparray")
NONLINEARITIES = ("exp", "relu", "two_subunit")
_EDGE_MARGIN = 1e-3  # spike times stay this fraction of a bin away from bin edges
_HARMONIC_CEILING_HZ = 8000.0
_RIPPLE_BAND_HZ = (250.0, 8000.0)


@dataclass(frozen=True)
class SyntheticSpec:
    """Generator settings (the ``synthetic:`` block of a dataset in ``config.yaml``)."""

    seed: int = 1
    animals: tuple[str, ...] = ("GreBlu1234M", "YelRed5678F")
    n_stims: int = 30
    stims_per_animal: int = 22
    units_per_animal: int = 20
    n_trials: int = 10
    coverage: float = 0.8
    song_duration_s: tuple[float, float] = (1.0, 2.0)
    call_duration_s: tuple[float, float] = (0.15, 0.6)
    noise_duration_s: tuple[float, float] = (1.0, 1.5)
    sample_rate: int = 24414
    corrupt_units: int = 0  # extra garbage .h5 files per bird (not counted in units_per_animal)
    # pool composition (calls are the rest)
    song_fraction: float = 0.3
    mlnoise_fraction: float = 0.15
    # unit composition; each quirk present at least once when its fraction is > 0
    units_per_site: int = 12
    multi_fraction: float = 0.3
    noise_unit_fraction: float = 0.03
    tdt_unit_fraction: float = 0.03
    silent_units: int = 1
    singl_typo_fraction: float = 0.2  # of the ordinary single units
    no_subsort_fraction: float = 0.1  # of single + multi units (noise/tdt never have _ss)
    missing_depth_fraction: float = 0.1
    # spike model
    baseline_hz: tuple[float, float] = (2.0, 30.0)  # log-uniform
    gain: tuple[float, float] = (0.6, 1.0)
    strf_ms: float = 100.0
    latency_ms: tuple[float, float] = (8.0, 30.0)
    best_freq_hz: tuple[float, float] = (500.0, 6000.0)
    max_rate_hz: float = 500.0
    nonlinearity: str = "exp"  # exp: baseline*exp(gain*z) | relu: baseline*max(1+gain*z, 0)
    # | two_subunit: every driven unit sums two subunits baseline*max(gain*z - 1, 0)**2 (not LN-representable)
    pre_onset_s: float = 0.5
    post_stim_s: float = 0.3
    silent_spont_hz: float = 1.0
    # per-trial attributes, any of bg_rate, peri_rate, pre_time, post_time (upstream
    # writes all four; each costs ~25 s per full-size bird, so only bg_rate by default)
    trial_attrs: tuple[str, ...] = ("bg_rate",)

    def __post_init__(self) -> None:
        for name in (
            "song_duration_s",
            "call_duration_s",
            "noise_duration_s",
            "baseline_hz",
            "gain",
            "latency_ms",
            "best_freq_hz",
        ):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or not 0 <= value[0] <= value[1]:
                raise ValueError(f"{name} must be a (low, high) pair with 0 <= low <= high, got {value}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "animals", tuple(str(a) for a in self.animals))
        object.__setattr__(self, "trial_attrs", tuple(str(a) for a in self.trial_attrs))
        bad = sorted(set(self.trial_attrs) - {"bg_rate", "peri_rate", "pre_time", "post_time"})
        if bad:
            raise ValueError(f"unknown trial_attrs {bad}")
        if len(set(self.animals)) != len(self.animals) or not self.animals:
            raise ValueError(f"animals must be distinct and non-empty, got {self.animals}")
        if self.seed < 0:
            raise ValueError("seed must be >= 0")
        if self.nonlinearity not in NONLINEARITIES:
            raise ValueError(f"nonlinearity must be one of {NONLINEARITIES}, got {self.nonlinearity!r}")
        if not 1 <= self.stims_per_animal <= self.n_stims:
            raise ValueError(
                f"stims_per_animal ({self.stims_per_animal}) must be in 1..n_stims ({self.n_stims})"
            )
        if self.n_trials < 1 or self.corrupt_units < 0 or self.units_per_site < 1:
            raise ValueError("n_trials and units_per_site must be >= 1, corrupt_units >= 0")
        if not 0 < self.coverage <= 1:
            raise ValueError(f"coverage must be in (0, 1], got {self.coverage}")
        if self.song_fraction + self.mlnoise_fraction > 1:
            raise ValueError("song_fraction + mlnoise_fraction must be <= 1")
        if min(self.call_duration_s[0], self.song_duration_s[0], self.noise_duration_s[0]) < 0.05:
            raise ValueError("stimulus durations must be at least 0.05 s")
        unit_counts(self)  # validates the unit composition

    @classmethod
    def from_config(cls, cfg: dict | None) -> "SyntheticSpec":
        cfg = dict(cfg or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(cfg) - known)
        if unknown:
            raise ValueError(f"unknown synthetic setting(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


# --------------------------------------------------------------------------- randomness


def _key_int(key: Any) -> int:
    if isinstance(key, (int, np.integer)):
        if key < 0:
            raise ValueError("integer keys must be >= 0")
        return int(key)
    return int.from_bytes(hashlib.sha256(str(key).encode("utf-8")).digest()[:8], "little")


def rng_for(*keys: Any) -> np.random.Generator:
    """Independent generator for a key path such as ``(seed, "pool", 3)``."""
    return np.random.default_rng(np.random.SeedSequence([_key_int(k) for k in keys]))


def _log_uniform(rng: np.random.Generator, low: float, high: float, size=None):
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


# --------------------------------------------------------------------------- sounds


def _envelope(n: int, sr: float, ramp_ms: float = 5.0) -> np.ndarray:
    """Flat envelope with raised-cosine onset and offset ramps."""
    ramp = max(1, min(int(sr * ramp_ms / 1000), n // 2))
    env = np.ones(n)
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)
    env[:ramp] = rise
    env[n - ramp :] = np.minimum(env[n - ramp :], rise[::-1])
    return env


def harmonic_stack(
    rng: np.random.Generator, n: int, sr: float, f0_start: float, f0_end: float, vibrato: float = 0.0
) -> np.ndarray:
    """Harmonic complex whose fundamental glides from ``f0_start`` to ``f0_end`` (exponential)
    with sinusoidal vibrato of relative depth ``vibrato``; a random formant-like envelope
    weights the harmonics, and harmonics above 8 kHz are silenced."""
    t = np.arange(n) / sr
    frac = t / max(t[-1], 1e-12)
    f0 = f0_start * (f0_end / f0_start) ** frac
    f0 = f0 * (1 + vibrato * np.sin(2 * np.pi * rng.uniform(5, 25) * t + rng.uniform(0, 2 * np.pi)))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    n_harm = max(1, int(_HARMONIC_CEILING_HZ // min(f0_start, f0_end)))
    h = np.arange(1, n_harm + 1)
    formant = rng.uniform(np.log2(600), np.log2(6000))
    width = rng.uniform(0.6, 1.8)
    f_mean = h * np.sqrt(f0_start * f0_end)
    amp = np.exp(-0.5 * ((np.log2(f_mean) - formant) / width) ** 2) + 0.05
    amp *= rng.uniform(0.5, 1.0, n_harm)
    inst = h[:, None] * f0[None, :]
    tones = np.sin(h[:, None] * phase[None, :] + rng.uniform(0, 2 * np.pi, n_harm)[:, None])
    return (amp[:, None] * tones * (inst < _HARMONIC_CEILING_HZ)).sum(axis=0)


def band_noise(rng: np.random.Generator, n: int, sr: float, low_hz: float, high_hz: float) -> np.ndarray:
    """White noise restricted to ``[low_hz, high_hz]`` by an FFT mask, unit RMS."""
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spec[(freqs < low_hz) | (freqs > high_hz)] = 0
    out = np.fft.irfft(spec, n)
    return out / max(np.sqrt(np.mean(out**2)), 1e-12)


def _syllable(rng: np.random.Generator, n: int, sr: float) -> np.ndarray:
    if rng.random() < 0.25:
        low = rng.uniform(500, 3000)
        sound = band_noise(rng, n, sr, low, min(low * rng.uniform(1.5, 4), _HARMONIC_CEILING_HZ))
    else:
        f0 = rng.uniform(400, 1500)
        sound = harmonic_stack(
            rng, n, sr, f0, float(np.clip(f0 * 2 ** rng.uniform(-0.8, 0.5), 400, 1500)), rng.uniform(0, 0.06)
        )
    sound = sound / max(np.abs(sound).max(), 1e-12)
    return sound * _envelope(n, sr) * rng.uniform(0.4, 1.0)


def synth_song(rng: np.random.Generator, n: int, sr: float) -> np.ndarray:
    """A motif of 4-7 syllables (stacks or noisy) repeated with gaps to fill ``n`` samples."""
    n_syl = int(rng.integers(4, 8))
    syllables = [_syllable(rng, int(sr * rng.uniform(0.04, 0.2)), sr) for _ in range(n_syl)]
    gaps = [int(sr * rng.uniform(0.01, 0.05)) for _ in range(n_syl)]
    out = np.zeros(n)
    pos = int(sr * rng.uniform(0.0, 0.03))
    i = 0
    while pos < n:
        syl = syllables[i % n_syl][: n - pos]
        out[pos : pos + syl.shape[0]] = syl
        pos += syl.shape[0] + gaps[i % n_syl]
        i += 1
    return out


def synth_call(rng: np.random.Generator, n: int, sr: float) -> np.ndarray:
    """1-3 elements (harmonic stack, downsweep or noise burst) filling ``n`` samples."""
    n_el = int(rng.integers(1, 4))
    bounds = np.linspace(0, n, n_el + 1).astype(int)
    out = np.zeros(n)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        gap = int((stop - start) * rng.uniform(0.0, 0.2)) if n_el > 1 else 0
        m = stop - start - gap
        kind = rng.integers(0, 3)
        if kind == 0:
            f0 = rng.uniform(450, 1000)
            el = harmonic_stack(rng, m, sr, f0, f0 * 2 ** rng.uniform(-0.2, 0.2), rng.uniform(0, 0.05))
        elif kind == 1:
            el = harmonic_stack(rng, m, sr, rng.uniform(1000, 1500), rng.uniform(400, 700))
        else:
            low = rng.uniform(800, 3000)
            el = band_noise(rng, m, sr, low, min(low * rng.uniform(2, 4), _HARMONIC_CEILING_HZ))
        el = el / max(np.abs(el).max(), 1e-12)
        out[start : start + m] = el * _envelope(m, sr) * rng.uniform(0.5, 1.0)
    return out


def _smooth_walk(
    rng: np.random.Generator, n: int, sr: float, low: float, high: float, knot_hz: float = 3.0
) -> np.ndarray:
    """Slowly varying random trajectory in [low, high] (linear interpolation of knots)."""
    n_knots = max(2, int(np.ceil(n / sr * knot_hz)) + 1)
    knots = rng.uniform(low, high, n_knots)
    return np.interp(np.linspace(0, n_knots - 1, n), np.arange(n_knots), knots)


def synth_mlnoise(
    rng: np.random.Generator, n: int, sr: float, n_tones: int = 60, depth_db: float = 30.0
) -> np.ndarray:
    """Modulation-limited ripple noise: log-spaced tones over 250-8000 Hz with a moving ripple."""
    low, high = _RIPPLE_BAND_HZ
    octaves = np.log2(high / low)
    x = np.sort(rng.uniform(0, octaves, n_tones))
    freqs = low * 2**x
    t = np.arange(n) / sr
    temporal = _smooth_walk(rng, n, sr, -30.0, 30.0)  # Hz
    spectral = _smooth_walk(rng, n, sr, 0.0, 1.5)  # cycles / octave
    t_phase = 2 * np.pi * np.cumsum(temporal) / sr
    ripple = np.sin(t_phase[None, :] + 2 * np.pi * spectral[None, :] * x[:, None] + rng.uniform(0, 2 * np.pi))
    amp = 10 ** (depth_db / 20 * 0.5 * ripple)
    carriers = np.sin(2 * np.pi * freqs[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, n_tones)[:, None])
    return (amp * carriers).sum(axis=0) * _envelope(n, sr, 10.0)


def encode_wav(wave: np.ndarray, sr: int) -> tuple[bytes, np.ndarray]:
    """16-bit PCM wav bytes (peak 0.5) and the float64 samples soundfile reads back."""
    import soundfile as sf

    peak = np.abs(wave).max()
    pcm = np.round(wave / (peak if peak > 0 else 1.0) * 0.5 * 32767).astype(np.int16)
    buf = io.BytesIO()
    sf.write(buf, pcm, int(sr), format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    decoded, _ = sf.read(io.BytesIO(data), dtype="float64")
    return data, decoded


# --------------------------------------------------------------------------- stimulus pool


@dataclass(frozen=True)
class PoolStim:
    index: int
    type: str  # song | call | mlnoise
    cls: str  # stim_class
    wav: bytes
    md5: str
    samples: np.ndarray  # float64, as read back from the wav
    sample_rate: int

    @property
    def n_samples(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sample_rate


def pool_types(spec: SyntheticSpec) -> list[str]:
    """Stimulus type of every pool index (seeded order; fixed counts per type)."""
    n = spec.n_stims
    n_song = round(spec.song_fraction * n)
    n_noise = round(spec.mlnoise_fraction * n)
    if n >= 3:
        n_song = max(n_song, 1 if spec.song_fraction > 0 else 0)
        n_noise = max(n_noise, 1 if spec.mlnoise_fraction > 0 else 0)
    n_call = max(n - n_song - n_noise, 0)
    types = (["song"] * n_song + ["call"] * n_call + ["mlnoise"] * n_noise)[:n]
    order = rng_for(spec.seed, "pool-types").permutation(n)
    return [types[i] for i in order]


def make_pool_stim(spec: SyntheticSpec, index: int, stim_type: str) -> PoolStim:
    """Pool sound ``index``: a function of (seed, index, type, durations, rate) only."""
    rng = rng_for(spec.seed, "pool", index)
    sr = spec.sample_rate
    low, high = {
        "song": spec.song_duration_s,
        "call": spec.call_duration_s,
        "mlnoise": spec.noise_duration_s,
    }[stim_type]
    n = int(round(rng.uniform(low, high) * sr))
    if stim_type == "song":
        wave, cls = synth_song(rng, n, sr), "song"
    elif stim_type == "call":
        cls = CALL_CLASSES[int(rng.integers(len(CALL_CLASSES)))]
        wave = synth_call(rng, n, sr)
    else:
        wave, cls = synth_mlnoise(rng, n, sr), "mlnoise"
    data, decoded = encode_wav(wave, sr)
    decoded.setflags(write=False)
    return PoolStim(index, stim_type, cls, data, hashlib.md5(data).hexdigest(), decoded, sr)


@lru_cache(maxsize=4)
def stimulus_pool(spec: SyntheticSpec) -> tuple[PoolStim, ...]:
    """The shared pool (cached per spec)."""
    return tuple(make_pool_stim(spec, i, t) for i, t in enumerate(pool_types(spec)))


@lru_cache(maxsize=4)
def pool_spectrograms(spec: SyntheticSpec, dt_ms: float, params: SpectrogramParams) -> tuple[np.ndarray, ...]:
    """(F, T_s) float64 mel spectrogram of every pool sound, as the workflow computes it."""
    out = []
    for stim in stimulus_pool(spec):
        spec_ft, _ = mel_spectrogram(stim.samples, stim.sample_rate, dt_ms, params)
        spec_ft = spec_ft.astype(np.float64)
        spec_ft.setflags(write=False)
        out.append(spec_ft)
    return tuple(out)


def band_statistics(spectrograms: tuple[np.ndarray, ...] | list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per-band mean and std over every frame of every spectrogram (std 0 -> 1)."""
    allf = np.concatenate(spectrograms, axis=1)
    mean = allf.mean(axis=1)
    std = allf.std(axis=1)
    return mean, np.where(std > 0, std, 1.0)


# --------------------------------------------------------------------------- units


@dataclass
class Unit:
    index: int
    kind: str  # single | multi | noise | tdt
    silent: bool
    sort_type_raw: str
    site: int
    electrode: int
    sortid: int
    subsort: int | None
    ldepth: float | None
    rdepth: float | None
    string_style: str
    baseline_hz: np.ndarray  # (C,)
    gain: np.ndarray  # (C,)
    strf_components: np.ndarray | None  # (C, F, L)
    name: str = ""
    heard: tuple[int, ...] = ()  # pool indices, in stim-number order
    drive_mean: np.ndarray | None = None
    drive_std: np.ndarray | None = None

    @property
    def driven(self) -> bool:
        """Has a stimulus-driven rate (single and multi units except the silent ones)."""
        return self.strf_components is not None and not self.silent


def unit_counts(spec: SyntheticSpec) -> dict[str, int]:
    """Number of units of each kind per bird (noise, tdt, multi, silent, single, singl typo)."""
    u = spec.units_per_animal

    def at_least_one(frac: float, n: int) -> int:
        return max(1, round(frac * n)) if frac > 0 else 0

    counts = dict(
        noise=at_least_one(spec.noise_unit_fraction, u),
        tdt=at_least_one(spec.tdt_unit_fraction, u),
        multi=at_least_one(spec.multi_fraction, u),
        silent=spec.silent_units,
    )
    counts["single"] = u - sum(counts.values())
    if counts["single"] < 1:
        raise ValueError(f"units_per_animal={u} is too small for the quirks requested ({counts})")
    counts["singl"] = min(at_least_one(spec.singl_typo_fraction, counts["single"]), counts["single"])
    return counts


def n_lags(spec: SyntheticSpec, dt_ms: float) -> int:
    return max(1, int(round(spec.strf_ms / dt_ms)))


def gabor_strf(
    band_hz: np.ndarray,
    dt_ms: float,
    n_lag: int,
    best_hz: float,
    bw_oct: float,
    flank: float,
    latency_ms: float,
    width_ms: float,
    period_ms: float,
    phase: float,
) -> np.ndarray:
    """Separable STRF (F, L): Gabor in log-frequency x Gaussian-windowed cosine in lag, unit norm."""
    x = np.log2(np.maximum(band_hz, 1.0) / best_hz)
    freq = np.exp(-0.5 * (x / bw_oct) ** 2) - flank * np.exp(-0.5 * (x / (2.5 * bw_oct)) ** 2)
    t = (np.arange(n_lag) + 0.5) * dt_ms
    lag = np.exp(-0.5 * ((t - latency_ms) / width_ms) ** 2) * np.cos(
        2 * np.pi * (t - latency_ms) / period_ms + phase
    )
    strf = np.outer(freq, lag)
    norm = np.linalg.norm(strf)
    return strf / norm if norm > 0 else strf


def _random_strf(
    rng: np.random.Generator,
    spec: SyntheticSpec,
    band_hz: np.ndarray,
    dt_ms: float,
    n_lag: int,
    best_hz: float,
) -> np.ndarray:
    latency = rng.uniform(*spec.latency_ms)
    return gabor_strf(
        band_hz,
        dt_ms,
        n_lag,
        best_hz,
        bw_oct=rng.uniform(0.2, 0.6),
        flank=rng.uniform(0.0, 0.5),
        latency_ms=latency,
        width_ms=max(rng.uniform(5.0, 15.0), 1.5 * dt_ms),
        period_ms=max(rng.uniform(30.0, 80.0), 4 * dt_ms),
        phase=rng.uniform(-0.5, 0.5),
    )


def _kinds(spec: SyntheticSpec, animal: str) -> list[tuple[str, bool, str]]:
    """(kind, silent, sortType) of every unit index, in a seeded order."""
    c = unit_counts(spec)
    rows = (
        [("noise", False, "noise")] * c["noise"]
        + [("tdt", False, "tdt")] * c["tdt"]
        + [("multi", False, "multi")] * c["multi"]
        + [("single", True, "single")] * c["silent"]
        + [("single", False, "singl")] * c["singl"]
        + [("single", False, "single")] * (c["single"] - c["singl"])
    )
    order = rng_for(spec.seed, animal, "kinds").permutation(len(rows))
    return [rows[i] for i in order]


def _pick(rng: np.random.Generator, candidates: list[int], frac: float, minimum: int) -> set[int]:
    if frac <= 0 or not candidates:
        return set()
    n = min(len(candidates), max(minimum, round(frac * len(candidates))))
    return {candidates[i] for i in rng.choice(len(candidates), n, replace=False)}


def plan_units(spec: SyntheticSpec, animal: str, band_hz: np.ndarray, dt_ms: float) -> list[Unit]:
    """Every unit of a bird: identity, file-name parts, quirks and spike-model parameters."""
    kinds = _kinds(spec, animal)
    u = len(kinds)
    n_sites = math.ceil(u / spec.units_per_site)
    lay = rng_for(spec.seed, animal, "layout")
    site_of = np.sort(np.arange(u) % n_sites) + 1
    site_depth = {
        s: (int(lay.integers(16, 60)) * 50, int(lay.integers(16, 60)) * 50) for s in range(1, n_sites + 1)
    }
    no_ss = {i for i, k in enumerate(kinds) if k[0] in ("noise", "tdt")}
    no_ss |= _pick(
        lay, [i for i, k in enumerate(kinds) if k[0] not in ("noise", "tdt")], spec.no_subsort_fraction, 1
    )
    missing = sorted(_pick(lay, list(range(u)), spec.missing_depth_fraction, 2))
    missing_pattern = (
        {int(i): ("l", "r", "lr")[j % 3] for j, i in enumerate(lay.permutation(missing))} if missing else {}
    )
    electrodes = lay.integers(1, 33, u)
    lag = n_lags(spec, dt_ms)
    units: list[Unit] = []
    used: set[str] = set()
    ss_count: dict[tuple[int, int], int] = {}
    for i, (kind, silent, sort_raw) in enumerate(kinds):
        rng = rng_for(spec.seed, animal, "unit", i)
        site, e = int(site_of[i]), int(electrodes[i])
        ld, rd = site_depth[site]
        pattern = missing_pattern.get(i, "")
        ldepth = None if "l" in pattern else float(ld)
        rdepth = None if "r" in pattern else float(rd)
        n_comp = 2 if kind == "multi" or (spec.nonlinearity == "two_subunit" and kind == "single") else 1
        baseline = _log_uniform(rng, *spec.baseline_hz, n_comp)
        gain = rng.uniform(*spec.gain, n_comp)
        strfs = None
        if kind in ("single", "multi"):
            best = _log_uniform(rng, *spec.best_freq_hz, n_comp)
            if n_comp == 2:  # the two units of a multi-unit are tuned apart
                best[1] = best[0] * 2 ** (rng.choice([-1, 1]) * rng.uniform(0.7, 1.5))
                best = np.clip(best, *spec.best_freq_hz)
            strfs = np.stack([_random_strf(rng, spec, band_hz, dt_ms, lag, float(b)) for b in best])
        if kind in ("noise", "tdt") or silent:
            gain = np.zeros(n_comp)
        if silent:  # a valid single unit that never responds: no STRF, spontaneous firing only
            baseline = np.array([spec.silent_spont_hz])
            strfs = np.zeros_like(strfs)
        sortid, subsort = 0, None
        if i not in no_ss:
            subsort = ss_count.get((site, e), 0) + 1
            ss_count[(site, e)] = subsort
        unit = Unit(
            i,
            kind,
            silent,
            sort_raw,
            site,
            e,
            sortid,
            subsort,
            ldepth,
            rdepth,
            STRING_STYLES[i % len(STRING_STYLES)],
            baseline,
            gain,
            strfs,
        )
        while (name := unit_file_name(unit)) in used:
            unit.sortid += 1
        unit.name = name
        used.add(name)
        units.append(unit)
    return units


def unit_file_name(unit: Unit) -> str:
    """``Site<S>_L<ld>R<rd>_e<E>_s<sort>[_ss<N>].h5``; a missing depth leaves its part empty."""
    ld = f"L{int(unit.ldepth)}" if unit.ldepth is not None else ""
    rd = f"R{int(unit.rdepth)}" if unit.rdepth is not None else ""
    ss = f"_ss{unit.subsort}" if unit.subsort is not None else ""
    return f"Site{unit.site}_{ld}{rd}_e{unit.electrode}_s{unit.sortid}{ss}.h5"


# --------------------------------------------------------------------------- stimuli per bird


def animal_stims(spec: SyntheticSpec, animal: str) -> dict[int, int]:
    """This bird's stimuli: {stim number K: pool index}, sorted by K."""
    rng = rng_for(spec.seed, animal, "stims")
    chosen = rng.choice(spec.n_stims, spec.stims_per_animal, replace=False)
    top = max(3 * spec.n_stims, 40)
    numbers = rng.choice(np.arange(1, top + 1), spec.stims_per_animal, replace=False)
    return {int(k): int(p) for k, p in sorted(zip(numbers, chosen))}


def assign_coverage(spec: SyntheticSpec, animal: str, units: list[Unit], stims: dict[int, int]) -> None:
    """Units of a site hear the same random ``coverage`` fraction of the bird's stimuli;
    a stimulus no site drew is given to one random site, so every stimulus is heard."""
    rng = rng_for(spec.seed, animal, "coverage")
    numbers = np.array(sorted(stims))
    sites = sorted({unit.site for unit in units})
    k = max(1, round(spec.coverage * numbers.shape[0]))
    heard = {s: set(rng.choice(numbers, k, replace=False).tolist()) for s in sites}
    for number in numbers.tolist():
        if not any(number in h for h in heard.values()):
            heard[sites[int(rng.integers(len(sites)))]].add(number)
    for unit in units:
        unit.heard = tuple(stims[n] for n in sorted(heard[unit.site]))


# --------------------------------------------------------------------------- spike model


def causal_drive(strf_f: np.ndarray, strf_t: np.ndarray, x: np.ndarray, n_out: int) -> np.ndarray:
    """Drive of separable STRFs on one standardised spectrogram, zero outside the stimulus.

    ``strf_f`` (P, F) and ``strf_t`` (P, L) are the rank-1 factors; ``x`` is (F, T).
    Returns (P, n_out): ``d[p, t] = sum_{f, l} strf_f[p, f] strf_t[p, l] x[f, t - l]``.
    """
    from scipy.signal import fftconvolve

    y = np.einsum("pf,ft->pt", strf_f, x)  # (P, T); plain loops, independent of BLAS threads
    full = fftconvolve(y, strf_t, axes=1)  # (P, T + L - 1)
    out = np.zeros((y.shape[0], n_out))
    m = min(n_out, full.shape[1])
    out[:, :m] = full[:, :m]
    return out


def _rank1(strf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact rank-1 factors (f, t) of a separable STRF."""
    u, s, vt = np.linalg.svd(strf, full_matrices=False)
    return u[:, 0] * s[0], vt[0]


def drive_statistics(
    factors: tuple[np.ndarray, np.ndarray], xs: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each process's drive over all in-stimulus bins of the pool."""
    f, t = factors
    total = np.zeros(f.shape[0])
    total_sq = np.zeros(f.shape[0])
    count = 0
    for x in xs:
        d = causal_drive(f, t, x, x.shape[1])
        total += d.sum(axis=1)
        total_sq += (d**2).sum(axis=1)
        count += d.shape[1]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return mean, np.where(std > 0, std, 1.0)


def poisson_spikes(
    rng: np.random.Generator, rates_hz: np.ndarray, n_trials: int, dt_ms: float, first_bin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Poisson spikes for every (unit, trial) of one stimulus.

    ``rates_hz`` is (U, B), bin ``b`` spanning ``[(first_bin + b) dt, (first_bin + b + 1) dt)``
    ms.  Returns per-(unit, trial) counts (U, R) and all spike times (s), sorted by unit,
    trial, then time.
    """
    lam = rates_hz * (dt_ms / 1000.0)
    counts = rng.poisson(lam[:, None, :], size=(lam.shape[0], n_trials, lam.shape[1]))
    ui, ri, bi = np.nonzero(counts)
    reps = counts[ui, ri, bi]
    ui, ri, bi = np.repeat(ui, reps), np.repeat(ri, reps), np.repeat(bi, reps)
    frac = rng.uniform(_EDGE_MARGIN, 1 - _EDGE_MARGIN, bi.shape[0])
    times = (bi + first_bin + frac) * (dt_ms / 1000.0)
    order = np.lexsort((times, ri, ui))
    return counts.sum(axis=2), times[order]


def unit_rates(
    unit: Unit,
    drive: np.ndarray | None,
    n_pre: int,
    n_stim: int,
    n_post: int,
    max_rate: float,
    nonlinearity: str = "exp",
) -> np.ndarray:
    """Rate (Hz) over the pre, stimulus and post bins; ``drive`` (C, n_stim + n_post) is raw.

    Per process ``baseline * exp(gain * z)`` (``exp``) or ``baseline * max(1 + gain * z, 0)``
    (``relu``), capped at ``max_rate``; ``z`` is the standardised drive.
    """
    n = n_pre + n_stim + n_post
    rates = np.empty(n)
    rates[:n_pre] = unit.baseline_hz.sum()
    if unit.silent:
        rates[n_pre:] = 0.0
    elif drive is None:
        rates[n_pre:] = unit.baseline_hz.sum()
    else:
        z = (drive - unit.drive_mean[:, None]) / unit.drive_std[:, None]
        if nonlinearity == "exp":
            shape = np.exp(unit.gain[:, None] * z)
        elif nonlinearity == "relu":
            shape = np.maximum(1.0 + unit.gain[:, None] * z, 0.0)
        elif nonlinearity == "two_subunit":
            shape = np.square(np.maximum(unit.gain[:, None] * z - 1.0, 0.0))
        else:
            raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
        comp = np.minimum(unit.baseline_hz[:, None] * shape, max_rate)
        rates[n_pre:] = comp.sum(axis=0)
    return rates


@dataclass
class StimSpikes:
    number: int
    counts: np.ndarray  # (R,)
    times: np.ndarray  # all spikes, trial-major


def simulate(
    spec: SyntheticSpec,
    animal: str,
    units: list[Unit],
    stims: dict[int, int],
    xs: list[np.ndarray],
    dt_ms: float,
) -> dict[int, list[StimSpikes]]:
    """Spikes of every unit for every stimulus it heard: {unit index: [StimSpikes, ...]}."""
    driven = [u for u in units if u.driven]
    f_parts, t_parts, owner = [], [], []
    for unit in driven:
        for c, strf in enumerate(unit.strf_components):
            f, t = _rank1(strf)
            f_parts.append(f)
            t_parts.append(t)
            owner.append((unit.index, c))
    factors = (np.array(f_parts).reshape(len(f_parts), -1), np.array(t_parts).reshape(len(t_parts), -1))
    if owner:
        mean, std = drive_statistics(factors, xs)
    rows = {u.index: [] for u in driven}
    for p, (ui, c) in enumerate(owner):
        rows[ui].append(p)
    for unit in units:
        if unit.driven:
            unit.drive_mean, unit.drive_std = mean[rows[unit.index]], std[rows[unit.index]]
        else:
            unit.drive_mean, unit.drive_std = np.zeros(len(unit.baseline_hz)), np.ones(len(unit.baseline_hz))
    n_pre = int(round(spec.pre_onset_s * 1000 / dt_ms))
    n_post = int(round(spec.post_stim_s * 1000 / dt_ms))
    out: dict[int, list[StimSpikes]] = {u.index: [] for u in units}
    for number, pool_index in stims.items():
        listeners = [u for u in units if pool_index in u.heard]
        if not listeners:
            continue
        x = xs[pool_index]
        n_stim = x.shape[1]
        drive = causal_drive(factors[0], factors[1], x, n_stim + n_post) if owner else None
        rates = np.stack(
            [
                unit_rates(
                    u,
                    drive[rows[u.index]] if u.driven else None,
                    n_pre,
                    n_stim,
                    n_post,
                    spec.max_rate_hz,
                    spec.nonlinearity,
                )
                for u in listeners
            ]
        )
        rng = rng_for(spec.seed, animal, "spikes", pool_index)
        counts, times = poisson_spikes(rng, rates, spec.n_trials, dt_ms, -n_pre)
        unit_totals = counts.sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(unit_totals)])
        for j, unit in enumerate(listeners):
            t_u, c_u = times[starts[j] : starts[j + 1]], counts[j].copy()
            if unit.silent and c_u[0] > 0:  # guarantee at least one -999 trial per stimulus
                t_u = t_u[c_u[0] :]
                c_u[0] = 0
            out[unit.index].append(StimSpikes(number, c_u, t_u))
    return out


# --------------------------------------------------------------------------- writing


def _protocol(stim: PoolStim) -> str:
    if stim.type == "song":
        return "Song"
    if stim.type == "mlnoise":
        return "MLnoise"
    return "Call1" if stim.index % 2 == 0 else "Call2"


class _LowLevel:
    """Fast low-level HDF5 object creation without timestamps (byte-reproducible files).

    ``h5py``'s high-level API costs ~100 us per attribute; an AA4 bird has ~10^5 stim
    groups and ~10^6 trial objects, so the hot path uses ``h5py.h5*`` directly.
    """

    _COMPACT_MAX_BYTES = 32 * 1024

    def __init__(self) -> None:
        from h5py import h5a, h5d, h5g, h5p, h5s, h5t

        self._h5a, self._h5d, self._h5g, self._h5s, self._h5t = h5a, h5d, h5g, h5s, h5t
        self.gcpl = h5p.create(h5p.GROUP_CREATE)
        self.gcpl.set_obj_track_times(False)
        self.dcpl = h5p.create(h5p.DATASET_CREATE)
        self.dcpl.set_obj_track_times(False)
        self.dcpl_compact = h5p.create(h5p.DATASET_CREATE)
        self.dcpl_compact.set_obj_track_times(False)
        self.dcpl_compact.set_layout(h5d.COMPACT)
        self.types = {np.dtype(d): h5t.py_create(np.dtype(d)) for d in ("<f8", "<i8")}
        self._f8, self._i8 = self.types[np.dtype("<f8")], self.types[np.dtype("<i8")]
        self._empty_f8 = np.array(float(EMPTY_TRIAL))
        self._empty_i8 = np.array(EMPTY_TRIAL, dtype=np.int64)
        self.scalar = h5s.create(h5s.SCALAR)
        self.vlen_str = h5t.py_create(_vlen_str_dtype(), logical=True)  # file type
        self.vlen_str_mem = h5t.py_create(_vlen_str_dtype())  # in-memory (object pointer) type

    def group(self, parent_id, name: str):
        return self._h5g.create(parent_id, name.encode(), None, self.gcpl)

    def trial(
        self, parent_id, name: bytes, times: np.ndarray, ids: np.ndarray, attrs: list[tuple[str, float]]
    ) -> None:
        """Trial group ``name`` with ``spike_times`` and ``spike_ids`` (the scalar -999
        when there is no spike) and float attributes: the hot loop, kept lean."""
        h5s, h5d = self._h5s, self._h5d
        tg = self._h5g.create(parent_id, name, None, self.gcpl)
        if times.shape[0] == 0:
            space, times, ids = self.scalar, self._empty_f8, self._empty_i8
        else:
            space = h5s.create_simple(times.shape)
        dcpl = self.dcpl_compact if times.nbytes <= self._COMPACT_MAX_BYTES else self.dcpl
        h5d.create(tg, b"spike_times", self._f8, space, dcpl).write(h5s.ALL, h5s.ALL, times)
        h5d.create(tg, b"spike_ids", self._i8, space, dcpl).write(h5s.ALL, h5s.ALL, ids)
        for key, value in attrs:
            self._h5a.create(tg, key.encode(), self._f8, self.scalar).write(np.asarray(value, dtype="<f8"))

    def num_attr(self, parent_id, name: str, value, dtype: str = "<f8") -> None:
        arr = np.asarray(value, dtype=dtype)
        self._h5a.create(parent_id, name.encode(), self.types[arr.dtype], self.scalar).write(arr)

    def str_attr(self, parent_id, name: str, value: str, style: str) -> None:
        """A string attribute as upstream files hold them: variable-length ``str``, a
        fixed-length ``bytes`` scalar, or a one-element fixed-length bytes array."""
        if style == "str":
            arr = np.array(value, dtype=_vlen_str_dtype())
            tid, mtid, space = self.vlen_str, self.vlen_str_mem, self.scalar
        else:
            raw = value.encode("utf-8")
            arr = np.array(raw if style == "bytes" else [raw], dtype=f"S{max(len(raw), 1)}")
            tid = mtid = self._h5t.py_create(arr.dtype)
            space = self.scalar if style == "bytes" else self._h5s.create_simple((1,))
        self._h5a.create(parent_id, name.encode(), tid, space).write(arr, mtype=mtid)


def _vlen_str_dtype() -> np.dtype:
    import h5py

    return h5py.string_dtype("utf-8")


def _trial_attr_values(
    times: np.ndarray, offsets: np.ndarray, duration_s: float, spec: SyntheticSpec
) -> dict[str, np.ndarray]:
    """Upstream-like per-trial attributes for one stimulus (vectorised over trials)."""
    trial = np.repeat(np.arange(offsets.shape[0] - 1), np.diff(offsets))
    n_pre = np.bincount(trial[times < 0], minlength=offsets.shape[0] - 1)
    n_in = np.bincount(trial[(times >= 0) & (times < duration_s)], minlength=offsets.shape[0] - 1)
    values = {
        "bg_rate": n_pre / spec.pre_onset_s if spec.pre_onset_s > 0 else np.zeros(n_pre.shape),
        "peri_rate": n_in / duration_s,
        "pre_time": np.full(n_pre.shape, spec.pre_onset_s),
        "post_time": np.full(n_pre.shape, spec.post_stim_s),
    }
    return {k: values[k] for k in spec.trial_attrs}


def write_unit_file(
    path: Path,
    unit: Unit,
    spikes: list[StimSpikes],
    pool: tuple[PoolStim, ...],
    stims: dict[int, int],
    spec: SyntheticSpec,
    animal: str,
    ll: _LowLevel,
) -> list[tuple[int, int, bool, np.ndarray]]:
    """Write one unit file; returns (stim number, trial, is_empty_scalar, times) per trial."""
    import h5py

    s = unit.string_style
    rows: list[tuple[int, int, bool, np.ndarray]] = []
    trial_names = [str(r + 1).encode() for r in range(spec.n_trials)]
    with h5py.File(path, "w", track_order=False) as fh:
        root = fh.id
        ll.str_attr(root, "sortType", unit.sort_type_raw, s)
        ll.str_attr(root, "site", f"Site{unit.site}", s)
        ll.num_attr(root, "electrode", unit.electrode, "<i8")
        if unit.ldepth is not None:
            ll.num_attr(root, "ldepth", unit.ldepth)
        if unit.rdepth is not None:
            ll.num_attr(root, "rdepth", unit.rdepth)
        ll.num_attr(root, "sortid", unit.sortid, "<i8")
        ll.str_attr(root, "tank_name", f"{animal}_tank", s)
        ll.str_attr(root, "source_directory", f"/auto/tdrive/{animal}/Site{unit.site}", s)
        protocols: dict[str, Any] = {}
        numbers: dict[str, list[int]] = {}
        spike_id = 0
        for item in spikes:
            stim = pool[stims[item.number]]
            proto = _protocol(stim)
            if proto not in protocols:
                protocols[proto] = ll.group(root, proto)
                numbers[proto] = []
            numbers[proto].append(item.number)
            sg = ll.group(protocols[proto], str(item.number))
            ll.str_attr(sg, "stim_type", stim.type, s)
            ll.str_attr(sg, "stim_md5", stim.md5, s)
            ll.str_attr(sg, "stim_class", stim.cls, s)
            ll.num_attr(sg, "stim_duration", stim.duration_s)
            ll.str_attr(sg, "original_wavfile", f"synthetic_{stim.type}_{stim.index:03d}.wav", s)
            offsets = np.concatenate([[0], np.cumsum(item.counts)])
            attrs = _trial_attr_values(item.times, offsets, stim.duration_s, spec)
            ids = np.arange(spike_id, spike_id + item.times.shape[0], dtype=np.int64)
            spike_id += item.times.shape[0]
            for r in range(spec.n_trials):
                times = item.times[offsets[r] : offsets[r + 1]]
                empty = times.shape[0] == 0
                ll.trial(
                    sg,
                    trial_names[r],
                    times,
                    ids[offsets[r] : offsets[r + 1]],
                    [(key, values[r]) for key, values in attrs.items()],
                )
                rows.append((item.number, r + 1, empty, times))
        info = fh.create_group("class_info")
        for proto, nums in sorted(numbers.items()):
            g = info.create_group(proto)
            ll.str_attr(g.id, "stim_type", pool[stims[nums[0]]].type, s)
            g.create_dataset("stim_numbers", data=np.array(nums, dtype=np.int64))
        extra = fh.create_group("extra_info")
        ll.str_attr(extra.id, "recording", f"{animal} synthetic session", s)
        ll.num_attr(extra.id, "n_trials", spec.n_trials, "<i8")
        extra.create_dataset("electrode_map", data=np.arange(1, 33, dtype=np.int64))
    return rows


def corrupt_file_bytes(spec: SyntheticSpec, animal: str, i: int) -> bytes:
    rng = rng_for(spec.seed, animal, "corrupt", i)
    return b"this is not an HDF5 file\n" + rng.integers(0, 256, 2048, dtype=np.uint8).tobytes()


def corrupt_file_name(spec: SyntheticSpec, animal: str, i: int, n_sites: int) -> str:
    rng = rng_for(spec.seed, animal, "corrupt-name", i)
    ld, rd, electrode = int(rng.integers(16, 60)) * 50, int(rng.integers(16, 60)) * 50, int(rng.integers(1, 33))
    return f"Site{n_sites + 1}_L{ld}R{rd}_e{electrode}_s{i}_ss1.h5"


def _str_array(values: list[str]) -> np.ndarray:
    import h5py

    return np.array(values, dtype=h5py.string_dtype("utf-8"))


def write_ground_truth(
    path: Path,
    animal: str,
    spec: SyntheticSpec,
    dt_ms: float,
    params: SpectrogramParams,
    band_hz: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    units: list[Unit],
    corrupt: list[str],
    pool: tuple[PoolStim, ...],
    stims: dict[int, int],
    trial_rows: list[tuple[str, int, int, bool, np.ndarray]],
) -> None:
    import h5py

    from strflow import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    n_l = n_lags(spec, dt_ms)
    with h5py.File(path, "w") as gt:
        a = gt.attrs
        a["animal"] = animal
        a["seed"] = spec.seed
        a["dt_ms"] = float(dt_ms)
        a["spectrogram_params"] = json.dumps(params.as_dict(), sort_keys=True)
        a["spec"] = json.dumps(spec.as_dict(), sort_keys=True)
        a["strflow_version"] = __version__
        a["n_lags"] = n_l
        a["pre_onset_s"] = spec.pre_onset_s
        a["post_stim_s"] = spec.post_stim_s
        a["n_pre_bins"] = int(round(spec.pre_onset_s * 1000 / dt_ms))
        a["n_post_bins"] = int(round(spec.post_stim_s * 1000 / dt_ms))
        a["max_rate_hz"] = spec.max_rate_hz
        shape = {"exp": "exp(gain_c * z_c)", "relu": "max(1 + gain_c * z_c, 0)",
                 "two_subunit": "max(gain_c * z_c - 1, 0)**2"}[spec.nonlinearity]
        a["nonlinearity"] = spec.nonlinearity
        a["rate_model"] = (
            "X = (mel - mean) / std, zero outside the stimulus; d_c[t] = sum_{f,l} strf_c[f,l] X[f,t-l]; "
            f"z_c = (d_c - drive_mean_c) / drive_std_c; rate = sum_c min(baseline_c * {shape}, max_rate_hz); "
            "before onset rate = sum_c baseline_c; noise/tdt: sum_c baseline_c; silent: 0 from onset"
        )
        g = gt.create_group("standardisation")
        g.create_dataset("mean", data=mean)
        g.create_dataset("std", data=std)
        g.create_dataset("band_hz", data=band_hz)
        ug = gt.create_group("units")
        for unit in units:
            h = ug.create_group(unit.name)
            skipped = unit.kind in ("noise", "tdt")
            h.attrs.update(
                file=f"{animal}/{unit.name}",
                cell_id=f"{animal}/{unit.name[:-3]}",
                sort_type_raw=unit.sort_type_raw,
                expected="skipped" if skipped else "kept",
                skip_reason=f"sort type {unit.kind}" if skipped else "",
                kind=unit.kind,
                silent=unit.silent,
                site=f"Site{unit.site}",
                electrode=unit.electrode,
                sortid=unit.sortid,
                subsort_id=-1 if unit.subsort is None else unit.subsort,
                ldepth=np.nan if unit.ldepth is None else unit.ldepth,
                rdepth=np.nan if unit.rdepth is None else unit.rdepth,
                string_style=unit.string_style,
                n_stims_heard=len(unit.heard),
            )
            h.create_dataset("baseline_hz", data=unit.baseline_hz)
            h.create_dataset("gain", data=unit.gain)
            h.create_dataset("drive_mean", data=unit.drive_mean)
            h.create_dataset("drive_std", data=unit.drive_std)
            if unit.strf_components is not None:
                h.create_dataset("strf_components", data=unit.strf_components)
                h.create_dataset("strf", data=linearised_strf(unit))
        for name in corrupt:
            h = ug.create_group(name)
            h.attrs.update(
                file=f"{animal}/{name}",
                cell_id=f"{animal}/{name[:-3]}",
                sort_type_raw="",
                expected="skipped",
                skip_reason="unreadable file",
                kind="corrupt",
                silent=False,
                site="",
                electrode=-1,
                sortid=-1,
                subsort_id=-1,
                ldepth=np.nan,
                rdepth=np.nan,
                string_style="",
                n_stims_heard=0,
            )
        sg = gt.create_group("stims")
        numbers = sorted(stims)
        chosen = [pool[stims[k]] for k in numbers]
        sg.create_dataset("md5", data=_str_array([p.md5 for p in chosen]))
        sg.create_dataset("number", data=np.array(numbers, dtype=np.int64))
        sg.create_dataset("type", data=_str_array([p.type for p in chosen]))
        sg.create_dataset("class", data=_str_array([p.cls for p in chosen]))
        sg.create_dataset("duration_s", data=np.array([p.duration_s for p in chosen]))
        sg.create_dataset("n_samples", data=np.array([p.n_samples for p in chosen], dtype=np.int64))
        sg.create_dataset("sample_rate", data=np.array([p.sample_rate for p in chosen], dtype=np.int64))
        sg.create_dataset("pool_index", data=np.array([p.index for p in chosen], dtype=np.int64))
        tg = gt.create_group("trials")
        n_spikes = np.array([r[4].shape[0] for r in trial_rows], dtype=np.int64)
        md5_of = {k: pool[p].md5 for k, p in stims.items()}
        offset = (
            np.concatenate([[0], np.cumsum(n_spikes)[:-1]]).astype(np.int64)
            if trial_rows
            else np.zeros(0, np.int64)
        )
        spikes = np.concatenate([r[4] for r in trial_rows]).astype(np.float64) if trial_rows else np.zeros(0)
        columns = {
            "unit": _ascii_array([r[0] for r in trial_rows]),
            "stim_md5": _ascii_array([md5_of[r[1]] for r in trial_rows]),
            "stim_number": np.array([r[1] for r in trial_rows], dtype=np.int64),
            "trial": np.array([r[2] for r in trial_rows], dtype=np.int64),
            "is_empty_scalar": np.array([r[3] for r in trial_rows], dtype=bool),
            "offset": offset,
            "n_spikes": n_spikes,
            "spike_times": spikes,
        }
        for name, data in columns.items():
            packed = dict(compression="gzip", compression_opts=4, shuffle=True) if data.shape[0] > 0 else {}
            tg.create_dataset(name, data=data, **packed)


def _ascii_array(values: list[str]) -> np.ndarray:
    """Fixed-length ASCII strings (compressible; read with ``.asstr()``)."""
    width = max((len(v) for v in values), default=1)
    return np.array([v.encode("ascii") for v in values], dtype=f"S{max(width, 1)}")


def linearised_strf(unit: Unit) -> np.ndarray:
    """Unit-norm first-order STRF of a unit: sum_c baseline_c * gain_c / drive_std_c * w_c."""
    w = (unit.baseline_hz * unit.gain / unit.drive_std)[:, None, None] * unit.strf_components
    total = w.sum(axis=0)
    norm = np.linalg.norm(total)
    return total / norm if norm > 0 else total


# --------------------------------------------------------------------------- entry point


def generate_animal(
    raw_dir: str | Path,
    ground_truth_path: str | Path,
    animal: str,
    spec: SyntheticSpec,
    dt_ms: float,
    spectrogram_params: SpectrogramParams,
    *,
    overwrite: bool = False,
) -> None:
    """Write ``raw_dir/<animal>/`` (AA4 layout) and the ground-truth HDF5 for that animal.

    The folder must not exist or be empty, unless ``overwrite`` (which deletes it first).
    """
    if isinstance(spec, dict):
        spec = SyntheticSpec.from_config(spec)
    if isinstance(spectrogram_params, dict):
        spectrogram_params = SpectrogramParams.from_config(spectrogram_params)
    if animal not in spec.animals:
        raise ValueError(f"animal {animal!r} is not in the spec's animals {spec.animals}")
    folder = Path(raw_dir) / animal
    if folder.exists() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{folder}: exists and is not empty (pass overwrite=True to replace it)")
        shutil.rmtree(folder)
    dt_ms = float(dt_ms)
    pool = stimulus_pool(spec)
    spectrograms = pool_spectrograms(spec, dt_ms, spectrogram_params)
    mean, std = band_statistics(spectrograms)
    xs = [(s - mean[:, None]) / std[:, None] for s in spectrograms]
    band_hz = mel_frequencies(spectrogram_params, timegrid.grid_rate(spec.sample_rate, dt_ms))
    stims = animal_stims(spec, animal)
    units = plan_units(spec, animal, band_hz, dt_ms)
    assign_coverage(spec, animal, units, stims)
    spikes = simulate(spec, animal, units, stims, xs, dt_ms)

    (folder / "wavfiles").mkdir(parents=True, exist_ok=True)
    for number, pool_index in stims.items():
        (folder / "wavfiles" / f"stim{number}.wav").write_bytes(pool[pool_index].wav)
    ll = _LowLevel()
    trial_rows: list[tuple[str, int, int, bool, np.ndarray]] = []
    for unit in sorted(units, key=lambda u: u.name):
        rows = write_unit_file(folder / unit.name, unit, spikes[unit.index], pool, stims, spec, animal, ll)
        trial_rows.extend((unit.name, *row) for row in rows)
    n_sites = max(u.site for u in units)
    corrupt = [corrupt_file_name(spec, animal, i, n_sites) for i in range(spec.corrupt_units)]
    for i, name in enumerate(corrupt):
        (folder / name).write_bytes(corrupt_file_bytes(spec, animal, i))
    write_ground_truth(
        Path(ground_truth_path),
        animal,
        spec,
        dt_ms,
        spectrogram_params,
        band_hz,
        mean,
        std,
        sorted(units, key=lambda u: u.name),
        corrupt,
        pool,
        stims,
        trial_rows,
    )


__all__ = ["SyntheticSpec", "generate_animal", "stimulus_pool", "pool_spectrograms", "CALL_CLASSES"]
