"""``results/<ds>/models/summary.pdf``: every trained model side by side.

Pages: (1) test CCnorm per model (seeds pooled; the ridge fits' linear and LN as the
baseline), (2) per-neuron CCnorm of each model against the ridge LN fit (seed 0),
(3) learning curves (validation CCnorm and training loss per epoch, seed 0).
Deterministic PDF plus one PNG per page.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from strflow.reports.figures import save_pages  # noqa: E402
from strflow.store.models import read_training_log  # noqa: E402

PAGES = ["1_ccnorm", "2_vs_ln", "3_learning_curves"]
PAGE = (11.0, 8.5)


def _read_log(path) -> dict[str, np.ndarray]:
    rows = read_training_log(path)
    return {k: np.array([r[k] for r in rows], dtype=float) for k in (rows[0] if rows else {})}


def write_summary(ds_name: str, models: list[str], metrics_paths: list, log_paths: dict, strf_metrics, pdf, pngs) -> None:
    """``log_paths``: model -> seed-0 ``training_log.csv``; ``strf_metrics``: the ridge fits' table."""
    tables = {m: pq.read_table(p).to_pandas() for m, p in zip(models, metrics_paths)}
    ridge = pq.read_table(strf_metrics).to_pandas()
    base = {m: ridge[ridge.model == m].set_index("cell_id").ccnorm for m in ("linear", "ln")}

    fig1, ax = plt.subplots(figsize=PAGE)
    names = [f"ridge {m}" for m in base] + models
    values = [base[m].dropna().to_numpy() for m in base] + [tables[m].ccnorm.dropna().to_numpy() for m in models]
    pos = np.arange(len(names))
    for i, v in enumerate(values):
        if v.size:
            ax.boxplot([v], positions=[i], widths=0.6, showfliers=False)
            ax.plot(np.full(v.size, i) + np.linspace(-0.15, 0.15, v.size), v, ".", alpha=0.4, color="0.3")
            ax.text(i, 1.05, f"{np.mean(v):.3f}", ha="center", fontsize=9)
    ax.set_xticks(pos, names, rotation=30, ha="right")
    ax.set_ylabel("test CCnorm (per neuron and seed)")
    ax.set_ylim(-0.2, 1.12)
    ax.set_title(f"{ds_name}: encoding models on the test stimuli (numbers: mean CCnorm)")
    fig1.tight_layout()

    n = max(len(models), 1)
    cols = min(n, 3)
    rows = int(np.ceil(n / cols))
    fig2, axes = plt.subplots(rows, cols, figsize=PAGE, squeeze=False)
    for ax, m in zip(axes.ravel(), models):
        t = tables[m]
        t0 = t[t.seed == t.seed.min()].set_index("cell_id").ccnorm
        common = t0.index.intersection(base["ln"].index)
        ax.plot(base["ln"][common], t0[common], ".", alpha=0.7)
        ax.plot([-0.2, 1], [-0.2, 1], "k:", lw=0.8)
        ax.set_xlabel("ridge LN CCnorm")
        ax.set_ylabel(f"{m} CCnorm")
        ax.set_title(m)
    for ax in axes.ravel()[len(models):]:
        ax.axis("off")
    fig2.suptitle(f"{ds_name}: per-neuron CCnorm against the LN baseline (first seed)")
    fig2.tight_layout()

    fig3, (a1, a2) = plt.subplots(1, 2, figsize=PAGE)
    for m in models:
        lg = _read_log(log_paths[m])
        if not lg:
            continue
        a1.plot(lg["epoch"], lg["val_ccnorm"], label=m)
        a2.plot(lg["epoch"], lg["train_loss"], label=m)
    a1.set_xlabel("epoch")
    a1.set_ylabel("validation CCnorm")
    a2.set_xlabel("epoch")
    a2.set_ylabel("training loss (MSE)")
    a2.set_yscale("log")
    a1.legend()
    fig3.suptitle(f"{ds_name}: learning curves (first seed)")
    fig3.tight_layout()
    save_pages([fig1, fig2, fig3], pdf, pngs)
