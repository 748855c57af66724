"""The Parquet tables (every schema in src/strflow/store/tables.py): every schema against its documentation in workflow/schemas/outputs.md
(parsed here, column names and types), every table written with ``write_parquet`` and
read back unchanged, and the stimulus table built from two hand-made shard registries."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from strflow.store.blocks import PairBlocks
from strflow.processing.dataset_tables import build_stim_table, check_unique, coverage_table
from strflow.store.tables import (AA4_NEURONS_SCHEMA, BY_STIM_SCHEMA, COVERAGE_SCHEMA, QUALITY_SCHEMA, SKIPPED_SCHEMA,
                                  STIM_TABLE_SCHEMA, STIMS_SCHEMA, TRIALS_SCHEMA, write_parquet)

from tests.helpers import REPO

OUTPUTS = (REPO / "workflow" / "schemas" / "outputs.md").read_text()
TYPES = {"string": pa.string(), "int32": pa.int32(), "int64": pa.int64(), "double": pa.float64()}


def doc_type(text: str) -> pa.DataType:
    text = text.split(",")[0].strip()  # "double, null" -> double
    m = re.fullmatch(r"list<(\w+)>", text)
    return pa.list_(TYPES[m.group(1)]) if m else TYPES[text]


def documented(heading: str) -> list[tuple[str, pa.DataType]]:
    """(column, type) rows of the markdown table under the ``### `heading` ...`` section."""
    start = OUTPUTS.index(f"### `{heading}`")
    rows = []
    for line in OUTPUTS[start:].splitlines()[1:]:
        if line.startswith("#"):
            break
        if not line.startswith("| `"):
            continue
        names, kind = line.split("|")[1:3]
        rows += [(name, doc_type(kind)) for name in re.findall(r"`(\w+)`", names)]
    return rows


def as_pairs(schema: pa.Schema) -> list[tuple[str, pa.DataType]]:
    return [(f.name, f.type) for f in schema]


def test_final_tables_match_outputs_md():
    assert as_pairs(STIM_TABLE_SCHEMA) == documented("tables/stims.parquet")
    assert as_pairs(COVERAGE_SCHEMA) == documented("tables/coverage.parquet")
    assert as_pairs(SKIPPED_SCHEMA) == documented("tables/skipped.parquet")
    assert as_pairs(QUALITY_SCHEMA) == documented("tables/quality.parquet")


def test_aa4_neurons_match_outputs_md():
    """The reader's AA4 columns are the documented table (``species``, in the prose above
    it, is added to every format's neurons when the dataset tables are gathered)."""
    assert as_pairs(AA4_NEURONS_SCHEMA) == documented("tables/neurons.parquet")


def test_prose_documented_tables():
    # "tables/quality_by_stim.parquet: the same per (cell_id, stim_id) with n_trials, n_bins, ..."
    assert BY_STIM_SCHEMA.names == ["cell_id", "stim_id", "n_trials", "n_bins", "signal_power", "noise_power",
                                    "ccmax_sp", "ccmax_split"]
    quality = dict(documented("tables/quality.parquet"))
    for name in ("signal_power", "noise_power", "ccmax_sp", "ccmax_split"):
        assert BY_STIM_SCHEMA.field(name).type == quality[name]
    assert BY_STIM_SCHEMA.field("n_trials").type == BY_STIM_SCHEMA.field("n_bins").type == pa.int32()
    # interim/<shard>/trials.parquet: cell_id, stim_id, trial (int32), spike_times_s (list<double>)
    assert as_pairs(TRIALS_SCHEMA) == [("cell_id", pa.string()), ("stim_id", pa.string()), ("trial", pa.int32()),
                                       ("spike_times_s", pa.list_(pa.float64()))]
    # interim/<shard>/stims.parquet: the shard's registry, columns in the documented order
    row = next(line for line in OUTPUTS.splitlines() if line.startswith("| `stims.parquet` |"))
    assert STIMS_SCHEMA.names == re.findall(r"`(\w+)`", row.split("|")[2])


