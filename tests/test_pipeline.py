"""The chain of steps (no Snakemake) on the hand-built AA4 fixture, then the dataset API.

Expected values are worked out by hand from the fixture aa4_raw (tests/conftest.py) (dt = 5 ms):
stimulus A is 12207 samples at 24414 Hz (500 ms) = 100 bins, B 7324 samples
(299.99 ms) = 59 whole bins, C 9766 samples (400.02 ms) = 80 bins.
"""

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

import strflow
from strflow import steps
from strflow.dataset import neural_collate

A = "aaaa0000aaaa0000aaaa0000aaaa0000"
B = "bbbb1111bbbb1111bbbb1111bbbb1111"
C = "cccc2222cccc2222cccc2222cccc2222"
ANIMALS = ["AaaBbb0001M", "CccDdd0002F"]
READING = dict(empty_trials="keep", on_unreadable="error", on_missing_wav="error")
SPEC = dict(n_mels=16, window_ms=10, fmin_hz=250, fmax_hz=8000, compression="cubic")


def build(raw, out, kernel="normalized", dt=5.0):
    for a in ANIMALS:
        steps.read_shard("aa4", raw, a, READING, {k: out / "interim" / a / f"{k}.parquet" for k in ("trials", "neurons", "stims", "skipped")})
    steps.stim_table([out / "interim" / a / "stims.parquet" for a in ANIMALS], dt, out / "tables" / "stims.parquet")
    steps.spectrograms(out / "tables" / "stims.parquet", raw, dt, SPEC, out / "spectrograms.h5")
    for a in ANIMALS:
        i = out / "interim" / a
        steps.bin_shard(i / "trials.parquet", i / "neurons.parquet", out / "tables" / "stims.parquet", dt, out / "binned" / f"{a}.h5", i / "coverage.parquet")
        steps.smooth_shard(out / "binned" / f"{a}.h5", dict(window_ms=21, kernel=kernel), out / "responses" / f"{a}.h5")
    steps.gather_tables(*[[out / "interim" / a / f"{k}.parquet" for a in ANIMALS] for k in ("neurons", "skipped", "coverage")],
                        {k: out / "tables" / f"{k}.parquet" for k in ("neurons", "skipped", "coverage")})
    steps.quality([out / "binned" / f"{a}.h5" for a in ANIMALS], out / "tables" / "neurons.parquet",
                  out / "tables" / "quality.parquet", out / "tables" / "quality_by_stim.parquet")
    return out


@pytest.fixture
def built(aa4_raw, tmp_path):
    return build(aa4_raw, tmp_path / "results" / "fx")


def test_tables(built):
    stims = pq.read_table(built / "tables" / "stims.parquet").to_pylist()
    assert [(s["stim_id"], s["n_bins"], s["animals"], s["stim_numbers"]) for s in stims] == [
        (A, 100, ANIMALS, [3, 7]), (B, 59, ["AaaBbb0001M"], [4]), (C, 80, ["AaaBbb0001M"], [9])]
    cov = {(r["stim_id"], r["cell_id"].split("/")[1]): r for r in pq.read_table(built / "tables" / "coverage.parquet").to_pylist()}
    assert len(cov) == 5
    # e17: trial 1 spikes at 5.0 and 4.9999 ms -> bins 1, 0; trial 2: 499 ms in, 500 and 600 ms out
    r = cov[(A, "Site1_L1000R1100_e17_s1")]
    assert (r["n_trials"], r["n_spikes"], r["n_empty_trials"]) == (2, 3, 0)
    assert r["mean_rate_hz"] == pytest.approx(3 / (2 * 0.5))
    # e3 on A: 11 trials, one -999 (empty), 10 with spikes at 10.1*i ms and 200 ms (+ a pre-onset one)
    r = cov[(A, "Site1_L1000R1100_e3_s0_ss1")]
    assert (r["n_trials"], r["n_spikes"], r["n_empty_trials"]) == (11, 20, 1)
    assert (cov[(B, "Site1_L1000R1100_e3_s0_ss1")]["n_spikes"], cov[(B, "Site1_L1000R1100_e3_s0_ss1")]["n_trials"]) == (3, 2)
    r = cov[(C, "Site2_L900R900_e6_s0_ss3")]
    assert (r["n_trials"], r["n_spikes"], r["n_empty_trials"]) == (2, 0, 2)
    assert cov[(A, "Site1_L500R500_e2_s0_ss1")]["n_spikes"] == 3
    skipped = pq.read_table(built / "tables" / "skipped.parquet").to_pylist()
    assert sorted(r["reason"] for r in skipped) == ["sort type noise", "sort type tdt"]


