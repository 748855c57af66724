"""Job resources derived from input size (src/strflow/resources.py)."""

import errno

import pytest

from strflow.resources import estimate, size_mb


def test_size_mb_counts_files_and_folder_contents(tmp_path):
    (tmp_path / "raw" / "bird").mkdir(parents=True)
    (tmp_path / "raw" / "bird" / "a.h5").write_bytes(b"x" * 1_500_000)
    (tmp_path / "raw" / "b.wav").write_bytes(b"x" * 500_000)
    (tmp_path / "t.parquet").write_bytes(b"x" * 250_000)
    assert size_mb(str(tmp_path / "t.parquet")) == pytest.approx(0.25)
    assert size_mb(str(tmp_path / "raw")) == pytest.approx(2.0)
    assert size_mb([str(tmp_path / "raw"), str(tmp_path / "t.parquet")]) == pytest.approx(2.25)


def test_missing_input_raises_with_its_path(tmp_path):
    # Snakemake recognises a FileNotFoundError naming an input as "not there yet"
    missing = str(tmp_path / "nope.parquet")
    with pytest.raises(FileNotFoundError) as err:
        size_mb([missing])
    assert err.value.filename == missing and err.value.errno == errno.ENOENT


def test_estimate_grows_with_size_and_doubles_on_retry():
    assert estimate(500, 0.5, 540.0) == 770
    assert estimate(500, 0.5, 540.3, attempt=1) == 771
    assert estimate(500, 0.5, 540.3, attempt=2) == 2 * 771
    assert estimate(30, 0.0, 1e6) == 30
    with pytest.raises(ValueError):
        estimate(1, 1, 1, attempt=0)
