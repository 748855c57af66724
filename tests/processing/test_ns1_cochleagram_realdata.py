"""The NS1 cochleagram on the real release wavs (``$STRFLOW_REAL_DATA/ns1_harper2016``):
strflow's exact-grid frames against the published recipe taken literally (native
48,828 Hz, a 244-sample hop, MATLAB frame placement: frame ``j`` starts at sample
``244 j`` and is centred on the end of bin ``j``), written out here with numpy.

Skipped without the variable (a missing folder fails when it is set)."""

from __future__ import annotations

import numpy as np
import pytest

from strflow import timegrid
from strflow.processing.cochleagram import CochleagramSettings, cochleagram
from strflow.io.readers.ns1 import TRUE_WAV_RATE
from strflow.processing.spectrogram import read_wav
from tests.helpers import real_data_dir
from tests.helpers.cochleagram import melbank_lusc


pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def wav_dir():
    root = real_data_dir()
    if root is None:
        pytest.skip("STRFLOW_REAL_DATA not set")
    path = root / "ns1_harper2016" / "spikesandwav" / "SH.En.C"
    assert path.is_dir(), f"STRFLOW_REAL_DATA is set but {path} is missing"
    return path


def published_recipe(wave: np.ndarray, fs: float, p: CochleagramSettings) -> np.ndarray:
    """cochleagram_spec_log.m's steps at the native rate: only frames that fit in the sound."""
    hop = round(0.005 * fs)
    win, n_fft = 2 * hop, 8 * hop
    n = (wave.size - win) // hop + 1
    frames = np.stack([wave[j * hop : j * hop + win] for j in range(n)])
    mag = np.abs(np.fft.rfft(frames * np.hamming(win), n=n_fft, axis=1))
    return np.maximum(20 * np.log10(melbank_lusc(p.n_bands, n_fft, fs, p.fmin_hz, p.fmax_hz) @ mag.T), p.floor_db)


@pytest.mark.parametrize("name", ["source.1.sound.0.snr.0.token.0.fw.2.frozen.1", "source.2.sound.0.snr.0.token.0.fw.1.frozen.8"])
def test_exact_grid_cochleagram_agrees_with_the_published_recipe(wav_dir, name):
    wave, header_rate = read_wav(wav_dir / name)
    p = CochleagramSettings()
    ours, freqs = cochleagram(wave, TRUE_WAV_RATE, 5.0, p)
    published = published_recipe(wave, header_rate, p)
    # one frame per whole 5 ms bin at the true rate (999 or 1000: the files differ by a
    # sample); the published code has 999 frames (windows inside the sound)
    assert ours.shape == (34, timegrid.n_bins(wave.size, TRUE_WAV_RATE, 5.0)) and ours.shape[1] in (999, 1000)
    assert published.shape == (34, 999)
    assert 500 < freqs[0] < 510 and 19_800 < freqs[-1] < 20_000
    # published frame j is centred on sample 244 (j + 1), i.e. 244 (j + 1) / 48828.125 s:
    # half a bin after our frame j at first, drifting 2.9 ms further by the end; read ours
    # there by linear interpolation between our frames (centred on (k + 0.5) * 5 ms)
    u = 244 * (np.arange(999) + 1) / TRUE_WAV_RATE * 1000 / 5.0 - 0.5
    k = np.floor(u).astype(int)
    frac = u - k
    mid = ours[:, k] * (1 - frac) + ours[:, np.minimum(k + 1, ours.shape[1] - 1)] * frac
    pub = published
    r = np.corrcoef(pub.ravel(), mid.ravel())[0, 1]
    print(f"{name}: r = {r:.4f}, median |diff| = {np.median(np.abs(pub - mid)):.2f} dB")
    assert r > 0.97, r
    assert abs(pub.mean() - mid.mean()) < 0.5  # same absolute dB scale (unnormalised |STFT|)
    assert np.median(np.abs(pub - mid)) < 1.0
    # the sounds sit well above the -70 dB floor nearly everywhere
    assert (ours > p.floor_db).mean() > 0.95
