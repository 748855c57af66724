"""The log-spaced NS1 cochleagram (strflow.processing.cochleagram) against the published recipe
(Rahman et al., cochlear_models ``cochleagram_spec_log.m`` type 'log' with voicebox-style
``melbankbw(34, nfft, fs, fmin/fs, fmax/fs, 'lusc')``), recomputed here independently."""

import copy

import jsonschema
import numpy as np
import pytest
import yaml

from strflow.processing.cochleagram import CochleagramSettings, band_centres_hz, cochleagram, log_filterbank
from strflow.config import dataset_settings
from strflow.processing.spectrogram import SpectrogramSettings, compute_spectrogram, spectrogram_settings

from tests.helpers import REPO
from tests.helpers.cochleagram import melbank_lusc

CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
P = CochleagramSettings()
SR_GRID = 48800.0  # 5 ms = 244 samples exactly: no resampling, frames can be checked sample by sample


def test_band_centres_are_the_published_list():
    wsr = [2**1.5 * 440 * 2 ** (k / 24) for k in range(-31, 98)]
    centres = band_centres_hz(P)
    assert centres.shape == (34,)
    assert centres[0] == pytest.approx(wsr[0], rel=1e-12) and centres[-1] == pytest.approx(wsr[-2], rel=1e-12)
    assert 505 < centres[0] < 510 and 19800 < centres[-1] < 20000  # "500 Hz" and "19.9 kHz"
    ratios = centres[1:] / centres[:-1]
    np.testing.assert_allclose(ratios, (wsr[-2] / wsr[0]) ** (1 / 33), rtol=1e-12)  # equal log spacing
    # config.yaml's default block is the published recipe
    assert CochleagramSettings(**CONFIG["processing"]["spectrogram"]["cochleagram"]) == P


