"""The real workflow, end to end, in a temporary directory.

Runs the shipped ``demo`` dataset (the README's main job) with Snakemake and checks the
tables and the dataset API against the generator's ground truth, computed here
independently: which units are kept or skipped, trial and spike counts per pair,
coverage.  Then: rerun semantics, the ``local`` source, error messages, determinism of
the QC report, and the notebook port.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

import strflow
from tests.helpers import REPO, job_counts, run_snakemake


pytestmark = pytest.mark.workflow
SNAKEMAKE = Path(sys.executable).parent / "snakemake"
DEMO = yaml.safe_load((REPO / "config.yaml").read_text())["datasets"]["demo"]
ANIMALS = DEMO["synthetic"]["animals"]
DT = yaml.safe_load((REPO / "config.yaml").read_text())["processing"]["dt_ms"]


smk = run_snakemake


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wf")
    smk(work, "results/demo/qc.pdf")
    return work


def ground_truth(work: Path) -> dict:
    units, stims, trials = {}, {}, []
    for animal in ANIMALS:
        with h5py.File(work / "results" / "demo" / "ground_truth" / f"{animal}.h5", "r") as f:
            for name, g in f["units"].items():
                units[g.attrs["cell_id"]] = dict(expected=g.attrs["expected"], reason=g.attrs["skip_reason"],
                                                 file=g.attrs["file"])
            s = f["stims"]
            for md5, n, sr in zip(s["md5"].asstr()[()], s["n_samples"][()], s["sample_rate"][()]):
                stims[md5] = math.floor(round(n * 1000.0 / sr / DT, 9))  # whole bins, independent of strflow
            t = f["trials"]
            times = t["spike_times"][()]
            for unit, md5, off, n in zip(t["unit"].asstr()[()], t["stim_md5"].asstr()[()], t["offset"][()], t["n_spikes"][()]):
                trials.append((f"{animal}/{Path(unit).stem}", md5, times[off : off + n]))
    return dict(units=units, n_bins=stims, trials=trials)


def test_tables_match_ground_truth(demo):
    gt = ground_truth(demo)
    tables = demo / "results" / "demo" / "tables"
    neurons = pq.read_table(tables / "neurons.parquet").column("cell_id").to_pylist()
    assert sorted(neurons) == sorted(c for c, u in gt["units"].items() if u["expected"] == "kept")
    skipped = {(r["file"], r["reason"]) for r in pq.read_table(tables / "skipped.parquet").to_pylist() if r["what"] == "unit"}
    assert skipped == {(u["file"], u["reason"]) for u in gt["units"].values() if u["expected"] == "skipped"}
    assert any(r == "sort type noise" for _, r in skipped) and any(r == "sort type tdt" for _, r in skipped)

    expected: dict[tuple[str, str], list[int]] = {}
    for cell, md5, times in gt["trials"]:
        if gt["units"][cell]["expected"] != "kept":
            continue
        window = gt["n_bins"][md5] * DT / 1000.0
        e = expected.setdefault((md5, cell), [0, 0])
        e[0] += 1
        e[1] += int(np.count_nonzero((times >= 0) & (times < window - 1e-12)))
    cov = pq.read_table(tables / "coverage.parquet").to_pylist()
    got = {(r["stim_id"], r["cell_id"]): [r["n_trials"], r["n_spikes"]] for r in cov}
    assert got == expected
    assert len(cov) < len(neurons) * len(gt["n_bins"])  # coverage is sparse
    stims = pq.read_table(tables / "stims.parquet").to_pylist()
    assert {s["stim_id"]: s["n_bins"] for s in stims} == gt["n_bins"]
    assert any(len(s["animals"]) == 2 and s["stim_numbers"][0] != s["stim_numbers"][1] for s in stims)


def test_api_matches_ground_truth(demo):
    gt = ground_truth(demo)
    ds = strflow.open_dataset(demo / "results" / "demo", smoothed=False)
    per_pair: dict[tuple[str, str], list] = {}
    for cell, md5, times in gt["trials"]:
        per_pair.setdefault((md5, cell), []).append(times)
    masks = ds.nrn_masks.numpy()
    for s, sm in enumerate(ds.stim_meta):
        for n, nm in enumerate(ds.nrn_meta):
            trains = per_pair.get((sm["stim_id"], nm["cell_id"]))
            assert masks[s, n] == (trains is not None)
            r = ds.responses[s][n].numpy()
            if trains is None:
                assert r.shape == (1, 1) and np.isnan(r).all()
                continue
            window = sm["n_bins"] * DT / 1000.0
            assert r.shape == (len(trains), sm["n_bins"])
            assert r.sum() == sum(np.count_nonzero((t >= 0) & (t < window - 1e-12)) for t in trains)


def test_nothing_to_do_then_smoothing_change_reruns_only_smoothing(demo, tmp_path):
    out = smk(demo, "-n", "results/demo/qc.pdf")
    assert "Nothing to be done" in out.stdout + out.stderr
    cfg = tmp_path / "legacy.yaml"
    cfg.write_text(yaml.safe_dump({"processing": {"smoothing": {"kernel": "legacy"}}}))
    out = smk(demo, "-n", "results/demo/qc.pdf", configfiles=[cfg])
    assert job_counts(out.stdout) == {"smooth_shard": len(ANIMALS), "qc": 1, "total": len(ANIMALS) + 1}
    cfg.write_text(yaml.safe_dump({"datasets": {"demo": {"processing": {"spectrogram": {"n_mels": 16}}}}}))
    counts = job_counts(smk(demo, "-n", "results/demo/qc.pdf", configfiles=[cfg]).stdout)
    # spectrogram settings touch neither the synthetic experiment nor reading or binning
    assert counts == {"spectrograms": 1, "qc": 1, "total": 2}


def test_job_resources_follow_input_size(demo):
    """read_shard asks ceil(500 + 0.5 MB per raw MB) of memory: the raw bird folder's
    size, summed here independently of strflow.resources."""
    out = smk(demo, "-n", "--forceall", "results/demo/qc.pdf")
    blocks = re.findall(r"rule read_shard:\n(.*?resources: [^\n]*)", out.stdout, re.S)
    assert len(blocks) == len(ANIMALS)
    for block in blocks:
        shard = re.search(r"shard=(\w+)", block).group(1)
        raw = demo / "results" / "demo" / "raw" / shard
        size = sum(f.stat().st_size for f in raw.rglob("*") if f.is_file()) / 1e6
        assert size > 1
        assert int(re.search(r"mem_mb=(\d+)", block).group(1)) == math.ceil(500 + 0.5 * size)
        assert int(re.search(r"runtime=(\d+)", block).group(1)) == math.ceil(10 + 0.02 * size)


def test_qc_report_is_deterministic(demo):
    pdf = demo / "results" / "demo" / "qc.pdf"
    pages = sorted((demo / "results" / "demo" / "qc").glob("*.png"))
    before = [pdf.read_bytes()] + [p.read_bytes() for p in pages]
    assert len(pages) == 5
    smk(demo, "--forcerun", "qc", "results/demo/qc.pdf")
    assert [pdf.read_bytes()] + [p.read_bytes() for p in pages] == before


def test_local_source_gives_the_same_tables(demo, tmp_path):
    cfg = tmp_path / "local.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"mydata": {"format": "aa4", "source": "local", "path": "results/demo/raw",
                                                           "animals": ANIMALS}}}))
    smk(demo, "results/mydata/qc.pdf", configfiles=[cfg])
    for name in ("stims", "neurons", "coverage", "skipped"):
        a = pq.read_table(demo / "results" / "demo" / "tables" / f"{name}.parquet")
        b = pq.read_table(demo / "results" / "mydata" / "tables" / f"{name}.parquet")
        assert a.equals(b), name


def test_pre_stimulus_window(demo, tmp_path):
    """pre_stim_ms: 50 prepends 10 bins (dt 5) of spontaneous activity and silence;
    the rest of every grid is unchanged, and the pre-onset counts match the generator's
    spike times."""
    cfg = tmp_path / "pre.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"pre": {"format": "aa4", "source": "local", "path": "results/demo/raw",
                                                        "animals": ANIMALS, "processing": {"pre_stim_ms": 50}}}}))
    smk(demo, "results/pre/qc.pdf", configfiles=[cfg])
    pre_bins = int(50 / DT)
    base = strflow.open_dataset(demo / "results" / "demo", smoothed=False)
    ds = strflow.open_dataset(demo / "results" / "pre", smoothed=False)
    assert ds.n_pre_bins == pre_bins and ds.t0_s == -0.05 and base.n_pre_bins == 0
    assert [m["stim_id"] for m in ds.stim_meta] == [m["stim_id"] for m in base.stim_meta]
    for s, meta in enumerate(ds.stim_meta):
        assert meta["n_pre_bins"] == pre_bins and meta["n_bins"] == base.stim_meta[s]["n_bins"] + pre_bins
        np.testing.assert_array_equal(ds.stims[s][0, :, pre_bins:].numpy(), base.stims[s][0].numpy())
    gt = {}
    for cell, md5, times in ground_truth(demo)["trials"]:
        gt.setdefault((md5, cell), []).append(times)
    cells = {m["cell_id"]: n for n, m in enumerate(ds.nrn_meta)}
    checked = pre_spikes = 0
    for (md5, cell), trains in gt.items():
        if cell not in cells or checked >= 60:
            continue
        s = [m["stim_id"] for m in ds.stim_meta].index(md5)
        n = cells[cell]
        r, r0 = ds.responses[s][n].numpy(), base.responses[s][n].numpy()
        np.testing.assert_array_equal(r[:, pre_bins:], r0)
        # spikes in [-50, 0) ms, bin by bin, summed over trials (trial order is irrelevant here)
        edges = (np.arange(pre_bins + 1) - pre_bins) * DT / 1000.0
        expected = sum(np.histogram(t[(t >= -0.05) & (t < 0)], bins=edges)[0] for t in trains)
        np.testing.assert_array_equal(r[:, :pre_bins].sum(axis=0), expected)
        checked += 1
        pre_spikes += int(expected.sum())
    assert checked == 60 and pre_spikes > 20  # the generator emits spontaneous pre-onset spikes


def test_missing_real_data_is_a_clear_error(demo, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRCNS_")}
    cmd = [str(SNAKEMAKE), "-n", "results/aa4/qc.pdf", "-s", str(REPO / "Snakefile"), "-d", str(demo)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode != 0
    assert "CRCNS credentials are missing: set CRCNS_USERNAME and CRCNS_PASSWORD" in out.stdout + out.stderr
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump({"datasets": {"x": {"format": "aa4", "source": "local", "path": "/nowhere", "animals": ["A1"]}}}))
    out = smk(demo, "-n", "results/x/qc.pdf", configfiles=[cfg], check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "raw folder '/nowhere/A1' not found" in text and "datasets.x.path" in text
    assert "never substitutes synthetic" in text
    assert not (demo / "results" / "x").exists()


def test_invalid_config_is_rejected(demo, tmp_path):
    cfg = tmp_path / "typo.yaml"
    cfg.write_text(yaml.safe_dump({"processing": {"smoothing": {"kernel": "gaussian"}}}))
    out = smk(demo, "-n", configfiles=[cfg], check=False)
    assert out.returncode != 0 and "gaussian" in out.stdout + out.stderr


def test_notebook_port_runs_on_demo_outputs(demo):
    env = dict(os.environ, MPLBACKEND="Agg", STRFLOW_DATASET=str(demo / "results" / "demo"),
               STRFLOW_ANIMAL=ANIMALS[0], STRFLOW_DT_MS=str(DT))
    out = subprocess.run([sys.executable, str(REPO / "workflow" / "notebooks" / "aa4_inspection.py")], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "reset_stim_selection() -> len(ds)" in out.stdout


def test_snakemake_report_contains_the_qc_pages(demo):
    smk(demo, "results/demo/qc.pdf", "--report", "report.html")
    html = (demo / "report.html").read_text(errors="replace")
    assert all(page in html for page in ("1_summary.png", "3_population.png", "5_coverage.png"))
