"""Encoding models through the workflow (issue 12) on a small synthetic dataset whose units
sum two rectified-squared subunits (``nonlinearity: two_subunit``): per-(model, seed) jobs,
gather, summary PDF/PNGs, ``load_model`` of both the zoo and the ridge fits, resume of a
killed job, the trainer's linear model against the ridge closed form, and NRF against
linear and LN where LN cannot represent the units.

One snakemake run builds the dataset and trains linear, ln and nrf (about 3-4 minutes
on 2 cores); the recovery dataset itself (~2 min to build, 200 stimuli) is not used,
for CI time: the linear-vs-ridge check runs on this smaller dataset.
"""

from __future__ import annotations

import csv
import os
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from tests.helpers import REPO, SNAKEMAKE, job_counts

pytestmark = pytest.mark.workflow

CONFIG = {
    "targets": [],
    "datasets": {
        "twosub": {
            "format": "aa4",
            "source": "synthetic",
            "synthetic": dict(seed=5, animals=["GreBlu1234M"], n_stims=60, stims_per_animal=60, units_per_animal=8,
                              n_trials=20, coverage=1.0, nonlinearity="two_subunit", baseline_hz=[100, 200],
                              gain=[1.0, 1.0], strf_ms=30, latency_ms=[5, 12], multi_fraction=0.0,
                              noise_unit_fraction=0.0, tdt_unit_fraction=0.0, silent_units=0),
            "processing": {"strf": {"max_lag_ms": 30}},
            "models": {
                "run": ["linear", "ln", "nrf"],
                "train": {"epochs": 400, "patience": 60, "lr": 0.003, "batch_clips": 2},
                "zoo": {"linear": {"max_lag_ms": 30, "train": {"batch_clips": 0}},  # the shipped default batch
                        "ln": {"max_lag_ms": 30},
                        "nrf": {"max_lag_ms": 30, "n_hidden": 32},
                        "tiny": {"arch": "dnet", "n_hidden": 4, "adaptrans": True,
                                 "train": {"epochs": 6, "patience": 0}}},
                # issue 13: a protocol with its own neurons, explicit split and training settings
                "protocols": {"fixed": {"neuron_filter": {"electrode": {"max": 16}},
                                        "split": {"train": list(range(40)), "val": list(range(40, 50)),
                                                  "test": list(range(50, 60))},
                                        "train": {"epochs": 3}}},
            },
            "figures": {"model_comparison": {"protocols": ["fixed"], "models": ["tiny"], "seeds": 1}},
        }
    },
}


def _snakemake(workdir: Path, *targets, env=None):
    return subprocess.run([SNAKEMAKE, *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir), "--cores", "2",
                           "--configfile", str(workdir / "config.yaml"),
                           # torch with 2 threads on 2 busy shared cores spins; 1 is faster
                           "--set-threads", "model_fit=1", "model_fit_protocol=1"],
                          capture_output=True, text=True, timeout=1500, env=env)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    work = tmp_path_factory.mktemp("nn_workflow")
    (work / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    out = _snakemake(work, "results/twosub/models/summary.pdf", "results/twosub/figures/model_comparison.pdf")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
    return work


def _metrics(work, model):
    return pq.read_table(work / "results" / "twosub" / "models" / model / "metrics.parquet").to_pandas()


def test_outputs_of_every_model_and_the_summary(run):
    res = run / "results" / "twosub" / "models"
    for model in ("linear", "ln", "nrf"):
        seed = res / model / "seed0"
        for name in ("model.pt", "config.json", "metrics.parquet", "predictions.h5", "training_log.csv"):
            assert (seed / name).is_file(), seed / name
        m = _metrics(run, model)
        assert {"cell_id", "model", "seed", "split", "ccnorm", "ccabs", "ccmax", "test_mse", "n_params", "epochs",
                "best_epoch", "reason"} <= set(m.columns)
        assert len(m) == 8 and (m.model == model).all() and (m.seed == 0).all() and (m.split == "test").all()
        assert m.ccnorm.notna().all()
        with open(seed / "training_log.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert [int(r["epoch"]) for r in rows] == list(range(1, len(rows) + 1))
        assert int(m.epochs.iloc[0]) == len(rows) and 1 <= int(m.best_epoch.iloc[0]) <= len(rows)
        assert not (res / model / "seed0.checkpoint.pt").exists()  # removed on success
    assert (res / "summary.pdf").stat().st_size > 0
    for page in ("1_ccnorm", "2_vs_ln", "3_learning_curves"):
        assert (res / f"summary_{page}.png").is_file()


def test_split_is_the_ridge_split(run):
    res = run / "results" / "twosub"
    with h5py.File(res / "strf" / "fits.h5") as f:
        ridge = dict(zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()]))
    with h5py.File(res / "models" / "nrf" / "seed0" / "predictions.h5") as f:
        ours = dict(zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()]))
        assert set(f["predictions"]) == {s for s, r in ours.items() if r == "test"}
    assert {s for s, r in ours.items() if r == "test"} == {s for s, r in ridge.items() if r == "test"}
    assert {s for s, r in ours.items() if r in ("train", "val")} == {s for s, r in ridge.items() if r == "train"}


