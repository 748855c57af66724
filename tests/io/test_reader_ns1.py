"""The NS1 reader: a hand-built release in tmp_path, and (with $STRFLOW_REAL_DATA) the real copy."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from strflow.io.readers.ns1 import (
    DRC_SKIP_REASON,
    MISSING_UNIT_REASON,
    NEURONS_SCHEMA,
    NS1Settings,
    is_valid73,
    read_metadata,
    read_ns1,
)

from tests.helpers import REPO, real_data_dir
from tests.helpers.ns1 import U1, U2, U3, U4, WAV1, WAV2, WAV_NAMES, n_repeats, spikes_ms, wav_samples, write_cluster


def stim_id(j: int) -> str:
    return f"nat{j + 1:02d}" if j < 20 else f"drc{j - 19:02d}"


def trials_of(shard) -> dict:
    return {(r["cell_id"], r["stim_id"], r["trial"]): r["spike_times_s"] for r in shard.trials.to_pylist()}


def test_neurons_metadata_order_fallback_and_missing_unit(ns1_raw):
    shard = read_ns1(ns1_raw)
    assert shard.name == "all"
    assert shard.neurons.schema == NEURONS_SCHEMA
    assert shard.neurons.column_names == [
        "cell_id", "animal_id", "shard", "file", "area", "depth_um", "noise_ratio",
        "single_n", "single_t", "n_electrodes", "electrode_number",
    ]
    assert shard.neurons.to_pylist() == [
        dict(cell_id=U1, animal_id="expA_1x32", shard="all", file=f"spikesandwav/{U1}.mat", area="A1",
             depth_um=500.0, noise_ratio=4.25, single_n=2, single_t="Yes", n_electrodes=32, electrode_number=7),
        dict(cell_id=U3, animal_id="dataX", shard="all", file=f"spikesandwav/{U3}_1.mat", area="A1",
             depth_um=-100.0, noise_ratio=7.75, single_n=1, single_t="Maybe", n_electrodes=16, electrode_number=12),
        dict(cell_id=U4, animal_id="expB_4x8", shard="all", file=f"spikesandwav/{U4}.mat", area="A1",
             depth_um=0.0, noise_ratio=3.125, single_n=0, single_t="No", n_electrodes=8, electrode_number=3),
    ]
    skipped = shard.skipped.to_pylist()
    units = [r for r in skipped if r["what"] == "unit"]
    assert units == [dict(what="unit", file=f"spikesandwav/{U2}.mat", reason=MISSING_UNIT_REASON,
                          cell_id=U2, stim_id=None, trial=None)]
    assert [r for r in skipped if r["what"] == "stim"] == [
        dict(what="stim", file="", reason=DRC_SKIP_REASON, cell_id=None, stim_id=f"drc{k:02d}", trial=None)
        for k in range(1, 13)
    ]
    assert len(skipped) == 13
    assert [is_valid73(r) for r in shard.neurons.to_pylist()] == [True, False, False]


def test_trials_exact_seconds_empty_repeats_and_all_spikes_kept(ns1_raw):
    shard = read_ns1(ns1_raw)
    t = trials_of(shard)
    # 3 units × (20 natural × 2 + 12 DRC × 3) + U4's extra drc03 repeat; DRC trials are kept
    assert shard.trials.num_rows == 3 * (20 * 2 + 12 * 3) + 1 == len(t)
    # hand-computed values
    assert t[(U1, "nat01", 2)] == []  # 1×0 uint8 repeat: a zero-spike trial
    assert t[(U1, "nat06", 1)] == []  # 0×0 repeat
    assert t[(U4, "drc06", 3)] == []
    assert t[(U1, "nat02", 1)] == [-0.0125, 0.003, 5.23025]  # pre-onset and post-stimulus kept
    assert t[(U1, "nat03", 1)] == pytest.approx([-0.0005, 0.1002, 0.1004, 0.1005, 0.1015, 0.1024], abs=1e-15)
    assert t[(U3, "nat05", 2)] == [0.01, 0.02, 0.3, 0.4]  # sorted
    assert t[(U1, "nat01", 1)] == [0.01025, 1.0, 4.9915]
    assert t[(U4, "drc12", 2)] == [0.0715, 1.031, 4.9925]
    assert t[(U4, "drc03", 4)] == [0.063, 1.022, 4.9945]
    assert (U1, "drc03", 4) not in t
    # every trial, in source order: unit (metadata order), set, repeat
    expected = []
    for unit in (U1, U3, U4):
        for j in range(32):
            for r in range(1, n_repeats(unit, j) + 1):
                times = spikes_ms(unit, j, r)
                seconds = [] if times is None or isinstance(times, str) else sorted(x / 1000.0 for x in times)
                expected.append((unit, stim_id(j), r, seconds))
    got = [(r["cell_id"], r["stim_id"], r["trial"], r["spike_times_s"]) for r in shard.trials.to_pylist()]
    assert got == expected


def test_stims_rows_true_rate_and_drc_nulls(ns1_raw):
    stims = read_ns1(ns1_raw).stims.to_pylist()
    assert [s["stim_id"] for s in stims] == [f"nat{k:02d}" for k in range(1, 21)] + [f"drc{k:02d}" for k in range(1, 13)]
    assert [s["stim_number"] for s in stims] == list(range(1, 33))
    assert {s["animal_id"] for s in stims} == {"NS1"}
    types = [s["type"] for s in stims[:20]]
    assert types == ["water_sounds", "unknown", "unknown", "ferret_vocalization", "unknown", "unknown",
                     "insects_buzzing", "unknown"] + ["human_speech"] * 4 + ["unknown"] * 7 + ["water_sounds"]
    for j, s in enumerate(stims[:20]):
        assert s["class"] == "natural"
        assert s["name"] == f"nat{j + 1:02d}"  # readable name; the file is in wav
        assert s["wav"] == f"spikesandwav/SH.En.C/{WAV_NAMES[j]}"
        assert s["wav_sample_rate"] == 48828.125  # not the header's 48828
        assert s["wav_n_samples"] == wav_samples(j)
        assert s["duration_s"] == wav_samples(j) / 48828.125
    assert stims[12]["wav"].endswith(WAV2.format(1)) and stims[11]["wav"].endswith(WAV1.format(12))
    for s in stims[20:]:
        assert (s["type"], s["class"]) == ("drc", "drc")
        assert s["wav"] is None and s["wav_sample_rate"] is None
        assert s["wav_n_samples"] is None and s["duration_s"] is None


def test_legacy_rounding_dedupes_within_a_millisecond(ns1_raw):
    shard = read_ns1(ns1_raw, NS1Settings(spike_rounding="legacy"))
    t = trials_of(shard)
    # -0.5 -> -0 (half to even), 100.2/100.4/100.5 -> 100 (once), 101.5/102.4 -> 102 (once)
    assert t[(U1, "nat03", 1)] == [0.0, 0.1, 0.102]
    assert t[(U1, "nat02", 1)] == [-0.012, 0.003, 5.23]  # -12.5 -> -12 (half to even), 5230.25 -> 5230
    assert t[(U1, "nat01", 1)] == [0.01, 1.0, 4.992]  # 10.25 -> 10, 4991.5 -> 4992
    assert t[(U1, "nat01", 2)] == []
    assert shard.trials.num_rows == read_ns1(ns1_raw).trials.num_rows  # trials are never dropped
    with pytest.raises(ValueError, match="spike_rounding"):
        NS1Settings(spike_rounding="floor")


def test_errors_name_the_file(ns1_raw):
    bad = ns1_raw / "spikesandwav" / (U4 + ".mat")
    bad.write_bytes(b"not a mat file at all")
    with pytest.raises(ValueError, match="cluster.04.data.mat"):
        read_ns1(ns1_raw)
    write_cluster(bad, U4)
    wav = ns1_raw / "spikesandwav" / "SH.En.C" / WAV2.format(3)
    wav.unlink()
    with pytest.raises(FileNotFoundError, match=r"fw\.1\.frozen\.3"):
        read_ns1(ns1_raw)
    with pytest.raises(FileNotFoundError, match="MetadataSHEnCneurons.mat"):
        read_ns1(ns1_raw / "nowhere")


def test_wrong_number_of_sets_is_an_error(ns1_raw):
    path = ns1_raw / "spikesandwav" / (U1 + ".mat")
    mat = scipy.io.loadmat(path)
    data = mat["data"]
    data[0, 0]["set"] = data[0, 0]["set"][:, :20]
    scipy.io.savemat(path, {"data": data})
    with pytest.raises(ValueError, match="cluster.01.data.mat.*20 entries"):
        read_ns1(ns1_raw)


def test_is_valid73():
    assert is_valid73(dict(single_t="Yes", depth_um=0.0))
    assert is_valid73(dict(single_t="Maybe", depth_um=1500.0))
    assert not is_valid73(dict(single_t="No", depth_um=500.0))
    assert not is_valid73(dict(single_t="Yes", depth_um=-50.0))
    assert not is_valid73(dict(single_t="Yes", depth_um=None))


# ---------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def real_ns1():
    base = real_data_dir()
    if base is None:
        pytest.skip("STRFLOW_REAL_DATA is not set")
    root = base / "ns1_harper2016"
    if not (root / "MetadataSHEnCneurons.mat").is_file() or not (root / "spikesandwav").is_dir():
        pytest.fail(f"STRFLOW_REAL_DATA={base} is set but {root} does not hold the NS1 release")
    return root, read_ns1(root)


def _release_table(root):
    with open(root / "NEURONS.tsv", newline="") as fh:
        return {row["path"][:-4]: row for row in csv.DictReader(fh, delimiter="\t")}


@pytest.mark.realdata
def test_real_units_and_skips(real_ns1):
    """The whole release (all 119 cluster files): every unit read, only the DRCs skipped."""
    root, shard = real_ns1
    meta = read_metadata(root / "MetadataSHEnCneurons.mat")
    table = _release_table(root)
    assert len(meta) == len(table) == 119
    # the published criterion agrees with the release's own valid73 flag, unit by unit
    assert {m["path"][:-4]: is_valid73(m) for m in meta} == {c: r["valid73"] == "True" for c, r in table.items()}
    neurons = shard.neurons.to_pylist()
    assert [n["cell_id"] for n in neurons] == [m["path"][:-4] for m in meta]
    reasons = Counter((r["what"], r["reason"]) for r in shard.skipped.to_pylist())
    assert reasons == {("stim", DRC_SKIP_REASON): 12}
    # metadata values agree with the release's own table
    for n in neurons:
        row = table[n["cell_id"]]
        assert n["depth_um"] == float(row["depth_um"]) and n["single_t"] == row["singleT"]
        assert n["noise_ratio"] == pytest.approx(float(row["NoiseRatio"]), rel=1e-12)
        assert (n["n_electrodes"], n["electrode_number"]) == (int(row["NrOfElectrodes"]), int(row["ElectrodeNumber"]))


@pytest.mark.realdata
def test_real_partial_copy_records_missing_units(real_ns1, tmp_path):
    """A partial download (a copy without the 46 units outside the published selection)
    reads the 73 present units and records each absent cluster file."""
    root, _ = real_ns1
    copy = tmp_path / "ns1"
    shutil.copytree(root, copy)
    table = _release_table(root)
    keep = {c for c, r in table.items() if r["valid73"] == "True"}
    for cell_id in set(table) - keep:
        (copy / "spikesandwav" / f"{cell_id}.mat").unlink()
    shard = read_ns1(copy)
    assert sorted(shard.neurons.column("cell_id").to_pylist()) == sorted(keep)
    reasons = Counter((r["what"], r["reason"]) for r in shard.skipped.to_pylist())
    assert reasons == {("unit", MISSING_UNIT_REASON): 46, ("stim", DRC_SKIP_REASON): 12}
    missing = {r["cell_id"] for r in shard.skipped.to_pylist() if r["what"] == "unit"}
    assert missing == set(table) - keep


@pytest.mark.realdata
def test_real_stims_and_trial_counts(real_ns1):
    root, shard = real_ns1
    stims = shard.stims.to_pylist()
    assert Counter(s["class"] for s in stims) == {"natural": 20, "drc": 12}
    assert {s["wav_n_samples"] for s in stims[:20]} == {244140, 244141}
    assert all(s["wav_sample_rate"] == 48828.125 for s in stims[:20])
    # every natural set: 20 repeats numbered 1..20 for every kept neuron
    rows = shard.trials.select(["cell_id", "stim_id", "trial"]).to_pylist()
    per_pair: dict = {}
    for r in rows:
        per_pair.setdefault((r["cell_id"], r["stim_id"]), []).append(r["trial"])
    for n in shard.neurons.column("cell_id").to_pylist():
        for k in range(1, 21):
            assert per_pair[(n, f"nat{k:02d}")] == list(range(1, 21))
    # total trials and spikes agree with the files, read independently
    drc_repeats = n_spikes = 0
    for file in shard.neurons.column("file").to_pylist():
        sets = scipy.io.loadmat(root / file)["data"][0, 0]["set"][0]
        drc_repeats += sum(sets[j]["repeats"].size for j in range(20, 32))
        n_spikes += sum(t.size for j in range(32) for t in sets[j]["repeats"]["t"].ravel())
    assert shard.trials.num_rows == 119 * 20 * 20 + drc_repeats
    assert shard.trials.column("spike_times_s").combine_chunks().values.__len__() == n_spikes


# -- bad cluster files (issue: no silent wrong values; on_unreadable works for NS1) -----
def test_unreadable_cluster_is_an_error_naming_it_or_a_recorded_skip(ns1_raw):
    bad = ns1_raw / "spikesandwav" / (U4 + ".mat")
    bad.write_bytes(b"MATLAB 5.0 MAT-file, but not really" + bytes(200))
    with pytest.raises(ValueError, match=rf"{bad}: cannot read as a MATLAB v5 file.*on_unreadable: skip"):
        read_ns1(ns1_raw)
    shard = read_ns1(ns1_raw, NS1Settings(on_unreadable="skip"))
    assert shard.neurons.column("cell_id").to_pylist() == [U1, U3]
    rows = [r for r in shard.skipped.to_pylist() if r["cell_id"] == U4]
    assert len(rows) == 1 and rows[0]["what"] == "unit" and rows[0]["file"] == f"spikesandwav/{U4}.mat"
    assert rows[0]["reason"].startswith("unreadable cluster file:") and str(bad) in rows[0]["reason"]
    assert U4 not in shard.trials.column("cell_id").to_pylist()  # nothing of the bad file is kept


def _rewrite_repeat(path: Path, set_index: int, r: int, times) -> None:
    mat = scipy.io.loadmat(path)
    mat["data"][0, 0]["set"][0, set_index]["repeats"][0, r - 1]["t"] = np.asarray(times, dtype=np.float64)[None, :]
    scipy.io.savemat(path, {"data": mat["data"]})


@pytest.mark.parametrize("value, what", [(np.nan, "non-finite"), (np.inf, "non-finite"), (1e15, "not a plausible spike")])
def test_absurd_spike_times_are_refused(ns1_raw, value, what):
    path = ns1_raw / "spikesandwav" / (U1 + ".mat")
    _rewrite_repeat(path, 3, 2, [10.0, value])
    with pytest.raises(ValueError, match=rf"{path}: data.set\(4\).repeats\(2\).t: .*{what}"):
        read_ns1(ns1_raw)
    shard = read_ns1(ns1_raw, NS1Settings(on_unreadable="skip"))
    assert U1 not in shard.neurons.column("cell_id").to_pylist()


def _add_spikes_field(path: Path, tamper=None) -> None:
    """Write set.spikes (t, repeat_id): the release's second record of every spike."""
    mat = scipy.io.loadmat(path)
    old = mat["data"][0, 0]["set"]
    sets = np.zeros(old.shape, dtype=[("repeats", "O"), ("length_signal_ms", "O"), ("spikes", "O")])
    for j in range(old.shape[1]):
        sets[0, j]["repeats"] = old[0, j]["repeats"]
        sets[0, j]["length_signal_ms"] = old[0, j]["length_signal_ms"]
        reps = old[0, j]["repeats"].ravel()
        t = np.concatenate([np.asarray(x, dtype=np.float64).ravel() for x in reps["t"]])
        rid = np.concatenate([np.full(np.asarray(x).size, r + 1.0) for r, x in enumerate(reps["t"])])
        if tamper is not None and j == tamper:
            t = t[:-1]
            rid = rid[:-1]
        spikes = np.zeros((1, 1), dtype=[("t", "O"), ("repeat_id", "O")])
        spikes[0, 0]["t"], spikes[0, 0]["repeat_id"] = t[None, :], rid[None, :]
        sets[0, j]["spikes"] = spikes
    data = np.zeros((1, 1), dtype=[("set", "O")])
    data[0, 0]["set"] = sets
    scipy.io.savemat(path, {"data": data})


