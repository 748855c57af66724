"""``results/<ds>/figures/model_comparison.{pdf,parquet}``: encoding models side by side,
under one or more training protocols (:mod:`strflow.nn.protocols`), next to the published
reference values (issue 13; NS1).

The table (:func:`comparison_table`): one row per (model, protocol).  Per neuron, test
CCnorm (Schoppe et al. 2016's signal-power normalised correlation, on the concatenated test
clips: :func:`strflow.metrics.ccnorm_across_stimuli`) and CC (the plain correlation with the
trial-mean smoothed response) are averaged over seeds; mean, median and SEM are then taken
over the neurons with a finite value.  Training time: seconds of training per seed (sum of
the epochs' ``seconds`` of ``training_log.csv``), averaged over seeds.  The ridge fits
(``strf/``: ``ridge_linear``, ``ridge_ln``) get rows under the protocol whose neurons and
test stimuli are theirs (NS1: ``rahman``), as the converged per-neuron baselines.

The figure (:func:`write_figure`): (1) mean ± SEM CCnorm per model and protocol with the
published values and their sources; (2) per-neuron CCnorm of every model against LN of
the same protocol; (3) the noise-ratio distribution of each protocol's neurons with the
selection criterion; (4) linear STRFs of the ridge fit for the best and the median neuron;
(5) predictions on a test clip for those neurons.  Deterministic PDF plus one PNG per page.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from strflow.reports.strf_report import pick_examples
from strflow.store.fits import read_fits
from strflow.store.models import read_predictions, read_training_log

PAGES = ["1_ccnorm", "2_vs_ln", "3_noise_ratio", "4_strfs", "5_predictions"]
PAGE = (11.0, 8.5)
TABLE_COLUMNS = ["model", "protocol", "arch", "n_neurons", "n_valid", "n_seeds", "ccnorm_mean", "ccnorm_median",
                 "ccnorm_sem", "cc_mean", "cc_median", "cc_sem", "train_seconds", "epochs_mean"]
CCNORM_NOTE = ("CCnorm: Schoppe et al. (2016) signal-power normalised correlation on the concatenated test clips, "
               "averaged over seeds, then over neurons (mean ± SEM across neurons).")

# Published NS1 values (facts from reference/model_training_anchors.md), drawn on page 1.
# protocol: the protocol of ours they correspond to (None: a different protocol).
PUBLISHED = [
    dict(model="statenet", protocol="statenet", ccnorm_mean=0.770, ccnorm_median=0.796, cc_mean=0.659,
         source="deepSTRF pretrained StateNet-GRU (urancon/deepSTRF-statenet-gru-ns1), 119 units, test 17-19"),
    dict(model="linear", protocol=None, ccnorm_mean=0.548, ccnorm_median=math.nan, cc_mean=math.nan,
         source="deepSTRF docs: linear, precomputed DNet cochleagram"),
    dict(model="linear", protocol=None, ccnorm_mean=0.573, ccnorm_median=math.nan, cc_mean=math.nan,
         source="deepSTRF docs: linear, causal mel from the wav"),
    dict(model="cnn2d_adaptrans", protocol=None, ccnorm_mean=0.653, ccnorm_median=math.nan, cc_mean=math.nan,
         source="deepSTRF README: 2D-CNN + AdapTrans, per-neuron, random 14/2/4 splits"),
]


def resolve_settings(ds: str, block: dict | None, models: dict) -> dict:
    """The ``figures.model_comparison`` block of a dataset, checked against its resolved
    ``models:`` block (:func:`strflow.nn.steps.model_settings`)."""
    if not block:
        raise ValueError(f"dataset {ds!r} has no figures.model_comparison block in the config "
                         "(protocols, models, seeds)")
    protocols = list(block.get("protocols") or models["protocols"])
    unknown = [p for p in protocols if p not in models["protocols"]]
    if unknown:
        raise ValueError(f"dataset {ds!r}: figures.model_comparison.protocols {unknown} are not in its "
                         f"models.protocols ({', '.join(models['protocols']) or 'none'})")
    names = list(block.get("models") or models["run"])
    unknown = [m for m in names if m not in models["zoo"]]
    if unknown:
        raise ValueError(f"dataset {ds!r}: figures.model_comparison.models {unknown} are not in models.zoo "
                         f"({', '.join(sorted(models['zoo']))})")
    if not protocols or not names:
        raise ValueError(f"dataset {ds!r}: figures.model_comparison needs at least one protocol and one model")
    return dict(protocols=protocols, models=names, seeds=int(block.get("seeds", models.get("seeds", 1))))


def training_seconds(log_path) -> float:
    """Seconds of training of one job: the sum of its epochs' ``seconds``."""
    return float(sum(r["seconds"] for r in read_training_log(log_path)))


