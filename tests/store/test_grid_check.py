"""Opening a dataset checks that its files share one time grid (issue 14): a mismatch
between spectrograms.h5, a response block file and the stimulus table is an error that
names both files and both values."""

import numpy as np
import pyarrow as pa
import pytest

from strflow.store.blocks import BlockWriter, PairBlocks
from strflow.store.grid import check_grid
from strflow.store.spectrograms import read_spectrograms, write_spectrograms
from strflow.store.tables import write_parquet


def _files(tmp_path, spec_dt=5.0, block_dt=5.0, block_pre=2, frames=12, table_bins=12):
    spec_path = tmp_path / "spectrograms.h5"
    write_spectrograms(spec_path, [("s1", np.ones((3, frames)), np.array([1.0, 2.0, 3.0]))], spec_dt, {"kind": "mel"})
    stims_path = tmp_path / "tables" / "stims.parquet"
    write_parquet(pa.table({"stim_id": ["s1"], "n_bins": pa.array([table_bins], pa.int32()),
                            "n_pre_bins": pa.array([2], pa.int32())}), stims_path)
    index = PairBlocks(stim_id=np.array(["s1"], dtype=object), cell_id=np.array(["c1"], dtype=object),
                       n_trials=np.array([2]), n_bins=np.array([table_bins]), offset=np.array([0]), data=np.zeros(0))
    block_path = tmp_path / "binned" / "a.h5"
    with BlockWriter(block_path, index, 2 * table_bins, np.uint16, dict(kind="binned", dt_ms=block_dt, n_pre_bins=block_pre)) as w:
        w.write(0, np.arange(2 * table_bins))
    return spec_path, stims_path, block_path


def _check(spec_path, stims_path, block_path, table_bins=12):
    specs = read_spectrograms(spec_path)
    check_grid(spec_path, specs.dt_ms, {s: a.shape[1] for s, a in specs.specs.items()}, stims_path,
               {"s1": table_bins}, 2, [block_path])


def test_files_on_one_grid_pass(tmp_path):
    _check(*_files(tmp_path))


def test_block_dt_differing_from_the_spectrograms_names_both_files_and_values(tmp_path):
    spec_path, stims_path, block_path = _files(tmp_path, spec_dt=5.0, block_dt=2.0)
    with pytest.raises(ValueError) as err:
        _check(spec_path, stims_path, block_path)
    msg = str(err.value)
    assert str(block_path) in msg and "dt_ms 2" in msg and str(spec_path) in msg and "dt_ms 5" in msg


def test_block_pre_stimulus_window_differing_from_the_table_is_an_error(tmp_path):
    spec_path, stims_path, block_path = _files(tmp_path, block_pre=4)
    with pytest.raises(ValueError, match=r"n_pre_bins 4 but .*stims\.parquet: n_pre_bins 2"):
        _check(spec_path, stims_path, block_path)


def test_spectrogram_frames_differing_from_the_table_name_the_stimulus(tmp_path):
    spec_path, stims_path, block_path = _files(tmp_path, frames=10)
    with pytest.raises(ValueError, match=r"spectrograms\.h5: stimulus s1 has 10 frames but .*stims\.parquet: n_bins 12"):
        _check(spec_path, stims_path, block_path)


def test_open_dataset_refuses_a_dataset_whose_responses_are_on_another_grid(tmp_path):
    """End to end through the dataset API: a complete one-shard folder whose response file
    says dt 2 ms while its spectrograms say 5 ms."""
    import strflow

    spec_path, stims_path, _ = _files(tmp_path, block_dt=5.0)
    tables = tmp_path / "tables"
    write_parquet(pa.table({"stim_id": ["s1"], "n_bins": pa.array([12], pa.int32()), "n_pre_bins": pa.array([2], pa.int32()),
                            "wav": ["s1.wav"]}), stims_path)
    write_parquet(pa.table({"cell_id": ["c1"], "animal_id": ["a"], "shard": ["a"], "file": ["f"]}), tables / "neurons.parquet")
    write_parquet(pa.table({"stim_id": ["s1"], "cell_id": ["c1"]}), tables / "coverage.parquet")
    write_parquet(pa.table({"what": pa.array([], pa.string())}), tables / "skipped.parquet")
    index = PairBlocks(stim_id=np.array(["s1"], dtype=object), cell_id=np.array(["c1"], dtype=object),
                       n_trials=np.array([2]), n_bins=np.array([12]), offset=np.array([0]), data=np.zeros(0))
    responses = tmp_path / "responses" / "a.h5"
    with BlockWriter(responses, index, 24, np.float32, dict(kind="smoothed", dt_ms=2.0)) as w:
        w.write(0, np.ones(24, dtype=np.float32))
    with pytest.raises(ValueError, match=r"responses/a\.h5: dt_ms 2 but .*spectrograms\.h5: dt_ms 5"):
        strflow.open_dataset(tmp_path)
    ds = strflow.open_dataset(tmp_path, smoothed=False)  # the binned files agree with the spectrograms
    assert ds.dt == 5.0 and ds.responses[0][0].shape == (2, 12)
