"""The ragged response-block files (src/strflow/store/blocks.py; layout in
workflow/schemas/outputs.md, "binned/<shard>.h5 and responses/<shard>.h5"): written
piecewise and read back, the on-disk layout as documented (read with h5py), atomic
writes, and the dataset API's NaN sentinel for pairs absent from the blocks."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

import strflow
from strflow.store.blocks import PairBlocks
from strflow.store.blocks import BlockWriter, read_blocks, read_index

from tests.helpers.results import HEARD

# three pairs by hand: (stim, cell, block); the middle one has no time grid (0 bins)
BLOCKS = [
    ("s1", "birdA/u1", np.arange(12, dtype=np.uint16).reshape(3, 4)),
    ("s2", "birdA/u1", np.zeros((2, 0), dtype=np.uint16)),
    ("s1", "birdA/u2", np.array([[7, 0, 65535, 1, 2], [3, 3, 3, 3, 3]], dtype=np.uint16)),
]


def index_of(blocks) -> tuple[PairBlocks, np.ndarray]:
    sizes = [b.size for _, _, b in blocks]
    offset = np.array([0, *np.cumsum(sizes)[:-1]], dtype=np.int64)
    index = PairBlocks(
        stim_id=np.array([s for s, _, _ in blocks], dtype=object),
        cell_id=np.array([c for _, c, _ in blocks], dtype=object),
        n_trials=np.array([b.shape[0] for _, _, b in blocks], dtype=np.int32),
        n_bins=np.array([b.shape[1] for _, _, b in blocks], dtype=np.int32),
        offset=offset,
        data=np.zeros(0),
    )
    return index, np.concatenate([b.ravel() for _, _, b in blocks])


ATTRS = {"kind": "binned", "dt_ms": 5.0, "n_pre_bins": 2, "units": "spikes per bin",
         "smoothing": {"window_ms": 21, "taps": [0.25, 0.5, 0.25]}, "note": None}


def test_written_in_pieces_then_read_back(tmp_path):
    index, data = index_of(BLOCKS)
    path = tmp_path / "binned" / "birdA.h5"  # the folder does not exist yet
    with BlockWriter(path, index, data.size, np.uint16, ATTRS) as w:
        w.write(10, data[10:])  # any order, any split
        w.write(0, data[:10])
    assert sorted(p.name for p in path.parent.iterdir()) == ["birdA.h5"]  # no temp file left
    back, attrs = read_blocks(path)
    assert list(back.stim_id) == ["s1", "s2", "s1"] and list(back.cell_id) == ["birdA/u1", "birdA/u1", "birdA/u2"]
    for p, (_, _, block) in enumerate(BLOCKS):
        np.testing.assert_array_equal(back.block(p), block)
        assert back.block(p).shape == block.shape
    assert attrs["kind"] == "binned" and attrs["dt_ms"] == 5.0 and attrs["n_pre_bins"] == 2
    assert json.loads(attrs["smoothing"]) == ATTRS["smoothing"]  # dicts and lists as JSON text
    assert json.loads(attrs["note"]) is None
    assert attrs["format_version"] == 1
    only, attrs2 = read_index(path)  # the index without the data
    assert only.data.size == 0 and list(only.offset) == list(index.offset) and attrs2.keys() == attrs.keys()


def test_layout_is_the_documented_one(tmp_path):
    """outputs.md: /data 1-D; /index/stim_id, cell_id utf-8; n_trials, n_bins int32;
    offset int64; block p = data[offset[p] : offset[p] + n_trials[p] * n_bins[p]]."""
    index, data = index_of(BLOCKS)
    path = tmp_path / "b.h5"
    with BlockWriter(path, index, data.size, np.uint16, ATTRS) as w:
        w.write(0, data)
    with h5py.File(path, "r") as f:
        assert f["data"].ndim == 1 and f["data"].dtype == np.uint16 and f["data"].shape == (data.size,)
        for name in ("stim_id", "cell_id"):
            assert h5py.check_string_dtype(f["index"][name].dtype).encoding == "utf-8"
        assert f["index/n_trials"].dtype == np.int32 and f["index/n_bins"].dtype == np.int32
        assert f["index/offset"].dtype == np.int64
        raw = f["data"][()]
        offset, n_trials, n_bins = f["index/offset"][()], f["index/n_trials"][()], f["index/n_bins"][()]
        for p, (_, _, block) in enumerate(BLOCKS):
            size = n_trials[p] * n_bins[p]
            np.testing.assert_array_equal(raw[offset[p] : offset[p] + size].reshape(n_trials[p], n_bins[p]), block)


def test_float_blocks_keep_their_values(tmp_path):
    blocks = [("s", "c", np.array([[0.125, np.pi], [-1.5, 1e-7]], dtype=np.float32))]
    index, data = index_of(blocks)
    with BlockWriter(tmp_path / "r.h5", index, data.size, np.float32, {"kind": "smoothed"}) as w:
        w.write(0, data.astype(np.float64))  # cast to the file's dtype on write
    back, _ = read_blocks(tmp_path / "r.h5")
    assert back.data.dtype == np.float32
    np.testing.assert_array_equal(back.block(0), blocks[0][2])


def test_an_error_while_writing_leaves_no_file_and_keeps_the_old_one(tmp_path):
    index, data = index_of(BLOCKS)
    path = tmp_path / "birdA.h5"
    with pytest.raises(RuntimeError, match="boom"):
        with BlockWriter(path, index, data.size, np.uint16, ATTRS) as w:
            w.write(0, data[:5])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temp file
    path.write_bytes(b"previous run")
    with pytest.raises(RuntimeError):
        with BlockWriter(path, index, data.size, np.uint16, ATTRS):
            raise RuntimeError("boom")
    assert path.read_bytes() == b"previous run" and sorted(p.name for p in tmp_path.iterdir()) == ["birdA.h5"]


def test_a_count_too_large_for_the_dtype_names_the_file(tmp_path):
    blocks = [("s", "c", np.array([[70000, 1]], dtype=np.int64))]
    index, data = index_of(blocks)
    path = tmp_path / "binned" / "x.h5"
    with pytest.raises(OverflowError, match=r"x\.h5.*70000.*uint16"):
        with BlockWriter(path, index, data.size, np.uint16, {}) as w:
            w.write(0, data)
    assert not path.exists() and not list(path.parent.iterdir())


@pytest.mark.parametrize("smoothed", [False, True])
def test_dataset_api_reads_the_blocks_and_gives_nan_sentinels(tiny_results, smoothed):
    """The hand-built folder (tests/helpers/results.py): heard pairs come back as stored
    (counts, or counts x 0.5 in responses/), unheard pairs are the (1, 1) NaN sentinel."""
    ds = strflow.open_dataset(tiny_results.folder, smoothed=smoothed)
    assert [m["stim_id"] for m in ds.stim_meta] == tiny_results.stim_ids
    assert [m["cell_id"] for m in ds.nrn_meta] == tiny_results.cell_ids
    np.testing.assert_array_equal(ds.nrn_masks.numpy(), tiny_results.masks)
    scale = 0.5 if smoothed else 1.0
    n_unheard = 0
    for s in range(len(tiny_results.stim_ids)):
        for n in range(len(tiny_results.cell_ids)):
            got = ds.responses[s][n]
            if (s, n) in HEARD:
                assert got.dtype == torch.float32
                np.testing.assert_array_equal(got.numpy(), scale * tiny_results.counts[(s, n)])
            else:
                n_unheard += 1
                assert tuple(got.shape) == (1, 1) and torch.isnan(got).all()
    assert n_unheard == 12 - len(HEARD) == 5


def test_a_failure_while_opening_leaves_no_file_behind(tmp_path):
    index, data = index_of(BLOCKS)
    with pytest.raises(TypeError):
        with BlockWriter(tmp_path / "b.h5", index, data.size, np.uint16, {"bad": object()}):
            pass  # never reached: the attribute cannot be stored
    assert list(tmp_path.iterdir()) == []
