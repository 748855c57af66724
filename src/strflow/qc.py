"""QC report: a deterministic multi-page PDF (and one PNG per page) drawn from the
dataset API, with the figures of the AA4 inspection notebook users know.

Pages
1. summary: counts of animals, neurons (by sort type), stimuli (by type), heard pairs,
   trials and spikes; coverage per animal; skip records by reason.
2. the best-covered cell (most stimuli heard): for four of its stimuli evenly spaced in
   dataset order, the spectrogram, the spike raster (every trial, from the interim spike
   times) and the smoothed PSTH.
3. the population PSTH raster for the best-covered stimulus, each valid row scaled to
   its own maximum; cells that did not hear the stimulus (NaN sentinels) are grey.
4. the same rows re-sorted by (electrode, subsort_id), with the e16/e17 boundary.
5. stimulus x neuron coverage heatmap per animal.

Ties are broken by the lowest index, so the same inputs always give the same pages;
PDF creation dates are omitted so the bytes are reproducible.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from strflow.dataset import NeuralDataset  # noqa: E402
from strflow.figures import band_word, save_pages  # noqa: E402

PAGE = (11.0, 8.5)
GREY = "lightgrey"


def best_cell(ds: NeuralDataset) -> int:
    return int(np.argmax(ds.nrn_masks.sum(dim=0).numpy()))


def best_stim(ds: NeuralDataset) -> int:
    return int(np.argmax(ds.nrn_masks.sum(dim=1).numpy()))


def population_psth(ds: NeuralDataset, s: int) -> np.ndarray:
    """(N, T) trial-mean response to stimulus s, NaN rows for cells that did not hear it."""
    mask = ds.nrn_masks[s].numpy()
    out = np.full((ds.N_neurons, ds.stims[s].shape[-1]), np.nan, dtype=np.float64)
    row = ds.responses[s]
    for n in np.flatnonzero(mask):
        out[n] = row[int(n)].numpy().mean(axis=0)
    return out


def normalise_rows(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        peak = np.nanmax(np.where(np.isnan(x), -np.inf, x), axis=1, keepdims=True)
    peak = np.where(np.isfinite(peak) & (peak > 0), peak, 1.0)
    return x / peak


def electrode_keys(ds: NeuralDataset) -> tuple[str, str]:
    """Sort keys of the electrode page: AA4 (electrode, subsort_id); NS1 (electrode_number, depth_um)."""
    meta = ds.nrn_meta[0] if ds.nrn_meta else {}
    return ("electrode", "subsort_id") if "electrode" in meta else ("electrode_number", "depth_um")


def electrode_order(ds: NeuralDataset) -> list[int]:
    first, second = electrode_keys(ds)

    def key(n: int):
        m = ds.nrn_meta[n]
        value = m.get(second)
        return (m.get(first) or 0, value if value is not None and value == value else 0, n)

    return sorted(range(ds.N_neurons), key=key)


def _extent(ds: NeuralDataset, t: int, rows: int) -> list[float]:
    return [ds.t0_s, ds.t0_s + t * ds.dt / 1000.0, 0, rows]


def page_summary(ds: NeuralDataset):
    fig = plt.figure(figsize=PAGE)
    masks = ds.nrn_masks.numpy()
    animals = list(dict.fromkeys(m["animal_id"] for m in ds.nrn_meta))
    sorts = Counter(m.get("sort_type") for m in ds.nrn_meta)
    types = Counter(m.get("type") for m in ds.stim_meta)
    reasons = Counter((r["what"], r["reason"]) for r in ds.skipped)
    lines = [
        f"dataset: {ds.path}",
        f"bin width: {ds.dt:g} ms   {band_word(ds.spectrogram_params)}s: {ds.F} ({ds.freqs_hz[0]:.0f}-{ds.freqs_hz[-1]:.0f} Hz centres)"
        if len(ds.freqs_hz) else f"bin width: {ds.dt:g} ms",
        f"animals: {len(animals)}   neurons: {ds.N_neurons} ("
        + ", ".join(f"{k}: {v}" for k, v in sorted(sorts.items(), key=lambda kv: str(kv[0]))) + ")",
        f"stimuli: {len(ds.stims)} (" + ", ".join(f"{k}: {v}" for k, v in sorted(types.items(), key=lambda kv: str(kv[0]))) + ")",
        f"heard (stimulus, neuron) pairs: {int(masks.sum())} of {masks.size} ({masks.mean():.1%})",
        f"skip records: {len(ds.skipped)}",
    ]
    if ds.quality is not None and ds.quality.num_rows:
        q = {c: ds.quality.column(c).to_numpy(zero_copy_only=False) for c in ("noise_ratio", "ccmax_sp", "ccmax_split")}
        finite = np.isfinite(q["noise_ratio"])
        lines.insert(-1, (
            f"noise ceiling (binned counts): median CCmax {np.nanmedian(q['ccmax_sp']):.2f} (SP), "
            f"{np.nanmedian(q['ccmax_split']):.2f} (split halves); median noise ratio "
            f"{np.median(q['noise_ratio'][finite]) if finite.any() else float('nan'):.1f}; "
            f"{int((~finite).sum())} neuron(s) without a finite noise ratio (SP <= 0)"
        ))
    lines += [f"    {n:5d} x {what}: {reason}" for (what, reason), n in sorted(reasons.items())[:18]]
    if len(reasons) > 18:
        lines.append(f"    ... {len(reasons) - 18} more reasons (see tables/skipped.parquet)")
    fig.text(0.04, 0.96, "\n".join(lines), va="top", family="monospace", fontsize=9)
    ax_cov = fig.add_axes([0.07, 0.12, 0.25, 0.52])
    ax_units = fig.add_axes([0.40, 0.12, 0.25, 0.52])
    ax_rate = fig.add_axes([0.72, 0.12, 0.25, 0.52])
    cov, units = [], {k: [] for k in sorted(sorts, key=str)}
    for a in animals:
        cols = [n for n, m in enumerate(ds.nrn_meta) if m["animal_id"] == a]
        sub = masks[:, cols]
        heard_stims = sub.any(axis=1)
        cov.append(sub[heard_stims].mean() if heard_stims.any() else 0.0)
        for k in units:
            units[k].append(sum(1 for n in cols if ds.nrn_meta[n].get("sort_type") == k))
    x = np.arange(len(animals))
    ax_cov.bar(x, cov, color="tab:blue")
    ax_cov.set_ylim(0, 1)
    ax_cov.set_title("coverage per animal", fontsize=9)
    ax_cov.set_ylabel("heard pairs / (its stimuli x its neurons)", fontsize=8)
    bottom = np.zeros(len(animals))
    for k, counts in units.items():
        ax_units.bar(x, counts, bottom=bottom, label=str(k))
        bottom += counts
    ax_units.legend(fontsize=7)
    ax_units.set_title("neurons per animal by sort type", fontsize=9)
    for ax in (ax_cov, ax_units):
        ax.set_xticks(x, animals, rotation=30, ha="right", fontsize=7)
    rates = ds.coverage.column("mean_rate_hz").to_numpy(zero_copy_only=False)
    rates = rates[np.isfinite(rates)]
    ax_rate.hist(rates, bins=30, color="tab:gray")
    ax_rate.set_title(f"mean rate of heard pairs (median {np.median(rates) if rates.size else float('nan'):.1f} Hz)", fontsize=9)
    ax_rate.set_xlabel("spikes/s in the stimulus window", fontsize=8)
    ax_rate.set_ylabel("pairs", fontsize=8)
    return fig


def page_cell(ds: NeuralDataset, n: int, n_picks: int = 4):
    masks = ds.nrn_masks.numpy()
    valid = np.flatnonzero(masks[:, n])
    picks = [int(valid[i]) for i in np.unique(np.linspace(0, len(valid) - 1, n_picks).astype(int))] if len(valid) else []
    fig, axes = plt.subplots(3, max(len(picks), 1), figsize=PAGE, sharex="col", squeeze=False)
    for col, s in enumerate(picks):
        spec = ds.stims[s][0].numpy()
        resp = ds.responses[s][n].numpy()
        t = spec.shape[1]
        start, end = ds.t0_s, ds.t0_s + t * ds.dt / 1000.0
        ax = axes[0, col]
        ax.imshow(spec, origin="lower", aspect="auto", extent=_extent(ds, t, spec.shape[0]))
        ax.set_title(f"s={s} {ds.stim_meta[s]['type']}/{ds.stim_meta[s].get('class', '')}", fontsize=9)
        ax = axes[1, col]
        trains = ds.spike_times(s, n)
        ax.eventplot([tr[(tr >= start) & (tr < end)] for tr in trains], colors="k", linewidths=0.6, lineoffsets=np.arange(len(trains)) + 0.5)
        ax.set_ylim(0, max(len(trains), 1))
        ax = axes[2, col]
        ax.plot(ds.bin_centres_s(t), resp.mean(axis=0) * 1000.0 / ds.dt, lw=0.8)
        ax.set_xlabel("time (s)")
        ax.set_xlim(start, end)
    axes[0, 0].set_ylabel(band_word(ds.spectrogram_params))
    axes[1, 0].set_ylabel("trial")
    axes[2, 0].set_ylabel("smoothed PSTH (spikes/s)")
    meta = ds.nrn_meta[n]
    fig.suptitle(f"cell {n}: {meta['cell_id']} (hears {len(valid)}/{len(ds.stims)} stimuli)")
    fig.tight_layout()
    return fig


def _population_axes(ds: NeuralDataset, s: int, rows: np.ndarray, title: str):
    fig, axes = plt.subplots(2, 1, figsize=PAGE, sharex=True, gridspec_kw={"height_ratios": [1, 4]})
    spec = ds.stims[s][0].numpy()
    t = spec.shape[1]
    axes[0].imshow(spec, origin="lower", aspect="auto", extent=_extent(ds, t, spec.shape[0]))
    axes[0].set_ylabel(band_word(ds.spectrogram_params))
    axes[0].set_title(title, fontsize=10)
    cmap = plt.get_cmap("viridis").copy()
    cmap.set_bad(GREY)
    im = axes[1].imshow(np.ma.masked_invalid(rows), origin="lower", aspect="auto", cmap=cmap,
                        extent=_extent(ds, t, rows.shape[0]), interpolation="nearest", vmin=0, vmax=1)
    axes[1].set_xlabel("time (s)")
    fig.colorbar(im, ax=axes[1], label="PSTH / row max")
    n_grey = int(np.isnan(rows).all(axis=1).sum())
    axes[1].text(0.01, 0.99, f"grey rows: {n_grey} cell(s) that did not hear this stimulus",
                 transform=axes[1].transAxes, va="top", fontsize=8,
                 bbox=dict(facecolor="white", alpha=0.85, edgecolor=GREY))
    return fig, axes


def page_population(ds: NeuralDataset, s: int, psth: np.ndarray):
    meta = ds.stim_meta[s]
    fig, axes = _population_axes(ds, s, normalise_rows(psth), f"stimulus s={s} ({meta['type']}/{meta.get('class', '')}), "
                                 f"heard by {int(ds.nrn_masks[s].sum())}/{ds.N_neurons} cells")
    axes[1].set_ylabel("neuron index")
    fig.tight_layout()
    return fig


def page_population_by_electrode(ds: NeuralDataset, s: int, psth: np.ndarray):
    order = electrode_order(ds)
    first, second = electrode_keys(ds)
    fig, axes = _population_axes(ds, s, normalise_rows(psth)[order], f"stimulus s={s}: cells sorted by ({first}, {second})")
    ax = axes[1]
    ax.set_ylabel(f"neuron (sorted by {first}, {second})")
    electrodes = [ds.nrn_meta[n].get(first) or 0 for n in order]
    ax2 = ax.twinx()
    ax2.set_ylim(ax.get_ylim())
    step = max(1, math.ceil(len(order) / 40))
    ax2.set_yticks(np.arange(len(order))[::step] + 0.5, [f"e{e}" for e in electrodes[::step]], fontsize=6)
    ax2.set_ylabel("electrode")
    # AA4: two 16-channel arrays, so e16/e17 is the candidate hemisphere boundary
    boundary = next((y for y, e in enumerate(electrodes) if e > 16), None) if first == "electrode" else None
    if boundary is not None and boundary > 0:
        ax.axhline(boundary, color="red", ls="--", lw=1)
        ax.text(0.99, boundary + 0.3, "e16/e17 boundary", color="red", ha="right", va="bottom",
                fontsize=8, transform=ax.get_yaxis_transform())
    fig.tight_layout()
    return fig


def page_coverage(ds: NeuralDataset):
    masks = ds.nrn_masks.numpy()
    animals = list(dict.fromkeys(m["animal_id"] for m in ds.nrn_meta))
    cols = min(3, len(animals))
    rows = math.ceil(len(animals) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False)
    for ax in axes.flat[len(animals):]:
        ax.axis("off")
    for ax, a in zip(axes.flat, animals):
        neurons = [n for n, m in enumerate(ds.nrn_meta) if m["animal_id"] == a]
        sub = masks[:, neurons]
        stims = np.flatnonzero(sub.any(axis=1))
        ax.imshow(sub[stims], aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"{a}: {len(stims)} stimuli x {len(neurons)} neurons, {sub[stims].mean() if len(stims) else 0:.0%} heard", fontsize=8)
        ax.set_xlabel("neuron (within animal)")
        ax.set_ylabel("stimulus (heard by this animal)")
    fig.suptitle("Coverage: black = presented (valid response), white = NaN sentinel")
    fig.tight_layout()
    return fig


def build_pages(ds: NeuralDataset) -> list:
    s = best_stim(ds)
    psth = population_psth(ds, s)
    return [
        page_summary(ds),
        page_cell(ds, best_cell(ds)),
        page_population(ds, s, psth),
        page_population_by_electrode(ds, s, psth),
        page_coverage(ds),
    ]


def write_report(dataset_dir: str | Path, pdf_path: str | Path, png_paths: list[str | Path]) -> None:
    """Write the PDF and one PNG per page, atomically."""
    save_pages(build_pages(NeuralDataset(dataset_dir)), pdf_path, png_paths)