def test_spikes_recorded_twice_must_agree(ns1_raw):
    reference = read_ns1(ns1_raw)
    path = ns1_raw / "spikesandwav" / (U1 + ".mat")
    _add_spikes_field(path)
    assert read_ns1(ns1_raw).trials.equals(reference.trials)  # consistent second record: same table
    _add_spikes_field(path, tamper=7)
    with pytest.raises(ValueError, match=rf"{path}: data.set\(8\).repeats\(2\).t .*contradicts spikes.t"):
        read_ns1(ns1_raw)


def test_metadata_electrode_must_be_on_its_probe(ns1_raw):
    meta = scipy.io.loadmat(ns1_raw / "MetadataSHEnCneurons.mat")
    meta["neuron"][0, 3]["ElectrodeNumber"] = np.array([[9]], dtype=np.uint8)  # on an 8-channel probe
    scipy.io.savemat(ns1_raw / "MetadataSHEnCneurons.mat", {"neuron": meta["neuron"]})
    with pytest.raises(ValueError, match=r"neuron\(4\): ElectrodeNumber 9 is not on a probe of NrOfElectrodes 8"):
        read_ns1(ns1_raw)


def test_shipped_config_filter_is_the_published_criterion():
    """The ns1 entry of config.yaml, as YAML reads it, against is_valid73 on every case."""
    import itertools

    import yaml

    from strflow.io.readers import neuron_columns
    from strflow.selection import check, validate

    spec = yaml.safe_load((REPO / "config.yaml").read_text())["datasets"]["ns1"]["neuron_filter"]
    validate(spec, neuron_columns("ns1"))  # would refuse the boolean an unquoted Yes becomes
    for single_t, depth in itertools.product(["Yes", "Maybe", "No", "yes"], [-100.0, -0.5, 0.0, 450.0, float("nan")]):
        row = dict(single_t=single_t, depth_um=depth)
        assert (check(row, spec) == "") == is_valid73(row), row
