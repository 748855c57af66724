"""Issue 13 end to end on the real NS1 release (``$STRFLOW_REAL_DATA/ns1_harper2016``):
the shipped config, reduced through a ``--configfile`` (one seed, one epoch, two models,
both protocols, a lighter ridge cross-validation), from the raw files to
``results/ns1/figures/model_comparison.{pdf,parquet}``.  The table is checked against the
per-fit metrics it was built from, and every fit against the protocol it was run under
(neuron set, split).  About 3-4 minutes on 2 busy cores (the two NS1 reads, 73 and 119
units, run in parallel).  Skipped without the variable; fails if it is set and the data
is missing."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers import job_counts, real_data_dir, run_snakemake

pytestmark = [pytest.mark.realdata, pytest.mark.workflow]
MODELS = ["ln", "nrf"]
RAHMAN_TEST = ["nat04", "nat07", "nat10", "nat20"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = real_data_dir()
    if root is None:
        pytest.skip("STRFLOW_REAL_DATA not set")
    data = root / "ns1_harper2016"
    assert (data / "MetadataSHEnCneurons.mat").is_file(), f"STRFLOW_REAL_DATA is set but {data} is missing"
    work = tmp_path_factory.mktemp("model_comparison")
    over = {
        "targets": [],
        "models": {"seeds": 1, "train": {"epochs": 1, "patience": 0}},
        "datasets": {
            "ns1": {
                "source": "local", "path": str(data),
                # lighter ridge fits (the figure's example STRFs), for CI time
                "processing": {"strf": {"n_folds": 2, "max_lag_ms": 25}},
                # (a protocol's train is over every model's, the NS1 zoo entries' 80 epochs included)
                "models": {"protocols": {"statenet": {"train": {"epochs": 1}}, "rahman": {"train": {"epochs": 1}}}},
                "figures": {"model_comparison": {"models": MODELS, "seeds": 1}},
            },
            "ns1_all": {"path": str(data)},
        },
    }
    (work / "over.yaml").write_text(yaml.safe_dump(over))
    # targets before --configfile (run_snakemake puts them first)
    run_snakemake(work, "results/ns1/figures/model_comparison.pdf", "--set-threads", "model_fit_protocol=1",
                  configfiles=[work / "over.yaml"], timeout=900)
    return work / "results"


def test_no_change_rerun_has_nothing_to_do(run):
    out = run_snakemake(run.parent, "results/ns1/figures/model_comparison.pdf", "-n",
                        configfiles=[run.parent / "over.yaml"])
    assert job_counts(out.stdout + out.stderr) == {}, out.stdout[-3000:]


def test_figure_and_table_outputs(run):
    fig = run / "ns1" / "figures"
    assert (fig / "model_comparison.pdf").stat().st_size > 0
    for page in ("1_ccnorm", "2_vs_ln", "3_noise_ratio", "4_strfs", "5_predictions"):
        assert (fig / f"model_comparison_{page}.png").stat().st_size > 0
    t = pq.read_table(fig / "model_comparison.parquet").to_pandas()
    # the ridge fits join rahman (their split and their 73 units), before the trained models
    assert list(zip(t.protocol, t.model)) == [("rahman", "ridge_linear"), ("rahman", "ridge_ln")] + [
        (p, m) for p in ("rahman", "statenet") for m in MODELS]
    assert (t.n_seeds == 1).all()
    ridge = pq.read_table(run / "ns1" / "strf" / "metrics.parquet").to_pandas()
    for model in ("linear", "ln"):
        row = t[t.model == f"ridge_{model}"].iloc[0]
        assert row.ccnorm_mean == pytest.approx(ridge[ridge.model == model].ccnorm.mean())
        assert row.n_neurons == 73 and np.isnan(row.train_seconds)


def test_table_matches_the_metrics_it_was_built_from(run):
    t = pq.read_table(run / "ns1" / "figures" / "model_comparison.parquet").to_pandas().set_index(["protocol", "model"])
    for protocol in ("rahman", "statenet"):
        for model in MODELS:
            m = pq.read_table(run / "ns1" / "models" / protocol / model / "seed0" / "metrics.parquet").to_pandas()
            row = t.loc[(protocol, model)]
            cc_n = m.ccnorm.to_numpy(float)
            cc_n = cc_n[np.isfinite(cc_n)]
            cc = m.ccabs.to_numpy(float)
            cc = cc[np.isfinite(cc)]
            assert row.n_neurons == len(m) and row.n_valid == cc_n.size
            assert row.ccnorm_mean == pytest.approx(cc_n.mean())
            assert row.ccnorm_median == pytest.approx(np.median(cc_n))
            assert row.ccnorm_sem == pytest.approx(cc_n.std(ddof=1) / np.sqrt(cc_n.size))
            assert row.cc_mean == pytest.approx(cc.mean()) and row.cc_median == pytest.approx(np.median(cc))
            with open(run / "ns1" / "models" / protocol / model / "seed0" / "training_log.csv") as fh:
                seconds = sum(float(line.split(",")[-1]) for line in fh.readlines()[1:])
            assert row.train_seconds == pytest.approx(seconds)


def test_each_fit_records_its_protocol_neurons_and_split(run):
    stims = pq.read_table(run / "ns1" / "tables" / "stims.parquet").column("stim_id").to_pylist()
    # the config's stimulus indices 0..19 are the natural sounds (the 12 DRCs follow, unused)
    assert stims[:20] == [f"nat{i:02d}" for i in range(1, 21)] and all(s.startswith("drc") for s in stims[20:])
    neurons = {ds: set(pq.read_table(run / ds / "tables" / "neurons.parquet").column("cell_id").to_pylist())
               for ds in ("ns1", "ns1_all")}
    assert len(neurons["ns1"]) == 73 and len(neurons["ns1_all"]) == 119 and neurons["ns1"] < neurons["ns1_all"]
    with h5py.File(run / "ns1" / "strf" / "fits.h5") as f:
        ridge_test = sorted(s for s, r in zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()])
                            if r == "test")
    assert ridge_test == RAHMAN_TEST
    expect = {
        "rahman": ("ns1", RAHMAN_TEST, None),
        "statenet": ("ns1_all", ["nat18", "nat19", "nat20"], ["nat15", "nat16", "nat17"]),
    }
    for protocol, (ds, test, val) in expect.items():
        for model in MODELS:
            folder = run / "ns1" / "models" / protocol / model / "seed0"
            m = pq.read_table(folder / "metrics.parquet").to_pandas()
            assert (m.protocol == protocol).all() and (m.protocol_dataset == ds).all()
            assert set(m.cell_id) == neurons[ds] and (m.n_neurons == len(neurons[ds])).all()
            assert m.test_stims.iloc[0].split(",") == test
            cfg = json.loads((folder / "config.json").read_text())
            assert cfg["split_info"]["protocol"] == protocol and cfg["split_info"]["protocol_dataset"] == ds
            roles = cfg["split"]
            assert sorted(s for s, r in roles.items() if r == "test") == test
            if val is not None:
                assert sorted(s for s, r in roles.items() if r == "val") == val
                assert sorted(s for s, r in roles.items() if r == "train") == [f"nat{i:02d}" for i in range(1, 15)]
                # the reference's procedure (patience on validation CCnorm, no refit) over the model's own loop
                assert cfg["train"]["val_score"] == "ccnorm" and cfg["train"]["refit"] is False
            if model == "nrf":  # NS1's hidden-layer models: deepSTRF's loop (one clip per step, lr 1e-3)
                assert cfg["train"]["lr"] == 0.001 and cfg["train"]["batch_clips"] == 1
                assert cfg["options"]["output"] == "softplus"
            else:  # ln: the full-batch loop of models.train
                assert cfg["train"]["batch_clips"] == 0
            assert cfg["epochs"] == 1  # the test's protocol override is over the zoo entry's 80 epochs
            if val is None:  # validation drawn from the training stimuli
                assert set(roles.values()) == {"train", "val", "test"} and len(roles) == 20
                assert sorted(s for s, r in roles.items() if r != "test") == sorted(
                    f"nat{i + 1:02d}" for i in range(20) if f"nat{i + 1:02d}" not in RAHMAN_TEST)
            with h5py.File(folder / "predictions.h5") as f:
                assert sorted(f["predictions"]) == test
    record = json.loads(pq.read_table(run / "ns1" / "figures" / "model_comparison.parquet")
                        .schema.metadata[b"strflow.protocols"])
    assert record["statenet"]["split"] == {"train": list(range(14)), "val": [14, 15, 16], "test": [17, 18, 19]}
    assert set(record["rahman"]["neuron_set"]) == neurons["ns1"] and record["rahman"]["stims"]["test"] == RAHMAN_TEST
