"""``results/<ds>/strf/fits.h5`` (and its per-chunk parts ``strf/chunks/<k>.h5``): the
ridge STRF fits of every neuron::

    /cell_id                      (N,) utf-8
    /split/stim_id, /split/role   the train/test split (utf-8)
    /linear/..., /ln/...          weights (N, n_bands, n_lags) float32, intercepts,
                                  penalties, penalty_at_edge, penalty_index, cv_r_best;
                                  ln also sigmoid_params (N, 4)
    /penalty_grid                 the relative penalties tried
    /standardisation/mean, /std   per-band spectrogram mean and std (the model's input)
    /freqs_hz                     band centres
    attributes                    dt_ms, n_lags, settings (JSON), model (the formula)

Written by the ``strf_fit_chunk`` (:func:`write_chunk_fits`) and ``strf_gather``
(:func:`merge_fits`) rules; read by the STRF report (:func:`read_fits`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from strflow.store.atomic import atomic_path

MODELS = ("linear", "ln")
PER_MODEL = ("intercepts", "penalties", "penalty_at_edge", "penalty_index", "cv_r_best")
SHARED = ("split/stim_id", "split/role", "penalty_grid", "standardisation/mean", "standardisation/std", "freqs_hz")
FORMULA = ("y = c + sum_{f,l} w[f,l] * z[f, t-l], z = (spectrogram - mean) / std; "
           "ln: a + b / (1 + exp(-(y - c) / d))")


def write_chunk_fits(path: str | Path, cell_ids: Sequence[str], split: Mapping[str, str], models: Mapping[str, object],
                     freqs_hz: np.ndarray, dt_ms: float, settings: dict) -> None:
    """Write the fits of one chunk of neurons atomically.

    Parameters
    ----------
    path
        The output file.
    cell_ids
        The chunk's neurons, in fit order.
    split
        ``stim_id -> "train" | "test"``.
    models
        ``{"linear": fit, "ln": fit}``; each fit has ``weights``, the :data:`PER_MODEL`
        arrays, ``penalty_grid``, ``n_lags``, ``standardisation`` (``mean``, ``std``) and
        ``nonlinearity`` (None or with ``params``), as :class:`strflow.strf.RidgeSTRF`.
    freqs_hz
        Band centres of the spectrogram.
    dt_ms
        Bin width.
    settings
        The STRF settings (stored as JSON).
    """
    linear = models["linear"]
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("cell_id", data=np.asarray(cell_ids, dtype=object), dtype=h5py.string_dtype())
        g = f.create_group("split")
        g.create_dataset("stim_id", data=np.asarray(list(split), dtype=object), dtype=h5py.string_dtype())
        g.create_dataset("role", data=np.asarray(list(split.values()), dtype=object), dtype=h5py.string_dtype())
        for name in MODELS:
            model = models[name]
            m = f.create_group(name)
            m.create_dataset("weights", data=model.weights.astype(np.float32), compression="gzip")
            for key in PER_MODEL:
                m.create_dataset(key, data=np.asarray(getattr(model, key)))
            if model.nonlinearity is not None:
                m.create_dataset("sigmoid_params", data=model.nonlinearity.params)
        f.create_dataset("penalty_grid", data=linear.penalty_grid)
        f.create_dataset("standardisation/mean", data=linear.standardisation.mean)
        f.create_dataset("standardisation/std", data=linear.standardisation.std)
        f.create_dataset("freqs_hz", data=freqs_hz)
        f.attrs.update(dt_ms=dt_ms, n_lags=linear.n_lags, settings=json.dumps(settings), model=FORMULA)


def merge_fits(chunks: Sequence[str | Path], path: str | Path) -> None:
    """Concatenate chunk files (in order) into one fits file, atomically.

    Parameters
    ----------
    chunks
        The chunk files (:func:`write_chunk_fits`); the shared datasets and attributes
        are taken from the first.
    path
        The output file.
    """
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as out:
        parts = [h5py.File(p, "r") for p in chunks]
        try:
            first = parts[0]
            for key in SHARED:
                first.copy(first[key], out, name=key)
            out.attrs.update(dict(first.attrs))
            per_neuron = ["cell_id"] + [f"{m}/{k}" for m in MODELS for k in first[m].keys()]
            for key in per_neuron:
                data = np.concatenate([p[key][()] for p in parts])
                kw = dict(compression="gzip") if data.ndim > 1 else {}
                out.create_dataset(key, data=data, dtype=h5py.string_dtype() if key == "cell_id" else None, **kw)
        finally:
            for p in parts:
                p.close()


@dataclass
class Fits:
    """The contents of a fits file (see the module docstring)."""

    path: Path
    cell_ids: list[str]
    split: dict[str, str]  # stim_id -> train | test
    models: dict[str, dict[str, np.ndarray]]  # linear | ln -> weights, intercepts, ...
    penalty_grid: np.ndarray
    mean: np.ndarray  # standardisation
    std: np.ndarray
    freqs_hz: np.ndarray
    dt_ms: float
    n_lags: int
    settings: dict


def read_fits(path: str | Path) -> Fits:
    """Read a fits file (or a chunk) into memory.

    Parameters
    ----------
    path
        The file.

    Returns
    -------
    Fits
        Every dataset and attribute.
    """
    with h5py.File(path, "r") as f:
        return Fits(
            path=Path(path),
            cell_ids=list(f["cell_id"].asstr()[()]),
            split=dict(zip(f["split/stim_id"].asstr()[()], f["split/role"].asstr()[()])),
            models={m: {k: v[()] for k, v in f[m].items()} for m in MODELS if m in f},
            penalty_grid=f["penalty_grid"][()],
            mean=f["standardisation/mean"][()],
            std=f["standardisation/std"][()],
            freqs_hz=f["freqs_hz"][()],
            dt_ms=float(f.attrs["dt_ms"]),
            n_lags=int(f.attrs["n_lags"]),
            settings=json.loads(f.attrs["settings"]),
        )
