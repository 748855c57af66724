"""Workflow steps of the encoding models (called by ``workflow/scripts/model_*.py``).

Configuration: the top-level ``models:`` block, deep-merged with a dataset's own
``datasets.<ds>.models:`` block (as ``processing:`` is), resolved by :func:`model_settings`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from strflow.nn import spec as zoo

log = logging.getLogger("strflow.nn")

DEFAULT_MODELS = {
    "device": "auto",
    "seeds": 1,
    "val_fraction": 0.2,
    "run": ["linear", "ln", "nrf", "dnet", "cnn2d", "statenet"],
    "train": {},
    "zoo": {},
    "protocols": {},
}


def model_settings(config: dict, name: str) -> dict:
    """The dataset's resolved ``models:`` block; every listed model resolved to
    ``{"arch": ..., "options": {...}, "train": {...}}`` (hyperparameter defaults of
    :data:`strflow.nn.spec.DEFAULTS`; a zoo entry's own ``train:`` merged over ``models.train``)."""
    from strflow.config import deep_merge  # (yaml: only where the config is read)

    merged = deep_merge(deep_merge(DEFAULT_MODELS, config.get("models")),
                        (config.get("datasets", {}).get(name) or {}).get("models"))
    zoo_cfg = {}
    # a deterministic order: the resolved block is a job parameter (Snakemake reruns a job
    # whose parameters print differently, so a set's hash order would retrain everything)
    for model in list(merged["zoo"]) + [m for m in merged["run"] if m not in merged["zoo"]]:
        entry = dict(merged["zoo"].get(model) or {})
        arch = entry.pop("arch", model)
        train = dict(merged.get("train") or {}, **(entry.pop("train", None) or {}))
        try:
            zoo_cfg[model] = {"arch": arch, "options": zoo.resolve(arch, entry), "train": train}
        except ValueError as err:
            raise ValueError(f"dataset {name!r}: models.zoo.{model}: {err}") from None
    merged["zoo"] = zoo_cfg
    from strflow.nn.protocols import resolve_protocols

    merged["protocols"] = resolve_protocols(name, merged.get("protocols"))
    return merged


def model_fit(dataset_dir, fmt: str, strf: dict, models: dict, model: str, seed: int, threads: int,
              outputs: dict, checkpoint, protocol: dict | None = None, ds_name: str | None = None) -> None:
    """Train one (model, seed) on a processed dataset and write its outputs.

    ``outputs``: ``weights`` (model.pt; config.json beside it), ``metrics``,
    ``predictions``, ``training_log``.  ``checkpoint`` (not a Snakemake output, so it
    survives a failed or killed job) is resumed from and removed on success.  The
    environment variable ``STRFLOW_STOP_AFTER_EPOCHS`` (test hook) stops after that many
    epochs, as a kill would, leaving the checkpoint behind."""
    import pyarrow as pa
    import torch

    from strflow.dataset import NeuralDataset
    from strflow.nn.api import fit_data
    from strflow.nn.data import from_dataset
    from strflow.store.models import write_predictions, write_training_log
    from strflow.store.tables import write_parquet

    torch.set_num_threads(max(int(threads), 1))
    spec = models["zoo"].get(model)
    if spec is None:
        raise ValueError(f"model {model!r} is not in models.zoo or models.run of the config (known: {sorted(models['zoo'])})")
    ds = NeuralDataset(dataset_dir)
    split_seed, val_fraction = int(strf.get("seed", 0)), float(models.get("val_fraction", 0.2))
    roles = None
    if protocol is not None:
        from strflow.nn.protocols import protocol_roles

        if protocol["neuron_filter"]:
            ds.select_pop_by_filter(protocol["neuron_filter"])
        if protocol["split"] is not None:
            roles = protocol_roles(ds.stim_meta, protocol, ds_name or protocol["dataset"], val_fraction, split_seed)
    data = from_dataset(ds, fmt=None if roles else fmt, split_seed=split_seed, test_fraction=float(strf.get("test_fraction", 0.2)),
                        val_fraction=val_fraction, roles=roles)
    if protocol is not None:
        data.split_info.update(protocol=protocol["name"], protocol_dataset=protocol["dataset"],
                               neuron_filter=protocol["neuron_filter"], split_spec=protocol["split"],
                               n_neurons=data.n_neurons)
    log.info("%s seed %d on %s: %d neurons, %d train / %d val / %d test clips, device %s, %d threads", model, seed,
             dataset_dir, data.n_neurons, len(data.index("train")), len(data.index("val")), len(data.index("test")),
             models.get("device", "auto"), threads)
    stop = os.environ.get("STRFLOW_STOP_AFTER_EPOCHS")
    settings = dict(training_settings(spec, models, protocol), seed=int(seed), device=models.get("device", "auto"))
    ckpt = Path(checkpoint)
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    em = fit_data(data, model, arch=spec["arch"], options=spec["options"], settings=settings, checkpoint=ckpt,
                  stop_after=int(stop) if stop else None)
    folder = Path(outputs["weights"]).parent
    em.save(folder)
    write_predictions(outputs["predictions"], em.cell_ids, data.stim_ids, data.roles, em.test_predictions, data.dt_ms,
                      em.name, em.arch)
    write_training_log(em.training_log, outputs["training_log"])
    rows = em.metrics
    if protocol is not None:
        rows = [dict(r, **protocol_columns(protocol, data)) for r in rows]
    write_parquet(pa.Table.from_pylist(rows), outputs["metrics"])
    cc = np.array([r["ccnorm"] for r in em.metrics], dtype=float)
    log.info("%s seed %d: test CCnorm mean %.3f median %.3f (%d neurons with a value); best epoch %d of %d (%s)",
             model, seed, np.nanmean(cc), np.nanmedian(cc), int(np.isfinite(cc).sum()), em.info["best_epoch"],
             em.info["epochs"], em.info["stopped"])
    ckpt.unlink(missing_ok=True)


def training_settings(spec: dict, models: dict, protocol: dict | None = None) -> dict:
    """The training settings of one model (a resolved zoo entry of :func:`model_settings`):
    ``models.train``, the zoo entry's own ``train:`` over it, a protocol's ``train:`` over both."""
    return dict(spec.get("train", models.get("train")) or {}, **(protocol or {}).get("train", {}))


def protocol_columns(protocol: dict, data) -> dict:
    """The protocol's record in every metrics row: name, dataset read, neuron filter (JSON),
    neuron count and the stimuli of each role (comma-separated stim_ids)."""
    import json

    cols = dict(protocol=protocol["name"], protocol_dataset=protocol["dataset"],
                neuron_filter=json.dumps(protocol["neuron_filter"], sort_keys=True), n_neurons=data.n_neurons)
    for role in ("train", "val", "test"):
        cols[f"{role}_stims"] = ",".join(data.stim_ids[s] for s in data.index(role))
    return cols


def model_gather(tables: list, out) -> None:
    """One table per model: every seed's rows."""
    import pyarrow as pa

    from strflow.store.tables import read_tables, write_parquet

    write_parquet(pa.concat_tables(read_tables(tables)), out)
