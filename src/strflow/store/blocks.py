"""HDF5 storage of ragged (stimulus, neuron) response blocks.

One file per shard (``results/<ds>/binned/<shard>.h5`` and
``results/<ds>/responses/<shard>.h5``)::

    /data              1-D, all blocks back to back (row-major (n_trials, n_bins) each)
    /index/stim_id     (P,) utf-8 strings
    /index/cell_id     (P,) utf-8 strings
    /index/n_trials    (P,) int32
    /index/n_bins      (P,) int32
    /index/offset      (P,) int64, start of each block in /data
    attributes         kind ('binned' | 'smoothed'), dt_ms, units, format_version and the
                       processing parameters that made the file

This is the "contiguous ragged array" representation (as in the CF conventions):
any HDF5 reader can slice one block with two integers.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from strflow.store import FORMAT_VERSION
from strflow.store.atomic import atomic_path

_STR = h5py.string_dtype("utf-8")


@dataclass
class PairBlocks:
    """Contiguous ragged (stim, neuron) response blocks."""

    stim_id: np.ndarray  # (P,) object/str
    cell_id: np.ndarray  # (P,)
    n_trials: np.ndarray  # (P,) int32
    n_bins: np.ndarray  # (P,) int32
    offset: np.ndarray  # (P,) int64 start of each block in `data`
    data: np.ndarray  # (sum n_trials*n_bins,)

    def block(self, p: int) -> np.ndarray:
        size = int(self.n_trials[p]) * int(self.n_bins[p])
        return self.data[self.offset[p] : self.offset[p] + size].reshape(self.n_trials[p], self.n_bins[p])

    def __len__(self) -> int:
        return int(self.stim_id.shape[0])


class BlockWriter:
    """Write a block file piece by piece (bounded memory); atomic (a temp file renamed into place when complete, removed on error).

    >>> with BlockWriter(path, index, total, np.uint16, attrs) as w:
    ...     w.write(start, values)      # values for data[start : start + len(values)]
    """

    def __init__(self, path: str | Path, index: PairBlocks, total: int, dtype, attrs: dict) -> None:
        self.path = Path(path)
        self.index, self.total, self.dtype, self.attrs = index, int(total), np.dtype(dtype), attrs

    def __enter__(self) -> "BlockWriter":
        with ExitStack() as stack:  # an error while setting up closes the file and removes the temporary
            tmp = stack.enter_context(atomic_path(self.path))
            self.file = stack.enter_context(h5py.File(tmp, "w"))
            self._create()
            self._stack = stack.pop_all()
        return self

    def _create(self) -> None:
        chunk = (min(max(self.total, 1), 1 << 18),)
        self.data = self.file.create_dataset(
            "data", shape=(self.total,), dtype=self.dtype, chunks=chunk, compression="gzip", compression_opts=1, shuffle=True
        )
        idx = self.file.create_group("index")
        idx.create_dataset("stim_id", data=np.asarray(self.index.stim_id, dtype=object), dtype=_STR)
        idx.create_dataset("cell_id", data=np.asarray(self.index.cell_id, dtype=object), dtype=_STR)
        idx.create_dataset("n_trials", data=np.asarray(self.index.n_trials, dtype=np.int32))
        idx.create_dataset("n_bins", data=np.asarray(self.index.n_bins, dtype=np.int32))
        idx.create_dataset("offset", data=np.asarray(self.index.offset, dtype=np.int64))
        self.file.attrs["format_version"] = FORMAT_VERSION
        for key, value in self.attrs.items():
            self.file.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) or value is None else value

    def write(self, start: int, values: np.ndarray) -> None:
        if values.size:
            if np.issubdtype(self.dtype, np.integer) and values.max() > np.iinfo(self.dtype).max:
                raise OverflowError(f"{self.path}: value {values.max()} does not fit {self.dtype}")
            self.data[start : start + values.size] = values.astype(self.dtype, copy=False)

    def __exit__(self, exc_type, exc, tb) -> None:
        # closes the file, then renames it into place (or removes it on error)
        self._stack.__exit__(exc_type, exc, tb)


def read_attrs(path: str | Path) -> dict:
    """The attributes of a block file (``kind``, ``dt_ms``, ...), without its index or data."""
    with h5py.File(path, "r") as f:
        return dict(f.attrs)


def read_index(path: str | Path) -> tuple[PairBlocks, dict]:
    """The pair index and attributes of a block file, without its data."""
    with h5py.File(path, "r") as f:
        idx = f["index"]
        index = PairBlocks(
            stim_id=idx["stim_id"].asstr()[()].astype(object),
            cell_id=idx["cell_id"].asstr()[()].astype(object),
            n_trials=idx["n_trials"][()],
            n_bins=idx["n_bins"][()],
            offset=idx["offset"][()],
            data=np.zeros(0),
        )
        return index, dict(f.attrs)


def read_blocks(path: str | Path) -> tuple[PairBlocks, dict]:
    """Load a whole file (one shard) into memory."""
    index, attrs = read_index(path)
    with h5py.File(path, "r") as f:
        index.data = f["data"][()]
    return index, attrs


def open_data(path: str | Path, cache_bytes: int = 1 << 20) -> h5py.Dataset:
    """The ``/data`` array of a block file, left open for sliced reads (``data[a:b]``).

    Parameters
    ----------
    path
        The block file.
    cache_bytes
        HDF5 chunk cache of the open file (pair-by-pair readers use a few chunks' worth).

    Returns
    -------
    h5py.Dataset
        Close it with ``data.file.close()`` (or keep it for the reader's lifetime).
    """
    return h5py.File(path, "r", rdcc_nbytes=cache_bytes)["data"]