def test_dataset_api_shapes_and_sentinels(built):
    ds = strflow.open_dataset(built, smoothed=False)
    assert (len(ds.stims), ds.N_neurons, ds.dt, ds.F) == (3, 4, 5.0, 16)
    assert [m["cell_id"].split("/")[1] for m in ds.nrn_meta] == [
        "Site1_L1000R1100_e17_s1", "Site1_L1000R1100_e3_s0_ss1", "Site2_L900R900_e6_s0_ss3", "Site1_L500R500_e2_s0_ss1"]
    assert tuple(ds.stims[0].shape) == (1, 16, 100) and tuple(ds.stims[1].shape) == (1, 16, 59)
    expected_mask = torch.tensor([[1, 1, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0]], dtype=torch.bool)
    assert torch.equal(ds.nrn_masks, expected_mask)
    assert ds.nrn_masks is ds.nrn_masks  # cached
    r = ds.responses[0][0]
    assert tuple(r.shape) == (2, 100)
    expected = np.zeros((2, 100))
    expected[0, 0] = expected[0, 1] = 1
    expected[1, 99] = 1
    np.testing.assert_array_equal(r.numpy(), expected)
    s = ds.responses[1][0]
    assert tuple(s.shape) == (1, 1) and torch.isnan(s).all()
    e3 = ds.responses[0][1].numpy()
    assert e3.shape == (11, 100) and e3[4].sum() == 0  # trial 5 is the -999 empty trial
    assert e3[9, 20] == 1 and e3[9, 40] == 1  # trial 10: 101 ms -> bin 20, 200 ms -> bin 40
    trains = ds.spike_times(0, 1)
    assert len(trains) == 11 and trains[9].tolist() == pytest.approx([-0.05, 0.101, 0.2])
    # readable name (the wav stem in the first animal: A is stim3 there); the identity stays stim_id
    assert ds.stim_meta[0]["name"] == "stim3" and ds.stim_meta[0]["stim_id"] == A and ds.stim_meta[1]["class"] == "Te"
    assert "stimuli=3, neurons=4" in repr(ds)


def test_smoothed_responses_use_the_kernel(built):
    ds = strflow.open_dataset(built)
    raw = strflow.open_dataset(built, smoothed=False)
    k = np.hanning(5) / np.hanning(5).sum()
    for s, n in [(0, 0), (0, 1), (1, 1)]:
        ref = np.array([np.convolve(row, k, mode="same") for row in raw.responses[s][n].numpy()])
        np.testing.assert_allclose(ds.responses[s][n].numpy(), ref, atol=1e-6)


def test_selection_bidirectional_rule(built):
    ds = strflow.open_dataset(built)
    assert len(ds) == 3 and ds._selected() == [0, 1, 2, 3]
    assert ds.select_stims_by_attr("type", "call") == [1]
    assert ds._selected() == [1] and len(ds) == 1
    ds.select_population([0, 2])
    assert ds._selected() == [] and len(ds) == 0  # neither heard the call
    ds.reset_stim_selection()
    ds.select_stims_by_attr("type", "song")
    assert ds._selected() == [0]  # neuron 2 never heard the song: hidden
    ds.reset_pop_selection()
    ds.reset_stim_selection()
    assert ds.select_pop_by_stim_attr("type", "mlnoise") == [2]
    assert len(ds) == 1 and ds[0][3]["stim_id"] == C
    # a selection that matches nothing says so and leaves the selection as it was
    with pytest.raises(ValueError, match=r"no stimulus has type == 'nothing' \(values present: call, mlnoise, song\)"):
        ds.select_pop_by_stim_attr("type", "nothing")
    assert ds.I == [2]
    assert ds.select_pop_by_nrn_attr("animal_id", "CccDdd0002F") == [3]
    assert [m["stim_id"] for m in ds[:][3]] == [A]
    ds.reset_pop_selection()
    with pytest.raises(KeyError, match=r"unknown stimulus attribute 'missing_key'; valid attributes: .*stim_id.*type"):
        ds.select_stims_by_attr("missing_key", 1)
    assert ds.S_sel is None and len(ds) == 3
    ds.select_stims([2, 0])
    assert [ds[i][3]["stim_id"] for i in range(len(ds))] == [C, A]
    assert ds[-1][3]["stim_id"] == A
    ds.reset_stim_selection()
    assert ds.select_pop_by_nrn_predicate(lambda m: m["electrode"] > 16) == [0]
    with pytest.raises(ValueError, match="no neuron satisfies the predicate"):  # KeyError in fn -> no match
        ds.select_pop_by_nrn_predicate(lambda m: m["nope"])
    assert ds.I == [0]
    with pytest.raises(KeyError, match=r"unknown neuron attribute 'sorttype'; valid attributes: .*sort_type"):
        ds.select_pop_by_nrn_attr("sorttype", "single")
    with pytest.raises(ValueError, match=r"no neuron has sort_type == 'singel' \(values present: multi, single\)"):
        ds.select_pop_by_nrn_attr("sort_type", "singel")
    assert ds.I == [0]
    with pytest.raises(IndexError):
        ds[5]
    with pytest.raises(TypeError):
        ds["a"]
    with pytest.raises(IndexError, match=r"neuron index 4 out of range: valid indices are 0..3 \(4 neurons\)"):
        ds.select_neuron(4)
    with pytest.raises(IndexError, match=r"stimulus index 999 out of range: valid indices are 0..2"):
        ds.select_stims([0, 999])
    with pytest.raises(TypeError, match="neuron indices must be integers"):
        ds.select_population(["a"])


