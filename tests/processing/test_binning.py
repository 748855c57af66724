import numpy as np

from strflow.processing.binning import bin_pairs, bin_trials, pair_summary, ragged_take


def reference_counts(trains, n_bins, dt_ms):
    """Independent per-spike loop: bin k holds spikes with k*dt <= t_ms < (k+1)*dt."""
    out = []
    for train, t in zip(trains, n_bins):
        counts = np.zeros(t, dtype=int)
        for spike in train:
            ms = spike * 1000.0
            k = int(np.floor(ms / dt_ms + 1e-9))
            if 0 <= k < t:
                counts[k] += 1
        out.append(counts)
    return np.concatenate(out) if out else np.zeros(0, int)


def test_hand_counts():
    # dt 5 ms, 4 bins: [0,5) [5,10) [10,15) [15,20)
    trains = [np.array([-0.001, 0.0, 0.0049, 0.005, 0.005, 0.0199, 0.020]), np.array([])]
    offsets = np.array([0, 7, 7])
    counts, blocks = bin_trials(np.concatenate(trains), offsets, np.array([4, 4]), 5.0)
    np.testing.assert_array_equal(counts, [2, 2, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(blocks, [0, 4, 8])


def test_random_trials_match_reference():
    rng = np.random.default_rng(0)
    for dt in (1.0, 2.0, 5.0, 10.0):
        n_trials = 50
        trains = [np.sort(rng.uniform(-0.2, 1.3, rng.poisson(40))) for _ in range(n_trials)]
        n_bins = rng.integers(50, 1000 // int(dt) + 1, n_trials)
        lengths = [len(t) for t in trains]
        offsets = np.r_[0, np.cumsum(lengths)]
        counts, _ = bin_trials(np.concatenate(trains), offsets, n_bins, dt)
        np.testing.assert_array_equal(counts, reference_counts(trains, n_bins, dt))


def test_ragged_take():
    values = np.arange(6.0)
    offsets = np.array([0, 2, 2, 6])
    v, o = ragged_take(values, offsets, np.array([2, 0, 1]))
    np.testing.assert_array_equal(v, [2, 3, 4, 5, 0, 1])
    np.testing.assert_array_equal(o, [0, 4, 6, 6])


def test_bin_pairs_orders_and_groups():
    cell = np.array(["c2", "c1", "c1", "c2", "c1"], dtype=object)
    stim = np.array(["s1", "s2", "s1", "s1", "s1"], dtype=object)
    trial = np.array([1, 1, 10, 2, 2])
    trains = [[0.001], [0.002, 0.003], [0.0], [0.011, 0.012], [0.004]]
    offsets = np.r_[0, np.cumsum([len(t) for t in trains])]
    blocks = bin_pairs(cell, stim, trial, np.concatenate(trains), offsets, {"s1": 0, "s2": 1}, {"s1": 3, "s2": 2},
                       {"c1": 0, "c2": 1}, 5.0)
    assert blocks.stim_id.tolist() == ["s1", "s1", "s2"]
    assert blocks.cell_id.tolist() == ["c1", "c2", "c1"]
    assert blocks.n_trials.tolist() == [2, 2, 1]
    # (s1, c1): trial 2 then trial 10 (numeric order)
    np.testing.assert_array_equal(blocks.block(0), [[1, 0, 0], [1, 0, 0]])
    np.testing.assert_array_equal(blocks.block(1), [[1, 0, 0], [0, 0, 2]])
    np.testing.assert_array_equal(blocks.block(2), [[2, 0]])
    summary = pair_summary(blocks, 5.0)
    np.testing.assert_array_equal(summary["n_spikes"], [2, 3, 2])
    np.testing.assert_array_equal(summary["n_empty_trials"], [0, 0, 0])
    np.testing.assert_allclose(summary["mean_rate_hz"], [2 / (2 * 0.015), 3 / (2 * 0.015), 2 / 0.010])


def test_stimuli_without_waveform_have_zero_bins_but_keep_trial_counts():
    # an NS1 DRC: trials exist, no grid (n_bins = 0); it sits between two normal stimuli
    cell = np.array(["c1"] * 4, dtype=object)
    stim = np.array(["s1", "drc", "drc", "s2"], dtype=object)
    trains = [[0.001], [0.5, 0.7], [], [0.006]]
    offsets = np.r_[0, np.cumsum([len(t) for t in trains])]
    blocks = bin_pairs(cell, stim, np.array([1, 1, 2, 1]), np.concatenate(trains), offsets,
                       {"s1": 0, "drc": 1, "s2": 2}, {"s1": 2, "drc": 0, "s2": 2}, {"c1": 0}, 5.0)
    assert blocks.n_trials.tolist() == [1, 2, 1] and blocks.n_bins.tolist() == [2, 0, 2]
    assert blocks.block(1).shape == (2, 0)
    summary = pair_summary(blocks, 5.0)
    assert summary["n_spikes"].tolist() == [1, 0, 1]
    assert summary["n_empty_trials"].tolist() == [0, 2, 0]
    assert np.isnan(summary["mean_rate_hz"][1])


def test_streamed_ranges_reproduce_the_whole():
    from strflow.processing.binning import plan_pairs

    rng = np.random.default_rng(2)
    n = 60
    cells = np.array([f"c{i % 7}" for i in range(n)], dtype=object)
    stims = np.array([f"s{i % 5}" for i in range(n)], dtype=object)
    trains = [np.sort(rng.uniform(-0.1, 0.6, rng.poisson(20))) for _ in range(n)]
    offsets = np.r_[0, np.cumsum([len(t) for t in trains])]
    args = (cells, stims, np.arange(n), np.concatenate(trains), offsets, {f"s{i}": i for i in range(5)},
            {f"s{i}": 40 + 10 * i for i in range(5)}, {f"c{i}": i for i in range(7)}, 5.0)
    whole = bin_pairs(*args)
    plan = plan_pairs(*args)
    pieces = plan.ranges(max_bins=97)  # smaller than some trials: one trial per piece at least
    assert pieces[0][0] == 0 and pieces[-1][1] == n and all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
    streamed = np.concatenate([plan.count(a, b) for a, b in pieces])
    np.testing.assert_array_equal(streamed, whole.data)


def test_pre_stimulus_window_shifts_the_grid():
    # dt 5 ms, 2 pre bins + 3 sound bins: [-10,-5) [-5,0) [0,5) [5,10) [10,15)
    spikes = np.array([-0.0101, -0.010, -0.0051, -0.0001, 0.0, 0.0049, 0.0149, 0.015])
    counts, _ = bin_trials(spikes, np.array([0, spikes.size]), np.array([5]), 5.0, pre_bins=2)
    np.testing.assert_array_equal(counts, [2, 1, 2, 0, 1])
    # without the window the same spikes keep only the sound bins
    counts, _ = bin_trials(spikes, np.array([0, spikes.size]), np.array([3]), 5.0)
    np.testing.assert_array_equal(counts, [2, 0, 1])
