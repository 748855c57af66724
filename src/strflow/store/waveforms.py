"""``results/<ds>/waveforms.h5``: one grid-rate waveform per stimulus (computed by
:mod:`strflow.processing.waveforms`)::

    /waveforms/<stim_id>   (samples_per_bin * n_bins,) float32, gzip level 1; attributes
                           sample_rate_hz, samples_per_bin
    attributes             dt_ms, format_version, samples_per_bin (one value when every
                           stimulus shares the grid rate, else -1), params (JSON)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import h5py
import numpy as np

from strflow.store import FORMAT_VERSION
from strflow.store.atomic import atomic_path


def write_waveforms_file(path: str | Path, items: Iterable[tuple[str, np.ndarray, float, int]], dt_ms: float,
                         params: dict) -> int:
    """Write ``waveforms.h5`` atomically, one stimulus at a time.

    Parameters
    ----------
    path
        The output file.
    items
        ``(stim_id, samples, sample_rate_hz, samples_per_bin)`` per stimulus.
    dt_ms
        Bin width of the grid.
    params
        How the waveforms were made (stored as JSON).

    Returns
    -------
    int
        The number of waveforms written.
    """
    spb_all: set[int] = set()
    written = 0
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        group = f.create_group("waveforms")
        for stim_id, samples, rate, spb in items:
            d = group.create_dataset(stim_id, data=samples, compression="gzip", compression_opts=1)
            d.attrs["sample_rate_hz"] = rate
            d.attrs["samples_per_bin"] = spb
            spb_all.add(spb)
            written += 1
        f.attrs["dt_ms"] = dt_ms
        f.attrs["format_version"] = FORMAT_VERSION
        f.attrs["samples_per_bin"] = spb_all.pop() if len(spb_all) == 1 else -1
        f.attrs["params"] = json.dumps(params)
    return written


def read_waveforms(path: str | Path, stim_ids: Sequence[str]) -> tuple[list[np.ndarray], int, float]:
    """The waveforms of ``stim_ids`` (in order), their samples per bin and rate.

    Parameters
    ----------
    path
        ``waveforms.h5``.
    stim_ids
        The stimuli wanted; every one must be in the file.

    Returns
    -------
    tuple
        ``(arrays, samples_per_bin, sample_rate_hz)`` (0 and NaN when ``stim_ids`` is empty).

    Raises
    ------
    FileNotFoundError, ValueError
        The file is missing, lacks a stimulus, or mixes grid rates.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found; build it with `snakemake {path}`")
    with h5py.File(path, "r") as f:
        missing = [s for s in stim_ids if s not in f["waveforms"]]
        if missing:
            raise ValueError(f"{path}: no waveform for stimuli {missing[:5]}; rebuild it")
        data = [f["waveforms"][s] for s in stim_ids]
        rates = {float(d.attrs["sample_rate_hz"]) for d in data}
        spb = {int(d.attrs["samples_per_bin"]) for d in data}
        if len(spb) > 1 or len(rates) > 1:
            raise ValueError(f"{path}: stimuli on different grid rates {sorted(rates)}; one rate is needed to batch them")
        arrays = [d[()] for d in data]
    return arrays, (spb.pop() if spb else 0), (rates.pop() if rates else float("nan"))
