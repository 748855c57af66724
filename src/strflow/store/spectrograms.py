"""``results/<ds>/spectrograms.h5``: one spectrogram per stimulus on the response grid::

    /spectrograms/<stim_id>   (n_bands, n_bins) float, gzip level 1
    /freqs_hz                 (n_bands,) float64 band centres
    attributes                dt_ms (the bin width), params (JSON: the spectrogram or
                              cochleagram settings), format_version

Written by the ``spectrograms`` rule (:func:`write_spectrograms`), read by the dataset
API (:func:`read_spectrograms`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from strflow.store import FORMAT_VERSION
from strflow.store.atomic import atomic_path


def write_spectrograms(path: str | Path, items: Iterable[tuple[str, np.ndarray, np.ndarray]], dt_ms: float,
                       params: dict) -> int:
    """Write ``spectrograms.h5`` atomically, streaming one stimulus at a time.

    Parameters
    ----------
    path
        The output file.
    items
        ``(stim_id, spectrogram (n_bands, n_bins), band centres in Hz)`` per stimulus;
        the band centres of the first are stored (the caller checks that all agree).
    dt_ms
        Bin width of the time grid.
    params
        The spectrogram settings (stored as JSON).

    Returns
    -------
    int
        The number of spectrograms written.
    """
    freqs, n = None, 0
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        group = f.create_group("spectrograms")
        for stim_id, spec, freqs_s in items:
            if freqs is None:
                freqs = freqs_s
            group.create_dataset(stim_id, data=spec, compression="gzip", compression_opts=1)
            n += 1
        f.create_dataset("freqs_hz", data=np.asarray(freqs if freqs is not None else [], dtype=np.float64))
        f.attrs["dt_ms"] = dt_ms
        f.attrs["params"] = json.dumps(params)
        f.attrs["format_version"] = FORMAT_VERSION
    return n


@dataclass
class Spectrograms:
    """The contents of a ``spectrograms.h5`` (see the module docstring)."""

    path: Path
    dt_ms: float
    params: dict
    freqs_hz: np.ndarray
    specs: dict[str, np.ndarray] = field(default_factory=dict)  # stim_id -> (n_bands, n_bins), in the order asked


def read_spectrograms(path: str | Path, stim_ids: Iterable[str] | None = None) -> Spectrograms:
    """Read ``spectrograms.h5``.

    Parameters
    ----------
    path
        The file.
    stim_ids
        The stimuli wanted, in order; those without a spectrogram (no waveform) are left
        out.  None: every stimulus in the file.

    Returns
    -------
    Spectrograms
        Attributes, band centres and the spectrograms.
    """
    with h5py.File(path, "r") as f:
        group = f["spectrograms"]
        ids = list(group) if stim_ids is None else [s for s in stim_ids if s in group]
        return Spectrograms(Path(path), float(f.attrs["dt_ms"]), json.loads(f.attrs["params"]), f["freqs_hz"][()],
                            {s: group[s][()] for s in ids})
