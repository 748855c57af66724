"""``fit_model`` / ``load_model``: trained encoding models as objects with ``predict``.

A saved neural model is a folder (``results/<ds>/models/<model>/seed<k>/``) with
``model.pt`` (the torch ``state_dict``) and ``config.json`` (architecture, hyperparameters,
bands, neurons, bin width, the spectrogram standardisation, the split and the training
settings: everything :func:`load_model` needs to rebuild it).  The ridge/LN fits of
``results/<ds>/strf/fits.h5`` load through the same function.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from strflow.metrics import ccnorm_across_stimuli
from strflow.nn import zoo
from strflow.nn.data import ClipData, from_dataset
from strflow.nn.trainer import TrainResult, TrainSettings, train, with_arch_defaults
from strflow.store.fits import read_fits
from strflow.store.models import read_model_config, read_state_dict, write_model_folder
from strflow.strf import OutputNonlinearity, Standardisation, predict_segments, strf_to_weights

FORMAT_VERSION = 1


class EncodingModel:
    """A trained population model: ``predict((F, T) spectrogram) -> (N, T)``.

    ``cell_ids`` name the outputs; the spectrogram is the dataset's (raw, not
    standardised: the model applies its training standardisation)."""

    def __init__(self, name: str, arch: str, options: dict, module: torch.nn.Module, standardisation: Standardisation,
                 cell_ids: list[str], dt_ms: float, info: dict | None = None) -> None:
        self.name, self.arch, self.options = name, arch, dict(options)
        self.module = module.eval()
        self.standardisation = standardisation
        self.cell_ids = list(cell_ids)
        self.dt_ms = float(dt_ms)
        self.info = dict(info or {})
        self.metrics: list[dict] = []
        self.training_log: list[dict] = []

    @property
    def n_params(self) -> int:
        return zoo.n_params(self.module)

    def predict(self, spectrogram) -> np.ndarray:
        spec = np.asarray(spectrogram)
        if spec.ndim != 2 or spec.shape[0] != self.standardisation.mean.shape[0]:
            raise ValueError(f"spectrogram must be (n_bands={self.standardisation.mean.shape[0]}, n_bins), got {spec.shape}")
        x = torch.from_numpy(self.standardisation.apply(spec).astype(np.float32))[None]
        with torch.no_grad():
            return self.module(x)[0].double().numpy()

    def predict_clips(self, x: torch.Tensor) -> np.ndarray:
        """Predictions ``(S, N, T)`` of already standardised, padded clips."""
        with torch.no_grad():
            return self.module(x).double().numpy()

    def config(self) -> dict:
        return dict(format_version=FORMAT_VERSION, name=self.name, arch=self.arch, options=self.options,
                    n_bands=int(self.standardisation.mean.shape[0]), cell_ids=self.cell_ids, dt_ms=self.dt_ms,
                    standardisation=dict(mean=self.standardisation.mean.tolist(), std=self.standardisation.std.tolist()),
                    **self.info)

    def save(self, folder: str | Path) -> None:
        """``model.pt`` and ``config.json`` in ``folder`` (format: :mod:`strflow.store.models`)."""
        write_model_folder(folder, self.module.state_dict(), self.config(), default=_jsonable)

    def __repr__(self) -> str:
        return f"EncodingModel({self.name!r}, arch={self.arch!r}, {len(self.cell_ids)} neurons, {self.n_params} parameters)"


class RidgeModel:
    """The ridge (``linear``) or LN fit of ``strf/fits.h5`` with the same ``predict``."""

    def __init__(self, path: str | Path, model: str = "linear") -> None:
        if model not in ("linear", "ln"):
            raise ValueError(f"{path}: ridge fits hold models 'linear' and 'ln', not {model!r}")
        fits = read_fits(path)
        g = fits.models[model]
        self.cell_ids = list(fits.cell_ids)
        self.weights = np.asarray(g["weights"], dtype=np.float64)
        self.intercepts = g["intercepts"]
        self.nonlinearity = (OutputNonlinearity(g["sigmoid_params"], ("",) * len(self.cell_ids))
                             if "sigmoid_params" in g else None)
        self.standardisation = Standardisation(fits.mean, fits.std)
        self.dt_ms = float(fits.dt_ms)
        self.n_lags = int(fits.n_lags)
        self.name = self.arch = model

    def predict(self, spectrogram) -> np.ndarray:
        p = predict_segments([np.asarray(spectrogram, dtype=np.float64)], strf_to_weights(self.weights),
                             self.intercepts, self.n_lags, self.standardisation)[0]
        if self.nonlinearity is not None:
            p = self.nonlinearity(p)
        return p.T

    def __repr__(self) -> str:
        return f"RidgeModel({self.name!r}, {len(self.cell_ids)} neurons)"


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o))


def load_model(path: str | Path, model: str = "ln"):
    """Load a trained model.

    ``path``: a neural model's folder (``models/<model>/seed<k>``, or ``models/<model>``
    for its seed 0) or its ``config.json``; or ridge fits (``strf/fits.h5`` or the ``strf``
    folder), then ``model`` picks ``linear`` or ``ln``."""
    p = Path(path)
    if p.is_dir() and (p / "fits.h5").is_file():
        p = p / "fits.h5"
    if p.suffix == ".h5":
        return RidgeModel(p, model)
    if p.name == "config.json":
        p = p.parent
    if p.is_dir() and not (p / "config.json").is_file() and (p / "seed0" / "config.json").is_file():
        p = p / "seed0"
    cfg_path = p / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{path}: neither a model folder with config.json nor ridge fits (fits.h5)")
    cfg = read_model_config(p)
    if cfg.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{cfg_path}: format_version {cfg.get('format_version')!r}, expected {FORMAT_VERSION}")
    module = zoo.build(cfg["arch"], cfg["n_bands"], len(cfg["cell_ids"]), cfg["dt_ms"], cfg["options"])
    module.load_state_dict(read_state_dict(p))
    st = Standardisation(np.asarray(cfg["standardisation"]["mean"]), np.asarray(cfg["standardisation"]["std"]))
    info = {k: v for k, v in cfg.items() if k not in ("format_version", "name", "arch", "options", "n_bands", "cell_ids",
                                                       "dt_ms", "standardisation")}
    return EncodingModel(cfg["name"], cfg["arch"], cfg["options"], module, st, cfg["cell_ids"], cfg["dt_ms"], info)


def evaluate(model: EncodingModel, data: ClipData, seed: int, result: TrainResult | None = None,
             role: str = "test") -> tuple[list[dict], dict[str, np.ndarray]]:
    """Metric rows (one per neuron) on the ``role`` clips, by the ridge fits' metric code,
    and the predictions ``stim_id -> (N, T_s)``."""
    idx = data.index(role)
    pred = model.predict_clips(data.x[idx])
    preds = {data.stim_ids[s]: pred[i, :, : data.lengths[s]] for i, s in enumerate(idx)}
    rows = []
    for n, cell in enumerate(data.cell_ids):
        heard = [(i, s) for i, s in enumerate(idx) if data.blocks[s][n] is not None]
        if heard:
            p = [pred[i, n, : data.lengths[s]] for i, s in heard]
            b = [data.blocks[s][n] for _, s in heard]
            cc = ccnorm_across_stimuli(p, b)
            mse = float(np.mean(np.concatenate([(np.nanmean(blk, axis=0) - q) ** 2 for q, blk in zip(p, b)])))
            reason = cc.ccnorm.reason
        else:
            cc, mse, reason = None, math.nan, "no test stimulus heard"
        rows.append(dict(
            cell_id=cell, model=model.name, arch=model.arch, seed=int(seed), split=role,
            ccnorm=cc.ccnorm.value if cc else math.nan, ccabs=cc.ccabs.value if cc else math.nan,
            ccmax=cc.ccmax.value if cc else math.nan, test_mse=mse, n_params=model.n_params,
            epochs=int(result.epochs) if result else 0, best_epoch=int(result.best_epoch) if result else 0,
            n_test_stims=len(heard), reason=reason or "",
        ))
    return rows, preds


def fit_data(data: ClipData, model: str = "nrf", arch: str | None = None, options: dict | None = None,
             settings: TrainSettings | dict | None = None, checkpoint=None, stop_after: int | None = None,
             progress="default") -> EncodingModel:
    """Train on prepared :class:`ClipData`; returns the model with ``metrics`` (test rows)
    and ``training_log`` filled in."""
    arch = arch or model
    st = settings if isinstance(settings, TrainSettings) else TrainSettings.from_config(settings)
    kw = {} if progress == "default" else dict(progress=progress)
    res = train(arch, options, data, st, checkpoint=checkpoint, stop_after=stop_after, name=model, **kw)
    info = dict(split=dict(zip(data.stim_ids, data.roles)), split_info=data.split_info,
                train=asdict(with_arch_defaults(arch, st)),  # the settings used, per-architecture defaults filled in
                best_epoch=res.best_epoch, epochs=res.epochs, refit_epochs=res.refit_epochs, stopped=res.stopped,
                resumed_from=res.resumed_from,
                freqs_hz=None if data.freqs_hz is None else data.freqs_hz.tolist())
    em = EncodingModel(model, arch, zoo.resolve(arch, options), res.model, data.standardisation, data.cell_ids,
                       data.dt_ms, info)
    em.training_log = res.log
    em.metrics, em.test_predictions = evaluate(em, data, st.seed, res)
    return em


def fit_model(dataset, model: str = "nrf", *, arch: str | None = None, seed: int = 0, fmt: str | None = None,
              split_seed: int = 0, test_fraction: float = 0.2, val_fraction: float = 0.2, checkpoint=None,
              **options) -> EncodingModel:
    """Train a zoo model on the current selection of an :func:`strflow.open_dataset` dataset.

    ``model`` names the model (and is its architecture unless ``arch`` is given);
    training settings (``epochs``, ``patience``, ``lr``, ``weight_decay``,
    ``batch_clips``, ``device``) and the architecture's hyperparameters (e.g.
    ``n_hidden``, ``max_lag_ms``, ``adaptrans``) are keyword options.  The split is the
    ridge fits' (``fmt`` ``ns1`` -> the published split; inferred from the stimulus ids).
    """
    train_keys = set(TrainSettings.__dataclass_fields__) - {"seed"}
    settings = {k: options.pop(k) for k in list(options) if k in train_keys}
    data = from_dataset(dataset, fmt=fmt, split_seed=split_seed, test_fraction=test_fraction,
                        val_fraction=val_fraction)
    return fit_data(data, model, arch=arch, options=options, settings=dict(settings, seed=seed), checkpoint=checkpoint)
