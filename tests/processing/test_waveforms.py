"""Stimuli as waveforms: ``waveforms.h5`` and ``open_dataset(path, stimulus="waveform")``.

A hand-built AA4 animal hears sounds made of single-sample clicks, and its one unit
spikes exactly at every click.  Bin k of the responses must then hold a spike exactly
when samples [k*spb, (k+1)*spb) of the waveform hold a click (spb = samples per bin),
with and without a pre-stimulus window; with a resampled rate (24414 Hz -> 24400 Hz at
5 ms) each click's peak must land in its spike's bin.
"""

import numpy as np
import pytest
import soundfile as sf
import torch

import strflow
from strflow import steps
from strflow.dataset import neural_collate
from tests.helpers.aa4 import write_unit


ANIMAL = "ClkTst0001M"
DT = 5.0
READING = dict(empty_trials="keep", on_unreadable="error", on_missing_wav="error")
SPEC = dict(n_mels=8, window_ms=10, fmin_hz=250, fmax_hz=8000, compression="cubic")


def click_dataset(tmp_path, sr, clicks: dict[int, list[int]], n_samples: dict[int, int], pre_ms=0.0):
    """clicks: {stim number: click sample indices}; the unit spikes at i / sr for each."""
    raw = tmp_path / "raw"
    members = {}
    for number, idx in clicks.items():
        wave = np.zeros(n_samples[number])
        wave[idx] = 0.9
        path = raw / ANIMAL / "wavfiles" / f"stim{number}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave, sr, subtype="FLOAT")
        attrs = dict(stim_type="song", stim_md5=f"{number:032x}", stim_class="song",
                     stim_duration=n_samples[number] / sr)
        members[number] = (attrs, {"1": np.asarray(idx, dtype=np.float64) / sr})
    write_unit(raw / ANIMAL / "Site1_L100R100_e1_s0_ss1.h5",
               dict(sortType="single", site="Site1", electrode=1, ldepth=100.0, rdepth=100.0, sortid=0),
               {"Song1": members})
    out = tmp_path / "results" / "clk"
    i = out / "interim" / ANIMAL
    pre = int(round(pre_ms / DT))
    steps.read_shard("aa4", raw, ANIMAL, READING, {k: i / f"{k}.parquet" for k in ("trials", "neurons", "stims", "skipped")})
    steps.stim_table([i / "stims.parquet"], DT, out / "tables" / "stims.parquet", pre)
    steps.spectrograms(out / "tables" / "stims.parquet", raw, DT, SPEC, out / "spectrograms.h5")
    steps.waveforms(out / "tables" / "stims.parquet", raw, DT, out / "waveforms.h5")
    steps.bin_shard(i / "trials.parquet", i / "neurons.parquet", out / "tables" / "stims.parquet", DT,
                    out / "binned" / f"{ANIMAL}.h5", i / "coverage.parquet")
    steps.smooth_shard(out / "binned" / f"{ANIMAL}.h5", dict(window_ms=21, kernel="normalized"),
                       out / "responses" / f"{ANIMAL}.h5")
    steps.gather_tables([i / "neurons.parquet"], [i / "skipped.parquet"], [i / "coverage.parquet"],
                        {k: out / "tables" / f"{k}.parquet" for k in ("neurons", "skipped", "coverage")})
    return out


@pytest.mark.parametrize("pre_ms", [0.0, 10.0])
def test_bin_k_covers_samples_k_spb_exactly(tmp_path, pre_ms):
    sr, spb = 24000, 120  # 5 ms = 120 samples: no resampling
    pre = int(pre_ms / DT)
    # clicks on bin edges (first and last sample of a bin) and inside; 0.5 s = 100 bins
    idx = [0, 119, 120, 121, 239, 1000, 5999, 6000, 11999]
    out = click_dataset(tmp_path, sr, {1: idx, 2: [50, 700]}, {1: 12000, 2: 1250}, pre_ms)
    ds = strflow.open_dataset(out, smoothed=False, stimulus="waveform")
    assert ds.samples_per_bin == spb and ds.waveform_rate_hz == sr
    s = [m["stim_id"] for m in ds.stim_meta].index(f"{1:032x}")
    wave = ds.stims[s]
    counts = ds.responses[s][0]
    n_bins = 100 + pre
    assert tuple(wave.shape) == (1, spb * n_bins) and tuple(counts.shape) == (1, n_bins)
    nonzero = torch.nonzero(wave[0]).flatten().numpy()
    np.testing.assert_array_equal(nonzero, np.array(idx) + pre * spb)  # the clicks, shifted by the window
    click_bins = np.unique(nonzero // spb)
    spike_bins = torch.nonzero(counts[0]).flatten().numpy()
    np.testing.assert_array_equal(spike_bins, click_bins)
    expected = np.bincount(np.array(idx) // spb + pre, minlength=n_bins)
    np.testing.assert_array_equal(counts[0].numpy(), expected)
    # the spectrogram view is unchanged and has the same number of bins
    spec = strflow.open_dataset(out, smoothed=False)
    assert spec.stims[s].shape[-1] == n_bins and spec.stimulus == "spectrogram"


def test_resampled_clicks_peak_in_their_spike_bin(tmp_path):
    sr = 24414  # AA4's rate: resampled to 24400 Hz, 122 samples per 5 ms bin
    bins = [3, 10, 40, 77]
    idx = [int(round((k + 0.5) * DT / 1000 * sr)) for k in bins]  # mid-bin clicks
    out = click_dataset(tmp_path, sr, {1: idx}, {1: 12207})
    ds = strflow.open_dataset(out, smoothed=False, stimulus="waveform")
    assert ds.samples_per_bin == 122 and ds.waveform_rate_hz == 24400.0
    wave = ds.stims[0][0].numpy()
    assert wave.shape[0] == 122 * ds.stim_meta[0]["n_bins"]
    spike_bins = torch.nonzero(ds.responses[0][0][0]).flatten().tolist()
    assert spike_bins == bins
    for k in bins:  # the strongest sample near each click lies in the spike's bin
        lo, hi = (k - 1) * 122, (k + 2) * 122
        assert (lo + int(np.argmax(np.abs(wave[lo:hi])))) // 122 == k


def test_collate_pads_waveforms_and_responses_separately(tmp_path):
    out = click_dataset(tmp_path, 24000, {1: [10], 2: [20]}, {1: 12000, 2: 6000})
    ds = strflow.open_dataset(out, stimulus="waveform")
    stims, resp, valid, metas = neural_collate([ds[0], ds[1]])
    lengths = [m["n_bins"] for m in metas]
    assert sorted(lengths) == [50, 100]
    assert tuple(stims.shape) == (2, 1, 120 * 100) and tuple(resp.shape) == (2, 1, 1, 100)
    short = lengths.index(50)
    assert float(stims[short, 0, 120 * 50 :].abs().sum()) == 0.0  # zero padding after the sound
    assert bool(valid[short, 0, 0, :50].all()) and not bool(valid[short, 0, 0, 50:].any())


def test_unknown_stimulus_kind_and_missing_file(tmp_path):
    out = click_dataset(tmp_path, 24000, {1: [10]}, {1: 1200})
    with pytest.raises(ValueError, match="spectrogram' or 'waveform'"):
        strflow.open_dataset(out, stimulus="cochleagram")
    (out / "waveforms.h5").unlink()
    with pytest.raises(FileNotFoundError, match="waveforms.h5"):
        strflow.open_dataset(out, stimulus="waveform")
