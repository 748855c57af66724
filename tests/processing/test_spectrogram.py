import numpy as np
import pytest

from strflow.processing.spectrogram import SpectrogramSettings, mel_spectrogram

SR = 24414.0
P = SpectrogramSettings(fmin_hz=250, fmax_hz=8000, compression="none")


def tone(freq, start_s, stop_s, total_s, sr=SR):
    t = np.arange(int(round(total_s * sr))) / sr
    return np.sin(2 * np.pi * freq * t) * ((t >= start_s) & (t < stop_s))


@pytest.mark.parametrize("dt", [1.0, 2.0, 5.0, 10.0])
def test_frames_are_the_bins(dt):
    spec, freqs = mel_spectrogram(tone(2000, 0.2, 0.4, 1.0), SR, dt, P)
    assert spec.shape == (32, int(1000 // dt))
    energy = spec.sum(axis=0)
    on = np.arange(spec.shape[1])
    centres = (on + 0.5) * dt
    # frames whose whole 10 ms window lies inside the tone carry it; frames far outside are silent
    inside = (centres - 5 >= 200) & (centres + 5 <= 400)
    outside = (centres + 5 < 200) | (centres - 5 > 400)
    assert energy[inside].min() > 100 * energy[outside].max()
    assert abs(freqs[np.argmax(spec[:, inside].mean(axis=1))] - 2000) < 200


@pytest.mark.filterwarnings("ignore:Empty filters detected")
def test_click_lands_in_its_bin_without_drift():
    # clicks every 100 ms over 3 s at 24414 Hz: at 1 ms a truncated 24-sample hop would
    # drift by 50 ms by the end; the exact grid keeps each click in its own bin
    dt = 1.0
    n = int(3 * SR)
    wave = np.zeros(n)
    click_ms = np.arange(50, 3000, 100) + 0.5
    wave[np.round(click_ms / 1000 * SR).astype(int)] = 1.0
    spec, _ = mel_spectrogram(wave, SR, dt, SpectrogramSettings(fmin_hz=250, fmax_hz=8000, window_ms=2, compression="none"))
    energy = spec.sum(axis=0)
    for c in click_ms:
        k = int(c // dt)
        assert np.argmax(energy[k - 3 : k + 4]) == 3, c


def test_compressions_and_validation():
    wave = tone(1000, 0, 0.5, 0.5)
    base, _ = mel_spectrogram(wave, SR, 5, P)
    cubic, _ = mel_spectrogram(wave, SR, 5, SpectrogramSettings(fmin_hz=250, fmax_hz=8000))
    np.testing.assert_allclose(cubic, np.cbrt(base), rtol=1e-4, atol=1e-6)
    log, _ = mel_spectrogram(wave, SR, 5, SpectrogramSettings(fmin_hz=250, fmax_hz=8000, compression="log"))
    np.testing.assert_allclose(log, 10 * np.log10(np.maximum(base, 1e-10)), rtol=1e-4, atol=1e-3)
    with pytest.raises(ValueError):
        SpectrogramSettings(compression="sqrt")
    with pytest.raises(ValueError, match="Nyquist"):
        mel_spectrogram(wave, SR, 5, SpectrogramSettings(fmax_hz=20000))
    with pytest.raises(ValueError, match="shorter than one"):
        mel_spectrogram(wave[:10], SR, 5, P)


@pytest.mark.parametrize("dt", [1.0, 5.0])
def test_pre_stimulus_window_prepends_silence(dt):
    wave = tone(3000, 0.0, 0.3, 0.3)
    cubic = SpectrogramSettings(fmin_hz=250, fmax_hz=8000, compression="cubic")
    plain, _ = mel_spectrogram(wave, SR, dt, cubic)
    pre = int(round(50 / dt))
    padded, _ = mel_spectrogram(wave, SR, dt, cubic, pre_bins=pre)
    assert padded.shape == (32, plain.shape[1] + pre)
    # frame pre + k is frame k: before onset there is silence either way
    np.testing.assert_array_equal(padded[:, pre:], plain)
    # frames whose 10 ms window ends before onset are pure silence (cube root of 0)
    ends_ms = (np.arange(pre) - pre + 0.5) * dt + 5.0
    assert (ends_ms <= 0).sum() >= pre - 5
    assert not padded[:, :pre][:, ends_ms <= 0].any()
    # the frame straddling onset already hears the tone
    assert padded[:, pre - 1].sum() > 0
    with pytest.raises(ValueError, match="pre_bins"):
        mel_spectrogram(wave, SR, dt, cubic, pre_bins=-1)
