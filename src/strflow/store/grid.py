"""One time grid per dataset: the files a dataset is built from (``spectrograms.h5``, the
response block files, ``tables/stims.parquet``) are written by different rules, each with
the grid it was given; :func:`check_grid` makes opening a dataset fail, naming both files
and both values, when they disagree (a partial rebuild after a ``dt_ms`` change, files
copied between datasets)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from strflow.store.blocks import read_attrs


def check_grid(spectrograms_path: str | Path, dt_ms: float, frames: Mapping[str, int], stims_path: str | Path,
               stim_bins: Mapping[str, int], stim_pre_bins: int, block_paths: Sequence[str | Path]) -> None:
    """Raise ``ValueError`` unless every file agrees on the bin width and the grids.

    Parameters
    ----------
    spectrograms_path
        ``spectrograms.h5`` (the reference: its ``dt_ms`` attribute is ``dt_ms``).
    dt_ms
        The spectrograms' bin width.
    frames
        ``stim_id -> number of spectrogram frames``.
    stims_path
        ``tables/stims.parquet``.
    stim_bins
        ``stim_id -> n_bins`` of the stimulus table (the grid every file must follow).
    stim_pre_bins
        The stimulus table's pre-stimulus bins.
    block_paths
        Response block files; their ``dt_ms`` (and ``n_pre_bins`` where recorded) must
        match.

    Raises
    ------
    ValueError
        Naming both files and both values of the first disagreement.
    """
    for path in block_paths:
        attrs = read_attrs(path)
        if "dt_ms" in attrs and not math.isclose(float(attrs["dt_ms"]), dt_ms, rel_tol=1e-9):
            raise ValueError(f"{path}: dt_ms {float(attrs['dt_ms']):g} but {spectrograms_path}: dt_ms {dt_ms:g}; "
                             "the dataset's files are from different time grids (rebuild them)")
        if "n_pre_bins" in attrs and int(np.asarray(attrs["n_pre_bins"])) != stim_pre_bins:
            raise ValueError(f"{path}: n_pre_bins {int(np.asarray(attrs['n_pre_bins']))} but {stims_path}: "
                             f"n_pre_bins {stim_pre_bins}; the dataset's files are from different time grids (rebuild them)")
    for stim_id, n in frames.items():
        if stim_id in stim_bins and n != stim_bins[stim_id]:
            raise ValueError(f"{spectrograms_path}: stimulus {stim_id} has {n} frames but {stims_path}: n_bins "
                             f"{stim_bins[stim_id]}; the dataset's files are from different time grids (rebuild them)")
