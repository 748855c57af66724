"""Log-spaced cochleagram: the stimulus representation behind every published NS1 result.

Harper et al. 2016, Rahman et al. 2019/2020 and deepSTRF's NS1 benchmarks (its
precomputed ``X_nfht``) all use the ``'log'`` cochleagram of Rahman's
``cochleagram_spec_log.m`` (github.com/monzilur/cochlear_models, with its voicebox-style
filterbank ``Spectrogram/melbankbw.m``).  This module is our own implementation of that
recipe (numpy/scipy/librosa), on strflow's exact time grid:

1. hop = one bin (``timegrid.hop_samples``; the sound is resampled to the grid rate when
   the native rate gives no integer hop, e.g. NS1's 48,828 Hz -> 48,800 Hz at 5 ms);
2. window = ``window_bins`` hops (published: 2, i.e. 10 ms at 5 ms), a *symmetric*
   Hamming window (MATLAB's ``spectrogram`` with an integer window length);
3. FFT length = ``nfft_mult`` x the window (published: 4); magnitude ``|STFT|``
   (not power), unnormalised like MATLAB's;
4. ``n_bands`` (34) triangular filters equally spaced on a log10-frequency axis, the
   lowest and highest *centred* on ``fmin_hz`` and ``fmax_hz`` (published: 508.4 Hz and
   19.91 kHz, the first and second-to-last entries of ``2^1.5 * 440 * 2^((-31:97)/24)``);
   each triangle is linear in log10 frequency, reaches 1 at its centre and 0 at its
   neighbours' centres, and is scaled to sum to one over the FFT bins (melbankbw's
   ``'lusc'``: log, unity sum, single-sided, centres);
5. ``max(20 log10(filterbank @ |STFT|), floor_db)`` with ``floor_db`` = -70 dB (an
   absolute floor, not relative to the clip's maximum).

Where strflow's grid differs from the published code (and which it follows):

* Frame alignment.  MATLAB's frames start at sample 0, so published frame ``k`` is centred
  on ``(k + 1) * dt``: the end of bin ``k``.  strflow centres frame ``k`` on the centre of
  bin ``k``, ``(k + 0.5) * dt`` (the signal is zero-padded by ``(window - hop) // 2``
  samples before onset, as for the mel spectrogram): half a bin earlier than published.
* Frame count.  The published code keeps only frames whose window fits inside the sound
  (999 for a 5 s NS1 clip at 5 ms); strflow makes one frame per whole bin (1000), the
  last window reaching into the silence after the sound.
* Hop.  The published hop is ``round(dt * fs)`` samples at the native rate (244 samples =
  4.997 ms at 48,828 Hz), so its frames drift by about 3 ms over 5 s against a true 5 ms
  grid; strflow resamples to 48,800 Hz so that 244 samples are exactly 5 ms.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from strflow import timegrid

# The published band-centre list (cochleagram_spec_log.m): f_min is its first entry,
# f_max its second-to-last.
_WSR_CFS = 2**1.5 * 440.0 * 2.0 ** (np.arange(-31, 98) / 24.0)
PUBLISHED_FMIN_HZ = float(_WSR_CFS[0])  # 508.355... Hz ("500 Hz" in the source)
PUBLISHED_FMAX_HZ = float(_WSR_CFS[-2])  # 19912.13 Hz ("19900 Hz")


@dataclass(frozen=True)
class CochleagramSettings:
    n_bands: int = 34
    fmin_hz: float = PUBLISHED_FMIN_HZ  # centre of the lowest band
    fmax_hz: float = PUBLISHED_FMAX_HZ  # centre of the highest band
    window_bins: int = 2  # analysis window in hops (bins): 10 ms at dt = 5 ms
    nfft_mult: int = 4  # FFT length = nfft_mult x window
    floor_db: float = -70.0  # absolute floor of 20 log10(magnitude)

    def __post_init__(self) -> None:
        if int(self.n_bands) != self.n_bands or self.n_bands < 2:
            raise ValueError(f"cochleagram n_bands must be an integer >= 2, got {self.n_bands!r}")
        if not 0 < self.fmin_hz < self.fmax_hz:
            raise ValueError(f"cochleagram needs 0 < fmin_hz < fmax_hz, got fmin_hz={self.fmin_hz}, fmax_hz={self.fmax_hz}")
        for key in ("window_bins", "nfft_mult"):
            value = getattr(self, key)
            if int(value) != value or value < 1:
                raise ValueError(f"cochleagram {key} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_config(cls, cfg: dict | None) -> "CochleagramSettings":
        return cls(**(cfg or {}))

    def as_dict(self) -> dict:
        """The settings recorded in ``spectrograms.h5`` (``kind`` tells them from mel's)."""
        return {"kind": "cochleagram", **asdict(self)}


def band_centres_hz(params: CochleagramSettings) -> np.ndarray:
    """The ``n_bands`` centre frequencies (Hz), equally spaced in log10 frequency."""
    return 10.0 ** np.linspace(math.log10(params.fmin_hz), math.log10(params.fmax_hz), params.n_bands)


def log_filterbank(params: CochleagramSettings, sr: float, n_fft: int) -> np.ndarray:
    """``(n_bands, n_fft // 2 + 1)`` weights of the one-sided FFT bins (``k * sr / n_fft``).

    Triangles in log10 frequency between neighbouring centres (the lowest and highest
    bands extend one spacing beyond ``fmin_hz``/``fmax_hz``), each row scaled to sum to one.
    A band that no FFT bin reaches is an error (raise ``nfft_mult``)."""
    if params.fmax_hz > sr / 2:
        raise ValueError(f"cochleagram fmax_hz={params.fmax_hz} exceeds the Nyquist frequency {sr / 2} Hz")
    centres = np.log10(band_centres_hz(params))
    spacing = (centres[-1] - centres[0]) / (params.n_bands - 1)
    freqs = np.arange(n_fft // 2 + 1) * (sr / n_fft)
    with np.errstate(divide="ignore"):
        log_f = np.log10(freqs)  # DC: -inf, weight 0
    weights = np.maximum(0.0, 1.0 - np.abs(log_f[None, :] - centres[:, None]) / spacing)
    sums = weights.sum(axis=1)
    if (sums == 0).any():
        empty = np.flatnonzero(sums == 0)
        raise ValueError(
            f"cochleagram bands {empty.tolist()} contain no FFT bin at n_fft={n_fft}, {sr} Hz; increase nfft_mult"
        )
    return weights / sums[:, None]


def cochleagram(
    wave: np.ndarray, sr: float, dt_ms: float, params: CochleagramSettings, pre_bins: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(n_bands, pre_bins + n_bins) float32 cochleagram in dB of a mono sound, and its band
    centres (Hz).  Frame ``k`` is centred on the centre of bin ``k``; ``pre_bins`` frames
    of silence before onset as in :func:`strflow.processing.spectrogram.mel_spectrogram`."""
    import librosa
    import scipy.fft
    import scipy.signal

    if pre_bins < 0:
        raise ValueError(f"pre_bins must be >= 0, got {pre_bins}")
    wave, sr_grid, hop, n_frames = timegrid.resample_to_grid(wave, sr, dt_ms)
    win = params.window_bins * hop
    n_fft = params.nfft_mult * win
    weights = log_filterbank(params, sr_grid, n_fft)
    n_frames += pre_bins
    # Frame k's window covers samples [(k - pre_bins) * hop - left, ... + win) of the sound:
    # centred on the bin's centre; before onset and after the end there is silence.
    left = (win - hop) // 2 + pre_bins * hop
    padded = np.zeros((n_frames - 1) * hop + win, dtype=np.float64)
    src = wave[: padded.shape[0] - left]
    padded[left : left + src.shape[0]] = src
    frames = librosa.util.frame(padded, frame_length=win, hop_length=hop, axis=0)  # (n_frames, win)
    window = scipy.signal.windows.hamming(win, sym=True)
    magnitude = np.abs(scipy.fft.rfft(frames * window, n=n_fft, axis=1))  # (n_frames, n_fft // 2 + 1)
    bands = weights @ magnitude.T
    with np.errstate(divide="ignore"):
        db = 20.0 * np.log10(bands)
    out = np.maximum(db, params.floor_db)
    assert out.shape == (params.n_bands, n_frames), (out.shape, n_frames)
    return out.astype(np.float32), band_centres_hz(params)