ROWS = {
    "stims": (STIM_TABLE_SCHEMA, [
        dict(stim_id="a" * 32, name="stim3", type="song", **{"class": "song"}, duration_s=0.5, n_bins=100,
             n_pre_bins=0, wav="A/wavfiles/stim3.wav", wav_sample_rate=24414.0, wav_n_samples=12207,
             animals=["A", "B"], stim_numbers=[3, 7]),
        dict(stim_id="drc01", name="drc01", type="drc", **{"class": "drc"}, duration_s=None, n_bins=0, n_pre_bins=0,
             wav=None, wav_sample_rate=None, wav_n_samples=None, animals=["A"], stim_numbers=[21]),
    ]),
    "coverage": (COVERAGE_SCHEMA, [
        dict(stim_id="s", cell_id="c", n_trials=10, n_bins=100, n_spikes=2**40, n_empty_trials=1, mean_rate_hz=np.nan),
    ]),
    "skipped": (SKIPPED_SCHEMA, [
        dict(what="unit", file="A/x.h5", reason="sort type noise", cell_id=None, stim_id=None, trial=None),
        dict(what="trial", file="A/y.h5", reason="empty trial (-999)", cell_id="A/y", stim_id="s", trial=5),
    ]),
    "quality": (QUALITY_SCHEMA, [
        dict(cell_id="c", n_stimuli=2, signal_power=-0.5, noise_power=1.0, noise_ratio=np.nan, ccmax_sp=np.nan,
             ccmax_split=0.25, reason="sp_nonpositive"),
    ]),
    "quality_by_stim": (BY_STIM_SCHEMA, [
        dict(cell_id="c", stim_id="s", n_trials=3, n_bins=4, signal_power=0.5, noise_power=1.0, ccmax_sp=0.7,
             ccmax_split=np.nan),
    ]),
    "trials": (TRIALS_SCHEMA, [
        dict(cell_id="c", stim_id="s", trial=1, spike_times_s=[-0.25, 0.0, 0.1]),
        dict(cell_id="c", stim_id="s", trial=2, spike_times_s=[]),
    ]),
    "interim_stims": (STIMS_SCHEMA, [
        dict(stim_id="s", animal_id="A", stim_number=3, name="stim3", type="song", **{"class": "song"},
             duration_s=0.5, wav="A/wavfiles/stim3.wav", wav_sample_rate=24414.0, wav_n_samples=12207),
    ]),
}


@pytest.mark.parametrize("name", sorted(ROWS))
def test_write_then_read_every_table(tmp_path, name):
    schema, rows = ROWS[name]
    path = tmp_path / "tables" / f"{name}.parquet"  # the folder is created
    write_parquet(pa.Table.from_pylist(rows, schema=schema), path)
    assert [p.name for p in path.parent.iterdir()] == [f"{name}.parquet"]  # no temp file left
    back = pq.read_table(path)
    assert back.schema.remove_metadata().equals(schema)
    got = back.to_pylist()
    assert len(got) == len(rows)
    for g, r in zip(got, rows):
        for key, value in r.items():
            if isinstance(value, float) and np.isnan(value):
                assert np.isnan(g[key]), (name, key)
            else:
                assert g[key] == value, (name, key)


def test_write_parquet_replaces_an_older_table_whole(tmp_path):
    path = tmp_path / "t.parquet"
    write_parquet(pa.table({"x": [1, 2, 3]}), path)
    write_parquet(pa.table({"y": ["a"]}), path)
    assert pq.read_table(path).to_pydict() == {"y": ["a"]}


def shard_stims(animal: str, rows: list[tuple]) -> pa.Table:
    """A shard registry: (stim_id, number, type, wav, n_samples) rows at 24414 Hz."""
    return pa.Table.from_pylist([
        dict(stim_id=s, animal_id=animal, stim_number=k, name=f"stim{k}", type=t, **{"class": t},
             duration_s=None if wav is None else n / 24414.0, wav=wav,
             wav_sample_rate=None if wav is None else 24414.0, wav_n_samples=n)
        for s, k, t, wav, n in rows], schema=STIMS_SCHEMA)


