"""``format: nwb`` on a file strflow did not write: a hand-built NWB file in the common
DANDI shape (units with spike times on a session clock, presentations in the
``trials`` table named by a ``stimulus_name`` column, no trial numbers, no spike
windows, no ``obs_intervals``, the sounds in ``acquisition``).  The expected trials are
worked out by hand from the clock below."""

import datetime as dt

import numpy as np
import pytest

from strflow import steps
from strflow.io.readers.nwb import NWBSettings, read_nwb

SR = 16000.0
OPTS = dict(presentations="trials", stim_id_column="stimulus_name", trial_column=None, type_column=None,
            audio=["acquisition"], pre_s=0.2, post_s=0.3)
# (start, stop, stimulus) on the session clock: two sounds, each played twice
PRES = [(10.0, 10.5, "tone"), (12.0, 12.25, "chirp"), (14.0, 14.5, "tone"), (16.0, 16.25, "chirp")]


def write_foreign(path, with_obs=False):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries
    from pynwb.file import Subject

    nwb = NWBFile(session_description="foreign", identifier="x", session_start_time=dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    nwb.subject = Subject(subject_id="M1", species="Mus musculus", sex="F", age="P60D")
    nwb.add_trial_column("stimulus_name", "sound played")
    for start, stop, name in PRES:
        nwb.add_trial(start_time=start, stop_time=stop, stimulus_name=name)
    t = np.arange(int(0.5 * SR)) / SR
    nwb.add_acquisition(TimeSeries(name="tone", data=0.5 * np.sin(2 * np.pi * 1000 * t), rate=SR, unit="a.u."))
    nwb.add_acquisition(TimeSeries(name="chirp", data=0.5 * np.sin(2 * np.pi * 3000 * t[: int(0.25 * SR)]),
                                   rate=SR, unit="a.u."))
    nwb.add_unit_column("quality", "sorting quality")
    # unit 0: a spike 0.1 s before the first tone (inside pre_s), two during it, one 0.25 s after
    # the second chirp (inside post_s), one at 5 s (outside every window) and one in tone #2
    kw = dict(obs_intervals=[[9.0, 11.0], [13.0, 17.0]]) if with_obs else {}
    nwb.add_unit(spike_times=[5.0, 9.9, 10.05, 10.4, 14.2, 16.5], quality="good", **kw)
    kw = dict(obs_intervals=[[11.5, 12.9]]) if with_obs else {}
    nwb.add_unit(spike_times=[12.1], quality="mua", **kw)  # unit 1: one spike in chirp #1
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_foreign_layout_trials_by_hand(tmp_path):
    write_foreign(tmp_path / "sub-M1_ses-1.nwb")
    shard = read_nwb(tmp_path, NWBSettings.from_config(OPTS))
    neurons = shard.neurons.to_pylist()
    assert [(n["cell_id"], n["animal_id"], n["shard"], n["file"], n["quality"]) for n in neurons] == [
        ("M1/0", "M1", "all", "sub-M1_ses-1.nwb", "good"), ("M1/1", "M1", "all", "sub-M1_ses-1.nwb", "mua")]
    got = {(r["cell_id"], r["stim_id"], r["trial"]): np.round(r["spike_times_s"], 9).tolist()
           for r in shard.trials.to_pylist()}
    assert got == {
        ("M1/0", "tone", 1): [-0.1, 0.05, 0.4], ("M1/0", "chirp", 1): [],
        ("M1/0", "tone", 2): [0.2], ("M1/0", "chirp", 2): [0.5],
        ("M1/1", "tone", 1): [], ("M1/1", "chirp", 1): [0.1], ("M1/1", "tone", 2): [], ("M1/1", "chirp", 2): [],
    }
    assert [(s["reason"], s["cell_id"]) for s in shard.skipped.to_pylist()] == [
        ("1 spikes outside every presentation window of the unit", "M1/0")]
    stims = shard.stims.to_pylist()
    assert [(s["stim_id"], s["stim_number"], s["wav"], s["wav_sample_rate"], s["wav_n_samples"]) for s in stims] == [
        ("tone", 1, "sub-M1_ses-1.nwb#acquisition/tone", SR, 8000), ("chirp", 2, "sub-M1_ses-1.nwb#acquisition/chirp", SR, 4000)]
    assert stims[0]["duration_s"] == pytest.approx(0.5)


def test_obs_intervals_select_the_presentations_a_unit_heard(tmp_path):
    write_foreign(tmp_path / "f.nwb", with_obs=True)
    shard = read_nwb(tmp_path / "f.nwb", NWBSettings.from_config(OPTS))
    heard = sorted((r["cell_id"], r["stim_id"], r["trial"]) for r in shard.trials.to_pylist())
    assert heard == [("M1/0", "chirp", 2), ("M1/0", "tone", 1), ("M1/0", "tone", 2), ("M1/1", "chirp", 1)]


@pytest.mark.parametrize("one_file", [False, True])
def test_the_chain_reads_audio_inside_the_nwb_file(tmp_path, one_file):
    """Spectrograms and waveforms come from the acquisition series, bin by bin (``path:``
    a folder of NWB files or one file)."""
    import h5py
    import pyarrow.parquet as pq

    (tmp_path / "raw").mkdir()
    write_foreign(tmp_path / "raw" / "sub-M1.nwb")
    raw = tmp_path / "raw" / "sub-M1.nwb" if one_file else tmp_path / "raw"
    out = tmp_path / "res"
    steps.read_shard("nwb", raw, "all", dict(nwb=OPTS), {k: out / f"{k}.parquet" for k in
                                                        ("trials", "neurons", "stims", "skipped")})
    steps.stim_table([out / "stims.parquet"], 5.0, out / "table.parquet")
    spec = dict(n_mels=8, window_ms=10, fmin_hz=250, fmax_hz=8000, compression="cubic")
    steps.spectrograms(out / "table.parquet", raw, 5.0, spec, out / "spec.h5")
    steps.waveforms(out / "table.parquet", raw, 5.0, out / "wave.h5")
    table = pq.read_table(out / "table.parquet").to_pylist()
    assert [(s["stim_id"], s["n_bins"]) for s in table] == [("tone", 100), ("chirp", 50)]
    with h5py.File(out / "spec.h5", "r") as f, h5py.File(out / "wave.h5", "r") as w:
        assert f["spectrograms/tone"].shape == (8, 100)
        tone = w["waveforms/tone"][()]
        assert tone.shape == (100 * 80,) and w["waveforms/tone"].attrs["samples_per_bin"] == 80
        t = np.arange(8000) / SR
        np.testing.assert_allclose(tone, 0.5 * np.sin(2 * np.pi * 1000 * t), atol=1e-6)


def test_clear_errors(tmp_path):
    write_foreign(tmp_path / "f.nwb")
    with pytest.raises(ValueError, match="f.nwb: intervals table 'trials' has no column 'stim'"):
        read_nwb(tmp_path / "f.nwb", NWBSettings.from_config(dict(OPTS, stim_id_column="stim")))
    with pytest.raises(ValueError, match="f.nwb: presentation windows overlap"):
        read_nwb(tmp_path / "f.nwb", NWBSettings.from_config(dict(OPTS, post_s=2.0)))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty: no .nwb file"):
        read_nwb(tmp_path / "empty", NWBSettings())
