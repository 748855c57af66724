"""Hanning smoothing of binned responses, along time, one trial at a time.

Kernel length ``K = int(window_ms // dt_ms)``, raised to at least 1 and to the next
odd number, so the kernel is centred; ``numpy.hanning(K)`` (zero end points).  Edges
are zero-padded (no activity is invented outside the stimulus grid) and the output has
the input's length.

Two kernels (``smoothing.kernel`` in the config):

``normalized`` (default)
    divided by its sum, so smoothing preserves the spike count and the response stays
    in spikes per bin: PSTH amplitudes mean the same thing at every ``dt``.
``legacy``
    deepSTRF's raw, unnormalised ``np.hanning(K)``: responses are scaled by the kernel
    sum ``(K-1)/2`` (x10 at dt = 1 ms, x2 at 5 ms, x1 at 10 ms).  For parity only.

Unheard (stimulus, neuron) pairs are never materialised, so they stay missing.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import correlate1d

from strflow.store.blocks import PairBlocks

KERNELS = ("normalized", "legacy")


def kernel_length(window_ms: float, dt_ms: float) -> int:
    k = max(int(window_ms // dt_ms), 1)
    return k if k % 2 == 1 else k + 1


def check_window(window_ms: float, dt_ms: float, where: str = "smoothing") -> None:
    """Refuse a window whose kernel would smooth nothing.  ``numpy.hanning`` has zero end
    points, so a kernel of at most 3 taps (``window_ms < 4 * dt_ms``) has one non-zero
    tap: the "smoothed" responses would silently be the raw counts."""
    k = kernel_length(window_ms, dt_ms)
    if np.count_nonzero(np.hanning(k)) < 2:
        raise ValueError(
            f"{where}: window_ms {window_ms:g} at dt_ms {dt_ms:g} gives a {k}-tap Hanning kernel whose only "
            f"non-zero tap is the centre, i.e. no smoothing at all; use window_ms >= {4 * dt_ms:g} (at least "
            "4 bins), or read unsmoothed counts with open_dataset(..., smoothed=False)"
        )


def hanning_kernel(window_ms: float, dt_ms: float, kind: str = "normalized") -> np.ndarray:
    if kind not in KERNELS:
        raise ValueError(f"smoothing kernel must be one of {KERNELS}, got {kind!r}")
    check_window(window_ms, dt_ms)
    window = np.hanning(kernel_length(window_ms, dt_ms))
    return window / window.sum() if kind == "normalized" else window


def smooth_rows(rows: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Smooth each row of a (n, T) array with zero padding; output (n, T) float32."""
    return correlate1d(np.asarray(rows, dtype=np.float32), kernel.astype(np.float32), axis=-1, mode="constant", cval=0.0)


def equal_length_runs(blocks: PairBlocks, max_bins: int = 1 << 24):
    """Yield ``(start, n_rows, n_bins)``: runs of consecutive trials of one length, each a
    contiguous ``(n_rows, n_bins)`` matrix in the flat data, at most ``max_bins`` values
    (blocks are ordered by stimulus, so one stimulus' trials form a run)."""
    if not len(blocks):
        return
    change = np.flatnonzero(np.diff(blocks.n_bins) != 0) + 1
    for lo, hi in zip(np.r_[0, change], np.r_[change, len(blocks)]):
        t = int(blocks.n_bins[lo])
        if t == 0:
            continue
        start = int(blocks.offset[lo])
        rows = int(blocks.n_trials[lo:hi].sum())
        step = max(1, max_bins // t)
        for r0 in range(0, rows, step):
            n = min(step, rows - r0)
            yield start + r0 * t, n, t


def smooth_blocks(blocks: PairBlocks, kernel: np.ndarray) -> PairBlocks:
    """Smooth every trial of every block held in memory."""
    out = np.zeros(blocks.data.shape[0], dtype=np.float32)
    for start, rows, t in equal_length_runs(blocks):
        stop = start + rows * t
        out[start:stop] = smooth_rows(blocks.data[start:stop].reshape(rows, t), kernel).ravel()
    return PairBlocks(blocks.stim_id, blocks.cell_id, blocks.n_trials, blocks.n_bins, blocks.offset, out)
