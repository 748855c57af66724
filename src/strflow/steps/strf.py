"""Ridge STRF fits (``workflow/rules/strf.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging

import numpy as np
import pyarrow.parquet as pq

log = logging.getLogger("strflow")


def strf_fit_chunk(dataset_dir, fmt: str, settings: dict, chunk: int, ground_truth: list, out_h5, out_table) -> None:
    """Fit the linear and LN STRFs of one chunk of the dataset's neurons."""
    import pyarrow as pa

    from strflow.dataset import NeuralDataset
    from strflow.strf.split import STRFSettings, fit_cells, make_split
    from strflow.store.fits import write_chunk_fits
    from strflow.store.ground_truth import read_ground_truth_strfs
    from strflow.store.tables import write_parquet

    st = STRFSettings.from_config(settings)
    ds = NeuralDataset(dataset_dir)
    cells = [int(n) for n in np.array_split(np.arange(ds.N_neurons), st.n_chunks)[chunk]]
    split = make_split(ds.stim_meta, fmt, st)
    log.info("chunk %d/%d: %d neurons; %d training and %d test stimuli", chunk, st.n_chunks, len(cells),
             sum(v == "train" for v in split.values()), sum(v == "test" for v in split.values()))
    fit = fit_cells(ds, cells, split, st, read_ground_truth_strfs(ground_truth))
    write_chunk_fits(out_h5, fit.cell_ids, split, {"linear": fit.linear, "ln": fit.ln}, ds.freqs_hz, ds.dt, st.as_dict())
    write_parquet(pa.Table.from_pylist(fit.rows), out_table)


def strf_gather(chunks_h5: list, chunk_tables: list, quality_path, out_h5, out_table) -> None:
    """Merge chunk fits into fits.h5 and metrics.parquet (adding each neuron's noise ratio)."""
    import pyarrow as pa

    from strflow.store.fits import merge_fits
    from strflow.store.tables import read_tables, write_parquet

    merge_fits(chunks_h5, out_h5)
    table = pa.concat_tables(read_tables(chunk_tables))
    nr = dict(zip(*(pq.read_table(quality_path, columns=["cell_id", "noise_ratio"]).to_pydict().values())))
    table = table.append_column("noise_ratio", pa.array([nr.get(c, float("nan")) for c in table.column("cell_id").to_pylist()], pa.float64()))
    write_parquet(table, out_table)
    for model in ("linear", "ln"):
        cc = np.array([r["ccnorm"] for r in table.to_pylist() if r["model"] == model], dtype=float)
        log.info("%s: CCnorm mean %.3f median %.3f over %d neurons with a value (of %d)", model,
                 np.nanmean(cc), np.nanmedian(cc), int(np.isfinite(cc).sum()), cc.size)