def test_getitem_and_collate(built):
    ds = strflow.open_dataset(built, smoothed=False)
    stim, responses, mask, meta = ds[0]
    assert meta["stim_id"] == A and mask.tolist() == [True, True, False, True]
    assert tuple(responses[2].shape) == (1, 1)
    stims, resp, valid, metas = neural_collate([ds[0], ds[1]])
    assert tuple(stims.shape) == (2, 1, 16, 100) and tuple(resp.shape) == (2, 4, 11, 100)
    assert stims[1, 0, :, 59:].abs().sum() == 0  # zero padded
    assert torch.isnan(resp[1, :, :, 59:]).all() and torch.isnan(resp[0, 2]).all()
    np.testing.assert_array_equal(resp[0, 0, :2].numpy(), ds.responses[0][0].numpy())
    assert torch.equal(valid, ~torch.isnan(resp))
    assert valid[0, 1].sum() == 11 * 100 and valid[0, 0].sum() == 2 * 100


def test_changing_dt_rebins_exactly(aa4_raw, tmp_path):
    ds1 = strflow.open_dataset(build(aa4_raw, tmp_path / "r1", dt=1.0), smoothed=False)
    ds5 = strflow.open_dataset(build(aa4_raw, tmp_path / "r5", dt=5.0), smoothed=False)
    for s, n in [(0, 0), (0, 1), (1, 1), (0, 3)]:
        fine = ds1.responses[s][n].numpy()
        coarse = ds5.responses[s][n].numpy()
        t = coarse.shape[1]
        np.testing.assert_array_equal(fine[:, : 5 * t].reshape(fine.shape[0], t, 5).sum(axis=2), coarse)


def test_animals_restriction(built):
    ds = strflow.open_dataset(built, animals=["CccDdd0002F"])
    assert ds.N_neurons == 1 and [m["stim_id"] for m in ds.stim_meta] == [A]
    assert torch.equal(ds.nrn_masks, torch.tensor([[True]]))
    full = strflow.open_dataset(built)
    np.testing.assert_array_equal(ds.responses[0][0].numpy(), full.responses[0][3].numpy())
    with pytest.raises(ValueError, match="NoSuchBird"):
        strflow.open_dataset(built, animals=["NoSuchBird"])


def test_quality_table_plumbing(built):
    """Rows per neuron and pair; values equal the metrics on the API's binned blocks,
    length-weighted by bins (the metric formulas themselves are tested in test_metrics)."""
    from strflow.metrics import sahani_linden_power

    ds = strflow.open_dataset(built, smoothed=False)
    q = {r["cell_id"]: r for r in pq.read_table(built / "tables" / "quality.parquet").to_pylist()}
    by = pq.read_table(built / "tables" / "quality_by_stim.parquet").to_pylist()
    assert list(q) == [m["cell_id"] for m in ds.nrn_meta] and len(by) == 5
    n = 1  # e3: stimulus A (11 trials x 100 bins) and B (2 trials x 59 bins)
    pa_, pb = (sahani_linden_power(ds.responses[s][n].numpy().astype(float)) for s in (0, 1))
    sp = (pa_.signal * 100 + pb.signal * 59) / 159
    npow = (pa_.noise * 100 + pb.noise * 59) / 159
    row = q[ds.nrn_meta[n]["cell_id"]]
    assert row["n_stimuli"] == 2 and row["signal_power"] == pytest.approx(sp) and row["noise_power"] == pytest.approx(npow)
    silent = q[ds.nrn_meta[2]["cell_id"]]  # all trials silent: no signal power
    assert np.isnan(silent["noise_ratio"]) and silent["reason"] != ""
