"""The format-independent contract between raw readers and the rest of the chain.

A :class:`Shard` is written as four Parquet files in ``results/<ds>/interim/<shard>/``
(columns documented in ``workflow/schemas/outputs.md``):

``trials.parquet``
    one row per recorded trial kept: ``cell_id``, ``stim_id``, ``trial`` (numeric trial
    number from the source), ``spike_times_s`` (list<double>: every spike of the trial,
    seconds after stimulus onset, sorted, pre-onset and post-stimulus spikes included).
``neurons.parquet``
    one row per kept unit; always ``cell_id``, ``animal_id``, ``shard``, ``file``, then
    format-specific metadata columns.
``stims.parquet``
    one row per stimulus the shard references: ``stim_id``, ``animal_id``,
    ``stim_number``, ``type``, ``class``, ``duration_s``, ``wav`` (path relative to the
    raw root, or null), ``wav_sample_rate``, ``wav_n_samples``.
``skipped.parquet``
    what was left out and why: ``what`` (unit/trial/stim/pair/file), ``file``,
    ``reason``, ``cell_id``, ``stim_id``, ``trial``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from strflow.store.tables import SHARD_FILES, SKIPPED_SCHEMA, STIMS_SCHEMA, TRIALS_SCHEMA, write_parquet


# Spike times are relative to stimulus onset.  Recordings keep some spontaneous activity
# before and after the sound, but never more than this margin: a time outside
# [-margin, duration + margin] (or NaN/inf) is a corrupt value, not a spike.
SPIKE_MARGIN_S = 30.0


def check_trials(trials: list, duration_s: float, where_of) -> None:
    """:func:`check_spike_times` for every trial of one stimulus at once (one vectorised
    pass; ``None`` entries are empty trials); on a failure, the first bad trial is named
    (``where_of(i)``)."""
    present = [t for t in trials if t is not None and t.size]
    if not present:
        return
    try:
        check_spike_times(np.concatenate(present), duration_s, "")
    except ValueError:
        for i, t in enumerate(trials):
            if t is not None:
                check_spike_times(t, duration_s, where_of(i))
        raise


def check_spike_times(times_s: np.ndarray, duration_s: float, where: str) -> None:
    """Raise ``ValueError`` naming ``where`` unless every spike time is finite and within
    ``SPIKE_MARGIN_S`` of the stimulus (seconds after onset)."""
    times_s = np.asarray(times_s, dtype=np.float64)
    finite = np.isfinite(times_s)
    if not finite.all():
        raise ValueError(f"{where}: {int((~finite).sum())} non-finite spike time(s) ({float(times_s[~finite][0])})")
    lo, hi = -SPIKE_MARGIN_S, duration_s + SPIKE_MARGIN_S
    bad = (times_s < lo) | (times_s > hi)
    if bad.any():
        raise ValueError(
            f"{where}: spike time {times_s[bad][0]:g} s is outside [{lo:g}, {hi:g}] s (the {duration_s:g} s stimulus "
            f"+- {SPIKE_MARGIN_S:g} s): not a plausible spike"
        )


class SkipLog:
    """Accumulates skip records; nothing is ever dropped without one."""

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, what: str, file: str, reason: str, cell_id=None, stim_id=None, trial=None) -> None:
        self.rows.append(
            dict(what=what, file=str(file), reason=reason, cell_id=cell_id, stim_id=stim_id, trial=trial)
        )

    def table(self) -> pa.Table:
        return pa.Table.from_pylist(self.rows, schema=SKIPPED_SCHEMA)


@dataclass
class TrialsBuilder:
    """Collects trials as flat arrays and builds the ragged Arrow table once."""

    cell_id: list[str] = field(default_factory=list)
    stim_id: list[str] = field(default_factory=list)
    trial: list[int] = field(default_factory=list)
    spikes: list[np.ndarray] = field(default_factory=list)

    def add(self, cell_id: str, stim_id: str, trial: int, spike_times_s: np.ndarray) -> None:
        self.cell_id.append(cell_id)
        self.stim_id.append(stim_id)
        self.trial.append(int(trial))
        self.spikes.append(np.sort(np.asarray(spike_times_s, dtype=np.float64).ravel()))

    def table(self) -> pa.Table:
        counts = np.fromiter((s.shape[0] for s in self.spikes), dtype=np.int64, count=len(self.spikes))
        offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        values = np.concatenate(self.spikes) if self.spikes else np.zeros(0)
        spikes = pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(values, pa.float64()))
        return pa.table(
            {
                "cell_id": pa.array(self.cell_id, pa.string()),
                "stim_id": pa.array(self.stim_id, pa.string()),
                "trial": pa.array(self.trial, pa.int32()),
                "spike_times_s": spikes.cast(pa.list_(pa.float64())),
            },
            schema=TRIALS_SCHEMA,
        )


@dataclass
class Shard:
    name: str
    trials: pa.Table
    neurons: pa.Table
    stims: pa.Table
    skipped: pa.Table

    @classmethod
    def assemble(cls, name: str, trials, neuron_rows: list[dict], neurons_schema: pa.Schema, stim_rows: list[dict],
                 skips) -> "Shard":
        """A reader's shard from its builders (``trials``, ``skips``: ``.table()``) and row lists."""
        return cls(name=name, trials=trials.table(), neurons=pa.Table.from_pylist(neuron_rows, schema=neurons_schema),
                   stims=pa.Table.from_pylist(stim_rows, schema=STIMS_SCHEMA), skipped=skips.table())

    def write(self, paths: dict[str, str | Path]) -> None:
        """Write each table to ``paths[name]`` (keys: trials, neurons, stims, skipped)."""
        for key in SHARD_FILES:
            write_parquet(getattr(self, key), paths[key])