def _sem(v: np.ndarray) -> float:
    return float(np.std(v, ddof=1) / np.sqrt(v.size)) if v.size > 1 else math.nan


def per_neuron(metrics: pd.DataFrame) -> pd.DataFrame:
    """Seed-averaged CCnorm and CC per (protocol, model, cell_id) (NaN seeds ignored)."""
    return (metrics.groupby(["protocol", "model", "cell_id"], sort=False)[["ccnorm", "ccabs"]]
            .mean().reset_index())


def comparison_table(metrics: pd.DataFrame, seconds: dict | None = None) -> pd.DataFrame:
    """One row per (model, protocol) of the per-seed metrics rows (columns ``protocol``,
    ``model``, ``arch``, ``seed``, ``cell_id``, ``ccnorm``, ``ccabs``, ``n_neurons``,
    ``epochs``).  ``seconds``: ``(protocol, model, seed) -> training seconds``."""
    seconds = seconds or {}
    pn = per_neuron(metrics)
    rows = []
    for (protocol, model), g in metrics.groupby(["protocol", "model"], sort=False):
        p = pn[(pn.protocol == protocol) & (pn.model == model)]
        cc_n = p.ccnorm.to_numpy(dtype=float)
        cc_n = cc_n[np.isfinite(cc_n)]
        cc = p.ccabs.to_numpy(dtype=float)
        cc = cc[np.isfinite(cc)]
        seeds = sorted(g.seed.unique())
        secs = [seconds[(protocol, model, int(s))] for s in seeds if (protocol, model, int(s)) in seconds]
        epochs = g.groupby("seed").epochs.first().to_numpy(dtype=float)
        rows.append(dict(
            model=model, protocol=protocol, arch=str(g.arch.iloc[0]),
            n_neurons=int(g.cell_id.nunique()), n_valid=int(cc_n.size), n_seeds=len(seeds),
            ccnorm_mean=float(cc_n.mean()) if cc_n.size else math.nan,
            ccnorm_median=float(np.median(cc_n)) if cc_n.size else math.nan, ccnorm_sem=_sem(cc_n),
            cc_mean=float(cc.mean()) if cc.size else math.nan,
            cc_median=float(np.median(cc)) if cc.size else math.nan, cc_sem=_sem(cc),
            train_seconds=float(np.mean(secs)) if secs else math.nan,
            epochs_mean=float(epochs.mean()) if epochs.size else math.nan,
        ))
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def read_runs(metrics_paths: list, log_paths: list) -> tuple[pd.DataFrame, dict]:
    """Every per-seed metrics table (with its ``protocol`` column) and training seconds."""
    import pyarrow.parquet as pq

    tables = [pq.read_table(p).to_pandas() for p in metrics_paths]
    for path, t in zip(metrics_paths, tables):
        if "protocol" not in t.columns:
            raise ValueError(f"{path}: no protocol column (not a models/<protocol>/<model>/seed<k> fit)")
    seconds = {}
    for t, lg in zip(tables, log_paths):
        seconds[(str(t.protocol.iloc[0]), str(t.model.iloc[0]), int(t.seed.iloc[0]))] = training_seconds(lg)
    return pd.concat(tables, ignore_index=True), seconds


RIDGE_MODELS = {"linear": "ridge_linear", "ln": "ridge_ln"}


def ridge_rows(ridge: pd.DataFrame, ridge_split: dict, record: dict) -> tuple[pd.DataFrame, str | None]:
    """The ridge fits (``strf/metrics.parquet``) as metrics rows of the one protocol they
    match, if any: same neurons and same test stimuli (the ``rahman`` protocol of NS1 is
    the ridge fits' split on the same 73 units).  Models ``ridge_linear`` and ``ridge_ln``,
    seed 0; returns the rows and the protocol's name (None and no rows when none matches)."""
    test = sorted(s for s, r in ridge_split.items() if r == "test")
    cells = set(ridge.cell_id)
    for name, rec in record.items():
        if rec["stims"]["test"] == test and set(rec["neuron_set"]) == cells:
            rows = ridge[ridge.model.isin(list(RIDGE_MODELS))]
            out = pd.DataFrame(dict(protocol=name, model=rows.model.map(RIDGE_MODELS),
                                    arch=rows.model.map(lambda m: f"ridge {m}"), seed=0, cell_id=rows.cell_id,
                                    ccnorm=rows.ccnorm.astype(float), ccabs=rows.ccabs.astype(float),
                                    epochs=math.nan))
            return out.reset_index(drop=True), name
    return pd.DataFrame(), None


