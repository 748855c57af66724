"""Whole-clip tensors for the encoding models, built once per job from a dataset selection.

A :class:`ClipData` holds every clip of the selection padded to the longest one:

* ``x``    ``(S, F, T)`` float32: spectrograms standardised with the *training* clips'
  per-band mean and std (:func:`strflow.strf.fit_standardisation`, as the ridge fit),
  zeros after a clip's end (models are causal, so trailing padding never reaches a
  clip's own bins);
* ``y``    ``(S, N, T)`` float32: the trial-averaged (smoothed) response;
* ``mask`` ``(S, N, T)`` bool: True on the bins of a heard (stimulus, neuron) pair.
  Unheard pairs (deepSTRF's NaN sentinels) and padding are False: they are masked out
  of the loss, never treated as zero responses (``y`` is 0 there only so that no NaN
  can leak into a gradient);
* ``blocks[s][n]``: the ``(R, T_s)`` trials of a heard pair (None otherwise), for the
  metrics (:func:`strflow.metrics.ccnorm_across_stimuli`, the ridge fits' code);
* ``roles[s]``: ``train``, ``val`` or ``test``.  ``test`` is the ridge fits' split
  (:func:`strflow.strf.split.make_split`; NS1: the published split); ``val`` is a
  deterministic subset of the training stimuli (the same function, ``val_fraction``
  per stimulus type, seeded by the split seed) used for early stopping.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from strflow.strf.split import NS1_TEST_STIMS, STRFSettings, make_split
from strflow.strf import Standardisation, fit_standardisation

ROLES = ("train", "val", "test")


@dataclass
class ClipData:
    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    lengths: np.ndarray
    blocks: list[list[np.ndarray | None]]
    roles: list[str]
    stim_ids: list[str]
    cell_ids: list[str]
    standardisation: Standardisation
    dt_ms: float
    freqs_hz: np.ndarray | None = None
    split_info: dict = field(default_factory=dict)

    @property
    def n_bands(self) -> int:
        return int(self.x.shape[1])

    @property
    def n_neurons(self) -> int:
        return int(self.y.shape[1])

    def index(self, role: str) -> list[int]:
        return [s for s, r in enumerate(self.roles) if r == role]


def infer_format(stim_ids) -> str:
    """``ns1`` when the published NS1 test stimuli are all present, else ``generic``."""
    return "ns1" if set(NS1_TEST_STIMS) <= set(stim_ids) else "generic"


def assign_roles(stim_meta: list[dict], fmt: str, split_seed: int = 0, test_fraction: float = 0.2,
                 val_fraction: float = 0.2) -> dict[str, str]:
    """``stim_id -> train | val | test``: the ridge split, then validation from its training part."""
    split = make_split(stim_meta, fmt, STRFSettings(seed=split_seed, test_fraction=test_fraction))
    train_meta = [m for m in stim_meta if split[m["stim_id"]] == "train"]
    val = make_split(train_meta, "generic", STRFSettings(seed=split_seed, test_fraction=val_fraction))
    return {sid: ("val" if val.get(sid) == "test" else role) for sid, role in split.items()}


def from_dataset(ds, fmt: str | None = None, split_seed: int = 0, test_fraction: float = 0.2,
                 val_fraction: float = 0.2, roles: dict[str, str] | None = None) -> ClipData:
    """Tensors of the selected neurons and stimuli of an :func:`strflow.open_dataset` dataset.

    The selection API decides what is used (``select_population``, ``select_stims``...);
    stimuli no selected neuron heard are left out.  ``roles`` (``stim_id -> role``)
    overrides the split.
    """
    neurons = ds._selected()
    stims = ds._iter_idx()
    if not neurons or not stims:
        raise ValueError(f"{ds.path}: the selection has no neuron with a heard stimulus")
    if roles is None:
        fmt = fmt or infer_format([m["stim_id"] for m in ds.stim_meta])
        roles = assign_roles(ds.stim_meta, fmt, split_seed, test_fraction, val_fraction)
    stim_ids = [ds.stim_meta[s]["stim_id"] for s in stims]
    role_list = [roles.get(sid, "unused") for sid in stim_ids]
    for needed in ("train", "val", "test"):
        if needed not in role_list:
            raise ValueError(f"{ds.path}: the split has no {needed} stimulus among the {len(stims)} selected "
                             f"(roles {dict(zip(stim_ids, role_list))})")
    specs = [ds.stims[s][0].numpy() for s in stims]
    masks = ds.nrn_masks
    blocks = [[ds.responses[s][n].numpy().astype(np.float64) if bool(masks[s, n]) else None for n in neurons]
              for s in stims]
    return build_clips(specs, blocks, role_list, stim_ids, [ds.nrn_meta[n]["cell_id"] for n in neurons], ds.dt,
                       freqs_hz=getattr(ds, "freqs_hz", None),
                       split_info=dict(format=fmt or "given", split_seed=split_seed, test_fraction=test_fraction,
                                       val_fraction=val_fraction))


def build_clips(specs, blocks, roles, stim_ids, cell_ids, dt_ms: float, standardisation: Standardisation | None = None,
                freqs_hz=None, split_info: dict | None = None) -> ClipData:
    """Pad and stack ``specs[s]`` ``(F, T_s)`` and ``blocks[s][n]`` ``(R, T_s)`` (or None).

    ``standardisation`` defaults to the training clips' (role ``train``)."""
    if standardisation is None:
        train = [np.asarray(sp) for sp, r in zip(specs, roles) if r == "train"]
        if not train:
            raise ValueError("no training clip to standardise on")
        standardisation = fit_standardisation(train)
    n_s, n_n = len(specs), len(cell_ids)
    lengths = np.array([np.asarray(sp).shape[1] for sp in specs])
    t_max, n_f = int(lengths.max()), int(np.asarray(specs[0]).shape[0])
    x = np.zeros((n_s, n_f, t_max), np.float32)
    y = np.zeros((n_s, n_n, t_max), np.float32)
    mask = np.zeros((n_s, n_n, t_max), bool)
    for s, sp in enumerate(specs):
        t = lengths[s]
        x[s, :, :t] = standardisation.apply(sp)
        for n, b in enumerate(blocks[s]):
            if b is None:
                continue
            b = np.asarray(b, dtype=np.float64)
            if b.ndim != 2 or b.shape[1] != t:
                raise ValueError(f"stimulus {stim_ids[s]}, neuron {cell_ids[n]}: response block of shape {b.shape}, "
                                 f"expected (n_trials, {t})")
            psth = np.nanmean(b, axis=0) if b.shape[0] else np.full(t, np.nan)
            ok = np.isfinite(psth)
            y[s, n, :t] = np.where(ok, psth, 0.0)
            mask[s, n, :t] = ok
    return ClipData(torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(mask), lengths, blocks, list(roles),
                    list(stim_ids), list(cell_ids), standardisation, float(dt_ms),
                    None if freqs_hz is None else np.asarray(freqs_hz), dict(split_info or {}))
