"""The outputs of one trained encoding model, ``results/<ds>/models/[<protocol>/]<model>/seed<k>/``::

    model.pt            the torch ``state_dict`` of the network
    config.json         everything that rebuilds it (name, arch, hyperparameters, cell ids,
                        input standardisation, dt, split, protocol); see ``strflow.nn.api``
    predictions.h5      /cell_id (N,) utf-8; /split/stim_id, /split/role (utf-8);
                        /predictions/<stim_id> (N, n_bins) float32 for the test stimuli;
                        attributes dt_ms, model, arch, layout
    training_log.csv    one row per epoch: epoch, train_loss, val_loss, val_ccnorm, seconds
    metrics.parquet     the metrics table (schema in ``workflow/schemas/outputs.md``; written
                        with :func:`strflow.store.tables.write_parquet`)

Written by the ``model_fit`` rules (through ``strflow.nn``), read by :func:`strflow.load_model`,
the models' summary and the NS1 model-comparison figure.  Every write is atomic
(:func:`strflow.store.atomic.atomic_path`).  torch is imported only by the functions that need it.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from strflow.store.atomic import atomic_path

LOG_COLUMNS = ("epoch", "train_loss", "val_loss", "val_ccnorm", "seconds")
PREDICTIONS_LAYOUT = "predictions/<stim_id>: (n_neurons, n_bins) of the test stimuli, rows = cell_id"


def write_model_folder(folder: str | Path, state_dict: Mapping, config: dict, default: Callable | None = None) -> None:
    """Write ``model.pt`` and ``config.json`` into ``folder`` (created), each atomically.

    Parameters
    ----------
    folder
        The model's folder.
    state_dict
        The network's ``state_dict``.
    config
        JSON-serialisable settings; ``default`` converts what ``json`` cannot (numpy scalars).
    """
    import torch

    folder = Path(folder)
    with atomic_path(folder / "model.pt") as tmp:
        torch.save(state_dict, tmp)
    with atomic_path(folder / "config.json") as tmp:
        tmp.write_text(json.dumps(config, indent=1, default=default))


def read_model_config(folder: str | Path) -> dict:
    """``config.json`` of a model folder (a clear error naming the folder if absent)."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{folder}: no config.json (not a trained model folder)")
    return json.loads(path.read_text())


def read_state_dict(folder: str | Path) -> dict:
    """``model.pt`` of a model folder, on the CPU (tensors only: ``weights_only``)."""
    import torch

    return torch.load(Path(folder) / "model.pt", map_location="cpu", weights_only=True)


def write_training_log(rows: Sequence[Mapping], path: str | Path) -> None:
    """``training_log.csv``: the :data:`LOG_COLUMNS` of each epoch's row, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=LOG_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in LOG_COLUMNS})


def read_training_log(path: str | Path) -> list[dict]:
    """Rows of ``training_log.csv`` with ``epoch`` as int and the other columns as float."""
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = set(LOG_COLUMNS) - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: training log lacks columns {sorted(missing)}")
        return [{k: (int(r[k]) if k == "epoch" else float(r[k])) for k in LOG_COLUMNS} for r in reader]


def write_predictions(path: str | Path, cell_ids: Sequence[str], stim_ids: Sequence[str], roles: Sequence[str],
                      predictions: Mapping[str, np.ndarray], dt_ms: float, model: str, arch: str) -> None:
    """``predictions.h5`` (see the module docstring), atomically.

    Parameters
    ----------
    cell_ids, stim_ids, roles
        Rows of the predictions; the split (stimulus id and its role) the model was trained on.
    predictions
        ``stim_id -> (n_neurons, n_bins)`` array.
    """
    s = h5py.string_dtype()
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("cell_id", data=np.asarray(list(cell_ids), dtype=object), dtype=s)
        f.create_dataset("split/stim_id", data=np.asarray(list(stim_ids), dtype=object), dtype=s)
        f.create_dataset("split/role", data=np.asarray(list(roles), dtype=object), dtype=s)
        g = f.create_group("predictions")
        for sid, p in predictions.items():
            g.create_dataset(sid, data=np.asarray(p, dtype=np.float32), compression="gzip")
        f.attrs.update(dt_ms=dt_ms, model=model, arch=arch, layout=PREDICTIONS_LAYOUT)


@dataclass
class Predictions:
    """The contents of ``predictions.h5``."""

    cell_ids: list[str]
    split: dict[str, str]  # stim_id -> train | val | test
    predictions: dict[str, np.ndarray]  # stim_id -> (n_neurons, n_bins)
    dt_ms: float
    model: str
    arch: str

    def of(self, cell_id: str, stim_id: str) -> np.ndarray | None:
        """One neuron's prediction of one stimulus (None if either is absent)."""
        if cell_id not in self.cell_ids or stim_id not in self.predictions:
            return None
        return self.predictions[stim_id][self.cell_ids.index(cell_id)]


def read_predictions(path: str | Path) -> Predictions:
    """Read a ``predictions.h5`` file into memory."""
    with h5py.File(path, "r") as f:
        return Predictions(
            cell_ids=list(f["cell_id"].asstr()[()]),
            split=dict(zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()])),
            predictions={sid: f[f"predictions/{sid}"][()] for sid in f["predictions"]},
            dt_ms=float(f.attrs["dt_ms"]),
            model=str(f.attrs["model"]),
            arch=str(f.attrs["arch"]),
        )