@pytest.mark.parametrize("dt", [1.0, 5.0, 10.0])
def test_filterbank_matches_the_published_construction(dt):
    hop = round(SR_GRID * dt / 1000)
    n_fft = 4 * 2 * hop
    w = log_filterbank(P, SR_GRID, n_fft)
    ref = melbank_lusc(34, n_fft, SR_GRID, P.fmin_hz, P.fmax_hz)
    assert w.shape == ref.shape == (34, n_fft // 2 + 1)
    np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(w.sum(axis=1), 1.0)
    # edges: band b is non-zero exactly strictly between its neighbours' centres
    # (one spacing beyond the outer centres for the first and last bands)
    r = (P.fmax_hz / P.fmin_hz) ** (1 / 33)
    freqs = np.arange(n_fft // 2 + 1) * SR_GRID / n_fft
    for b in range(34):
        lo, hi = P.fmin_hz * r ** (b - 1), P.fmin_hz * r ** (b + 1)
        inside = (freqs > lo) & (freqs < hi)
        assert inside.any()
        np.testing.assert_array_equal(w[b] > 0, inside)
    # highest non-zero bin: below the top band's upper edge, 22.25 kHz, under Nyquist
    assert freqs[np.flatnonzero(w[-1])[-1]] < P.fmax_hz * r < SR_GRID / 2


def test_one_frame_by_hand():
    rng = np.random.default_rng(3)
    dt, hop = 5.0, 244
    wave = rng.standard_normal(int(0.2 * SR_GRID)) * 0.1  # 40 bins
    spec, freqs = cochleagram(wave, SR_GRID, dt, P)
    assert spec.shape == (34, 40) and spec.dtype == np.float32
    np.testing.assert_allclose(freqs, band_centres_hz(P))
    weights = melbank_lusc(34, 4 * 488, SR_GRID, P.fmin_hz, P.fmax_hz)
    for k in (0, 17, 39):
        # frame k: 488 samples (2 bins) centred on the centre of bin k, (k + 0.5) * 244;
        # silence before onset and after the end
        start = k * hop + hop // 2 - hop
        seg = np.zeros(2 * hop)
        for i in range(2 * hop):
            if 0 <= start + i < wave.size:
                seg[i] = wave[start + i]
        mag = np.abs(np.fft.rfft(seg * np.hamming(2 * hop), n=4 * 2 * hop))  # numpy's Hamming is symmetric
        expected = np.maximum(20 * np.log10(weights @ mag), -70.0)
        np.testing.assert_allclose(spec[:, k], expected, atol=2e-4)


def test_floor_and_tone_at_a_band_centre():
    t = np.arange(int(0.5 * SR_GRID)) / SR_GRID
    silent, _ = cochleagram(np.zeros(t.size), SR_GRID, 5.0, P)
    assert (silent == -70.0).all()  # absolute floor, not relative to the maximum
    centres = band_centres_hz(P)
    for b in (3, 20, 33):
        loud, _ = cochleagram(np.sin(2 * np.pi * centres[b] * t), SR_GRID, 5.0, P)
        mid = loud[:, 10:-10]
        assert (np.argmax(mid, axis=0) == b).all()
        # a full-scale tone: at most sum(hamming) / 2 = 132 (42.4 dB) through the band's unit-sum weights
        assert 10 < mid[b].mean() < 20 * np.log10(np.hamming(488).sum() / 2)
        quiet, _ = cochleagram(1e-6 * np.sin(2 * np.pi * centres[b] * t), SR_GRID, 5.0, P)
        assert (quiet == -70.0).all()  # 120 dB quieter: floored everywhere
        mid_q, _ = cochleagram(3e-4 * np.sin(2 * np.pi * centres[b] * t), SR_GRID, 5.0, P)
        # 70.5 dB quieter: the centre band drops by exactly that (dB of a magnitude), distant bands floor
        assert mid_q[b, 10:-10].mean() == pytest.approx(mid[b].mean() + 20 * np.log10(3e-4), abs=0.01)
        assert (mid_q[(b + 17) % 34, 10:-10] == -70.0).all()


@pytest.mark.parametrize("pre", [0, 4])
def test_click_lands_in_its_bin_on_the_exact_grid(pre):
    # NS1's native 48828 Hz: 5 ms is 244.14 samples, so the sound is resampled to 48800 Hz.
    # The published 244-sample hop would drift 2.9 ms over 5 s; here each click stays in its bin.
    sr, dt = 48828.0, 5.0
    wave = np.zeros(int(5 * sr))
    click_bins = np.array([3, 250, 600, 997])
    for k in click_bins:
        wave[int(round((k + 0.5) * dt / 1000 * sr))] = 1.0  # the centre of bin k
    spec, _ = cochleagram(wave, sr, dt, P, pre_bins=pre)
    assert spec.shape == (34, 1000 + pre)
    energy = (10 ** (spec / 20)).sum(axis=0)
    for k in click_bins:
        around = energy[pre + k - 2 : pre + k + 3]
        assert np.argmax(around) == 2, (k, around)
        assert around[2] > 3 * max(around[1], around[3])  # neighbours see it only in their Hamming tails
    if pre:
        assert (spec[:, : pre - 1] == -70.0).all()  # silence before onset


def test_validation_errors():
    wave = np.zeros(int(0.1 * SR_GRID))
    with pytest.raises(ValueError, match="increase nfft_mult"):
        cochleagram(wave, SR_GRID, 1.0, CochleagramSettings(nfft_mult=1))  # 49-sample window: 1 kHz FFT bins
    with pytest.raises(ValueError, match="Nyquist"):
        cochleagram(np.zeros(2400), 24000.0, 5.0, P)  # 19.9 kHz band at 24 kHz
    with pytest.raises(ValueError, match="shorter than one"):
        cochleagram(wave[:100], SR_GRID, 5.0, P)
    with pytest.raises(ValueError, match="pre_bins"):
        cochleagram(wave, SR_GRID, 5.0, P, pre_bins=-1)
    for bad in (dict(n_bands=1), dict(fmin_hz=2000, fmax_hz=1000), dict(fmin_hz=0), dict(window_bins=0), dict(nfft_mult=1.5)):
        with pytest.raises(ValueError):
            CochleagramSettings(**bad)


def test_config_kinds_defaults_and_validation():
    jsonschema.validate(CONFIG, SCHEMA)
    # NS1 gets the cochleagram; the zebra-finch and synthetic datasets keep the mel settings
    ns1 = spectrogram_settings(dataset_settings(CONFIG, "ns1").processing["spectrogram"])
    assert ns1 == P
    for name in ("demo", "aa4", "aa1"):
        mel = spectrogram_settings(dataset_settings(CONFIG, name).processing["spectrogram"])
        # the exact settings (and so the recorded params attribute) of before the cochleagram existed
        assert isinstance(mel, SpectrogramSettings)
        assert mel.as_dict() == dict(n_mels=32, window_ms=10, fmin_hz=250, fmax_hz=8000, compression="cubic",
                                     mel_scale="htk", mel_norm=None, amin=1e-10)
    assert P.as_dict()["kind"] == "cochleagram"
    # dispatch: the same wave through either kind
    wave = np.random.default_rng(0).standard_normal(int(0.1 * SR_GRID))
    assert compute_spectrogram(wave, SR_GRID, 5.0, ns1)[0].shape == (34, 20)
    assert compute_spectrogram(wave, SR_GRID, 5.0, SpectrogramSettings(fmin_hz=250, fmax_hz=8000))[0].shape == (32, 20)
    with pytest.raises(ValueError, match="kind"):
        spectrogram_settings({"kind": "gammatone"})
    with pytest.raises(ValueError, match="not mel"):
        SpectrogramSettings.from_config({"kind": "cochleagram"})

    def invalid(mutate):
        cfg = copy.deepcopy(CONFIG)
        mutate(cfg)
        with pytest.raises(jsonschema.ValidationError) as err:
            jsonschema.validate(cfg, SCHEMA)
        return err.value

    # a mel key next to kind: cochleagram is refused, and names the key
    err = invalid(lambda c: c["datasets"]["ns1"]["processing"]["spectrogram"].update(n_mels=64))
    assert "n_mels" in list(err.absolute_path)
    invalid(lambda c: c["datasets"]["ns1"]["processing"]["spectrogram"].update(fmax_hz=16000))
    invalid(lambda c: c["datasets"]["ns1"]["processing"]["spectrogram"].update(kind="gammatone"))
    invalid(lambda c: c["datasets"]["ns1"]["processing"]["spectrogram"].update(cochleagram={"n_mels": 34}))
    invalid(lambda c: c["datasets"]["ns1"]["processing"]["spectrogram"].update(cochleagram={"n_bands": 1}))
    invalid(lambda c: c["datasets"]["ns1"]["processing"]["spectrogram"].update(cochleagram={"window_bins": 1.5}))
    # the cochleagram's own keys are fine, and a mel dataset may carry the (ignored) cochleagram block
    cfg = copy.deepcopy(CONFIG)
    cfg["datasets"]["ns1"]["processing"]["spectrogram"]["cochleagram"] = {"n_bands": 40, "fmax_hz": 16000}
    jsonschema.validate(cfg, SCHEMA)
    assert spectrogram_settings(dataset_settings(cfg, "ns1").processing["spectrogram"]) == CochleagramSettings(
        n_bands=40, fmax_hz=16000
    )
    # a synthetic dataset's ground truth is drawn on the mel spectrogram
    cfg["datasets"]["demo"]["processing"] = {"spectrogram": {"kind": "cochleagram"}}
    jsonschema.validate(cfg, SCHEMA)
    with pytest.raises(ValueError, match="'demo'.*synthetic.*mel"):
        dataset_settings(cfg, "demo")
