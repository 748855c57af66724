"""The one time grid shared by spike bins and spectrogram frames.

Every stimulus-locked array in strflow lives on the same grid: bin ``k`` covers
``[k*dt, (k+1)*dt)`` milliseconds after stimulus onset, for ``k = 0 .. n_bins-1``,
and spectrogram frame ``k`` is the analysis window centred on that bin's centre,
``(k + 0.5) * dt``.  ``n_bins`` counts only whole bins inside the stimulus, so a
bin never extends past the end of the sound.

The spectrogram hop must be an integer number of samples.  When ``sr * dt / 1000``
is not an integer (AA4 wavs are 24414 Hz: 24.414 samples per ms) the sound is
resampled to ``hop * 1000 / dt`` Hz with ``hop = round(sr * dt / 1000)``, the
closest rate that makes the grid exact.  deepSTRF instead truncates the hop to 24
samples and drifts to 0.983 ms frames against 1 ms bins; strflow never drifts.
"""

from __future__ import annotations

import math

import numpy as np

# Tolerance (in units of bins) for spikes that sit on a bin edge up to float error:
# 12.000000000000002 ms at dt = 1 belongs to bin 12, not 11.
_EDGE_DECIMALS = 9


def hop_samples(sr: float, dt_ms: float) -> int:
    """Number of samples per bin on the exact grid (at the grid sample rate)."""
    if sr <= 0 or dt_ms <= 0:
        raise ValueError(f"sample rate and dt must be positive (sr={sr}, dt_ms={dt_ms})")
    hop = round(sr * dt_ms / 1000.0)
    if hop < 1:
        raise ValueError(f"dt_ms={dt_ms} is shorter than one sample at {sr} Hz")
    return hop


def grid_rate(sr: float, dt_ms: float) -> float:
    """Sample rate (Hz) at which one bin is exactly ``hop_samples(sr, dt_ms)`` samples.

    Equals ``sr`` when the native rate already gives an integer hop.
    """
    hop = hop_samples(sr, dt_ms)
    rate = hop * 1000.0 / dt_ms
    if math.isclose(rate, sr, rel_tol=1e-12):
        return float(sr)
    return rate


def n_bins(n_samples: int, sr: float, dt_ms: float) -> int:
    """Number of whole ``dt_ms`` bins inside a sound of ``n_samples`` at ``sr`` Hz."""
    duration_ms = n_samples * 1000.0 / sr
    return int(math.floor(round(duration_ms / dt_ms, _EDGE_DECIMALS)))


def bin_index(t_ms: np.ndarray, dt_ms: float) -> np.ndarray:
    """Bin index of each time (ms after onset); negative for pre-onset times."""
    return np.floor(np.round(np.asarray(t_ms, dtype=np.float64) / dt_ms, _EDGE_DECIMALS)).astype(
        np.int64
    )


def resample_to_grid(wave, sr: float, dt_ms: float) -> tuple[np.ndarray, float, int, int]:
    """``(wave at the grid rate, grid rate, samples per bin, whole bins of the sound)``.

    The one place a sound is put on the time grid (spectrograms, cochleagrams and
    waveforms all start here): resampled with librosa/soxr to :func:`grid_rate` when the
    native rate does not give a whole number of samples per bin."""
    wave = np.asarray(wave, dtype=np.float64)
    n = n_bins(wave.shape[0], sr, dt_ms)
    if n < 1:
        raise ValueError(f"sound of {wave.shape[0]} samples at {sr} Hz is shorter than one {dt_ms} ms bin")
    rate = grid_rate(sr, dt_ms)
    if rate != sr:
        import librosa

        wave = librosa.resample(wave, orig_sr=sr, target_sr=rate, res_type="soxr_hq")
    return wave, rate, hop_samples(sr, dt_ms), n


def n_lags(max_lag_ms: float, dt_ms: float) -> int:
    """Causal lags ``0 .. max_lag_ms`` inclusive, in bins: the one lag count of every
    model (ridge STRFs and the neural-network zoo)."""
    return int(round(float(max_lag_ms) / dt_ms)) + 1