def test_load_model_predicts_like_the_saved_predictions(run):
    import strflow

    res = run / "results" / "twosub"
    ds = strflow.open_dataset(res)
    m = strflow.load_model(res / "models" / "nrf")
    with h5py.File(res / "models" / "nrf" / "seed0" / "predictions.h5") as f:
        sid = sorted(f["predictions"])[0]
        saved = f["predictions"][sid][()]
    s = [x["stim_id"] for x in ds.stim_meta].index(sid)
    np.testing.assert_allclose(m.predict(ds.stims[s][0].numpy()), saved, rtol=1e-4, atol=1e-5)
    # the ridge fits through the same function
    ln = strflow.load_model(res / "strf", model="ln")
    p = ln.predict(ds.stims[s][0].numpy())
    assert p.shape == saved.shape and np.isfinite(p).all()


def test_fit_model_trains_on_the_current_selection(run):
    import strflow

    ds = strflow.open_dataset(run / "results" / "twosub")
    ds.select_population([1, 3, 4])
    m = strflow.fit_model(ds, "ln", max_lag_ms=20, epochs=3, patience=0)
    assert m.cell_ids == [ds.nrn_meta[n]["cell_id"] for n in (1, 3, 4)]
    assert m.predict(ds.stims[0][0].numpy()).shape == (3, ds.stims[0].shape[-1])
    assert [r["cell_id"] for r in m.metrics] == m.cell_ids and m.info["epochs"] == 3


def test_trained_linear_is_close_to_the_ridge_fit_and_nrf_beats_linear_and_ln(run):
    ridge = pq.read_table(run / "results" / "twosub" / "strf" / "metrics.parquet").to_pandas()
    ridge_lin = ridge[ridge.model == "linear"].ccnorm.mean()
    lin, ln, nrf = (_metrics(run, m).ccnorm.mean() for m in ("linear", "ln", "nrf"))
    print(f"test CCnorm: ridge linear {ridge_lin:.3f}, ridge LN {ridge[ridge.model == 'ln'].ccnorm.mean():.3f}; "
          f"trained linear {lin:.3f}, ln {ln:.3f}, nrf {nrf:.3f}")
    # measured 2026-11-30: ridge linear 0.647, trained linear 0.632, LN 0.725, NRF 0.861 (the refit on
    # training + validation clips and the l2 penalty close the gap to the ridge closed form)
    assert abs(lin - ridge_lin) <= 0.02
    assert ln > lin + 0.05  # the trained sigmoid captures the units' threshold
    assert nrf >= ln + 0.05  # two subunits tuned apart: NRF's hidden units express them, one filter + sigmoid cannot
    assert nrf >= lin + 0.1


def test_killed_job_resumes_from_its_checkpoint(run):
    target = "results/twosub/models/tiny/seed0/metrics.parquet"
    env = dict(os.environ, STRFLOW_STOP_AFTER_EPOCHS="2")
    first = _snakemake(run, target, env=env)
    assert first.returncode != 0
    ckpt = run / "results" / "twosub" / "models" / "tiny" / "seed0.checkpoint.pt"
    assert ckpt.is_file()
    second = _snakemake(run, target)
    assert second.returncode == 0, second.stderr[-3000:]
    log = (run / "results" / "twosub" / "logs" / "models" / "tiny" / "seed0.log").read_text()
    assert "resumed from the checkpoint of epoch 2" in log
    with open(run / "results" / "twosub" / "models" / "tiny" / "seed0" / "training_log.csv") as fh:
        epochs = [int(r["epoch"]) for r in csv.DictReader(fh)]
    assert epochs == [1, 2, 3, 4, 5, 6] and not ckpt.exists()


