"""STRF report: population summary, CCnorm distributions per model, CCnorm vs CCabs,
the best and median neurons' STRFs (frequency in Hz, lag in ms), and their predicted
vs measured PSTHs on test stimuli.  Deterministic PDF plus one PNG per page.

The example neurons are chosen among neurons with a *reliable noise ceiling*
(``ceiling_reliable`` in ``metrics.parquet``: CCmax from at least
:data:`strflow.strf.split.MIN_CEILING_STIMS` test stimuli and SP well above chance,
z >= :data:`strflow.strf.split.MIN_SP_ZSCORE`) and
without a CCnorm > 1 flag; only when there is none are all neurons with a CCnorm
used, and the page says so.  Rates are in spikes/s, as on the QC report."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from strflow.dataset import NeuralDataset  # noqa: E402
from strflow.reports.figures import freq_ticks, integer_axis, save_pages, stim_label  # noqa: E402
from strflow.strf.split import MIN_CEILING_STIMS, MIN_SP_ZSCORE  # noqa: E402
from strflow.store.fits import read_fits  # noqa: E402
from strflow.strf import Standardisation, predict_segments, strf_to_weights  # noqa: E402

PAGE = (11.0, 8.5)
PAGES = ["1_summary", "2_ccnorm_vs_ccabs", "3_strfs", "4_predictions"]
COLORS = {"linear": "tab:blue", "ln": "tab:orange"}


def _by_model(rows: list[dict], key: str) -> dict[str, np.ndarray]:
    return {m: np.array([r[key] for r in rows if r["model"] == m], dtype=float) for m in ("linear", "ln")}


def _above_1(row: dict) -> bool:
    return "ccnorm_above_1" in (row.get("flags") or "") or row["ccnorm"] > 1


def pick_examples(rows: list[dict]) -> tuple[list[tuple[str, str]], bool]:
    """``([(role, cell_id), ...], from_reliable)``: the best and the median neuron by
    linear CCnorm among neurons with a reliable noise ceiling and CCnorm <= 1 (ties
    by cell_id).  When none is reliable: among every neuron with a CCnorm <= 1 (or,
    failing that, with any finite CCnorm), and ``from_reliable`` is False."""
    lin = [r for r in rows if r["model"] == "linear" and np.isfinite(r["ccnorm"])]
    reliable = [r for r in lin if bool(r.get("ceiling_reliable", False)) and not _above_1(r)]
    pool = sorted(reliable or [r for r in lin if not _above_1(r)] or lin, key=lambda r: (-r["ccnorm"], r["cell_id"]))
    if not pool:
        return [], bool(reliable)
    picks = [("best", pool[0]["cell_id"]), ("median", pool[len(pool) // 2]["cell_id"])]
    return (picks[:1] if picks[0][1] == picks[1][1] else picks), bool(reliable)


def _rate(dt_ms: float) -> float:
    """spikes/bin -> spikes/s."""
    return 1000.0 / dt_ms


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
    lin = [r for r in rows if r["model"] == "linear"]
    n_rel = sum(bool(r.get("ceiling_reliable")) for r in lin)
    lines.append(f"reliable noise ceiling (>= {MIN_CEILING_STIMS} test stimuli and SP z-score >= {MIN_SP_ZSCORE:g}): "
                 f"{n_rel} of {len(lin)} neurons")
    flags = Counter(f for r in rows if r.get("flags") for f in r["flags"].split(";"))
    lines += [f"    flag {f}: {n} row(s)" for f, n in sorted(flags.items())]
    edge = sum(r["penalty_at_edge"] for r in rows if r["model"] == "linear")
    lines.append(f"penalty at the edge of the grid: {edge} neuron(s)")
    gt = _by_model(rows, "gt_corr")["linear"]
    if np.isfinite(gt).any():
        lines.append(f"ground-truth STRF recovery: median corr {np.nanmedian(gt):.3f} (IQR {np.nanpercentile(gt, 25):.2f}-{np.nanpercentile(gt, 75):.2f})")
    fig.text(0.04, 0.96, "\n".join(lines), va="top", family="monospace", fontsize=9)
    ax = fig.add_axes([0.08, 0.1, 0.4, 0.5])
    finite = np.concatenate([v[np.isfinite(v)] for v in cc.values()])
    lo = min(-0.2, np.floor(finite.min() * 10) / 10) if finite.size else -0.2
    hi = max(1.2, np.ceil(finite.max() * 10) / 10) if finite.size else 1.2
    bins = np.linspace(lo, hi, int(round((hi - lo) / 0.05)) + 1)
    ax.axvline(1.0, color="grey", lw=0.8, ls=":")
    for m, v in cc.items():
        ax.hist(v[np.isfinite(v)], bins=bins, alpha=0.6, color=COLORS[m], label=m)
    ax.set_xlabel("CCnorm (test stimuli)")
    ax.set_title("CCnorm per model (dotted: 1)", fontsize=9)
    ax.set_ylabel("neurons")
    integer_axis(ax.yaxis)
    ax.legend()
    ax2 = fig.add_axes([0.56, 0.1, 0.4, 0.5])
    if np.isfinite(gt).any():
        ax2.hist(gt[np.isfinite(gt)], bins=np.linspace(-1, 1, 41), color="tab:green")
        ax2.set_xlabel("corr(fitted STRF, ground truth)")
        ax2.set_title("linear STRF vs the generator's ground truth", fontsize=9)
    else:
        cv = _by_model(rows, "cv_r")["linear"]
        ax2.hist(cv[np.isfinite(cv)], bins=30, color="tab:gray")
        ax2.set_xlabel("cross-validated r (training stimuli)")
        ax2.set_title("linear model: cross-validated r at the chosen penalty", fontsize=9)
    ax2.set_ylabel("neurons")
    integer_axis(ax2.yaxis)
    return fig


def page_scatter(rows):
    fig, ax = plt.subplots(figsize=PAGE)
    for m in ("linear", "ln"):
        sub = [r for r in rows if r["model"] == m and np.isfinite(r["ccabs"]) and np.isfinite(r["ccnorm"])]
        for reliable in (True, False):
            pts = [r for r in sub if bool(r.get("ceiling_reliable")) == reliable]
            if not pts:
                continue
            a, n = np.array([r["ccabs"] for r in pts]), np.array([r["ccnorm"] for r in pts])
            style = dict(color=COLORS[m]) if reliable else dict(facecolors="none", edgecolors=COLORS[m])
            ax.scatter(a, n, s=14, alpha=0.7, label=f"{m}, {'reliable' if reliable else 'unreliable'} ceiling", **style)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls="--")
    ax.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("CCabs")
    ax.set_ylabel("CCnorm")
    ax.legend(fontsize=8)
    ax.set_title("CCnorm vs CCabs on test stimuli (CCnorm = CCabs / CCmax); hollow: unreliable noise ceiling")
    return fig


def _row(rows, cell, model="linear"):
    return next(r for r in rows if r["cell_id"] == cell and r["model"] == model)


def _example_title(role: str, cell: str, rows: list[dict]) -> str:
    r = _row(rows, cell)
    return f"{role} neuron: {cell}\nCCnorm {r['ccnorm']:.2f}, CCmax {r['ccmax']:.2f}, {r['n_test_stims']} test stimuli"


def page_strfs(f, picks, ids, rows, reliable: bool = True):
    fig, axes = plt.subplots(1, max(len(picks), 1), figsize=PAGE, squeeze=False)
    freqs, dt, n_lags = f.freqs_hz, f.dt_ms, f.n_lags
    for ax, (role, cell) in zip(axes[0], picks):
        w = f.models["linear"]["weights"][ids.index(cell)] * _rate(dt)
        lim = float(np.abs(w).max()) or 1.0
        im = ax.imshow(w, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest",
                       extent=[-dt / 2, (n_lags - 0.5) * dt, -0.5, len(freqs) - 0.5])
        freq_ticks(ax, freqs, label="frequency (Hz, band centre)")
        ax.set_xlabel("lag (ms)")
        ax.set_title(_example_title(role, cell, rows), fontsize=8)
        fig.colorbar(im, ax=ax, label="weight (spikes/s per s.d. of the spectrogram band)", fraction=0.05, pad=0.02)
    for ax in axes[0][len(picks):]:
        ax.axis("off")
    among = "neurons with a reliable noise ceiling" if reliable else "ALL neurons (none has a reliable noise ceiling)"
    fig.suptitle(f"Linear STRFs of the best and the median neuron by CCnorm, among {among}")
    fig.tight_layout()
    return fig


def page_predictions(f, ds, picks, ids, rows):
    """One row per example neuron (a sub-figure titled with its role, cell id and
    metrics), one panel per test stimulus it heard (up to three)."""
    split = f.split
    test = [s for s, m in enumerate(ds.stim_meta) if split.get(m["stim_id"]) == "test"]
    fig = plt.figure(figsize=PAGE, layout="constrained")
    subs = fig.subfigures(max(len(picks), 1), 1, squeeze=False)[:, 0]
    st = Standardisation(f.mean, f.std)
    n_lags = f.n_lags
    rate = _rate(ds.dt)
    for sub, (role, cell) in zip(subs, picks):
        k, n = ids.index(cell), [m["cell_id"] for m in ds.nrn_meta].index(cell)
        heard = [s for s in test if ds.nrn_masks[s, n]][:3]
        row = sub.subplots(1, 3, squeeze=False)[0]
        sub.suptitle(_example_title(role, cell, rows).replace("\n", "  |  "), fontsize=9)
        flat = strf_to_weights(f.models["linear"]["weights"][k : k + 1].astype(np.float64))  # (D, 1)
        for ax, s in zip(row, heard):
            pred = predict_segments([ds.stims[s][0].numpy()], flat, f.models["linear"]["intercepts"][k : k + 1], n_lags, st)[0][:, 0]
            psth = ds.responses[s][n].numpy().mean(axis=0)
            t = ds.bin_centres_s(psth.size)
            ax.plot(t, psth * rate, color="k", lw=0.8, label="measured PSTH")
            ax.plot(t, pred * rate, color=COLORS["linear"], lw=0.8, label="linear prediction")
            ax.set_title(f"{role} neuron on {stim_label(ds.stim_meta[s])}", fontsize=8)
            ax.set_xlabel("time (s)")
            ax.set_ylabel("rate (spikes/s)")
        for ax in row[len(heard):]:
            ax.axis("off")
        if heard:
            row[0].legend(fontsize=7)
    fig.suptitle("Predicted vs measured responses (smoothed, trial mean) on test stimuli")
    return fig


def build_pages(f, ds, rows, ds_name: str) -> list:
    picks, reliable = pick_examples(rows)
    ids = f.cell_ids
    return [page_summary(rows, ds_name), page_scatter(rows), page_strfs(f, picks, ids, rows, reliable),
            page_predictions(f, ds, picks, ids, rows)]


def write_report(dataset_dir, fits_h5, metrics_path, pdf_path, png_paths) -> None:
    rows = pq.read_table(metrics_path).to_pylist()
    ds = NeuralDataset(dataset_dir)
    figs = build_pages(read_fits(fits_h5), ds, rows, Path(dataset_dir).name)
    save_pages(figs, pdf_path, png_paths)