def test_stim_table_from_two_shards(tmp_path):
    """dt 5 ms at 24414 Hz: 122.07 samples a bin; 12207 samples = 100 whole bins,
    7324 = 59 (299.99 ms), 9766 = 80 (400.02 ms); with 2 pre-stimulus bins each grid is 2
    longer; a stimulus without a wav has no grid (0 bins, no pre bins)."""
    a = shard_stims("A", [("s1", 3, "song", "A/stim3.wav", 12207), ("s2", 4, "call", "A/stim4.wav", 7324)])
    b = shard_stims("B", [("s1", 7, "song", "B/stim7.wav", 12207), ("s3", 9, "mlnoise", "B/stim9.wav", 9766),
                          ("d1", 1, "drc", None, None)])
    table = build_stim_table([a, b], dt_ms=5.0, pre_bins=2)
    assert table.schema.remove_metadata().equals(STIM_TABLE_SCHEMA)
    rows = table.to_pylist()
    assert [(r["stim_id"], r["n_bins"], r["n_pre_bins"], r["wav"], r["animals"], r["stim_numbers"]) for r in rows] == [
        ("s1", 102, 2, "A/stim3.wav", ["A", "B"], [3, 7]),  # the first shard's wav is canonical
        ("s2", 61, 2, "A/stim4.wav", ["A"], [4]),
        ("s3", 82, 2, "B/stim9.wav", ["B"], [9]),
        ("d1", 0, 0, None, ["B"], [1]),
    ]
    path = tmp_path / "stims.parquet"
    write_parquet(table, path)
    df = pd.read_parquet(path)  # documented: nullable Int64 with <NA>, not float64 with NaN
    assert str(df["wav_n_samples"].dtype) == "Int64"
    assert df["wav_n_samples"].isna().tolist() == [False, False, False, True]
    assert df["wav_n_samples"].iloc[0] == 12207


def test_stim_table_refuses_one_id_for_two_sounds():
    a = shard_stims("A", [("s1", 3, "song", "A/stim3.wav", 12207)])
    b = shard_stims("B", [("s1", 7, "song", "B/stim7.wav", 12208)])
    with pytest.raises(ValueError, match=r"stimulus s1: wav_n_samples differs between A/stim3\.wav \(12207\) "
                                         r"and B/stim7\.wav \(12208\)"):
        build_stim_table([a, b], dt_ms=5.0)


def test_coverage_table_from_a_pair_index():
    blocks = PairBlocks(stim_id=np.array(["s1", "s2"], dtype=object), cell_id=np.array(["c", "c"], dtype=object),
                        n_trials=np.array([3, 1], np.int32), n_bins=np.array([4, 2], np.int32),
                        offset=np.array([0, 12], np.int64), data=np.zeros(0))
    summary = {"n_spikes": np.array([6, 0]), "n_empty_trials": np.array([1, 1]), "mean_rate_hz": np.array([25.0, 0.0])}
    table = coverage_table(blocks, summary)
    assert table.schema.equals(COVERAGE_SCHEMA)
    assert table.to_pylist() == [
        dict(stim_id="s1", cell_id="c", n_trials=3, n_bins=4, n_spikes=6, n_empty_trials=1, mean_rate_hz=25.0),
        dict(stim_id="s2", cell_id="c", n_trials=1, n_bins=2, n_spikes=0, n_empty_trials=1, mean_rate_hz=0.0),
    ]


def test_duplicate_ids_are_named():
    check_unique(pa.table({"cell_id": ["a", "b"]}), "cell_id", "neuron")
    with pytest.raises(ValueError, match=r"duplicate neuron cell_id: \['b'\]"):
        check_unique(pa.table({"cell_id": ["a", "b", "b"]}), "cell_id", "neuron")