def write_table(table: pd.DataFrame, protocols: dict, path) -> None:
    """The table as Parquet, with each protocol's record (dataset, neuron filter, split)
    in the schema metadata (``strflow.protocols``, JSON)."""
    import pyarrow as pa

    from strflow.store.tables import write_parquet

    t = pa.Table.from_pandas(table, preserve_index=False)
    meta = dict(t.schema.metadata or {})
    meta[b"strflow.protocols"] = json.dumps(protocols, sort_keys=True, default=str).encode()
    meta[b"strflow.ccnorm"] = CCNORM_NOTE.encode()
    write_parquet(t.replace_schema_metadata(meta), path)


# ---------------------------------------------------------------- figure pages


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def page_ccnorm(table: pd.DataFrame, models: list, protocols: list, ds_name: str, published: list = ()):
    """``published``: reference values drawn as stars (:data:`PUBLISHED` for NS1)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=PAGE)
    width = 0.8 / max(len(protocols), 1)
    x = np.arange(len(models))
    colors = plt.get_cmap("tab10")
    for k, prot in enumerate(protocols):
        t = table[table.protocol == prot].set_index("model").reindex(models)
        pos = x - 0.4 + width * (k + 0.5)
        n = int(t.n_neurons.max()) if t.n_neurons.notna().any() else 0
        ax.bar(pos, t.ccnorm_mean, width, yerr=t.ccnorm_sem, color=colors(k), capsize=2,
               label=f"{prot} ({n} neurons)")
        for xi, v in zip(pos, t.ccnorm_mean):
            if np.isfinite(v):
                ax.text(xi, v + 0.03, f"{v:.2f}", ha="center", fontsize=6, rotation=90)
    lines = []
    for i, ref in enumerate(published):
        if ref["model"] not in models:
            continue
        j = models.index(ref["model"])
        if ref["protocol"] in protocols:
            k = protocols.index(ref["protocol"])
            xi = j - 0.4 + width * (k + 0.5)
        else:
            xi = j + 0.45
        ax.plot([xi], [ref["ccnorm_mean"]], marker="*", ms=12, color="k", ls="none")
        ax.annotate(f"[{i + 1}]", (xi, ref["ccnorm_mean"]), xytext=(4, 4), textcoords="offset points", fontsize=7)
        lines.append(f"[{i + 1}] {ref['ccnorm_mean']:.3f}: {ref['source']}"
                     + ("" if ref["protocol"] in protocols else " (not one of these protocols)"))
    ax.set_xticks(x, models, rotation=30, ha="right")
    ax.set_ylabel("test CCnorm (mean ± SEM over neurons)")
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"{ds_name}: encoding models by training protocol; ★ published values")
    fig.text(0.01, 0.01, CCNORM_NOTE + "\nPublished (★): " + ("\n".join(lines) or "none for these models"),
             fontsize=7, va="bottom")
    fig.subplots_adjust(bottom=0.3)
    return fig


def page_vs_ln(pn: pd.DataFrame, models: list, protocols: list, ds_name: str):
    plt = _plt()
    others = [m for m in models if m != "ln"]
    cols = min(max(len(others), 1), 4)
    rows = int(np.ceil(max(len(others), 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False)
    colors = plt.get_cmap("tab10")
    for ax, m in zip(axes.ravel(), others):
        for k, prot in enumerate(protocols):
            p = pn[pn.protocol == prot]
            ln = p[p.model == "ln"].set_index("cell_id").ccnorm
            y = p[p.model == m].set_index("cell_id").ccnorm
            common = ln.index.intersection(y.index)
            ax.plot(ln[common], y[common], ".", ms=3, alpha=0.7, color=colors(k), label=prot)
        ax.plot([-0.2, 1.1], [-0.2, 1.1], "k:", lw=0.8)
        ax.set_xlim(-0.2, 1.1)
        ax.set_ylim(-0.2, 1.1)
        ax.set_title(m, fontsize=9)
        ax.set_xlabel("LN CCnorm", fontsize=7)
        ax.set_ylabel(f"{m} CCnorm", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in axes.ravel()[len(others):]:
        ax.axis("off")
    if others:
        axes.ravel()[0].legend(fontsize=6)
    if "ln" not in models:
        fig.text(0.5, 0.5, "ln is not among the figure's models", ha="center")
    fig.suptitle(f"{ds_name}: per-neuron test CCnorm of each model against the trained LN model of the same "
                 "protocol (seed means)")
    fig.tight_layout()
    return fig


def page_noise_ratio(neuron_sets: dict, all_neurons: pd.DataFrame, criterion: str, ds_name: str, ns1: bool = False):
    """``neuron_sets``: protocol -> cell ids; ``all_neurons``: every neuron read (one row each)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=PAGE)
    if "noise_ratio" not in all_neurons.columns:
        ax.text(0.5, 0.5, "these neurons have no noise_ratio column", ha="center")
        ax.axis("off")
        return fig
    nr = all_neurons.set_index("cell_id").noise_ratio.astype(float)
    finite = nr[np.isfinite(nr) & (nr > 0)]
    bins = np.logspace(np.log10(finite.min()), np.log10(finite.max()), 30) if finite.size else 10
    ax.hist(finite, bins=bins, color="0.8", label=f"all {finite.size} neurons read")
    colors = plt.get_cmap("tab10")
    for k, (prot, cells) in enumerate(neuron_sets.items()):
        v = nr.reindex(list(cells)).dropna()
        ax.hist(v, bins=bins, histtype="step", lw=1.5, color=colors(k), label=f"{prot}: {v.size} neurons")
    if ns1:
        ax.axvline(40, color="k", ls=":", lw=1)
        ax.text(40, ax.get_ylim()[1] * 0.95, "noise ratio 40 (README_NS1's threshold;\nnot what selects the 73 units) ",
                fontsize=7, va="top", ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("noise ratio (Sahani & Linden; NS1 metadata NoiseRatio)")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=8)
    ax.set_title(f"{ds_name}: noise-ratio distribution of each protocol's neurons")
    fig.text(0.01, 0.01, "Selection criterion: " + criterion, fontsize=8)
    fig.subplots_adjust(bottom=0.15)
    return fig


