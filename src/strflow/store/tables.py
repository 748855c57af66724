"""Every Parquet table strflow writes: the schemas, the one writer and the readers
(columns documented in ``workflow/schemas/outputs.md``).

Interim shard tables (``results/<ds>/interim/<shard>/``, written by the raw readers)
    ``trials`` (:data:`TRIALS_SCHEMA`), ``neurons`` (:data:`NEURON_KEY_FIELDS` then the
    format's columns: :data:`AA4_NEURONS_SCHEMA`, :data:`NS1_NEURONS_SCHEMA`,
    :data:`TEXT_NEURONS_SCHEMA`; NWB: the file's units table), ``stims``
    (:data:`STIMS_SCHEMA`), ``skipped`` (:data:`SKIPPED_SCHEMA`).
Dataset tables (``results/<ds>/tables/``)
    ``stims`` (:data:`STIM_TABLE_SCHEMA`), ``neurons`` (the shards' concatenated),
    ``coverage`` (:data:`COVERAGE_SCHEMA`), ``skipped``, ``quality``
    (:data:`QUALITY_SCHEMA`), ``quality_by_stim`` (:data:`BY_STIM_SCHEMA`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from strflow.store.atomic import atomic_path

# -- interim shard tables ------------------------------------------------------------
SHARD_FILES = ("trials", "neurons", "stims", "skipped")

TRIALS_SCHEMA = pa.schema(
    [
        ("cell_id", pa.string()),
        ("stim_id", pa.string()),
        ("trial", pa.int32()),
        ("spike_times_s", pa.list_(pa.float64())),
    ]
)

# Every reader's neurons table starts with these columns, then adds its own metadata.
NEURON_KEY_FIELDS = [
    ("cell_id", pa.string()),
    ("animal_id", pa.string()),
    ("shard", pa.string()),
    ("file", pa.string()),
]

SKIPPED_SCHEMA = pa.schema(
    [
        ("what", pa.string()),
        ("file", pa.string()),
        ("reason", pa.string()),
        ("cell_id", pa.string()),
        ("stim_id", pa.string()),
        ("trial", pa.int32()),
    ]
)

STIMS_SCHEMA = pa.schema(
    [
        ("stim_id", pa.string()),
        ("animal_id", pa.string()),
        ("stim_number", pa.int32()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("class", pa.string()),
        ("duration_s", pa.float64()),
        ("wav", pa.string()),
        ("wav_sample_rate", pa.float64()),
        ("wav_n_samples", pa.int64()),
    ]
)

# Format-specific neuron columns (after NEURON_KEY_FIELDS).
AA4_NEURONS_SCHEMA = pa.schema(
    NEURON_KEY_FIELDS
    + [
        ("sex", pa.string()),
        ("site", pa.string()),
        ("electrode", pa.int32()),
        ("ldepth", pa.float64()),
        ("rdepth", pa.float64()),
        ("sort_type", pa.string()),
        ("sort_id", pa.int32()),
        ("subsort_id", pa.int32()),
    ]
)

NS1_NEURONS_SCHEMA = pa.schema(
    NEURON_KEY_FIELDS
    + [
        ("area", pa.string()),
        ("depth_um", pa.float64()),
        ("noise_ratio", pa.float64()),
        ("single_n", pa.int32()),
        ("single_t", pa.string()),
        ("n_electrodes", pa.int32()),
        ("electrode_number", pa.int32()),
    ]
)

TEXT_NEURONS_SCHEMA = pa.schema(
    NEURON_KEY_FIELDS
    + [
        ("area", pa.string()),
        ("cell_seq", pa.int32()),
        ("rig", pa.string()),
        ("species", pa.string()),
    ]
)

# -- dataset tables ------------------------------------------------------------------
STIM_TABLE_SCHEMA = pa.schema(
    [
        ("stim_id", pa.string()),
        ("name", pa.string()),
        ("type", pa.string()),
        ("class", pa.string()),
        ("duration_s", pa.float64()),
        ("n_bins", pa.int32()),
        ("n_pre_bins", pa.int32()),
        ("wav", pa.string()),
        ("wav_sample_rate", pa.float64()),
        ("wav_n_samples", pa.int64()),
        ("animals", pa.list_(pa.string())),
        ("stim_numbers", pa.list_(pa.int32())),
    ]
)

COVERAGE_SCHEMA = pa.schema(
    [
        ("stim_id", pa.string()),
        ("cell_id", pa.string()),
        ("n_trials", pa.int32()),
        ("n_bins", pa.int32()),
        ("n_spikes", pa.int64()),
        ("n_empty_trials", pa.int32()),
        ("mean_rate_hz", pa.float64()),
    ]
)


# -- response quality (tables/quality*.parquet) ---------------------------------------
QUALITY_SCHEMA = pa.schema(
    [
        ("cell_id", pa.string()),
        ("n_stimuli", pa.int32()),
        ("signal_power", pa.float64()),
        ("noise_power", pa.float64()),
        ("noise_ratio", pa.float64()),
        ("ccmax_sp", pa.float64()),
        ("ccmax_split", pa.float64()),
        ("reason", pa.string()),
    ]
)
BY_STIM_SCHEMA = pa.schema(
    [
        ("cell_id", pa.string()),
        ("stim_id", pa.string()),
        ("n_trials", pa.int32()),
        ("n_bins", pa.int32()),
        ("signal_power", pa.float64()),
        ("noise_power", pa.float64()),
        ("ccmax_sp", pa.float64()),
        ("ccmax_split", pa.float64()),
    ]
)


# -- writing and reading -------------------------------------------------------------
def write_parquet(table: pa.Table, path: str | Path) -> None:
    """Write atomically (temp file then rename) so a crash never leaves a partial table."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_tables(paths) -> list[pa.Table]:
    return [pq.read_table(p) for p in paths]


def nullable_ints(table: pa.Table, columns) -> pa.Table:
    """Mark integer ``columns`` for pandas as nullable ``Int64``/``Int32`` (pandas metadata
    in the schema), so that ``pd.read_parquet`` keeps them integer with ``<NA>`` for
    nulls instead of turning the whole column into float64 with NaN (NS1's DRC rows
    have no wav, so a null ``wav_n_samples``).  pyarrow readers are unaffected."""
    cols = [dict(name=c, field_name=c, pandas_type=str(table.schema.field(c).type),
                 numpy_type=str(table.schema.field(c).type).capitalize(), metadata=None) for c in columns]
    meta = dict(table.schema.metadata or {})
    meta[b"pandas"] = json.dumps(dict(index_columns=[], column_indexes=[], columns=cols)).encode()
    return table.replace_schema_metadata(meta)


def flat_spikes(trials: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets) of the ragged spike-time column, zero-copy where possible."""
    col = trials.column("spike_times_s").combine_chunks()
    if isinstance(col, pa.ChunkedArray):  # empty table
        col = pa.array([], pa.list_(pa.float64()))
    offsets = np.asarray(col.offsets, dtype=np.int64)
    values = np.asarray(col.values, dtype=np.float64)
    return values[offsets[0] : offsets[-1]], offsets - offsets[0]
