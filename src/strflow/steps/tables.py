"""Dataset tables and response quality (``workflow/rules/tables.smk``).

One function per rule: file paths in, files out; ``workflow/scripts/*.py`` call these."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

log = logging.getLogger("strflow")


def gather_tables(neurons: list, skipped: list, coverage: list, outputs: dict, neuron_filter: dict | None = None,
                  species: str | None = None) -> None:
    """Concatenate the shards' tables, adding the dataset's ``species`` to every neuron;
    neurons failing ``neuron_filter`` are moved to ``skipped`` with the failed condition
    as the reason (and out of ``coverage``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from strflow.store.tables import SKIPPED_SCHEMA, write_parquet
    from strflow.selection import check, validate
    from strflow.processing.dataset_tables import check_unique
    from strflow.store.tables import read_tables

    table = pa.concat_tables(read_tables(neurons), promote_options="permissive")
    check_unique(table, "cell_id", "neuron")
    if species:  # the dataset's species (config, default by format) on every neuron
        column = pa.array([species] * table.num_rows, pa.string())
        i = table.schema.get_field_index("species")
        table = table.set_column(i, "species", column) if i >= 0 else table.append_column("species", column)
    skips = pa.concat_tables(read_tables(skipped), promote_options="permissive")
    cov = pa.concat_tables(read_tables(coverage), promote_options="permissive")
    n_read = table.num_rows
    if neuron_filter:
        validate(neuron_filter, table.schema)
        rows = table.to_pylist()
        reasons = [check(r, neuron_filter) for r in rows]
        keep = pa.array([not r for r in reasons])
        dropped = [dict(what="unit", file=row["file"], reason=why, cell_id=row["cell_id"], stim_id=None, trial=None)
                   for row, why in zip(rows, reasons) if why]
        table = table.filter(keep)
        cov = cov.filter(pc.is_in(cov.column("cell_id"), table.column("cell_id")))
        skips = pa.concat_tables([skips, pa.Table.from_pylist(dropped, schema=SKIPPED_SCHEMA)])
        log.info("neuron filter %s: %d of %d neurons kept", neuron_filter, table.num_rows, len(rows))
    if table.num_rows == 0:
        raise ValueError(f"{Path(outputs['neurons']).parents[1]}: " + no_neurons_message(n_read, skips, neuron_filter))
    write_parquet(table, outputs["neurons"])
    write_parquet(skips, outputs["skipped"])
    write_parquet(cov, outputs["coverage"])
    log.info("tables: %d neurons, %d heard pairs, %d skip records", table.num_rows, cov.num_rows, skips.num_rows)


def no_neurons_message(n_read: int, skips, neuron_filter: dict | None) -> str:
    """Why a dataset has no neurons left, from its skip records (most frequent reasons)."""
    from collections import Counter

    units = [r for r in skips.to_pylist() if r["what"] == "unit"]
    top = "; ".join(f"{n} x {reason}" for reason, n in Counter(r["reason"] for r in units).most_common(5))
    if n_read and neuron_filter:
        return (f"no neurons left: the neuron_filter {neuron_filter} removed all {n_read} neurons the readers kept "
                f"({top}). Check the filter's columns and values against tables/skipped.parquet")
    return (f"no neurons left: the readers kept no unit ({len(units)} unit skip records: {top or 'none'}). "
            "See the shards' skipped.parquet under interim/")


def quality(binned: list, neurons_path, out, out_by_stim) -> None:
    """Per-neuron and per-pair response quality from the binned counts (rule ``quality``).

    Parameters
    ----------
    binned
        The shards' binned block files.
    neurons_path
        ``tables/neurons.parquet``.
    out, out_by_stim
        ``tables/quality.parquet`` and ``tables/quality_by_stim.parquet``.
    """
    from strflow.metrics.quality import quality_rows, tables
    from strflow.store.tables import write_parquet
    from strflow.store.blocks import read_blocks

    neurons = pq.read_table(neurons_path, columns=["cell_id", "shard"]).to_pylist()
    rows, pairs = [], []
    for path in binned:  # one shard in memory at a time
        blocks, _ = read_blocks(path)
        shard = Path(path).stem
        cells = [n["cell_id"] for n in neurons if n["shard"] == shard]
        r, p = quality_rows(blocks, cells)
        rows += r
        pairs += p
    per_neuron, per_pair = tables(rows, pairs)
    write_parquet(per_neuron, out)
    write_parquet(per_pair, out_by_stim)
    ok = np.isfinite(per_neuron.column("noise_ratio").to_numpy(zero_copy_only=False))
    log.info("quality: %d neurons, %d with a finite noise ratio", per_neuron.num_rows, int(ok.sum()))
