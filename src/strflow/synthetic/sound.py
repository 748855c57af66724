"""The synthetic stimulus pool: songs, calls and modulation-limited noise, their wav bytes
and spectrograms (design: :mod:`strflow.synthetic`)."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from strflow.processing.spectrogram import SpectrogramSettings, mel_spectrogram
from strflow.synthetic.settings import CALL_CLASSES, SyntheticSettings, rng_for


_HARMONIC_CEILING_HZ = 8000.0


_RIPPLE_BAND_HZ = (250.0, 8000.0)


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


def pool_types(spec: SyntheticSettings) -> list[str]:
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


def make_pool_stim(spec: SyntheticSettings, index: int, stim_type: str) -> PoolStim:
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
def stimulus_pool(spec: SyntheticSettings) -> tuple[PoolStim, ...]:
    """The shared pool (cached per spec)."""
    return tuple(make_pool_stim(spec, i, t) for i, t in enumerate(pool_types(spec)))


@lru_cache(maxsize=4)
def pool_spectrograms(spec: SyntheticSettings, dt_ms: float, params: SpectrogramSettings) -> tuple[np.ndarray, ...]:
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
