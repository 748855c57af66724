"""Spike binning on the shared time grid, vectorised over every trial of a shard.

Bin ``k`` of a trial counts the spikes with ``k*dt <= t < (k+1)*dt`` ms after onset,
for ``k < n_bins`` of the trial's stimulus (see :mod:`strflow.timegrid`).  Counts are
true counts (several spikes may share a bin).  With a pre-stimulus window of ``P``
bins (``processing.pre_stim_ms``) the grid starts ``P`` bins before onset: bin ``k``
covers ``[(k-P)*dt, (k-P+1)*dt)`` and ``n_bins`` includes the ``P`` bins.  Spikes
outside the grid stay in the interim spike table.

Trials are grouped into (stimulus, neuron) *pairs*; a pair's block is the row-major
``(n_trials, n_bins)`` count matrix.  Blocks are stored back to back in one flat array
(a contiguous ragged array), ordered by stimulus (dataset order), then neuron, then
trial number, so that all responses to one stimulus are contiguous.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from strflow import timegrid
from strflow.store.blocks import PairBlocks




def bin_trials(
    spike_times_s: np.ndarray, offsets: np.ndarray, n_bins: np.ndarray, dt_ms: float, pre_bins: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Count spikes per bin for many trials at once.

    ``spike_times_s[offsets[i]:offsets[i+1]]`` are trial ``i``'s spikes (s after onset);
    ``n_bins[i]`` its grid length, of which the first ``pre_bins`` precede onset.  Returns ``(counts, block_offsets)`` where trial ``i``
    occupies ``counts[block_offsets[i]:block_offsets[i+1]]``.
    """
    n_bins = np.asarray(n_bins, dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    block_offsets = np.zeros(n_bins.shape[0] + 1, dtype=np.int64)
    np.cumsum(n_bins, out=block_offsets[1:])
    trial_of_spike = np.repeat(np.arange(n_bins.shape[0]), np.diff(offsets))
    bins = timegrid.bin_index(np.asarray(spike_times_s) * 1000.0, dt_ms) + pre_bins
    keep = (bins >= 0) & (bins < n_bins[trial_of_spike])
    flat = block_offsets[trial_of_spike[keep]] + bins[keep]
    counts = np.bincount(flat, minlength=int(block_offsets[-1])).astype(np.int32)
    return counts, block_offsets


def ragged_take(values: np.ndarray, offsets: np.ndarray, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder the rows of a ragged array (values, offsets) by ``order``."""
    lengths = np.diff(offsets)[order]
    new_offsets = np.zeros(order.shape[0] + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    starts = offsets[:-1][order]
    gather = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1])
    return values[gather], new_offsets


@dataclass
class BinPlan:
    """A shard's trials in block order, ready to be counted in bounded pieces."""

    spike_times_s: np.ndarray  # spikes of the trials in their original order
    offsets: np.ndarray  # (n_trials + 1,) into spike_times_s, original order
    order: np.ndarray  # (n_trials,) original index of each trial in block order
    n_bins: np.ndarray  # (n_trials,) grid length of each trial, block order
    block_offsets: np.ndarray  # (n_trials + 1,) start of each trial in the flat counts
    index: PairBlocks  # pair index (stim, cell, n_trials, n_bins, offset); data empty
    dt_ms: float
    pre_bins: int = 0  # bins of the pre-stimulus window at the start of every grid

    def ranges(self, max_bins: int) -> list[tuple[int, int]]:
        """Consecutive trial ranges of at most ``max_bins`` bins (at least one trial)."""
        out, start = [], 0
        n = self.n_bins.shape[0]
        while start < n:
            limit = self.block_offsets[start] + max_bins
            stop = max(int(np.searchsorted(self.block_offsets, limit, side="right")) - 1, start + 1)
            out.append((start, min(stop, n)))
            start = min(stop, n)
        return out

    def count(self, start: int, stop: int) -> np.ndarray:
        """Counts of trials ``start..stop-1`` in block order (their slice of the flat
        array); only those trials' spikes are gathered, so memory follows the range."""
        values, offsets = ragged_take(self.spike_times_s, self.offsets, self.order[start:stop])
        counts, _ = bin_trials(values, offsets, self.n_bins[start:stop], self.dt_ms, self.pre_bins)
        return counts


def plan_pairs(
    cell_id: np.ndarray,
    stim_id: np.ndarray,
    trial: np.ndarray,
    spike_times_s: np.ndarray,
    offsets: np.ndarray,
    stim_order: dict[str, int],
    stim_n_bins: dict[str, int],
    cell_order: dict[str, int],
    dt_ms: float,
    pre_bins: int = 0,
) -> BinPlan:
    """Order a shard's trials by (stimulus, neuron, trial) and index the pair blocks."""
    cell_id = np.asarray(cell_id, dtype=object)
    stim_id = np.asarray(stim_id, dtype=object)
    unknown = set(stim_id.tolist()) - stim_order.keys()
    if unknown:
        raise KeyError(f"trials reference stimuli absent from the stimulus table: {sorted(unknown)[:5]}")
    s_idx = np.fromiter((stim_order[s] for s in stim_id), dtype=np.int64, count=stim_id.shape[0])
    c_idx = np.fromiter((cell_order[c] for c in cell_id), dtype=np.int64, count=cell_id.shape[0])
    order = np.lexsort((np.asarray(trial), c_idx, s_idx))
    values, offs = np.asarray(spike_times_s), np.asarray(offsets, dtype=np.int64)
    s_idx, c_idx, stim_id, cell_id = s_idx[order], c_idx[order], stim_id[order], cell_id[order]
    n_bins = np.fromiter((stim_n_bins[s] for s in stim_id), dtype=np.int64, count=stim_id.shape[0])
    block_offsets = np.zeros(n_bins.shape[0] + 1, dtype=np.int64)
    np.cumsum(n_bins, out=block_offsets[1:])
    if stim_id.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        index = PairBlocks(stim_id, cell_id, empty.astype(np.int32), empty.astype(np.int32), empty, np.zeros(0, np.int32))
        return BinPlan(values, offs, order, n_bins, block_offsets, index, dt_ms, pre_bins)
    new_pair = np.ones(stim_id.shape[0], dtype=bool)
    new_pair[1:] = (s_idx[1:] != s_idx[:-1]) | (c_idx[1:] != c_idx[:-1])
    first = np.flatnonzero(new_pair)
    n_trials = np.diff(np.append(first, stim_id.shape[0]))
    index = PairBlocks(
        stim_id=stim_id[first],
        cell_id=cell_id[first],
        n_trials=n_trials.astype(np.int32),
        n_bins=n_bins[first].astype(np.int32),
        offset=block_offsets[first],
        data=np.zeros(0, np.int32),
    )
    return BinPlan(values, offs, order, n_bins, block_offsets, index, dt_ms, pre_bins)


def bin_pairs(*args, **kwargs) -> PairBlocks:
    """Bin a shard's trials into ordered (stim, neuron) blocks of counts, in memory.

    Same arguments as :func:`plan_pairs`; the workflow streams instead
    (:func:`strflow.steps.responses.bin_shard`), so that memory stays bounded.
    """
    plan = plan_pairs(*args, **kwargs)
    counts = plan.count(0, plan.n_bins.shape[0]) if plan.n_bins.shape[0] else np.zeros(0, np.int32)
    i = plan.index
    return PairBlocks(i.stim_id, i.cell_id, i.n_trials, i.n_bins, i.offset, counts)


def trial_totals(counts: np.ndarray, n_bins: np.ndarray) -> np.ndarray:
    """Spikes per trial from flat counts of consecutive trials of lengths ``n_bins``."""
    ends = np.cumsum(n_bins)
    # cumulative sums handle zero-length trials (stimuli without a waveform, n_bins = 0)
    csum = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    return csum[ends] - csum[ends - n_bins]


def summary_from_trials(index: PairBlocks, per_trial: np.ndarray, dt_ms: float) -> dict[str, np.ndarray]:
    """Per-pair totals (coverage columns) from per-trial spike counts in block order."""
    pair_of_trial = np.repeat(np.arange(len(index)), index.n_trials)
    n_spikes = np.bincount(pair_of_trial, weights=per_trial, minlength=len(index)).astype(np.int64)
    n_empty = np.bincount(pair_of_trial, weights=per_trial == 0, minlength=len(index)).astype(np.int32)
    seconds = index.n_trials.astype(np.float64) * index.n_bins * dt_ms / 1000.0
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(seconds > 0, n_spikes / seconds, np.nan)
    return dict(n_spikes=n_spikes, n_empty_trials=n_empty, mean_rate_hz=rate)


def pair_summary(blocks: PairBlocks, dt_ms: float) -> dict[str, np.ndarray]:
    """Per-pair spike totals within the grid window: the coverage table's numbers."""
    trial_sizes = np.repeat(blocks.n_bins, blocks.n_trials).astype(np.int64)
    return summary_from_trials(blocks, trial_totals(blocks.data, trial_sizes), dt_ms)
