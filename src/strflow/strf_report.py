"""STRF report: population summary, CCnorm distributions per model, CCnorm vs CCabs,
the best and median neurons' STRFs (frequency in Hz, lag in ms), and their predicted
vs measured PSTHs on test stimuli.  Deterministic PDF plus one PNG per page."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from strflow.dataset import NeuralDataset  # noqa: E402
from strflow.figures import band_word, save_pages  # noqa: E402
from strflow.strf import Standardisation, predict_segments, strf_to_weights  # noqa: E402

PAGE = (11.0, 8.5)
PAGES = ["1_summary", "2_ccnorm_vs_ccabs", "3_strfs", "4_predictions"]
COLORS = {"linear": "tab:blue", "ln": "tab:orange"}


def _by_model(rows: list[dict], key: str) -> dict[str, np.ndarray]:
    return {m: np.array([r[key] for r in rows if r["model"] == m], dtype=float) for m in ("linear", "ln")}


def _pick(rows: list[dict]) -> list[str]:
    """Best and median neurons by linear CCnorm."""
    lin = sorted((r for r in rows if r["model"] == "linear" and np.isfinite(r["ccnorm"])), key=lambda r: (-r["ccnorm"], r["cell_id"]))
    if not lin:
        return []
    return list(dict.fromkeys([lin[0]["cell_id"], lin[len(lin) // 2]["cell_id"]]))


def page_summary(rows, ds_name):
    fig = plt.figure(figsize=PAGE)
    cc = _by_model(rows, "ccnorm")
    lines = [f"dataset: {ds_name}   neurons: {len(cc['linear'])}"]
    for m, v in cc.items():
        f = v[np.isfinite(v)]
        lines.append(f"{m:6s}: CCnorm mean {np.mean(f) if f.size else np.nan:.3f}, median {np.median(f) if f.size else np.nan:.3f}"
                     f" over {f.size} neurons; {v.size - f.size} without a value")
    reasons = Counter(r["reason"] for r in rows if r["model"] == "linear" and r["reason"])
    lines += [f"    {n} x {why}" for why, n in sorted(reasons.items())]
    edge = sum(r["penalty_at_edge"] for r in rows if r["model"] == "linear")
    lines.append(f"penalty at the edge of the grid: {edge} neuron(s)")
    gt = _by_model(rows, "gt_corr")["linear"]
    if np.isfinite(gt).any():
        lines.append(f"ground-truth STRF recovery: median corr {np.nanmedian(gt):.3f} (IQR {np.nanpercentile(gt, 25):.2f}-{np.nanpercentile(gt, 75):.2f})")
    fig.text(0.04, 0.96, "\n".join(lines), va="top", family="monospace", fontsize=9)
    ax = fig.add_axes([0.08, 0.1, 0.4, 0.5])
    bins = np.linspace(-0.2, 1.2, 29)
    for m, v in cc.items():
        ax.hist(v[np.isfinite(v)], bins=bins, alpha=0.6, color=COLORS[m], label=m)
    ax.set_xlabel("CCnorm (test stimuli)")
    ax.set_ylabel("neurons")
    ax.legend()
    ax2 = fig.add_axes([0.56, 0.1, 0.4, 0.5])
    if np.isfinite(gt).any():
        ax2.hist(gt[np.isfinite(gt)], bins=np.linspace(-1, 1, 41), color="tab:green")
        ax2.set_xlabel("corr(fitted STRF, ground truth)")
    else:
        cv = _by_model(rows, "cv_r")["linear"]
        ax2.hist(cv[np.isfinite(cv)], bins=30, color="tab:gray")
        ax2.set_xlabel("cross-validated r (training stimuli)")
    ax2.set_ylabel("neurons")
    return fig


def page_scatter(rows):
    fig, ax = plt.subplots(figsize=PAGE)
    for m in ("linear", "ln"):
        a, n = _by_model(rows, "ccabs")[m], _by_model(rows, "ccnorm")[m]
        ok = np.isfinite(a) & np.isfinite(n)
        ax.scatter(a[ok], n[ok], s=12, alpha=0.7, color=COLORS[m], label=m)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.set_xlabel("CCabs")
    ax.set_ylabel("CCnorm")
    ax.legend()
    ax.set_title("CCnorm vs CCabs on test stimuli (CCnorm = CCabs / CCmax)")
    return fig


def page_strfs(f, cells, ids, band: str = "mel band"):
    fig, axes = plt.subplots(1, max(len(cells), 1), figsize=PAGE, squeeze=False)
    freqs, dt, n_lags = f["freqs_hz"][()], float(f.attrs["dt_ms"]), int(f.attrs["n_lags"])
    for ax, cell in zip(axes[0], cells):
        w = f["linear/weights"][ids.index(cell)]
        lim = np.abs(w).max() or 1.0
        ax.imshow(w, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                  extent=[-dt / 2, (n_lags - 0.5) * dt, -0.5, len(freqs) - 0.5])
        ticks = np.linspace(0, len(freqs) - 1, 6).astype(int)
        ax.set_yticks(ticks, [f"{freqs[t]:.0f}" for t in ticks])
        ax.set_xlabel("lag (ms)")
        ax.set_ylabel(f"frequency (Hz, {band} centre)")
        ax.set_title(cell, fontsize=8)
    fig.suptitle("Linear STRFs of the best and the median neuron (by CCnorm)")
    fig.tight_layout()
    return fig


def page_predictions(f, ds, cells, ids):
    split = dict(zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()]))
    test = [s for s, m in enumerate(ds.stim_meta) if split.get(m["stim_id"]) == "test"]
    fig, axes = plt.subplots(max(len(cells), 1), 3, figsize=PAGE, squeeze=False)
    st = Standardisation(f["standardisation/mean"][()], f["standardisation/std"][()])
    n_lags = int(f.attrs["n_lags"])
    for row, cell in zip(axes, cells):
        k, n = ids.index(cell), [m["cell_id"] for m in ds.nrn_meta].index(cell)
        heard = [s for s in test if ds.nrn_masks[s, n]][:3]
        flat = strf_to_weights(f["linear/weights"][k : k + 1].astype(np.float64))  # (D, 1)
        for ax, s in zip(row, heard):
            pred = predict_segments([ds.stims[s][0].numpy()], flat, f["linear/intercepts"][k : k + 1], n_lags, st)[0][:, 0]
            psth = ds.responses[s][n].numpy().mean(axis=0)
            t = ds.bin_centres_s(psth.size)
            ax.plot(t, psth, color="k", lw=0.8, label="measured PSTH")
            ax.plot(t, pred, color=COLORS["linear"], lw=0.8, label="linear prediction")
            ax.set_title(f"{cell.split('/')[-1]} on {ds.stim_meta[s]['stim_id'][:10]}", fontsize=8)
            ax.set_xlabel("time (s)")
        row[0].legend(fontsize=7)
    fig.suptitle("Predicted vs measured responses on test stimuli")
    fig.tight_layout()
    return fig


def write_report(dataset_dir, fits_h5, metrics_path, pdf_path, png_paths) -> None:
    rows = pq.read_table(metrics_path).to_pylist()
    ds = NeuralDataset(dataset_dir)
    cells = _pick(rows)
    with h5py.File(fits_h5, "r") as f:
        ids = list(f["cell_id"].asstr()[()])
        figs = [page_summary(rows, Path(dataset_dir).name), page_scatter(rows), page_strfs(f, cells, ids, band_word(ds.spectrogram_params)), page_predictions(f, ds, cells, ids)]
    save_pages(figs, pdf_path, png_paths)
