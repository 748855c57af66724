"""NS1 end to end on the real release files (``$STRFLOW_REAL_DATA/ns1_harper2016``).

Skipped on a user's clone without the variable; in CI the variable is set and the data
must be there (a missing folder fails).  The shared copy holds all 119 units' files;
the dataset entry is the ``ns1`` entry shipped in ``config.yaml`` (its published 73-unit
``neuron_filter`` included), pointed at the local copy.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

import strflow
from tests.helpers import REPO, real_data_dir


pytestmark = [pytest.mark.realdata, pytest.mark.workflow]
SNAKEMAKE = Path(sys.executable).parent / "snakemake"


@pytest.fixture(scope="module")
def ns1_dir() -> Path:
    root = real_data_dir()
    if root is None:
        pytest.skip("STRFLOW_REAL_DATA not set")
    path = (root / "ns1_harper2016").resolve()
    assert (path / "MetadataSHEnCneurons.mat").is_file(), f"STRFLOW_REAL_DATA is set but {path} lacks the NS1 files"
    return path


def shipped_ns1_entry() -> dict:
    """The ``ns1`` entry of the shipped config.yaml, verbatim (as YAML reads it)."""
    return yaml.safe_load((REPO / "config.yaml").read_text())["datasets"]["ns1"]


def run(work: Path, ns1_dir: Path, name: str, dt: float, target: str) -> None:
    cfg = work / f"{name}.yaml"
    entry = dict(shipped_ns1_entry(), source="local", path=str(ns1_dir))
    entry["processing"] = dict(entry.get("processing") or {}, dt_ms=dt)
    cfg.write_text(yaml.safe_dump({"datasets": {name: entry}}))
    out = subprocess.run([str(SNAKEMAKE), f"results/{name}/{target}", "-s", str(REPO / "Snakefile"), "-d", str(work),
                          "--cores", "2", "--configfile", str(cfg)], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-6000:]


@pytest.fixture(scope="module")
def ns1(tmp_path_factory, ns1_dir) -> Path:
    work = tmp_path_factory.mktemp("ns1")
    run(work, ns1_dir, "ns1real", 5.0, "qc.pdf")
    return work / "results" / "ns1real"


def test_shipped_ns1_filter_is_the_published_selection():
    """Guards the YAML trap: an unquoted Yes is the boolean true and matched nothing."""
    spec = shipped_ns1_entry()["neuron_filter"]
    assert spec == {"single_t": {"in": ["Yes", "Maybe"]}, "depth_um": {"min": 0}}


def test_tables_and_skips(ns1, ns1_dir):
    neurons = pq.read_table(ns1 / "tables" / "neurons.parquet").to_pylist()
    assert len(neurons) == 73
    assert all(n["single_t"] in ("Yes", "Maybe") and n["depth_um"] >= 0 for n in neurons)
    # the shipped filter selects exactly the units the release's own table flags valid73
    with open(ns1_dir / "NEURONS.tsv", newline="") as fh:
        valid = {r["path"][:-4] for r in csv.DictReader(fh, delimiter="\t") if r["valid73"] == "True"}
    assert {n["cell_id"] for n in neurons} == valid
    skipped = pq.read_table(ns1 / "tables" / "skipped.parquet").to_pylist()
    units = [r for r in skipped if r["what"] == "unit"]
    assert len(units) == 46 and all(r["reason"].startswith("neuron filter: ") for r in units)
    assert {r["what"] for r in skipped} == {"unit", "stim"}
    assert sum(r["what"] == "stim" for r in skipped) == 12  # the DRC sets
    cov = pq.read_table(ns1 / "tables" / "coverage.parquet").to_pylist()
    assert len(cov) == 73 * 32  # DRC trial counts are kept in coverage
    drc = [c for c in cov if c["stim_id"].startswith("drc")]
    assert all(c["n_bins"] == 0 and c["n_trials"] in (4, 5) for c in drc)
    nat = [c for c in cov if c["stim_id"].startswith("nat")]
    assert all(c["n_trials"] == 20 and c["n_bins"] in (999, 1000) for c in nat)


def test_api_dense_grid_without_drc(ns1):
    ds = strflow.open_dataset(ns1)
    assert (len(ds.stims), ds.N_neurons, ds.dt) == (20, 73, 5.0)
    assert bool(ds.nrn_masks.all())  # NS1 is dense: every neuron heard every natural sound
    assert tuple(ds.responses[0][0].shape) == (20, 999)
    types = [m["type"] for m in ds.stim_meta]
    assert types[0] == types[19] == "water_sounds" and types[3] == "ferret_vocalization" and types[8:12] == ["human_speech"] * 4
    assert ds.select_pop_by_filter(shipped_ns1_entry()["neuron_filter"]) == list(range(73))


def test_noise_ratio_reproduces_published_values(ns1):
    """NoiseRatio in MetadataSHEnCneurons.mat, recomputed from the spikes (5 ms bins, 20
    natural sounds, the whole-bin window of each sound): within 5% for >= 95% of units."""
    q = {r["cell_id"]: r["noise_ratio"] for r in pq.read_table(ns1 / "tables" / "quality.parquet").to_pylist()}
    published = {r["cell_id"]: r["noise_ratio"] for r in pq.read_table(ns1 / "tables" / "neurons.parquet").to_pylist()}
    rel = {c: abs(q[c] - published[c]) / published[c] for c in published}
    worst = sorted(rel.items(), key=lambda kv: -kv[1])[:5]
    print("\nworst noise-ratio deviations (ours vs published):")
    for c, e in worst:
        print(f"  {c}: {q[c]:.3f} vs {published[c]:.3f} ({e:.1%})")
    within = np.mean([e <= 0.05 for e in rel.values()])
    print(f"within 5%: {within:.1%} of {len(rel)}; median deviation {np.median(list(rel.values())):.2%}")
    assert within >= 0.95


def test_one_ms_grid(tmp_path, ns1_dir, ns1):
    run(tmp_path, ns1_dir, "ns1dt1", 1.0, "tables/coverage.parquet")
    fine = {(r["stim_id"], r["cell_id"]): r for r in pq.read_table(tmp_path / "results/ns1dt1/tables/coverage.parquet").to_pylist()}
    coarse = {(r["stim_id"], r["cell_id"]): r for r in pq.read_table(ns1 / "tables" / "coverage.parquet").to_pylist()}
    assert fine.keys() == coarse.keys()
    for key, c in coarse.items():
        if c["n_bins"]:
            assert fine[key]["n_bins"] in (4999, 5000)
            assert fine[key]["n_spikes"] >= c["n_spikes"]  # the 1 ms grid reaches up to 4 ms further


def test_strf_baselines_on_ns1(ns1, ns1_dir):
    """Linear and LN STRFs on the 73 units at 5 ms with the published split; the mean
    and median CCnorm are printed (deep models reach about 0.70-0.75 on NS1)."""
    run(ns1.parents[1], ns1_dir, "ns1real", 5.0, "strf/report.pdf")
    rows = pq.read_table(ns1 / "strf" / "metrics.parquet").to_pylist()
    assert len(rows) == 2 * 73
    print()
    for model in ("linear", "ln"):
        cc = np.array([r["ccnorm"] for r in rows if r["model"] == model])
        ok = np.isfinite(cc)
        print(f"NS1 {model}: CCnorm mean {cc[ok].mean():.3f}, median {np.median(cc[ok]):.3f} ({ok.sum()} of {cc.size} units)")
        assert ok.sum() >= 60
        assert 0.2 < np.median(cc[ok]) < 0.9  # a linear baseline: clearly above chance, below the deep models
    import h5py

    with h5py.File(ns1 / "strf" / "fits.h5", "r") as f:
        split = dict(zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()]))
    assert sorted(s for s, r in split.items() if r == "test") == ["nat04", "nat07", "nat10", "nat20"]


def test_readable_outputs_on_real_ns1(ns1):
    """Issue 11 on the real release: readable stimulus names, an integer sample count in
    pandas, NS1's own sort type and grouping on the QC, the electrode page within probes."""
    import pandas as pd

    from strflow.reports import qc

    ds = strflow.open_dataset(ns1)
    assert [m["name"] for m in ds.stim_meta] == [f"nat{k:02d}" for k in range(1, 21)]
    assert [m["stim_id"] for m in ds.stim_meta] == [f"nat{k:02d}" for k in range(1, 21)]
    stims = pd.read_parquet(ns1 / "tables" / "stims.parquet")
    assert str(stims["wav_n_samples"].dtype) == "Int64" and int(stims["wav_n_samples"].isna().sum()) == 12  # the DRCs
    neurons = pq.read_table(ns1 / "tables" / "neurons.parquet").to_pylist()
    counts = {v: sum(n["single_t"] == v for n in neurons) for v in ("Maybe", "Yes")}
    left, _ = qc.summary_text(ds)
    text = " ".join(" ".join(left).split())
    assert f"recordings: {len({n['animal_id'] for n in neurons})}" in text
    assert f"(by single unit (single_t): Maybe: {counts['Maybe']}, Yes: {counts['Yes']})" in text and "None" not in text
    order = qc.electrode_order(ds)
    runs = [ds.nrn_meta[n]["animal_id"] for n in order]
    assert len([i for i in range(len(runs)) if i == 0 or runs[i] != runs[i - 1]]) == len(set(runs))  # one block per probe
    for i in range(1, len(order)):
        a, b = ds.nrn_meta[order[i - 1]], ds.nrn_meta[order[i]]
        if a["animal_id"] == b["animal_id"]:
            assert (a["depth_um"], a["electrode_number"]) <= (b["depth_um"], b["electrode_number"])
