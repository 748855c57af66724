"""Dataset-level STRF baselines: the split, and the whole STRF chain on the demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest

from strflow.strf.split import NS1_TEST_STIMS, STRFSettings, _gt_corr, make_split
from tests.helpers import REPO




def test_ns1_uses_the_published_split():
    meta = [{"stim_id": f"nat{i:02d}", "type": "x"} for i in range(1, 21)]
    split = make_split(meta, "ns1", STRFSettings())
    assert sorted(s for s, r in split.items() if r == "test") == sorted(NS1_TEST_STIMS)
    with pytest.raises(ValueError, match="nat04"):
        make_split(meta[:3], "ns1", STRFSettings())


def test_split_is_deterministic_and_stratified_by_type():
    meta = [{"stim_id": f"s{i}", "type": t} for i, t in enumerate(["song"] * 10 + ["call"] * 20 + ["mlnoise"] * 1)]
    a = make_split(meta, "aa4", STRFSettings(seed=3))
    assert a == make_split(list(reversed(meta)), "aa4", STRFSettings(seed=3))  # order-independent
    test = [m for m in meta if a[m["stim_id"]] == "test"]
    assert sum(m["type"] == "song" for m in test) == 2 and sum(m["type"] == "call" for m in test) == 4
    assert a["s30"] == "train"  # a type with a single stimulus stays in training
    assert make_split(meta, "aa4", STRFSettings(seed=4)) != a


def test_gt_corr_pads_lags_and_handles_missing_truth():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(8, 5))
    fitted = np.zeros((8, 9))
    fitted[:, :5] = 2 * truth
    assert _gt_corr(fitted, truth) == pytest.approx(1.0)
    assert np.isnan(_gt_corr(fitted, None)) and np.isnan(_gt_corr(fitted, np.zeros((8, 5))))


@pytest.mark.workflow
def test_strf_chain_on_demo(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("processing:\n  strf:\n    n_chunks: 2\n")
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "results/demo/strf/report.pdf",
                          "results/demo/qc.pdf", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path), "--cores", "2",
                          "--configfile", str(cfg)], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-5000:]
    res = tmp_path / "results" / "demo" / "strf"
    rows = pq.read_table(res / "metrics.parquet").to_pylist()
    neurons = pq.read_table(tmp_path / "results/demo/tables/neurons.parquet").column("cell_id").to_pylist()
    assert sorted((r["cell_id"], r["model"]) for r in rows) == sorted((c, m) for c in neurons for m in ("linear", "ln"))
    for r in rows:
        assert np.isfinite(r["ccnorm"]) or r["reason"], r
        # reliable noise ceiling: >= 4 test stimuli and SP z >= 5; flagged values keep their number
        assert r["ceiling_reliable"] == (r["n_test_stims"] >= 4 and r["sp_zscore"] >= 5), r
        flags = set(filter(None, r["flags"].split(";")))
        assert ("ccnorm_above_1" in flags) == (r["ccnorm"] > 1), r
        assert ("ceiling_few_test_stims" in flags) == (r["n_test_stims"] < 4), r
        assert ("ceiling_sp_not_significant" in flags) == (not r["sp_zscore"] >= 5), r
    with h5py.File(res / "fits.h5", "r") as f:
        assert list(f["cell_id"].asstr()[()]) == neurons  # chunks gathered in order
        assert f["linear/weights"].shape[0] == len(neurons) and f["ln/sigmoid_params"].shape == (len(neurons), 4)
        roles = set(f["split/role"].asstr()[()])
        assert roles == {"train", "test"}
    lin = [r for r in rows if r["model"] == "linear"]
    gt = np.array([r["gt_corr"] for r in lin])
    print(f"\ndemo gt_corr: median {np.nanmedian(gt):.3f}, quartiles {np.nanpercentile(gt, [25, 75]).round(3)}, "
          f"CCnorm linear median {np.nanmedian([r['ccnorm'] for r in lin]):.3f}")
    assert np.nanmedian(gt) > 0.5
    assert len(list(res.glob("*.png"))) == 4
    # snakemake --report with no target (rule all): the STRF pages are there because the STRF
    # outputs exist, with their caption, and the configuration as YAML
    out = subprocess.run([str(Path(sys.executable).parent / "snakemake"), "-s",
                          str(REPO / "Snakefile"), "-d", str(tmp_path), "--configfile", str(cfg),
                          "--report", "report.html"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    html = (tmp_path / "report.html").read_text(errors="replace")
    assert all(f"{page}.png" in html for page in ("1_summary", "2_ccnorm_vs_ccabs", "3_strfs", "4_predictions"))
    assert "max_lag_ms: 200" in html and "n_chunks: 2" in html


def test_gt_corr_compares_in_raw_spectrogram_units():
    """Fit and truth standardised with different band std: the same raw-unit STRF h
    appears as h * fit_std in the fit and h * truth_std in the truth."""
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(8, 5))
    fit_std, truth_std = rng.uniform(0.2, 3.0, 8), rng.uniform(0.2, 3.0, 8)
    fitted = np.zeros((8, 7))
    fitted[:, :5] = raw * fit_std[:, None]
    truth = raw * truth_std[:, None]
    assert _gt_corr(fitted, truth, fit_std, truth_std) == pytest.approx(1.0)
    assert _gt_corr(fitted, {"strf": truth, "std": truth_std}, fit_std) == pytest.approx(1.0)
    assert _gt_corr(fitted, truth) < 0.99  # the unmapped comparison is wrong
    assert np.isnan(_gt_corr(np.full((8, 7), np.nan), truth))


def test_noiseless_oracle_gives_gt_corr_one():
    """Ridge on an exactly linear response (no noise) must recover the truth, with the
    truth defined on a differently standardised (pool) spectrogram, as in the generator."""
    from strflow.strf import fit_ridge_strf

    rng = np.random.default_rng(2)
    n_bands, n_lags_gt, n_lags_fit = 12, 6, 11
    scale = rng.uniform(0.5, 4.0, n_bands)[:, None]
    pool = [np.cumsum(rng.normal(size=(n_bands, 300)), axis=1) * scale + 10 for _ in range(12)]
    mean = np.concatenate(pool, 1).mean(1)
    std = np.concatenate(pool, 1).std(1)
    truth = rng.normal(size=(n_bands, n_lags_gt))
    ys = []
    for s in pool[:10]:  # training stimuli only; the pool stats include the others
        x = (s - mean[:, None]) / std[:, None]
        y = np.zeros(s.shape[1])
        for lag in range(n_lags_gt):
            y[lag:] += truth[:, lag] @ x[:, : s.shape[1] - lag]
        ys.append(y + 3.0)
    fit = fit_ridge_strf(pool[:10], ys, n_lags_fit, folds=5)
    assert _gt_corr(fit.weights[0], {"strf": truth, "std": std}, fit.standardisation.std) > 0.99
