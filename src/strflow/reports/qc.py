"""QC report: a deterministic multi-page PDF (and one PNG per page) drawn from the
dataset API, with the figures of the AA4 inspection notebook users know.

Pages
1. summary: counts of recording groups (AA4: birds; NS1: recordings, i.e. experiment
   folders; else animals), neurons (by sort type: AA4 ``sort_type``, NS1 ``single_t``),
   stimuli (by type), heard pairs; coverage per group; skip records by reason.
2. the best-covered cell (most stimuli heard): for four of its stimuli evenly spaced in
   dataset order, the spectrogram, the spike raster (every trial, from the interim spike
   times) and the smoothed PSTH.
3. the population PSTH raster for the best-covered stimulus, each valid row scaled to
   its own maximum; cells that did not hear the stimulus (NaN sentinels) are grey.
4. the same rows re-sorted along the probes: AA4 within each bird by (electrode,
   subsort_id), with the e16/e17 array boundary; NS1 within each probe penetration
   (the cell folder) by depth, then electrode.
5. stimulus x neuron coverage heatmap per group.

Spectrograms are shown in dB re each stimulus' peak (the stored compression undone, a
60 dB range), with the band centres in Hz and a colour bar; rates are in spikes/s.

Ties are broken by the lowest index, so the same inputs always give the same pages;
PDF creation dates are omitted so the bytes are reproducible.
"""

from __future__ import annotations

import math
import textwrap
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from strflow.dataset import NeuralDataset  # noqa: E402
from strflow.reports.figures import band_word, compression_of, integer_axis, save_pages, show_spectrogram, stim_label  # noqa: E402

PAGE = (11.0, 8.5)
GREY = "lightgrey"
TEXT_WIDTH = 76  # characters per line of each summary text column (monospace, 8 pt, half a page)


def dataset_kind(ds: NeuralDataset) -> str:
    """``aa4``, ``ns1`` or ``other``, from the neuron metadata columns."""
    meta = ds.nrn_meta[0] if ds.nrn_meta else {}
    if "electrode" in meta:
        return "aa4"
    if "electrode_number" in meta:
        return "ns1"
    return "other"


#: What one ``animal_id`` is called on the pages: AA4 birds; NS1 ``animal_id`` is the
#: experiment folder (a recording, several penetrations), the ferrets are not named.
GROUP_NOUN = {"aa4": ("bird", "birds"), "ns1": ("recording", "recordings"), "other": ("animal", "animals")}
#: The neuron column that tells single from multi units, and how to call it.
SORT_COLUMN = {"aa4": ("sort_type", "sort type"), "ns1": ("single_t", "single unit (single_t)")}


def group_noun(ds: NeuralDataset, plural: bool = False) -> str:
    return GROUP_NOUN[dataset_kind(ds)][int(plural)]


def sort_column(ds: NeuralDataset) -> tuple[str, str] | None:
    col = SORT_COLUMN.get(dataset_kind(ds))
    return col if col and ds.nrn_meta and col[0] in ds.nrn_meta[0] else None


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


def _num(value, default=0.0) -> float:
    return float(value) if value is not None and value == value else default


def probe_of(meta: dict, kind: str) -> str:
    """The probe a neuron was recorded on: its ``animal_id`` -- an AA4 bird (two
    16-channel arrays), an NS1 recording (experiment folder named after its probe, e.g.
    ``exp45_1x32``, ``exp57_B4x8``); electrode numbers only compare within a probe."""
    return str(meta.get("animal_id"))


def electrode_keys(ds: NeuralDataset) -> tuple[str, str]:
    """Sort keys within a probe: AA4 (electrode, subsort_id); NS1 (depth_um, electrode_number);
    none for other formats (dataset order within the animal)."""
    kind = dataset_kind(ds)
    if kind == "aa4":
        return "electrode", "subsort_id"
    if kind == "ns1":
        return "depth_um", "electrode_number"
    return "", ""


