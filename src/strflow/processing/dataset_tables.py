"""Dataset-level Parquet tables in ``results/<ds>/tables/`` (columns documented in
``workflow/schemas/outputs.md``).

``stims``     one row per unique stimulus (``stim_id`` = md5 for AA4), in dataset
              order: first shard (animal) that presents it, then that shard's number.
``neurons``   one row per kept unit, in dataset order (shard order, then file name).
``coverage``  one row per heard (stimulus, neuron) pair.
``skipped``   everything left out, with the file and the reason.
"""

from __future__ import annotations


import numpy as np
import pyarrow as pa

from strflow import timegrid
from strflow.store.blocks import PairBlocks
from strflow.store.tables import COVERAGE_SCHEMA, STIM_TABLE_SCHEMA, nullable_ints

def build_stim_table(shard_stims: list[pa.Table], dt_ms: float, pre_bins: int = 0) -> pa.Table:
    """Merge per-shard stimulus registries into one row per stimulus.

    ``n_bins`` is the length of the stimulus' time grid: ``pre_bins`` bins of the
    pre-stimulus window (``n_pre_bins``) followed by the whole bins inside the sound;
    0 for a stimulus without a waveform (no grid).

    The canonical wav of a stimulus is the first shard's.  A stimulus whose type,
    class or wav length disagree between shards is an error: one ``stim_id`` must mean
    one sound.
    """
    merged: dict[str, dict] = {}
    for table in shard_stims:
        for row in table.to_pylist():
            sid = row["stim_id"]
            if sid not in merged:
                n = pre_bins + timegrid.n_bins(row["wav_n_samples"], row["wav_sample_rate"], dt_ms) if row["wav"] else 0
                merged[sid] = dict(
                    stim_id=sid,
                    name=row["name"],
                    type=row["type"],
                    **{"class": row["class"]},
                    duration_s=row["duration_s"],
                    n_bins=n,
                    n_pre_bins=pre_bins if row["wav"] else 0,
                    wav=row["wav"],
                    wav_sample_rate=row["wav_sample_rate"],
                    wav_n_samples=row["wav_n_samples"],
                    animals=[row["animal_id"]],
                    stim_numbers=[row["stim_number"]],
                )
                continue
            first = merged[sid]
            for key in ("type", "class", "wav_n_samples", "wav_sample_rate"):
                if row[key] != first[key]:
                    raise ValueError(
                        f"stimulus {sid}: {key} differs between {first['wav']} ({first[key]!r}) "
                        f"and {row['wav']} ({row[key]!r})"
                    )
            first["animals"].append(row["animal_id"])
            first["stim_numbers"].append(row["stim_number"])
    return nullable_ints(pa.Table.from_pylist(list(merged.values()), schema=STIM_TABLE_SCHEMA), ("wav_n_samples",))


def coverage_table(blocks: PairBlocks, summary: dict[str, np.ndarray]) -> pa.Table:
    """Coverage rows from a pair index and its totals (:func:`strflow.processing.binning.summary_from_trials`)."""
    return pa.table(
        {
            "stim_id": pa.array(blocks.stim_id.tolist(), pa.string()),
            "cell_id": pa.array(blocks.cell_id.tolist(), pa.string()),
            "n_trials": pa.array(blocks.n_trials, pa.int32()),
            "n_bins": pa.array(blocks.n_bins, pa.int32()),
            "n_spikes": pa.array(summary["n_spikes"], pa.int64()),
            "n_empty_trials": pa.array(summary["n_empty_trials"], pa.int32()),
            "mean_rate_hz": pa.array(summary["mean_rate_hz"], pa.float64()),
        },
        schema=COVERAGE_SCHEMA,
    )


def check_unique(table: pa.Table, column: str, what: str) -> None:
    values = table.column(column).to_numpy(zero_copy_only=False)
    uniq, counts = np.unique(values, return_counts=True)
    if (counts > 1).any():
        raise ValueError(f"duplicate {what} {column}: {uniq[counts > 1][:5].tolist()}")
