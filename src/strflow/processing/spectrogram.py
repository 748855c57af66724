"""Mel spectrograms on the exact strflow time grid (librosa).

Recipe (defaults in ``config.yaml``; every field of :class:`SpectrogramSettings` is
configurable):

1. Read the wav with soundfile (any sub-type, including NS1's extension-less
   IEEE-float files); multi-channel files are mean-downmixed to mono.
2. Resample with librosa (soxr) to the grid rate when the native rate does not give
   an integer hop (see :mod:`strflow.timegrid`).
3. Power STFT with a periodic Hann window of ``window_ms`` (``n_fft`` samples), hop =
   one bin.  Frame ``k`` is centred on the centre of bin ``k`` (to within half a
   sample): the signal is zero-padded by ``(n_fft - hop) // 2`` samples before onset,
   because before onset there is silence.  Exactly ``n_bins`` frames are produced.
4. Mel filterbank (``n_mels`` bands between ``fmin_hz`` and ``fmax_hz``; HTK mel scale
   and unnormalised triangles by default, as torchaudio and deepSTRF use).
5. Compression: ``cubic`` (power ** 1/3, deepSTRF's default), ``log`` (dB,
   ``10 log10(max(power, amin))``), ``log1p`` or ``none``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from strflow import timegrid

COMPRESSIONS = ("cubic", "log", "log1p", "none")


@dataclass(frozen=True)
class SpectrogramSettings:
    n_mels: int = 32
    window_ms: float = 10.0
    fmin_hz: float = 0.0
    fmax_hz: float | None = None  # None: Nyquist of the grid rate
    compression: str = "cubic"
    mel_scale: str = "htk"  # "htk" or "slaney"
    mel_norm: str | None = None  # None or "slaney" (area normalisation)
    amin: float = 1e-10  # floor for compression == "log"

    def __post_init__(self) -> None:
        if self.compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {self.compression!r}")
        if self.mel_scale not in ("htk", "slaney"):
            raise ValueError(f"mel_scale must be 'htk' or 'slaney', got {self.mel_scale!r}")
        if self.n_mels < 1 or self.window_ms <= 0:
            raise ValueError("n_mels must be >= 1 and window_ms > 0")
        if self.fmax_hz is not None and self.fmax_hz <= self.fmin_hz:
            raise ValueError(f"fmax_hz ({self.fmax_hz}) must exceed fmin_hz ({self.fmin_hz})")

    @classmethod
    def from_config(cls, cfg: dict) -> "SpectrogramSettings":
        """The mel settings of a ``processing.spectrogram`` block (``kind`` and the
        ``cochleagram:`` sub-block are not mel settings and are left out)."""
        if cfg.get("kind", "mel") != "mel":
            raise ValueError(f"spectrogram kind is {cfg['kind']!r}, not mel: use spectrogram_settings()")
        return cls(**{k: v for k, v in cfg.items() if k not in ("kind", "cochleagram")})

    def as_dict(self) -> dict:
        return asdict(self)


def read_wav(path: str | Path) -> tuple[np.ndarray, float]:
    """Mono float64 samples and the sample rate; a clear error names a bad file."""
    import soundfile as sf

    try:
        data, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises LibsndfileError / RuntimeError
        raise ValueError(f"{path}: cannot read as audio ({exc})") from exc
    if data.shape[0] == 0:
        raise ValueError(f"{path}: audio file has no samples")
    return data.mean(axis=1), float(sr)


def wav_info(path: str | Path) -> tuple[int, float]:
    """(n_samples, sample_rate) from the header only."""
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception as exc:
        raise ValueError(f"{path}: cannot read as audio ({exc})") from exc
    return int(info.frames), float(info.samplerate)


def mel_frequencies(params: SpectrogramSettings, sr_grid: float) -> np.ndarray:
    """Centre frequency (Hz) of each mel band."""
    import librosa

    fmax = params.fmax_hz if params.fmax_hz is not None else sr_grid / 2
    edges = librosa.mel_frequencies(
        params.n_mels + 2, fmin=params.fmin_hz, fmax=fmax, htk=params.mel_scale == "htk"
    )
    return edges[1:-1]


def mel_spectrogram(
    wave: np.ndarray, sr: float, dt_ms: float, params: SpectrogramSettings, pre_bins: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """(n_mels, pre_bins + n_bins) float32 spectrogram of a mono sound and its band
    centres (Hz).  ``pre_bins`` frames of silence before onset (the pre-stimulus
    window): frame ``pre_bins + k`` is then exactly frame ``k`` without the window."""
    import librosa

    wave, sr_grid, hop, n_frames = timegrid.resample_to_grid(wave, sr, dt_ms)
    if pre_bins < 0:
        raise ValueError(f"pre_bins must be >= 0, got {pre_bins}")
    if pre_bins:
        # silence before onset, a whole number of hops at the grid rate
        wave = np.concatenate([np.zeros(pre_bins * hop), wave])
        n_frames += pre_bins
    n_fft = max(int(round(params.window_ms * sr_grid / 1000.0)), 1)
    if params.fmax_hz is not None and params.fmax_hz > sr_grid / 2:
        raise ValueError(f"fmax_hz={params.fmax_hz} exceeds the Nyquist frequency {sr_grid / 2} Hz")
    left = (n_fft - hop) // 2
    needed = (n_frames - 1) * hop + n_fft
    padded = np.zeros(needed, dtype=np.float64)
    # Samples before onset (left padding) and after the sound are silence.
    start = max(left, 0)
    src = wave[max(-left, 0) :][: needed - start]
    padded[start : start + src.shape[0]] = src
    stft = librosa.stft(
        padded, n_fft=n_fft, hop_length=hop, win_length=n_fft, window="hann", center=False
    )
    power = np.abs(stft) ** 2
    mel = librosa.feature.melspectrogram(
        S=power,
        sr=sr_grid,
        n_fft=n_fft,
        n_mels=params.n_mels,
        fmin=params.fmin_hz,
        fmax=params.fmax_hz,
        htk=params.mel_scale == "htk",
        norm=params.mel_norm,
    )
    assert mel.shape[1] == n_frames, (mel.shape, n_frames)
    return compress(mel, params).astype(np.float32), mel_frequencies(params, sr_grid)


def compress(power: np.ndarray, params: SpectrogramSettings) -> np.ndarray:
    if params.compression == "cubic":
        return np.cbrt(power)
    if params.compression == "log":
        return 10.0 * np.log10(np.maximum(power, params.amin))
    if params.compression == "log1p":
        return np.log1p(power)
    return power


KINDS = ("mel", "cochleagram")


def spectrogram_settings(cfg: dict):
    """The settings object of a merged ``processing.spectrogram`` block.

    ``kind: mel`` (the default when absent): :class:`SpectrogramSettings` from the mel keys.
    ``kind: cochleagram``: :class:`strflow.processing.cochleagram.CochleagramSettings` from the
    ``cochleagram:`` sub-block; the mel keys a dataset inherits from the shared defaults
    are ignored (the config schema refuses mel keys written next to ``kind: cochleagram``)."""
    kind = cfg.get("kind", "mel")
    if kind == "mel":
        return SpectrogramSettings.from_config(cfg)
    if kind == "cochleagram":
        from strflow.processing.cochleagram import CochleagramSettings

        return CochleagramSettings.from_config(cfg.get("cochleagram"))
    raise ValueError(f"spectrogram kind must be one of {KINDS}, got {kind!r}")


def compute_spectrogram(wave: np.ndarray, sr: float, dt_ms: float, settings, pre_bins: int = 0):
    """(bands, frames) float32 and band centres (Hz) for either kind of settings."""
    if isinstance(settings, SpectrogramSettings):
        return mel_spectrogram(wave, sr, dt_ms, settings, pre_bins=pre_bins)
    from strflow.processing.cochleagram import cochleagram

    return cochleagram(wave, sr, dt_ms, settings, pre_bins=pre_bins)