def electrode_order(ds: NeuralDataset) -> list[int]:
    """Neuron indices grouped by probe (probes in order of first appearance), then sorted
    within the probe by :func:`electrode_keys` (missing values first), then by index."""
    kind = dataset_kind(ds)
    first, second = electrode_keys(ds)
    probes = list(dict.fromkeys(probe_of(m, kind) for m in ds.nrn_meta))
    rank = {p: i for i, p in enumerate(probes)}

    def key(n: int):
        m = ds.nrn_meta[n]
        return (rank[probe_of(m, kind)], _num(m.get(first), -np.inf), _num(m.get(second), -np.inf), n)

    return sorted(range(ds.N_neurons), key=key)


def _extent(ds: NeuralDataset, t: int, rows: int) -> list[float]:
    return [ds.t0_s, ds.t0_s + t * ds.dt / 1000.0, 0, rows]


def _wrap(lines: list[str], width: int = TEXT_WIDTH) -> list[str]:
    out = []
    for line in lines:
        indent = len(line) - len(line.lstrip())
        out += textwrap.wrap(line, width, subsequent_indent=" " * (indent + 4), break_long_words=True) or [""]
    return out


MAX_TEXT_LINES = 17


def summary_text(ds: NeuralDataset) -> tuple[list[str], list[str]]:
    """(left, right) text columns of page 1, wrapped and capped at MAX_TEXT_LINES lines."""
    masks = ds.nrn_masks.numpy()
    noun, nouns = group_noun(ds), group_noun(ds, plural=True)
    groups = list(dict.fromkeys(m["animal_id"] for m in ds.nrn_meta))
    types = Counter(m.get("type") for m in ds.stim_meta)
    sort = sort_column(ds)
    neurons = f"neurons: {ds.N_neurons}"
    if sort:
        counts = Counter(str(m.get(sort[0])) for m in ds.nrn_meta)
        neurons += f" (by {sort[1]}: " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) + ")"
    left = [
        f"dataset: {ds.path}",
        f"bin width: {ds.dt:g} ms   {band_word(ds.spectrogram_params)}s: {ds.F} ({ds.freqs_hz[0]:.0f}-{ds.freqs_hz[-1]:.0f} Hz centres)"
        if len(ds.freqs_hz) else f"bin width: {ds.dt:g} ms",
        f"{nouns}: {len(groups)}   {neurons}",
        f"stimuli: {len(ds.stims)} (" + ", ".join(f"{k}: {v}" for k, v in sorted(types.items(), key=lambda kv: str(kv[0]))) + ")",
        f"heard (stimulus, neuron) pairs: {int(masks.sum())} of {masks.size} ({masks.mean():.1%})",
    ]
    if dataset_kind(ds) == "ns1":
        left.append(f"({noun} = NS1 experiment folder; the ferrets are not named in the release)")
    if ds.quality is not None and ds.quality.num_rows:
        q = {c: ds.quality.column(c).to_numpy(zero_copy_only=False) for c in ("noise_ratio", "ccmax_sp", "ccmax_split")}
        finite = np.isfinite(q["noise_ratio"])
        left.append(
            f"noise ceiling (binned counts): median CCmax {np.nanmedian(q['ccmax_sp']):.2f} (SP), "
            f"{np.nanmedian(q['ccmax_split']):.2f} (split halves); median noise ratio "
            f"{np.median(q['noise_ratio'][finite]) if finite.any() else float('nan'):.1f}; "
            f"{int((~finite).sum())} neuron(s) without a finite noise ratio (SP <= 0)"
        )
    reasons = Counter((r["what"], r["reason"]) for r in ds.skipped)
    right = [f"skip records: {len(ds.skipped)}" + (" (see tables/skipped.parquet)" if reasons else "")]
    for (what, reason), n in sorted(reasons.items()):
        right += _wrap([f"{n:5d} x {what}: {reason}"])
    left = _wrap(left)
    for col, where in ((left, ""), (right, " (see tables/skipped.parquet)")):
        if len(col) > MAX_TEXT_LINES:
            extra = len(col) - MAX_TEXT_LINES + 1
            del col[MAX_TEXT_LINES - 1 :]
            col.append(f"    ... {extra} more line(s){where}")
    return left, right


