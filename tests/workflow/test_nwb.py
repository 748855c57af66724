"""NWB out and back in, on the demo run by Snakemake in a temporary directory.

``results/demo/nwb`` is exported, validated (nwbinspector: no CRITICAL, no
BEST_PRACTICE_VIOLATION, no PyNWB validation error), opened with pynapple, then read
back as a ``format: nwb`` dataset through the whole chain; its tables, spike counts,
responses and spectrograms must equal the originals.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import strflow

from tests.helpers.nwb import assert_same_dataset, inspector_problems, round_trip

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, Path]:
    return round_trip(tmp_path_factory.mktemp("nwb"), "demo", ["GreBlu1234M", "YelRed5678F"])


def test_demo_layout_one_file_per_subject_session(demo):
    orig, _ = demo
    files = sorted(p.relative_to(orig / "nwb").as_posix() for p in (orig / "nwb").rglob("*.nwb"))
    neurons = pq.read_table(orig / "tables" / "neurons.parquet").to_pylist()
    expected = sorted({f"sub-{n['animal_id']}/sub-{n['animal_id']}_ses-{n['site']}.nwb" for n in neurons})
    assert files == expected


def test_demo_nwbinspector_clean(demo):
    assert inspector_problems(demo[0] / "nwb") == []


def test_demo_round_trip_equals_the_original(demo):
    assert_same_dataset(*demo)


def test_demo_units_and_clock_with_pynwb(demo):
    """Every unit's spikes sit at onset + onset-relative time of its trials (interim tables)."""
    from pynwb import NWBHDF5IO

    orig, _ = demo
    trials = pa.concat_tables([pq.read_table(p) for p in sorted((orig / "interim").glob("*/trials.parquet"))]).to_pylist()
    by_pair = {}
    for t in trials:
        by_pair.setdefault(t["cell_id"], {})[(t["stim_id"], t["trial"])] = np.asarray(t["spike_times_s"])
    seen = 0
    for path in sorted((orig / "nwb").rglob("*.nwb")):
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            assert nwb.subject.species == "Taeniopygia guttata" and nwb.subject.sex in ("M", "F")
            pres = nwb.intervals["stimulus_presentations"].to_dataframe()
            assert (pres["stop_time"] > pres["start_time"]).all()
            assert np.all(pres["window_stop_time"].to_numpy()[:-1] == pres["window_start_time"].to_numpy()[1:])
            units = nwb.units.to_dataframe()
            for _, u in units.iterrows():
                mine = by_pair[u["cell_id"]]
                expected = np.sort(np.concatenate([
                    row.start_time + mine[(row.stim_id, row.trial)] for row in pres.itertuples()
                    if (row.stim_id, row.trial) in mine]))
                assert np.allclose(np.asarray(u["spike_times"]), expected, rtol=0, atol=1e-9)
                assert len(u["obs_intervals"]) == len(mine)
                seen += 1
            assert len(nwb.stimulus_template) == len(set(pres["stim_id"]))
            assert "strflow_provenance" in nwb.scratch
    assert seen == pq.read_table(orig / "tables" / "neurons.parquet").num_rows


def test_demo_opens_with_pynapple(demo):
    """pynapple's NWB loader reads the units (with their metadata) and the presentations;
    its own restriction to a presentation's window counts the original trial's spikes."""
    import pynapple

    orig, _ = demo
    trials = pa.concat_tables([pq.read_table(p) for p in sorted((orig / "interim").glob("*/trials.parquet"))]).to_pylist()
    count = {(t["cell_id"], t["stim_id"], t["trial"]): len(t["spike_times_s"]) for t in trials}
    path = sorted((orig / "nwb").rglob("*.nwb"))[0]
    data = pynapple.load_file(str(path))
    units, pres = data["units"], data["stimulus_presentations"]
    table = pres.as_dataframe()
    assert len(table) > 0 and "cell_id" in units.metadata_columns
    checked = 0
    for i in range(0, len(table), max(1, len(table) // 7)):
        row = table.iloc[i]
        window = pynapple.IntervalSet(row["window_start_time"], row["window_stop_time"])
        for k in units.keys():
            cell = units.get_info("cell_id")[k]
            n = len(units[k].restrict(window))
            assert n == count.get((cell, row["stim_id"], int(row["trial"])), 0), (cell, row["stim_id"], row["trial"])
            checked += n
    assert checked > 0


def test_demo_export_options_responses_and_wav_references(demo, tmp_path):
    """``responses: true`` stores each pair's smoothed block; ``waveforms: reference``
    leaves the audio out, and the reader finds the wavs under ``audio_root``."""
    from pynwb import NWBHDF5IO

    from strflow.io.readers.nwb import NWBSettings, read_nwb
    from strflow.steps.nwb import nwb_export

    orig, _ = demo
    raw = orig / "raw"
    shards = ["GreBlu1234M", "YelRed5678F"]
    out = tmp_path / "nwb"
    nwb_export(orig, "aa4", shards, dict(waveforms="reference", responses=True), dict(dataset="demo"), out, raw_dir=raw)
    assert inspector_problems(out) == []
    ds = strflow.open_dataset(orig)
    stim_index = {m["stim_id"]: s for s, m in enumerate(ds.stim_meta)}
    cell_index = {m["cell_id"]: n for n, m in enumerate(ds.nrn_meta)}
    checked = 0
    for path in sorted(out.rglob("*.nwb")):
        with NWBHDF5IO(str(path), "r") as io:
            nwb = io.read()
            assert len(nwb.stimulus_template) == 0
            table = nwb.processing["responses"]["smoothed"]
            for i in range(len(table)):
                s, c = table["stim_id"][i], table["cell_id"][i]
                r, t = int(table["n_trials"][i]), int(table["n_bins"][i])
                block = np.asarray(table["response"][i]).reshape(r, t)
                np.testing.assert_array_equal(block, ds.responses[stim_index[s]][cell_index[c]].numpy())
                checked += 1
    assert checked == ds.coverage.num_rows
    shard = read_nwb(out, NWBSettings(audio_root=str(raw)))
    original = {(r["stim_id"], r["animal_id"]): r for r in
                pa.concat_tables([pq.read_table(orig / "interim" / s / "stims.parquet") for s in shards]).to_pylist()}
    for row in shard.stims.to_pylist():
        assert row["wav"] == str(raw / original[(row["stim_id"], row["animal_id"])]["wav"])
