"""Binned and smoothed responses (``workflow/rules/responses.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow.parquet as pq

log = logging.getLogger("strflow")


# Bins processed at once by the streaming steps: 4 M bins keep the temporaries of one
# piece (int64 bincount, casts, cumulative sums) near 100 MB.
STREAM_BINS = 1 << 22


def bin_shard(trials_path, neurons_path, stims_path, dt_ms: float, out_h5, out_coverage) -> None:
    """Count spikes per bin for every trial of a shard, streaming bounded pieces to disk."""
    from strflow.processing.binning import plan_pairs, summary_from_trials, trial_totals
    from strflow.store.tables import flat_spikes, write_parquet
    from strflow.store.blocks import BlockWriter
    from strflow.processing.dataset_tables import coverage_table

    trials = pq.read_table(trials_path)
    stims = pq.read_table(stims_path, columns=["stim_id", "n_bins", "n_pre_bins"]).to_pydict()
    cells = pq.read_table(neurons_path, columns=["cell_id"]).column("cell_id").to_pylist()
    pre = set(stims["n_pre_bins"]) - {0} or {0}  # stimuli without a grid have 0
    if len(pre) != 1:
        raise ValueError(f"{stims_path}: stimuli disagree on the pre-stimulus window: n_pre_bins {sorted(pre)}")
    values, offsets = flat_spikes(trials)
    plan = plan_pairs(
        cell_id=trials.column("cell_id").to_numpy(zero_copy_only=False),
        stim_id=trials.column("stim_id").to_numpy(zero_copy_only=False),
        trial=trials.column("trial").to_numpy(),
        spike_times_s=values,
        offsets=offsets,
        stim_order={s: i for i, s in enumerate(stims["stim_id"])},
        stim_n_bins=dict(zip(stims["stim_id"], stims["n_bins"])),
        cell_order={c: i for i, c in enumerate(cells)},
        dt_ms=dt_ms,
        pre_bins=pre.pop(),
    )
    del trials, values
    per_trial = np.zeros(plan.n_bins.shape[0], dtype=np.int64)
    attrs = dict(kind="binned", units="spikes/bin", dt_ms=dt_ms, n_pre_bins=plan.pre_bins)
    with BlockWriter(out_h5, plan.index, plan.block_offsets[-1], np.uint16, attrs) as writer:
        for start, stop in plan.ranges(STREAM_BINS):
            counts = plan.count(start, stop)
            writer.write(int(plan.block_offsets[start]), counts)
            per_trial[start:stop] = trial_totals(counts, plan.n_bins[start:stop])
    summary = summary_from_trials(plan.index, per_trial, dt_ms)
    write_parquet(coverage_table(plan.index, summary), out_coverage)
    log.info("binned %d pairs (%d trials) at %g ms", len(plan.index), plan.n_bins.shape[0], dt_ms)


def smooth_shard(binned_path, smoothing: dict, out) -> None:
    """Smooth every trial of a shard, streaming runs of equal-length trials."""
    from strflow.processing.smoothing import equal_length_runs, hanning_kernel, smooth_rows
    from strflow.store.blocks import BlockWriter, open_data, read_index

    index, attrs = read_index(binned_path)
    dt_ms = float(attrs["dt_ms"])
    kernel = hanning_kernel(smoothing["window_ms"], dt_ms, smoothing["kernel"])
    sizes = index.n_trials.astype(np.int64) * index.n_bins
    total = int(sizes.sum())
    out_attrs = dict(
        kind="smoothed",
        units="spikes/bin" if smoothing["kernel"] == "normalized" else "spikes/bin x kernel sum (legacy)",
        dt_ms=dt_ms,
        smoothing=dict(smoothing),
        kernel=kernel.tolist(),
    )
    data = open_data(binned_path)
    try:
        with BlockWriter(out, index, total, np.float32, out_attrs) as writer:
            for start, rows, t in equal_length_runs(index, STREAM_BINS):
                writer.write(start, smooth_rows(data[start : start + rows * t].reshape(rows, t), kernel).ravel())
    finally:
        data.file.close()
    log.info("smoothed %d pairs with a %d-tap %s Hanning kernel", len(index), kernel.size, smoothing["kernel"])
