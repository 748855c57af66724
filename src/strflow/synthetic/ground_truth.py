"""``ground_truth/<animal>.h5``: everything needed to check the workflow end to end (kept
and skipped files, the stimulus registry, trials, spikes, each unit's STRF and rate
model); written with the raw data, read by the STRF fits' ground-truth comparison."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from strflow.processing.spectrogram import SpectrogramSettings
from strflow.synthetic.neurons import Unit, linearised_strf, n_lags
from strflow.synthetic.settings import SyntheticSettings
from strflow.synthetic.sound import PoolStim


def _str_array(values: list[str]) -> np.ndarray:
    import h5py

    return np.array(values, dtype=h5py.string_dtype("utf-8"))


def write_ground_truth(
    path: Path,
    animal: str,
    spec: SyntheticSettings,
    dt_ms: float,
    params: SpectrogramSettings,
    band_hz: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    units: list[Unit],
    corrupt: list[str],
    pool: tuple[PoolStim, ...],
    stims: dict[int, int],
    trial_rows: list[tuple[str, int, int, bool, np.ndarray]],
) -> None:
    import h5py

    from strflow import __version__

    path.parent.mkdir(parents=True, exist_ok=True)
    n_l = n_lags(spec, dt_ms)
    with h5py.File(path, "w") as gt:
        a = gt.attrs
        a["animal"] = animal
        a["seed"] = spec.seed
        a["dt_ms"] = float(dt_ms)
        a["spectrogram_params"] = json.dumps(params.as_dict(), sort_keys=True)
        a["spec"] = json.dumps(spec.as_dict(), sort_keys=True)
        a["strflow_version"] = __version__
        a["n_lags"] = n_l
        a["pre_onset_s"] = spec.pre_onset_s
        a["post_stim_s"] = spec.post_stim_s
        a["n_pre_bins"] = int(round(spec.pre_onset_s * 1000 / dt_ms))
        a["n_post_bins"] = int(round(spec.post_stim_s * 1000 / dt_ms))
        a["max_rate_hz"] = spec.max_rate_hz
        shape = {"exp": "exp(gain_c * z_c)", "relu": "max(1 + gain_c * z_c, 0)",
                 "two_subunit": "max(gain_c * z_c - 1, 0)**2"}[spec.nonlinearity]
        a["nonlinearity"] = spec.nonlinearity
        a["rate_model"] = (
            "X = (mel - mean) / std, zero outside the stimulus; d_c[t] = sum_{f,l} strf_c[f,l] X[f,t-l]; "
            f"z_c = (d_c - drive_mean_c) / drive_std_c; rate = sum_c min(baseline_c * {shape}, max_rate_hz); "
            "before onset rate = sum_c baseline_c; noise/tdt: sum_c baseline_c; silent: 0 from onset"
        )
        g = gt.create_group("standardisation")
        g.create_dataset("mean", data=mean)
        g.create_dataset("std", data=std)
        g.create_dataset("band_hz", data=band_hz)
        ug = gt.create_group("units")
        for unit in units:
            h = ug.create_group(unit.name)
            skipped = unit.kind in ("noise", "tdt")
            h.attrs.update(
                file=f"{animal}/{unit.name}",
                cell_id=f"{animal}/{unit.name[:-3]}",
                sort_type_raw=unit.sort_type_raw,
                expected="skipped" if skipped else "kept",
                skip_reason=f"sort type {unit.kind}" if skipped else "",
                kind=unit.kind,
                silent=unit.silent,
                site=f"Site{unit.site}",
                electrode=unit.electrode,
                sortid=unit.sortid,
                subsort_id=-1 if unit.subsort is None else unit.subsort,
                ldepth=np.nan if unit.ldepth is None else unit.ldepth,
                rdepth=np.nan if unit.rdepth is None else unit.rdepth,
                string_style=unit.string_style,
                n_stims_heard=len(unit.heard),
            )
            h.create_dataset("baseline_hz", data=unit.baseline_hz)
            h.create_dataset("gain", data=unit.gain)
            h.create_dataset("drive_mean", data=unit.drive_mean)
            h.create_dataset("drive_std", data=unit.drive_std)
            if unit.strf_components is not None:
                h.create_dataset("strf_components", data=unit.strf_components)
                h.create_dataset("strf", data=linearised_strf(unit))
        for name in corrupt:
            h = ug.create_group(name)
            h.attrs.update(
                file=f"{animal}/{name}",
                cell_id=f"{animal}/{name[:-3]}",
                sort_type_raw="",
                expected="skipped",
                skip_reason="unreadable file",
                kind="corrupt",
                silent=False,
                site="",
                electrode=-1,
                sortid=-1,
                subsort_id=-1,
                ldepth=np.nan,
                rdepth=np.nan,
                string_style="",
                n_stims_heard=0,
            )
        sg = gt.create_group("stims")
        numbers = sorted(stims)
        chosen = [pool[stims[k]] for k in numbers]
        sg.create_dataset("md5", data=_str_array([p.md5 for p in chosen]))
        sg.create_dataset("number", data=np.array(numbers, dtype=np.int64))
        sg.create_dataset("type", data=_str_array([p.type for p in chosen]))
        sg.create_dataset("class", data=_str_array([p.cls for p in chosen]))
        sg.create_dataset("duration_s", data=np.array([p.duration_s for p in chosen]))
        sg.create_dataset("n_samples", data=np.array([p.n_samples for p in chosen], dtype=np.int64))
        sg.create_dataset("sample_rate", data=np.array([p.sample_rate for p in chosen], dtype=np.int64))
        sg.create_dataset("pool_index", data=np.array([p.index for p in chosen], dtype=np.int64))
        tg = gt.create_group("trials")
        n_spikes = np.array([r[4].shape[0] for r in trial_rows], dtype=np.int64)
        md5_of = {k: pool[p].md5 for k, p in stims.items()}
        offset = (
            np.concatenate([[0], np.cumsum(n_spikes)[:-1]]).astype(np.int64)
            if trial_rows
            else np.zeros(0, np.int64)
        )
        spikes = np.concatenate([r[4] for r in trial_rows]).astype(np.float64) if trial_rows else np.zeros(0)
        columns = {
            "unit": _ascii_array([r[0] for r in trial_rows]),
            "stim_md5": _ascii_array([md5_of[r[1]] for r in trial_rows]),
            "stim_number": np.array([r[1] for r in trial_rows], dtype=np.int64),
            "trial": np.array([r[2] for r in trial_rows], dtype=np.int64),
            "is_empty_scalar": np.array([r[3] for r in trial_rows], dtype=bool),
            "offset": offset,
            "n_spikes": n_spikes,
            "spike_times": spikes,
        }
        for name, data in columns.items():
            packed = dict(compression="gzip", compression_opts=4, shuffle=True) if data.shape[0] > 0 else {}
            tg.create_dataset(name, data=data, **packed)


def _ascii_array(values: list[str]) -> np.ndarray:
    """Fixed-length ASCII strings (compressible; read with ``.asstr()``)."""
    width = max((len(v) for v in values), default=1)
    return np.array([v.encode("ascii") for v in values], dtype=f"S{max(width, 1)}")
