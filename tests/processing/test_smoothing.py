import numpy as np
import pytest

from strflow.store.blocks import PairBlocks
from strflow.processing.smoothing import hanning_kernel, kernel_length, smooth_blocks


@pytest.mark.parametrize("dt, k, legacy_sum", [(1, 21, 10.0), (2, 11, 5.0), (5, 5, 2.0)])
def test_kernel_lengths_and_sums(dt, k, legacy_sum):
    assert kernel_length(21, dt) == k
    assert hanning_kernel(21, dt, "legacy").sum() == pytest.approx(legacy_sum)
    assert hanning_kernel(21, dt, "normalized").sum() == pytest.approx(1.0)


@pytest.mark.parametrize("window, dt", [(21, 10), (21, 11), (3, 1), (19.9, 5)])
def test_window_that_would_not_smooth_is_refused(window, dt):
    # np.hanning(K) has zero end points: K <= 3 taps leaves the centre tap alone, so the
    # "smoothed" response would be the raw counts (21 ms at dt 10 is [0, 1, 0]).
    assert kernel_length(window, dt) <= 3
    assert np.count_nonzero(np.hanning(kernel_length(window, dt))) == 1
    with pytest.raises(ValueError, match=rf"window_ms {window:g} at dt_ms {dt:g}.*no smoothing.*>= {4 * dt:g}"):
        hanning_kernel(window, dt)


def test_shortest_window_that_smooths_is_four_bins():
    assert np.count_nonzero(hanning_kernel(20, 5)) == 3  # 4 bins -> 5 taps, 3 non-zero


def test_dt5_legacy_kernel_is_deepstrf():
    np.testing.assert_allclose(hanning_kernel(21, 5, "legacy"), [0, 0.5, 1, 0.5, 0], atol=1e-12)


def test_smooth_blocks_matches_per_row_convolution():
    rng = np.random.default_rng(1)
    n_trials, n_bins = np.array([3, 2, 4]), np.array([50, 50, 30])
    sizes = n_trials * n_bins
    offset = np.r_[0, np.cumsum(sizes)[:-1]]
    data = rng.poisson(0.5, sizes.sum()).astype(np.int32)
    blocks = PairBlocks(np.array(["a", "a", "b"], object), np.array(["x", "y", "x"], object), n_trials.astype(np.int32),
                        n_bins.astype(np.int32), offset, data)
    kernel = hanning_kernel(21, 2, "normalized")
    out = smooth_blocks(blocks, kernel)
    for p in range(3):
        ref = np.array([np.convolve(row, kernel, mode="same") for row in blocks.block(p)])
        np.testing.assert_allclose(out.block(p), ref, rtol=1e-5, atol=1e-6)
    # count preservation away from the edges (zero padding loses mass only at the edges)
    row = np.zeros(100)
    row[50] = 3
    single = PairBlocks(np.array(["a"], object), np.array(["x"], object), np.array([1], np.int32), np.array([100], np.int32),
                        np.array([0]), row)
    assert smooth_blocks(single, kernel).data.sum() == pytest.approx(3.0, rel=1e-6)


def test_runs_cover_every_trial_once_within_the_cap():
    from strflow.processing.smoothing import equal_length_runs

    n_trials, n_bins = np.array([3, 2, 4, 1]), np.array([50, 50, 0, 30])
    sizes = n_trials * n_bins
    offset = np.r_[0, np.cumsum(sizes)[:-1]]
    blocks = PairBlocks(np.array(list("abcd"), object), np.array(list("wxyz"), object), n_trials.astype(np.int32),
                        n_bins.astype(np.int32), offset, np.zeros(sizes.sum()))
    runs = list(equal_length_runs(blocks, max_bins=120))
    assert all(rows * t <= 120 for _, rows, t in runs)
    covered = np.concatenate([np.arange(s, s + r * t) for s, r, t in runs])
    np.testing.assert_array_equal(np.sort(covered), np.arange(sizes.sum()))
