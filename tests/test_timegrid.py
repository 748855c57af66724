import numpy as np
import pytest

from strflow import timegrid


@pytest.mark.parametrize(
    "sr, dt, hop, rate",
    [(24414, 1, 24, 24000.0), (24414, 5, 122, 24400.0), (32000, 1, 32, 32000.0), (48828.125, 5, 244, 48800.0), (32000, 5, 160, 32000.0)],
)
def test_grid_rate_gives_integer_hop(sr, dt, hop, rate):
    assert timegrid.hop_samples(sr, dt) == hop
    assert timegrid.grid_rate(sr, dt) == pytest.approx(rate)
    assert timegrid.grid_rate(sr, dt) * dt / 1000 == pytest.approx(hop)


def test_n_bins_counts_whole_bins_only():
    assert timegrid.n_bins(24414, 24414, 5) == 200  # exactly 1 s
    assert timegrid.n_bins(24413, 24414, 5) == 199  # a hair short of the last bin
    assert timegrid.n_bins(244140, 48828.125, 5) == 999  # NS1 wav: 4999.99 ms, 999 whole bins (as deepSTRF)
    assert timegrid.n_bins(244141, 48828.125, 5) == 1000
    assert timegrid.n_bins(100, 24414, 5) == 0


def test_bin_index_edges():
    t = np.array([-0.001, 0.0, 4.999999, 5.0, 12.000000000000002, 3 * 0.1 * 1000 / 100])
    np.testing.assert_array_equal(timegrid.bin_index(t, 5.0), [-1, 0, 0, 1, 2, 0])
    # 0.1+0.2 style float error must not push an edge spike into the previous bin
    assert timegrid.bin_index(np.array([(0.1 + 0.2) * 10]), 1.0)[0] == 3


def test_rejects_bad_grid():
    with pytest.raises(ValueError):
        timegrid.hop_samples(1000, 0.1)
