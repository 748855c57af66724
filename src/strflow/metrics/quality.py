"""Per-neuron response quality (noise ceiling) from the binned counts.

For every neuron, :func:`strflow.metrics.response_quality` over its (stimulus) blocks
of spike counts per bin (unsmoothed, like the published NS1 ``NoiseRatio``): Sahani–
Linden signal and noise power, the noise ratio NP/SP, CCmax from SP and from split
halves, each length-weighted across stimuli (weights = bins).  Stimuli without a time
grid (no waveform) are not used.  Writes ``tables/quality.parquet`` (one row per
neuron) and ``tables/quality_by_stim.parquet`` (one row per heard pair).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa

from strflow.metrics.noise_ceiling import response_quality
from strflow.store.blocks import PairBlocks
from strflow.store.tables import BY_STIM_SCHEMA, QUALITY_SCHEMA



def quality_rows(blocks: PairBlocks, cells: list[str]) -> tuple[list[dict], list[dict]]:
    """Per-neuron and per-pair rows for the neurons ``cells`` (in that order)."""
    by_cell: dict[str, list[int]] = defaultdict(list)
    for p in range(len(blocks)):
        if blocks.n_bins[p] > 0:
            by_cell[blocks.cell_id[p]].append(p)
    neurons, pairs = [], []
    for cell in cells:
        idx = by_cell.get(cell, [])
        q = response_quality([blocks.block(p).astype(np.float64) for p in idx]) if idx else None
        reason = "no stimulus with a time grid" if q is None else q.noise_ratio.reason
        neurons.append(
            dict(
                cell_id=cell,
                n_stimuli=len(idx),
                signal_power=q.signal_power.value if q else np.nan,
                noise_power=q.noise_power.value if q else np.nan,
                noise_ratio=q.noise_ratio.value if q else np.nan,
                ccmax_sp=q.ccmax_sp.value if q else np.nan,
                ccmax_split=q.ccmax_split.value if q else np.nan,
                reason=reason,
            )
        )
        for k, p in enumerate(idx):
            per = q.per_stimulus
            pairs.append(
                dict(
                    cell_id=cell,
                    stim_id=blocks.stim_id[p],
                    n_trials=int(blocks.n_trials[p]),
                    n_bins=int(blocks.n_bins[p]),
                    signal_power=float(per["signal_power"][k]),
                    noise_power=float(per["noise_power"][k]),
                    ccmax_sp=float(per["ccmax_sp"][k]),
                    ccmax_split=float(per["ccmax_split"][k]),
                )
            )
    return neurons, pairs


def tables(neurons: list[dict], pairs: list[dict]) -> tuple[pa.Table, pa.Table]:
    return pa.Table.from_pylist(neurons, schema=QUALITY_SCHEMA), pa.Table.from_pylist(pairs, schema=BY_STIM_SCHEMA)