def page_strfs(fits, picks, ridge_metrics: pd.DataFrame, reliable: bool, ds_name: str):
    """The STRF report's page (:func:`strflow.reports.strf_report.page_strfs`) for these
    picks; ``fits``: the ridge fits (:func:`strflow.store.fits.read_fits`)."""
    from strflow.reports import strf_report

    fig = strf_report.page_strfs(fits, picks, fits.cell_ids, ridge_metrics.to_dict("records"), reliable)
    among = "neurons with a reliable noise ceiling" if reliable else "ALL neurons (none has a reliable noise ceiling)"
    fig.suptitle(f"{ds_name}: linear STRFs (ridge fit, results/{ds_name}/strf) of the best and the median neuron "
                 f"by CCnorm, among {among}")
    return fig


def page_predictions(ds, fits_path, picks, preds: dict, ds_name: str, split: dict | None = None):
    """``preds``: label -> (predictions.h5 path) of models fitted on ``ds``'s neurons.

    The clip shown is a test stimulus of the trained models (their predictions are stored
    for their own test clips only), preferably one the ridge fits also held out; the ridge
    curves are drawn only on a clip that was a test clip of theirs."""
    from strflow.nn.api import RidgeModel

    plt = _plt()
    fig, axes = plt.subplots(max(len(picks), 1), 1, figsize=PAGE, squeeze=False)
    split = read_fits(fits_path).split if split is None else split
    stored = {label: read_predictions(path) for label, path in preds.items()}
    ridge = {m: RidgeModel(fits_path, m) for m in ("linear", "ln")}
    cell_ids = [m["cell_id"] for m in ds.nrn_meta]
    colors = plt.get_cmap("tab10")
    for ax, (role, cell) in zip(axes[:, 0], picks):
        n = cell_ids.index(cell)
        heard = [s for s in range(len(ds.stim_meta)) if bool(ds.nrn_masks[s, n])]
        ridge_test = [s for s in heard if split.get(ds.stim_meta[s]["stim_id"]) == "test"]
        trained = [s for s in heard if any(p.of(cell, ds.stim_meta[s]["stim_id"]) is not None for p in stored.values())]
        both = [s for s in trained if s in ridge_test]
        choice = both or trained or ridge_test
        if not choice:
            ax.axis("off")
            continue
        s = choice[0]
        sid = ds.stim_meta[s]["stim_id"]
        psth = ds.responses[s][n].numpy().mean(axis=0)
        t = ds.bin_centres_s(psth.size)
        ax.plot(t, psth, color="k", lw=1.0, label="measured (smoothed trial mean)")
        spec = ds.stims[s][0].numpy()
        if s in ridge_test:
            for k, (m, model) in enumerate(ridge.items()):
                ax.plot(t, model.predict(spec)[model.cell_ids.index(cell)], lw=0.8, color=colors(k), label=f"ridge {m}")
        for k, (label, p) in enumerate(stored.items()):
            y = p.of(cell, sid)
            if y is not None:
                ax.plot(t, y, lw=0.8, color=colors(k + 2), label=label)
        note = "" if s in ridge_test else " (not a test clip of the ridge fits: their curves not drawn)"
        ax.set_title(f"{role} neuron {cell}, test stimulus {sid}{note}", fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("spikes per bin")
        ax.legend(fontsize=7, ncol=3)
    fig.suptitle(f"{ds_name}: predictions on a test clip (models of the first protocol, seed 0)")
    fig.tight_layout()
    return fig


def write_figure(ds_name: str, settings: dict, protocols: dict, metrics_paths: list, log_paths: list,
                 predictions: dict, neurons_tables: list, ridge_fits, ridge_metrics, dataset_dir, criterion: str,
                 out_table, pdf, pngs, fmt: str | None = None) -> pd.DataFrame:
    """Build the table and the five pages.  ``protocols``: name -> resolved protocol;
    ``fmt``: the dataset's format (``ns1``: the published NS1 values and threshold are drawn);
    ``predictions``: model -> seed-0 predictions.h5 of the first protocol (its dataset
    must be ``dataset_dir``'s neurons for the prediction page)."""
    import pyarrow.parquet as pq

    from strflow.dataset import NeuralDataset
    from strflow.reports.figures import save_pages

    metrics, seconds = read_runs(metrics_paths, log_paths)
    record = {p: dict(protocols[p], neuron_set=sorted(metrics[metrics.protocol == p].cell_id.unique().tolist()),
                      stims={role: sorted(metrics[metrics.protocol == p][f"{role}_stims"].iloc[0].split(","))
                             for role in ("train", "val", "test")})
              for p in settings["protocols"]}
    ridge_table = pq.read_table(ridge_metrics).to_pandas()
    # the ridge fits beside the trained models, under the protocol that is their split and neurons
    fits = read_fits(ridge_fits)
    ridge, ridge_protocol = ridge_rows(ridge_table, fits.split, record)
    shown = (list(RIDGE_MODELS.values()) if ridge_protocol else []) + list(settings["models"])
    table = comparison_table(pd.concat([metrics, ridge], ignore_index=True) if len(ridge) else metrics, seconds)
    order = {(p, m): i for i, (p, m) in enumerate((p, m) for p in settings["protocols"] for m in shown)}
    table = table.iloc[np.argsort([order.get((p, m), len(order)) for p, m in zip(table.protocol, table.model)],
                                  kind="stable")].reset_index(drop=True)
    write_table(table, record, out_table)
    tables = [pq.read_table(p).to_pandas() for p in neurons_tables]
    # every neuron any protocol read, once (protocols may read different datasets)
    all_neurons = pd.concat(tables, ignore_index=True).drop_duplicates("cell_id", keep="first")
    picks, reliable = pick_examples(ridge_table.to_dict("records"))  # the STRF report's choice (reliable ceilings)
    pn = per_neuron(metrics)
    ds = NeuralDataset(dataset_dir)
    first = table[(table.protocol == settings["protocols"][0]) & ~table.model.isin(list(RIDGE_MODELS.values()))]
    # the three best trained models of the first protocol on the prediction page (the ridge fits are drawn anyway)
    best = first.sort_values(["ccnorm_mean", "model"], ascending=False).model.tolist()[:3]
    figs = [
        page_ccnorm(table, shown, settings["protocols"], ds_name, PUBLISHED if fmt == "ns1" else []),
        page_vs_ln(pn, settings["models"], settings["protocols"], ds_name),
        page_noise_ratio({p: record[p]["neuron_set"] for p in settings["protocols"]}, all_neurons, criterion, ds_name,
                         ns1=fmt == "ns1"),
        page_strfs(fits, picks, ridge_table, reliable, ds_name),
        page_predictions(ds, ridge_fits, picks, {f"{m} (trained)": predictions[m] for m in best if m in predictions},
                         ds_name, split=fits.split),
    ]
    save_pages(figs, pdf, pngs)
    return table