def page_summary(ds: NeuralDataset):
    fig = plt.figure(figsize=PAGE)
    masks = ds.nrn_masks.numpy()
    noun = group_noun(ds)
    groups = list(dict.fromkeys(m["animal_id"] for m in ds.nrn_meta))
    left, right = summary_text(ds)
    fig.text(0.02, 0.98, "\n".join(left), va="top", ha="left", family="monospace", fontsize=8)
    fig.text(0.51, 0.98, "\n".join(right), va="top", ha="left", family="monospace", fontsize=8)
    ax_cov = fig.add_axes([0.07, 0.12, 0.24, 0.50])
    ax_units = fig.add_axes([0.39, 0.12, 0.24, 0.50])
    ax_rate = fig.add_axes([0.72, 0.12, 0.25, 0.50])
    sort = sort_column(ds)
    values = sorted({str(m.get(sort[0])) for m in ds.nrn_meta}) if sort else ["all"]
    cov, units = [], {k: [] for k in values}
    for a in groups:
        cols = [n for n, m in enumerate(ds.nrn_meta) if m["animal_id"] == a]
        sub = masks[:, cols]
        heard_stims = sub.any(axis=1)
        cov.append(sub[heard_stims].mean() if heard_stims.any() else 0.0)
        for k in units:
            units[k].append(sum(1 for n in cols if not sort or str(ds.nrn_meta[n].get(sort[0])) == k))
    x = np.arange(len(groups))
    ax_cov.bar(x, cov, color="tab:blue")
    ax_cov.set_ylim(0, 1)
    ax_cov.set_title(f"coverage per {noun}", fontsize=9)
    ax_cov.set_ylabel("heard pairs / (its stimuli x its neurons)", fontsize=8)
    bottom = np.zeros(len(groups))
    for k, counts in units.items():
        ax_units.bar(x, counts, bottom=bottom, label=str(k))
        bottom += counts
    if sort:
        ax_units.legend(fontsize=7, title=sort[1], title_fontsize=7)
    ax_units.set_title(f"neurons per {noun}" + (f" by {sort[1]}" if sort else ""), fontsize=9)
    ax_units.set_ylabel("neurons", fontsize=8)
    integer_axis(ax_units.yaxis)
    for ax in (ax_cov, ax_units):
        ax.set_xticks(x, groups, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel(noun, fontsize=8)
    rates = ds.coverage.column("mean_rate_hz").to_numpy(zero_copy_only=False)
    rates = rates[np.isfinite(rates)]
    ax_rate.hist(rates, bins=30, color="tab:gray")
    ax_rate.set_title(f"mean rate of heard pairs (median {np.median(rates) if rates.size else float('nan'):.1f} spikes/s)", fontsize=9)
    ax_rate.set_xlabel("rate in the stimulus window (spikes/s)", fontsize=8)
    ax_rate.set_ylabel("(stimulus, neuron) pairs", fontsize=8)
    integer_axis(ax_rate.yaxis)
    return fig


def _side_colorbar(fig, ax, im, label: str, offset: float = 0.008):
    """A colour bar in its own axes right of ``ax`` (so that ``ax`` keeps the width of
    the axes it shares its time axis with)."""
    pos = ax.get_position()
    cax = fig.add_axes([pos.x1 + offset, pos.y0, 0.010, pos.height])
    return fig.colorbar(im, cax=cax, label=label)


def page_cell(ds: NeuralDataset, n: int, n_picks: int = 4):
    masks = ds.nrn_masks.numpy()
    valid = np.flatnonzero(masks[:, n])
    picks = [int(valid[i]) for i in np.unique(np.linspace(0, len(valid) - 1, n_picks).astype(int))] if len(valid) else []
    fig, axes = plt.subplots(3, max(len(picks), 1), figsize=PAGE, sharex="col", squeeze=False)
    compression = compression_of(ds.spectrogram_params)
    im = None
    for col, s in enumerate(picks):
        spec = ds.stims[s][0].numpy()
        t = spec.shape[1]
        start, end = ds.t0_s, ds.t0_s + t * ds.dt / 1000.0
        ax = axes[0, col]
        im = show_spectrogram(ax, spec, ds.freqs_hz, compression, (start, end), colorbar=False)
        ax.set_title(f"s={s} {stim_label(ds.stim_meta[s])}", fontsize=8)
        if col:
            ax.set_ylabel("")
        ax = axes[1, col]
        trains = ds.spike_times(s, n)
        ax.eventplot([tr[(tr >= start) & (tr < end)] for tr in trains], colors="k", linewidths=0.6, lineoffsets=np.arange(len(trains)) + 0.5)
        ax.set_ylim(0, max(len(trains), 1))
        integer_axis(ax.yaxis)
        ax = axes[2, col]
        resp = ds.responses[s][n].numpy()
        ax.plot(ds.bin_centres_s(t), resp.mean(axis=0) * 1000.0 / ds.dt, lw=0.8)
        ax.set_xlabel("time (s)")
        ax.set_xlim(start, end)
    axes[1, 0].set_ylabel("trial")
    axes[2, 0].set_ylabel("smoothed PSTH (spikes/s)")
    meta = ds.nrn_meta[n]
    fig.suptitle(f"cell {n}: {meta['cell_id']} (hears {len(valid)}/{len(ds.stims)} stimuli)")
    fig.tight_layout(rect=(0, 0, 0.92, 1))
    if im is not None:
        _side_colorbar(fig, axes[0, len(picks) - 1], im, "dB re peak")
    return fig


def _population_axes(ds: NeuralDataset, s: int, rows: np.ndarray, title: str):
    fig, axes = plt.subplots(2, 1, figsize=PAGE, sharex=True, gridspec_kw={"height_ratios": [1, 4]})
    spec = ds.stims[s][0].numpy()
    t = spec.shape[1]
    start, end = ds.t0_s, ds.t0_s + t * ds.dt / 1000.0
    spec_im = show_spectrogram(axes[0], spec, ds.freqs_hz, compression_of(ds.spectrogram_params),
                               (start, end), colorbar=False)
    axes[0].set_title(title, fontsize=10)
    cmap = plt.get_cmap("viridis").with_extremes(bad=GREY)
    im = axes[1].imshow(np.ma.masked_invalid(rows), origin="lower", aspect="auto", cmap=cmap,
                        extent=_extent(ds, t, rows.shape[0]), interpolation="nearest", vmin=0, vmax=1)
    axes[1].set_xlabel("time (s)")
    integer_axis(axes[1].yaxis)
    n_grey = int(np.isnan(rows).all(axis=1).sum())
    axes[1].set_title(f"grey rows: {n_grey} cell(s) that did not hear this stimulus", fontsize=8, loc="left")
    return fig, axes, (spec_im, im)


def _finish_population(fig, axes, images, right=0.9, offset=0.008):
    fig.tight_layout(rect=(0, 0, right, 1))
    _side_colorbar(fig, axes[0], images[0], "dB re peak", offset)
    _side_colorbar(fig, axes[1], images[1], "PSTH / row max", offset)


def page_population(ds: NeuralDataset, s: int, psth: np.ndarray):
    fig, axes, images = _population_axes(ds, s, normalise_rows(psth), f"stimulus s={s} {stim_label(ds.stim_meta[s])}, "
                                         f"heard by {int(ds.nrn_masks[s].sum())}/{ds.N_neurons} cells")
    axes[1].set_ylabel("neuron index")
    _finish_population(fig, axes, images, right=0.92)
    return fig


def page_population_by_electrode(ds: NeuralDataset, s: int, psth: np.ndarray):
    kind = dataset_kind(ds)
    order = electrode_order(ds)
    first, second = electrode_keys(ds)
    probe_word = {"aa4": "bird", "ns1": "recording (probe)"}.get(kind, group_noun(ds))
    within = f", then {first}, {second}" if first else ""
    fig, axes, images = _population_axes(ds, s, normalise_rows(psth)[order],
                                         f"stimulus s={s} {stim_label(ds.stim_meta[s])}: cells sorted by {probe_word}{within}")
    ax = axes[1]
    ax.set_ylabel(f"neuron (by {probe_word}{within})")
    probes = [probe_of(ds.nrn_meta[n], kind) for n in order]
    starts = [y for y in range(len(order)) if y == 0 or probes[y] != probes[y - 1]]
    for y in starts[1:]:
        ax.axhline(y, color="white", lw=1.5)
    for y in starts[:30]:
        ax.text(0.005, y + 0.15, probes[y], transform=ax.get_yaxis_transform(), fontsize=6, va="bottom", ha="left",
                bbox=dict(facecolor="white", alpha=0.8, edgecolor="none", pad=1))
    if first:  # the within-probe position on the right: AA4 electrode, NS1 depth
        ax2 = ax.twinx()
        ax2.set_ylim(ax.get_ylim())
        step = max(1, math.ceil(len(order) / 40))
        label = (lambda m: f"e{_num(m.get(first)):.0f}") if kind == "aa4" else (lambda m: f"{_num(m.get(first), np.nan):.0f} µm")
        ax2.set_yticks(np.arange(len(order))[::step] + 0.5, [label(ds.nrn_meta[n]) for n in order[::step]], fontsize=6)
        ax2.set_ylabel("electrode" if kind == "aa4" else "depth", fontsize=8)
    if kind == "aa4":
        # two 16-channel arrays per bird, so e16/e17 is the candidate hemisphere boundary
        ends = starts[1:] + [len(order)]
        for a, b in zip(starts, ends):
            boundary = next((y for y in range(a, b) if _num(ds.nrn_meta[order[y]].get("electrode")) > 16), None)
            if boundary is not None and boundary > a:
                ax.axhline(boundary, color="red", ls="--", lw=1)
                ax.text(0.99, boundary + 0.3, "e16/e17", color="red", ha="right", va="bottom", fontsize=7,
                        transform=ax.get_yaxis_transform())
    _finish_population(fig, axes, images, right=0.86, offset=0.07 if first else 0.008)
    return fig


def page_coverage(ds: NeuralDataset):
    masks = ds.nrn_masks.numpy()
    noun = group_noun(ds)
    groups = list(dict.fromkeys(m["animal_id"] for m in ds.nrn_meta))
    cols = min(3, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False)
    for ax in axes.flat[len(groups):]:
        ax.axis("off")
    for ax, a in zip(axes.flat, groups):
        neurons = [n for n, m in enumerate(ds.nrn_meta) if m["animal_id"] == a]
        sub = masks[:, neurons]
        stims = np.flatnonzero(sub.any(axis=1))
        ax.imshow(sub[stims], aspect="auto", interpolation="nearest", cmap="Greys", vmin=0, vmax=1)
        ax.set_title(f"{a}: {len(stims)} stimuli x {len(neurons)} neurons, {sub[stims].mean() if len(stims) else 0:.0%} heard", fontsize=8)
        ax.set_xlabel(f"neuron (within {noun})")
        ax.set_ylabel(f"stimulus (heard in this {noun})")
        integer_axis(ax.xaxis)
        integer_axis(ax.yaxis)
    fig.suptitle(f"Coverage per {noun}: black = presented (valid response), white = NaN sentinel")
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