def test_protocol_fit_records_its_neurons_split_and_settings(run):
    """A protocol (models.protocols; issue 13): the neuron filter, the explicit split by
    stimulus index and the training override are applied and recorded."""
    import json

    res = run / "results" / "twosub"
    neurons = pq.read_table(res / "tables" / "neurons.parquet").to_pandas()
    expect = set(neurons[neurons.electrode <= 16].cell_id)
    assert 0 < len(expect) < len(neurons)  # the filter selects a proper subset
    stims = pq.read_table(res / "tables" / "stims.parquet").column("stim_id").to_pylist()
    folder = res / "models" / "fixed" / "tiny" / "seed0"
    m = pq.read_table(folder / "metrics.parquet").to_pandas()
    assert set(m.cell_id) == expect and (m.protocol == "fixed").all() and (m.protocol_dataset == "twosub").all()
    assert m.test_stims.iloc[0].split(",") == stims[50:60] and m.val_stims.iloc[0].split(",") == stims[40:50]
    assert json.loads(m.neuron_filter.iloc[0]) == {"electrode": {"max": 16}}
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["train"]["epochs"] == 3 and cfg["epochs"] == 3  # the protocol's override over the zoo entry's 6
    assert [cfg["split"][s] for s in stims] == ["train"] * 40 + ["val"] * 10 + ["test"] * 10
    t = pq.read_table(res / "figures" / "model_comparison.parquet").to_pandas()
    assert len(t) == 1 and t.protocol[0] == "fixed" and t.model[0] == "tiny" and t.n_neurons[0] == len(expect)
    assert t.ccnorm_mean[0] == pytest.approx(m.ccnorm.dropna().mean())


def test_model_comparison_figure_is_deterministic(run):
    fig = run / "results" / "twosub" / "figures"
    names = ["model_comparison.pdf", "model_comparison.parquet"] + [
        f"model_comparison_{p}.png" for p in ("1_ccnorm", "2_vs_ln", "3_noise_ratio", "4_strfs", "5_predictions")]
    before = {n: (fig / n).read_bytes() for n in names}
    out = _snakemake(run, "results/twosub/figures/model_comparison.pdf", "--forcerun", "model_comparison")
    assert out.returncode == 0, out.stderr[-3000:]
    # only the figure reran: nothing upstream is retrained (the job parameters print the same)
    assert job_counts(out.stdout + out.stderr) == {"model_comparison": 1, "total": 1}
    assert {n: (fig / n).read_bytes() for n in names} == before


def test_comparison_predictions_page_shows_the_trained_models_on_their_own_test_clip(run):
    """The protocol's test stimuli (50-59) are not the ridge fits' split: the page shows a
    clip the trained model was tested on, and ridge curves only on a ridge test clip."""
    from strflow.dataset import NeuralDataset
    from strflow.reports.model_comparison import page_predictions
    from strflow.reports.strf_report import pick_examples
    from strflow.store.fits import read_fits

    res = run / "results" / "twosub"
    ridge_split = read_fits(res / "strf" / "fits.h5").split
    stims = pq.read_table(res / "tables" / "stims.parquet").column("stim_id").to_pylist()
    assert {ridge_split[s] for s in stims[50:60]} != {"test"}  # the splits differ
    picks, _ = pick_examples(pq.read_table(res / "strf" / "metrics.parquet").to_pylist())
    neurons = pq.read_table(res / "tables" / "neurons.parquet").to_pandas()
    in_protocol = set(neurons[neurons.electrode <= 16].cell_id)
    picks = [p for p in picks if p[1] in in_protocol] or [("any", sorted(in_protocol)[0])]
    fig = page_predictions(NeuralDataset(res), res / "strf" / "fits.h5", picks,
                           {"tiny (trained)": res / "models" / "fixed" / "tiny" / "seed0" / "predictions.h5"}, "twosub")
    for ax, (_, cell) in zip(fig.axes, picks):
        labels = [line.get_label() for line in ax.get_lines()]
        sid = ax.get_title().split("test stimulus ")[1].split(" ")[0]
        assert "tiny (trained)" in labels and sid in stims[50:60], (cell, labels, ax.get_title())
        assert ("ridge linear" in labels) == (ridge_split[sid] == "test")
