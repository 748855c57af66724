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
from pathlib import Path

import h5py
import numpy as np

from strflow.binning import PairBlocks

FORMAT_VERSION = 1
_STR = h5py.string_dtype("utf-8")


def write_blocks(path: str | Path, blocks: PairBlocks, attrs: dict, dtype=None) -> None:
    """Write atomically: a temp file renamed into place only when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    data = blocks.data if dtype is None else blocks.data.astype(dtype)
    with h5py.File(tmp, "w") as f:
        chunk = (min(max(data.shape[0], 1), 1 << 18),)
        f.create_dataset("data", data=data, chunks=chunk, compression="gzip", compression_opts=1, shuffle=True)
        idx = f.create_group("index")
        idx.create_dataset("stim_id", data=np.asarray(blocks.stim_id, dtype=object), dtype=_STR)
        idx.create_dataset("cell_id", data=np.asarray(blocks.cell_id, dtype=object), dtype=_STR)
        idx.create_dataset("n_trials", data=blocks.n_trials.astype(np.int32))
        idx.create_dataset("n_bins", data=blocks.n_bins.astype(np.int32))
        idx.create_dataset("offset", data=blocks.offset.astype(np.int64))
        f.attrs["format_version"] = FORMAT_VERSION
        for key, value in attrs.items():
            f.attrs[key] = json.dumps(value) if isinstance(value, (dict, list, tuple)) or value is None else value
    tmp.replace(path)


def read_blocks(path: str | Path) -> tuple[PairBlocks, dict]:
    """Load a whole file (one shard) into memory."""
    with h5py.File(path, "r") as f:
        idx = f["index"]
        blocks = PairBlocks(
            stim_id=idx["stim_id"].asstr()[()].astype(object),
            cell_id=idx["cell_id"].asstr()[()].astype(object),
            n_trials=idx["n_trials"][()],
            n_bins=idx["n_bins"][()],
            offset=idx["offset"][()],
            data=f["data"][()],
        )
        attrs = dict(f.attrs)
    return blocks, attrs
