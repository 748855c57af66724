"""The AA4 reader against the hand-built fixture ``aa4_raw`` of tests/conftest.py."""

import h5py
import numpy as np
import pytest

from strflow.io.readers.aa4 import AA4Settings, decode_attr, read_animal

A = "aaaa0000aaaa0000aaaa0000aaaa0000"
B = "bbbb1111bbbb1111bbbb1111bbbb1111"
C = "cccc2222cccc2222cccc2222cccc2222"


def trials_of(shard):
    rows = shard.trials.to_pylist()
    return {(r["cell_id"].split("/")[1], r["stim_id"], r["trial"]): r["spike_times_s"] for r in rows}


def test_units_quirks_and_metadata(aa4_raw):
    shard = read_animal(aa4_raw, "AaaBbb0001M")
    neurons = {r["cell_id"]: r for r in shard.neurons.to_pylist()}
    assert list(neurons) == [
        "AaaBbb0001M/Site1_L1000R1100_e17_s1",
        "AaaBbb0001M/Site1_L1000R1100_e3_s0_ss1",
        "AaaBbb0001M/Site2_L900R900_e6_s0_ss3",
    ]
    typo = neurons["AaaBbb0001M/Site1_L1000R1100_e17_s1"]
    assert typo["sort_type"] == "single" and typo["site"] == "Site1" and typo["electrode"] == 17
    assert typo["ldepth"] is None and typo["rdepth"] == 1100.0 and typo["subsort_id"] is None
    assert typo["sex"] == "M" and typo["sort_id"] == 1
    assert neurons["AaaBbb0001M/Site2_L900R900_e6_s0_ss3"]["sort_type"] == "multi"
    assert neurons["AaaBbb0001M/Site1_L1000R1100_e3_s0_ss1"]["subsort_id"] == 1
    skipped = shard.skipped.to_pylist()
    assert [(r["what"], r["file"], r["reason"]) for r in skipped] == [
        ("unit", "AaaBbb0001M/Site2_L900R900_e5_s0_ss2.h5", "sort type noise")
    ]


def test_trials_numeric_order_empty_and_preonset(aa4_raw):
    shard = read_animal(aa4_raw, "AaaBbb0001M")
    t = trials_of(shard)
    # numeric trial order 1..11 (not '1','10','11','2',...), stored as the source numbers
    a_trials = [k[2] for k in t if k[0] == "Site1_L1000R1100_e3_s0_ss1" and k[1] == A]
    assert a_trials == list(range(1, 12))
    assert t[("Site1_L1000R1100_e3_s0_ss1", A, 5)] == []  # the -999 scalar: a trial without spikes
    assert t[("Site1_L1000R1100_e3_s0_ss1", A, 10)] == pytest.approx(sorted([0.101, 0.2, -0.05]))  # pre-onset kept
    assert t[("Site2_L900R900_e6_s0_ss3", C, 1)] == []
    assert t[("Site2_L900R900_e6_s0_ss3", C, 2)] == [-0.1]
    assert t[("Site1_L1000R1100_e3_s0_ss1", B, 1)] == [0.001, 0.002, 0.35]  # md5 lower-cased
    stims = shard.stims.to_pylist()
    assert [(s["stim_number"], s["stim_id"], s["type"], s["class"]) for s in stims] == [
        (3, A, "song", "song"), (4, B, "call", "Te"), (9, C, "mlnoise", "mlnoise")]
    assert stims[0]["wav"] == "AaaBbb0001M/wavfiles/stim3.wav" and stims[0]["wav_n_samples"] == 12207


def test_empty_trials_skip_mode_records_everything(aa4_raw):
    shard = read_animal(aa4_raw, "AaaBbb0001M", AA4Settings(empty_trials="skip"))
    t = trials_of(shard)
    assert ("Site1_L1000R1100_e3_s0_ss1", A, 5) not in t
    reasons = {(r["what"], r["reason"], r["trial"]) for r in shard.skipped.to_pylist()}
    assert ("trial", "empty trial (-999)", 5) in reasons
    assert ("trial", "no post-onset spike", 2) in reasons  # the multi unit's pre-onset-only trial
    assert ("unit", "no trials for the selected stimulus types", None) in reasons
    assert "AaaBbb0001M/Site2_L900R900_e6_s0_ss3" not in shard.neurons.column("cell_id").to_pylist()


def test_stim_type_filter_is_recorded(aa4_raw):
    shard = read_animal(aa4_raw, "AaaBbb0001M", AA4Settings(stim_types=("song",)))
    assert set(shard.trials.column("stim_id").to_pylist()) == {A}
    reasons = [(r["what"], r["reason"]) for r in shard.skipped.to_pylist()]
    assert ("pair", "stim_type 'call' not selected") in reasons
    assert ("pair", "stim_type 'mlnoise' not selected") in reasons


def test_corrupt_unit_is_an_error_or_a_recorded_skip(aa4_raw):
    bad = aa4_raw / "AaaBbb0001M" / "Site9_L1R1_e9_s0.h5"
    bad.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="Site9_L1R1_e9_s0.h5"):
        read_animal(aa4_raw, "AaaBbb0001M")
    shard = read_animal(aa4_raw, "AaaBbb0001M", AA4Settings(on_unreadable="skip"))
    rows = [r for r in shard.skipped.to_pylist() if r["file"].endswith("Site9_L1R1_e9_s0.h5")]
    assert len(rows) == 1 and rows[0]["reason"].startswith("unreadable unit file: cannot open as HDF5")


def test_missing_wav_is_an_error_or_a_recorded_skip(aa4_raw):
    (aa4_raw / "AaaBbb0001M" / "wavfiles" / "stim4.wav").unlink()
    with pytest.raises(FileNotFoundError, match="stim4.wav"):
        read_animal(aa4_raw, "AaaBbb0001M")
    shard = read_animal(aa4_raw, "AaaBbb0001M", AA4Settings(on_missing_wav="skip"))
    assert B not in set(shard.trials.column("stim_id").to_pylist())
    whats = [(r["what"], r["file"]) for r in shard.skipped.to_pylist()]
    assert ("stim", "AaaBbb0001M/wavfiles/stim4.wav") in whats
    assert ("pair", "AaaBbb0001M/Site1_L1000R1100_e3_s0_ss1.h5") in whats


def test_missing_folder_and_attr_errors(aa4_raw):
    with pytest.raises(FileNotFoundError, match="NoSuchBird"):
        read_animal(aa4_raw, "NoSuchBird")
    with h5py.File(aa4_raw / "AaaBbb0001M" / "Site1_L1000R1100_e17_s1.h5", "a") as f:
        del f.attrs["sortType"]
    with pytest.raises(ValueError, match="sortType"):
        read_animal(aa4_raw, "AaaBbb0001M")


def test_decode_attr_variants():
    assert decode_attr(b"single") == decode_attr("single") == decode_attr(np.bytes_(b"single")) == "single"
    assert decode_attr(np.array([b"multi"])) == "multi"
